//! The properties of template.yaml that keep the stack safe, checked on every run (sam validate --lint and
//! cfn-lint check the syntax; these check the intent): every queue has a dead-letter queue and alarms, every SQS
//! event source reports batch item failures and its queue hides a batch long enough, every alarm reaches the
//! topic, the bucket is private and only CloudFront (through OAC) reads it, logs are JSON with a retention, and the
//! dashboard is valid JSON. Grants are held to what each function really calls in tests/e2e/invocations/, and
//! routes to their authorizers in tests/e2e/routes.rs.

use std::collections::BTreeSet;

use serde_yaml::Value;
use storefront::worker::MAX_RECEIVE_COUNT;
use storefront_local::options::{DEFAULT_PORT, StandIn};
use storefront_tests::only_on;

use crate::routes::template;

/// The logical id a `!Ref X`, `!GetAtt X.Attr` or `!Sub "${X...}"` points at.
fn target(value: &Value) -> Option<String> {
    match value {
        Value::Tagged(tagged) => {
            let inner = tagged.value.as_str()?;
            let id = inner.trim_start_matches("${").split(['.', '}', '/']).next()?;
            Some(id.to_owned())
        }
        _ => None,
    }
}

fn resources(template: &Value, kind: &str) -> Vec<(String, Value)> {
    template["Resources"]
        .as_mapping()
        .expect("Resources")
        .iter()
        .filter(|(_, resource)| resource["Type"] == kind)
        .map(|(id, resource)| (id.as_str().expect("id").to_owned(), resource.clone()))
        .collect()
}

fn number(value: &Value) -> u64 {
    value.as_u64().or_else(|| value.as_str().and_then(|s| s.parse().ok())).unwrap_or_else(|| panic!("{value:?}"))
}

/// (metric name, queue id) of every queue alarm.
fn queue_alarms(template: &Value) -> BTreeSet<(String, String)> {
    resources(template, "AWS::CloudWatch::Alarm")
        .into_iter()
        .filter(|(_, alarm)| alarm["Properties"]["Namespace"] == "AWS/SQS")
        .flat_map(|(_, alarm)| {
            let metric = alarm["Properties"]["MetricName"].as_str().expect("metric").to_owned();
            alarm["Properties"]["Dimensions"]
                .as_sequence()
                .cloned()
                .unwrap_or_default()
                .into_iter()
                .filter(|d| d["Name"] == "QueueName")
                .filter_map(move |d| target(&d["Value"]).map(|queue| (metric.clone(), queue)))
        })
        .collect()
}

#[test]
fn every_work_queue_has_a_dead_letter_queue_and_both_are_watched() {
    only_on!(DynamoDb, "template.yaml and the route tables: no store involved, one run is enough");
    let template = template();
    let queues = resources(&template, "AWS::SQS::Queue");
    let alarms = queue_alarms(&template);
    let dead_letter_queues: BTreeSet<String> =
        queues.iter().filter_map(|(_, q)| target(&q["Properties"]["RedrivePolicy"]["deadLetterTargetArn"])).collect();
    assert!(!dead_letter_queues.is_empty());
    for (id, queue) in &queues {
        if dead_letter_queues.contains(id) {
            assert!(
                alarms.contains(&("ApproximateNumberOfMessagesVisible".into(), id.clone())),
                "dead-letter queue {id} has no depth alarm"
            );
            assert!(queue["Properties"]["RedrivePolicy"].is_null(), "{id}: a dead-letter queue redrives nowhere");
            continue;
        }
        let redrive = &queue["Properties"]["RedrivePolicy"];
        let dlq = target(&redrive["deadLetterTargetArn"]).unwrap_or_else(|| panic!("{id} has no dead-letter queue"));
        assert!(queues.iter().any(|(other, _)| *other == dlq), "{id} redrives to unknown {dlq}");
        assert_eq!(
            number(&redrive["maxReceiveCount"]),
            u64::from(MAX_RECEIVE_COUNT),
            "{id}: the DlqSends metric counts {MAX_RECEIVE_COUNT}"
        );
        assert!(
            alarms.contains(&("ApproximateAgeOfOldestMessage".into(), id.clone())),
            "work queue {id} has no oldest-message alarm"
        );
        assert_eq!(queue["Properties"]["SqsManagedSseEnabled"], true, "{id} is not encrypted");
    }
}

#[test]
fn every_sqs_event_source_reports_batch_item_failures_and_its_queue_outwaits_the_consumer() {
    only_on!(DynamoDb, "template.yaml and the route tables: no store involved, one run is enough");
    let template = template();
    let global_timeout = number(&template["Globals"]["Function"]["Timeout"]);
    let mut sources = 0;
    for (id, function) in resources(&template, "AWS::Serverless::Function") {
        let timeout = function["Properties"].get("Timeout").map(number).unwrap_or(global_timeout);
        for (_, event) in function["Properties"]["Events"].as_mapping().into_iter().flatten() {
            if event["Type"] != "SQS" {
                continue;
            }
            sources += 1;
            let types = event["Properties"]["FunctionResponseTypes"].as_sequence().cloned().unwrap_or_default();
            assert!(
                types.iter().any(|t| t == "ReportBatchItemFailures"),
                "{id}: one poison message would retry the batch"
            );
            let queue = target(&event["Properties"]["Queue"]).expect("queue reference");
            let visibility = number(&template["Resources"][queue.as_str()]["Properties"]["VisibilityTimeout"]);
            assert!(visibility >= 6 * timeout, "{queue}: visibility {visibility}s < 6 x {id}'s {timeout}s timeout");
            assert!(
                function["Properties"]["ReservedConcurrentExecutions"].as_u64().is_some(),
                "{id}: a spike would drain the table's capacity"
            );
        }
    }
    assert!(sources >= 2, "the order and image workers are SQS-triggered");
}

#[test]
fn every_alarm_notifies_the_alarm_topic() {
    only_on!(DynamoDb, "template.yaml and the route tables: no store involved, one run is enough");
    let template = template();
    let alarms = resources(&template, "AWS::CloudWatch::Alarm");
    assert!(alarms.len() >= 10);
    for (id, alarm) in alarms {
        let actions = alarm["Properties"]["AlarmActions"].as_sequence().cloned().unwrap_or_default();
        assert!(actions.iter().any(|a| target(a).as_deref() == Some("AlarmTopic")), "{id} tells no one");
    }
    let names: BTreeSet<String> =
        resources(&template, "AWS::CloudWatch::Alarm").into_iter().map(|(id, _)| id).collect();
    for required in ["Api5xxRateAlarm", "ApiLatencyAlarm", "LambdaErrorsAlarm", "LambdaThrottlesAlarm"] {
        assert!(names.contains(required), "{required} is missing");
    }
}

#[test]
fn the_media_bucket_is_private_and_read_only_by_cloudfront_through_oac() {
    only_on!(DynamoDb, "template.yaml and the route tables: no store involved, one run is enough");
    let template = template();
    let buckets = resources(&template, "AWS::S3::Bucket");
    assert_eq!(buckets.len(), 1);
    let (bucket_id, bucket) = &buckets[0];
    let block = &bucket["Properties"]["PublicAccessBlockConfiguration"];
    for setting in ["BlockPublicAcls", "BlockPublicPolicy", "IgnorePublicAcls", "RestrictPublicBuckets"] {
        assert_eq!(block[setting], true, "{setting}");
    }
    assert_eq!(bucket["Properties"]["OwnershipControls"]["Rules"][0]["ObjectOwnership"], "BucketOwnerEnforced");
    // The policy: nothing public, CloudFront reads images/ and assets/ only (never uploads/), plain HTTP refused.
    let (_, policy) = resources(&template, "AWS::S3::BucketPolicy").into_iter().next().expect("bucket policy");
    assert_eq!(target(&policy["Properties"]["Bucket"]).as_deref(), Some(bucket_id.as_str()));
    let statements = policy["Properties"]["PolicyDocument"]["Statement"].as_sequence().cloned().expect("statements");
    for statement in &statements {
        if statement["Effect"] == "Allow" {
            assert_eq!(statement["Principal"]["Service"], "cloudfront.amazonaws.com", "{statement:?}");
            assert!(!statement["Condition"]["StringEquals"]["AWS:SourceArn"].is_null(), "any distribution could read");
            let resources = match &statement["Resource"] {
                Value::Sequence(items) => items.clone(),
                one => vec![one.clone()],
            };
            for resource in resources {
                let text = format!("{resource:?}");
                assert!(text.contains("/images/*") || text.contains("/assets/*"), "{statement:?}");
            }
        }
    }
    assert!(
        statements.iter().any(|s| s["Effect"] == "Deny" && s["Condition"]["Bool"]["aws:SecureTransport"] == "false")
    );
    // CloudFront signs its requests to the bucket with OAC (not a legacy OAI), reaches the API over HTTPS only,
    // and serves HTTPS only.
    let (_, distribution) = resources(&template, "AWS::CloudFront::Distribution").into_iter().next().expect("CDN");
    let config = &distribution["Properties"]["DistributionConfig"];
    for origin in config["Origins"].as_sequence().expect("origins") {
        if origin.get("CustomOriginConfig").is_some() {
            assert_eq!(origin["CustomOriginConfig"]["OriginProtocolPolicy"], "https-only", "{origin:?}");
            continue;
        }
        let oac = target(&origin["OriginAccessControlId"]).expect("an OAC on every bucket origin");
        let oac = &template["Resources"][oac.as_str()]["Properties"]["OriginAccessControlConfig"];
        assert_eq!(oac["SigningBehavior"], "always");
        assert_eq!(oac["SigningProtocol"], "sigv4");
        assert_eq!(oac["OriginAccessControlOriginType"], "s3");
        assert_eq!(origin["S3OriginConfig"]["OriginAccessIdentity"], "", "no legacy OAI");
    }
    let behaviors = std::iter::once(config["DefaultCacheBehavior"].clone())
        .chain(config["CacheBehaviors"].as_sequence().cloned().unwrap_or_default());
    for behavior in behaviors {
        assert_eq!(behavior["ViewerProtocolPolicy"], "redirect-to-https", "{behavior:?}");
    }
}

#[test]
fn functions_log_json_to_a_group_with_retention_and_are_traced() {
    only_on!(DynamoDb, "template.yaml and the route tables: no store involved, one run is enough");
    let template = template();
    let globals = &template["Globals"]["Function"];
    assert_eq!(globals["Tracing"], "Active");
    assert_eq!(globals["LoggingConfig"]["LogFormat"], "JSON");
    let group = target(&globals["LoggingConfig"]["LogGroup"]).expect("a log group for every function");
    // `RetentionInDays: 14` or `!If [IsProd, 90, 14]`.
    let retention = &template["Resources"][group.as_str()]["Properties"]["RetentionInDays"];
    assert!(matches!(retention, Value::Tagged(_) | Value::Number(_)), "{retention:?}");
    for (id, group) in resources(&template, "AWS::Logs::LogGroup") {
        assert!(!group["Properties"]["RetentionInDays"].is_null(), "{id} keeps logs forever");
    }
    // The HTTP API denies by default: a route without an explicit authorizer gets Cognito's.
    let (_, api) = resources(&template, "AWS::Serverless::HttpApi").into_iter().next().expect("HTTP API");
    assert_eq!(api["Properties"]["Auth"]["DefaultAuthorizer"], "CognitoAuthorizer");
}

#[test]
fn the_dashboard_body_is_json_once_substituted() {
    only_on!(DynamoDb, "template.yaml and the route tables: no store involved, one run is enough");
    let template = template();
    let (_, dashboard) = resources(&template, "AWS::CloudWatch::Dashboard").into_iter().next().expect("dashboard");
    let Value::Tagged(body) = &dashboard["Properties"]["DashboardBody"] else { panic!("a !Sub body") };
    let mut text = body.value.as_str().expect("text").to_owned();
    while let Some(start) = text.find("${") {
        let end = start + text[start..].find('}').expect("closed substitution");
        text.replace_range(start..=end, "x");
    }
    let body: serde_json::Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("dashboard JSON: {e}"));
    let widgets = body["widgets"].as_array().expect("widgets");
    assert!(widgets.len() >= 6);
    let metrics = text.matches("\"Storefront\"").count();
    assert!(metrics >= 2, "the business metrics (EMF namespace Storefront) are on the dashboard");
}

/// The statements of a function's policies (an `!If` statement counts as its true branch).
fn statements(template: &Value, logical_id: &str) -> Vec<Value> {
    template["Resources"][logical_id]["Properties"]["Policies"]
        .as_sequence()
        .expect("Policies")
        .iter()
        .flat_map(|policy| policy["Statement"].as_sequence().cloned().unwrap_or_default())
        .map(|statement| match statement {
            Value::Tagged(tagged) if tagged.tag == "!If" => tagged.value[1].clone(),
            other => other,
        })
        .collect()
}

fn actions(statement: &Value) -> Vec<String> {
    match &statement["Action"] {
        Value::String(one) => vec![one.clone()],
        many => many.as_sequence().into_iter().flatten().filter_map(|a| a.as_str().map(str::to_owned)).collect(),
    }
}

#[test]
fn the_image_worker_may_list_uploads_only_and_says_so_to_its_code() {
    only_on!(DynamoDb, "template.yaml and the route tables: no store involved, one run is enough");
    let template = template();
    let worker = "ImageWorkerFunction";
    let list: Vec<Value> =
        statements(&template, worker).into_iter().filter(|s| actions(s).contains(&"s3:ListBucket".into())).collect();
    assert_eq!(list.len(), 1, "one ListBucket grant");
    assert_eq!(target(&list[0]["Resource"]).as_deref(), Some("MediaBucket"), "on the media bucket");
    assert_eq!(list[0]["Condition"]["StringLike"]["s3:prefix"], "uploads/*", "limited to uploads/");
    // The code treats a 403 as "gone" exactly where this grant exists, and nowhere else.
    for (id, function) in resources(&template, "AWS::Serverless::Function") {
        let flag = function["Properties"]["Environment"]["Variables"][storefront::config::UPLOADS_LISTABLE] == "true";
        let granted = statements(&template, &id).iter().any(|s| actions(s).contains(&"s3:ListBucket".into()));
        assert_eq!(flag, granted, "{id}: UPLOADS_LISTABLE without the grant, or the grant without the flag");
    }
}

#[test]
fn emails_are_trusted_only_verified_and_sent_only_from_the_configured_sender() {
    only_on!(DynamoDb, "template.yaml and the route tables: no store involved, one run is enough");
    let template = template();
    let pool = &template["Resources"]["UserPool"]["Properties"];
    assert_eq!(
        pool["UserAttributeUpdateSettings"]["AttributesRequireVerificationBeforeUpdate"],
        serde_yaml::from_str::<Value>("[email]").expect("yaml"),
        "a changed email stays unverified until proven"
    );
    let mut senders = 0;
    for (id, _) in resources(&template, "AWS::Serverless::Function") {
        for statement in statements(&template, &id) {
            if actions(&statement).iter().any(|a| a.starts_with("ses:")) {
                let resources = serde_yaml::to_string(&statement["Resource"]).expect("yaml");
                assert!(!resources.contains("identity/*"), "{id} may send as anyone: {resources}");
                assert!(resources.contains("${ConfirmationSender}"), "{id}: {resources}");
                senders += 1;
            }
        }
    }
    assert_eq!(senders, 1, "the order worker alone sends email");
}

#[test]
fn anyone_who_signs_up_is_a_shopper_and_the_groups_are_the_roles_the_code_knows() {
    only_on!(DynamoDb, "template.yaml and the route tables: no store involved, one run is enough");
    use storefront::api::{Role, auth::roles_of};
    let template = template();
    let pool = &template["Resources"]["UserPool"]["Properties"];
    // Self sign-up is on (Cognito's managed login offers it): such a user is in no group, and must still shop.
    assert_ne!(pool["AdminCreateUserConfig"]["AllowAdminCreateUserOnly"], Value::Bool(true));
    assert!(
        resources(&template, "AWS::Cognito::UserPool").iter().all(|(_, p)| p["Properties"]["LambdaConfig"].is_null())
    );
    assert_eq!(roles_of(None), vec![Role::Shopper], "a token without cognito:groups");
    let groups: BTreeSet<String> = resources(&template, "AWS::Cognito::UserPoolGroup")
        .into_iter()
        .map(|(_, group)| group["Properties"]["GroupName"].as_str().expect("a name").to_owned())
        .collect();
    assert_eq!(groups, [Role::Shopper, Role::Artisan].map(|r| r.group().to_owned()).into(), "groups and roles");
}

#[test]
fn checkout_and_the_workers_keep_capacity_and_public_reads_are_throttled_on_their_own() {
    only_on!(DynamoDb, "template.yaml and the route tables: no store involved, one run is enough");
    let template = template();
    let checkout = &template["Resources"]["PlaceOrderFunction"]["Properties"]["ReservedConcurrentExecutions"];
    assert!(serde_yaml::to_string(checkout).expect("yaml").contains("CheckoutReservedConcurrency"), "{checkout:?}");
    for worker in ["OrderWorkerFunction", "ImageWorkerFunction"] {
        assert!(template["Resources"][worker]["Properties"]["ReservedConcurrentExecutions"].as_u64().is_some());
    }
    let settings = &template["Resources"]["HttpApi"]["Properties"]["RouteSettings"];
    let public: Vec<String> = storefront_registry::FUNCTIONS
        .iter()
        .filter(|f| f.route.access == storefront::api::Access::Public)
        .map(|f| f.route.key())
        .collect();
    assert!(!public.is_empty());
    for route in public {
        let limits = &settings[route.as_str()];
        assert_eq!(
            limits["ThrottlingRateLimit"],
            serde_yaml::from_str::<Value>("!Ref PublicReadThrottleRate").expect("yaml"),
            "{route}"
        );
        assert!(limits["ThrottlingBurstLimit"] != Value::Null, "{route}");
    }
}

#[test]
fn one_distribution_serves_pages_assets_photos_and_the_api_at_the_same_paths() {
    only_on!(DynamoDb, "template.yaml and the route tables: no store involved, one run is enough");
    let template = template();
    let distributions = resources(&template, "AWS::CloudFront::Distribution");
    assert_eq!(distributions.len(), 1, "one origin for everything");
    let config = &distributions[0].1["Properties"]["DistributionConfig"];
    let origin_of = |id: &Value| {
        let origin = config["Origins"].as_sequence().expect("origins").iter().find(|o| &o["Id"] == id).cloned();
        origin.expect("a known origin")
    };
    let is_api = |behavior: &Value| origin_of(&behavior["TargetOriginId"]).get("CustomOriginConfig").is_some();
    // Pages: everything no other pattern takes goes to the API's default route, cached as the page says.
    let default = &config["DefaultCacheBehavior"];
    assert!(is_api(default), "pages come from the HTTP API");
    assert_eq!(target(&default["CachePolicyId"]).as_deref(), Some("PagesCachePolicy"));
    let behaviors = config["CacheBehaviors"].as_sequence().cloned().expect("behaviors");
    let pattern = |b: &Value| b["PathPattern"].as_str().expect("pattern").to_owned();
    for prefix in ["/images/*", "/assets/*"] {
        let behavior = behaviors.iter().find(|b| pattern(b) == prefix).expect("a behavior for the bucket's paths");
        assert!(!is_api(behavior), "{prefix} comes from the bucket");
    }
    // Every API path of docs/api.md goes to the API, keyed by its Authorization header, never rewritten.
    for function in storefront_registry::FUNCTIONS {
        let path = function.route.path;
        let behavior = behaviors
            .iter()
            .filter(|b| is_api(b))
            // CloudFront's `*` matches any characters: the pattern is a prefix.
            .find(|b| path.starts_with(pattern(b).trim_end_matches('*')))
            .unwrap_or_else(|| panic!("{path}: no behavior sends it to the API"));
        assert_eq!(target(&behavior["CachePolicyId"]).as_deref(), Some("ApiCachePolicy"), "{path}");
        assert!(
            serde_yaml::to_string(&behavior["AllowedMethods"]).expect("yaml").contains(function.route.method),
            "{path}"
        );
    }
    for page in storefront_web::PAGE_PATHS {
        let taken = behaviors.iter().any(|b| {
            let p = pattern(b);
            page.starts_with(p.trim_end_matches('*'))
        });
        assert!(!taken, "page {page} would be sent elsewhere than the pages");
    }
    let api_policy = &template["Resources"]["ApiCachePolicy"]["Properties"]["CachePolicyConfig"];
    let keyed = &api_policy["ParametersInCacheKeyAndForwardedToOrigin"]["HeadersConfig"]["Headers"];
    assert!(
        keyed.as_sequence().is_some_and(|h| h.iter().any(|h| h == "Authorization")),
        "one user's answer is never another's"
    );
    assert!(number(&api_policy["MaxTTL"]) <= 60, "the API is cached briefly at most");
    let pages_policy = &template["Resources"]["PagesCachePolicy"]["Properties"]["CachePolicyConfig"];
    assert_eq!(pages_policy["ParametersInCacheKeyAndForwardedToOrigin"]["HeadersConfig"]["HeaderBehavior"], "none");
    assert_eq!(pages_policy["ParametersInCacheKeyAndForwardedToOrigin"]["CookiesConfig"]["CookieBehavior"], "none");
    // Pages are keyed on the query parameters they read and nothing else reaches them: `?anything` is the cached
    // page, never a fresh render (a sitemap index walks the catalog).
    let queries = &pages_policy["ParametersInCacheKeyAndForwardedToOrigin"]["QueryStringsConfig"];
    assert_eq!(queries["QueryStringBehavior"], "whitelist");
    let keyed: BTreeSet<&str> =
        queries["QueryStrings"].as_sequence().expect("named").iter().map(|q| q.as_str().expect("a name")).collect();
    assert_eq!(keyed, storefront_web::QUERY_PARAMETERS.iter().copied().collect(), "the pages' cache key");
    assert_eq!(target(&default["OriginRequestPolicyId"]).as_deref(), Some("PagesOriginRequestPolicy"));
    let forwarded = &template["Resources"]["PagesOriginRequestPolicy"]["Properties"]["OriginRequestPolicyConfig"];
    assert_eq!(forwarded["QueryStringsConfig"]["QueryStringBehavior"], "none", "only the key's parameters");
    assert_eq!(forwarded["CookiesConfig"]["CookieBehavior"], "none");
    // The pages function reads the catalog and writes nothing.
    let actions = crate::routes::granted_actions(&template, "web-pages");
    assert!(actions.iter().all(|a| ["dynamodb:GetItem", "dynamodb:Query"].contains(&a.as_str())), "{actions:?}");
}

/// A tagged value's inner value (`!If [...]`, `!Sub "..."`), or the value itself.
fn untagged(value: &Value) -> &Value {
    match value {
        Value::Tagged(tagged) => &tagged.value,
        other => other,
    }
}

#[test]
fn on_postgres_every_function_is_in_the_vpc_and_connects_through_the_proxy_with_iam_and_tls() {
    only_on!(DynamoDb, "template.yaml and the route tables: no store involved, one run is enough");
    let template = template();
    let on_postgres = |id: &str| template["Resources"][id]["Condition"] == "OnPostgres";
    // The whole Postgres side exists only with Backend=postgres.
    for id in [
        "Vpc",
        "NatGateway",
        "DatabaseCluster",
        "DatabaseWriter",
        "DatabaseReader",
        "DatabaseProxy",
        "DatabaseReadEndpoint",
        "DatabaseProxyTargets",
        "DbMigrateFunction",
        "DatabaseSchema",
        "FunctionsDatabasePolicy",
    ] {
        assert!(on_postgres(id), "{id} is created only with Backend=postgres");
    }
    let globals = &template["Globals"]["Function"];
    let vpc = untagged(&globals["VpcConfig"]);
    assert_eq!(vpc[0], "OnPostgres", "every function in the VPC on Postgres");
    assert_eq!(vpc[1]["SubnetIds"].as_sequence().map(Vec::len), Some(2), "two private subnets");
    let variables = &globals["Environment"]["Variables"];
    assert_eq!(target(&variables["STORE"]).as_deref(), Some("Backend"), "STORE follows the Backend parameter");
    for (name, endpoint) in [("DATABASE_URL", "DatabaseProxy"), ("DATABASE_READ_URL", "DatabaseReadEndpoint")] {
        let url = untagged(&variables[name])[1].clone();
        let text = untagged(&url).as_str().expect("a !Sub").to_owned();
        assert!(text.starts_with(&format!("postgres://storefront_app@${{{endpoint}.Endpoint}}")), "{name}: {text}");
        assert!(text.ends_with("sslmode=verify-full"), "{name} verifies the proxy's certificate: {text}");
    }
    assert_eq!(untagged(&variables["DATABASE_IAM_AUTH"])[1], "true");
    // Customer shards beside the catalog database: the same count for the functions and the migration step, which
    // runs again (creating the new ones) when it changes.
    assert_eq!(target(&untagged(&variables["SHARDS"])[1]).as_deref(), Some("CustomerShards"));
    let migrate = &template["Resources"]["DbMigrateFunction"]["Properties"]["Environment"]["Variables"];
    assert_eq!(target(&migrate["SHARDS"]).as_deref(), Some("CustomerShards"));
    let schema = &template["Resources"]["DatabaseSchema"]["Properties"];
    assert_eq!(target(&schema["CustomerShards"]).as_deref(), Some("CustomerShards"));

    let proxy = &template["Resources"]["DatabaseProxy"]["Properties"];
    assert_eq!(proxy["RequireTLS"], true);
    let auth = proxy["Auth"].as_sequence().expect("Auth");
    assert!(auth.iter().all(|a| a["IAMAuth"] == "REQUIRED"), "no password logs in to the proxy: {auth:?}");
    assert_eq!(template["Resources"]["DatabaseReadEndpoint"]["Properties"]["TargetRole"], "READ_ONLY");
    let cluster = &template["Resources"]["DatabaseCluster"]["Properties"];
    assert_eq!(
        (cluster["Engine"].as_str(), cluster["StorageEncrypted"].as_bool()),
        (Some("aurora-postgresql"), Some(true))
    );
    assert!(cluster["ServerlessV2ScalingConfiguration"].is_mapping(), "Serverless v2");

    // Every function's role may connect as the functions' user, and only as it; the migration step as the master.
    let functions: BTreeSet<String> = resources(&template, "AWS::Serverless::Function")
        .into_iter()
        .map(|(id, _)| id)
        .filter(|id| id != "DbMigrateFunction")
        .collect();
    let policy = &template["Resources"]["FunctionsDatabasePolicy"]["Properties"];
    let roles: BTreeSet<String> = policy["Roles"]
        .as_sequence()
        .expect("Roles")
        .iter()
        .filter_map(target)
        .map(|role| role.trim_end_matches("Role").to_owned())
        .collect();
    assert_eq!(roles, functions, "every function, no other role");
    let connect = |statements: &Value| -> Vec<String> {
        statements
            .as_sequence()
            .expect("Statement")
            .iter()
            .filter(|s| s["Action"] == "rds-db:connect")
            .map(|s| untagged(&s["Resource"])[0].as_str().expect("a !Sub list").to_owned())
            .collect()
    };
    let app_user = connect(&policy["PolicyDocument"]["Statement"]);
    assert_eq!(app_user.len(), 1);
    assert!(app_user[0].ends_with(":dbuser:${ProxyId}/storefront_app"), "{app_user:?}");
    let migrate = &template["Resources"]["DbMigrateFunction"]["Properties"];
    let master = connect(&migrate["Policies"][0]["Statement"]);
    assert!(master.len() == 1 && master[0].ends_with("/storefront_admin"), "{master:?}");

    // AWS services through endpoints; the NAT only for what has none (SES's API, the payment provider).
    let services: BTreeSet<String> = resources(&template, "AWS::EC2::VPCEndpoint")
        .into_iter()
        .map(|(_, endpoint)| untagged(&endpoint["Properties"]["ServiceName"]).as_str().expect("name").to_owned())
        .map(|name| name.rsplit('.').next().expect("service").to_owned())
        .collect();
    assert_eq!(
        services,
        ["s3", "secretsmanager", "sqs"].map(String::from).into(),
        "the AWS services the functions call"
    );
    // The schema is migrated by the deploy, at the version this build carries.
    let schema = &template["Resources"]["DatabaseSchema"]["Properties"];
    assert_eq!(target(&schema["ServiceToken"]).as_deref(), Some("DbMigrateFunction"));
    assert_eq!(
        schema["MigrationsVersion"].as_str().and_then(|v| v.parse().ok()),
        Some(storefront::adapters::postgres::migrations::latest_version()),
        "bump MigrationsVersion with every new migration: CloudFormation runs the step when it changes"
    );
}

/// The variable through which a function process reaches `stand_in` (what events/env.json points at it).
pub(crate) fn stand_in_variable(stand_in: StandIn) -> &'static str {
    match stand_in {
        StandIn::DynamoDb => "AWS_ENDPOINT_URL_DYNAMODB",
        StandIn::S3 => "AWS_ENDPOINT_URL_S3",
        StandIn::Sqs => "AWS_ENDPOINT_URL_SQS",
        StandIn::Ses => "AWS_ENDPOINT_URL_SESV2",
        StandIn::SecretsManager => "AWS_ENDPOINT_URL_SECRETS_MANAGER",
        StandIn::Payments => storefront::config::PAYMENTS_API_URL,
    }
}

/// Where a `sam local` container reaches `stand_in` of a `make dev` on its default port.
pub(crate) fn sam_local_address(stand_in: StandIn) -> String {
    format!("http://host.docker.internal:{}", stand_in.port_after(DEFAULT_PORT))
}

/// events/env.json, the `--env-vars` file of `sam local invoke` and `sam local start-api`.
pub(crate) fn sam_local_env_file() -> serde_json::Value {
    let text = std::fs::read_to_string(storefront_tests::repo_root().join("events/env.json")).expect("events/env.json");
    serde_json::from_str(&text).expect("events/env.json is JSON")
}

/// The variables a function is declared with: the Globals' and its own, by name.
fn declared_variables(template: &Value, function: &Value) -> Vec<(String, Value)> {
    let globals = &template["Globals"]["Function"]["Environment"]["Variables"];
    let own = &function["Properties"]["Environment"]["Variables"];
    [globals, own]
        .into_iter()
        .filter_map(Value::as_mapping)
        .flatten()
        .map(|(name, value)| (name.as_str().expect("a variable name").to_owned(), value.clone()))
        .collect()
}

#[test]
fn the_sam_local_env_file_gives_every_function_what_it_reads_at_make_devs_fixed_ports() {
    only_on!(DynamoDb, "template.yaml and the route tables: no store involved, one run is enough");
    let template = template();
    let file = sam_local_env_file();
    let everyone = file["Parameters"].as_object().expect("a Parameters object for every function");
    // Only for Backend=postgres (sam local runs the DynamoDB backend; docs/deploy.md says how to switch).
    let postgres_only = [
        storefront::config::DATABASE_URL,
        storefront::config::DATABASE_READ_URL,
        storefront::config::DATABASE_IAM_AUTH,
        storefront::config::SHARDS,
    ];
    let mut functions = 0;
    for (id, function) in resources(&template, "AWS::Serverless::Function") {
        if function["Condition"].as_str() == Some("OnPostgres") {
            continue;
        }
        functions += 1;
        let declared = declared_variables(&template, &function);
        let own = file[&id].as_object();
        for (name, value) in &declared {
            // A literal the template gives is right under sam local too; anything it resolves from a resource
            // or parameter (a table name, a queue URL, the provider's API) must come from the file.
            if postgres_only.contains(&name.as_str()) || matches!(value, Value::String(_) | Value::Bool(_)) {
                continue;
            }
            let given = own.and_then(|own| own.get(name)).or_else(|| everyone.get(name));
            assert!(given.is_some(), "events/env.json gives {id} no {name}");
        }
        // sam local passes only what the template declares: anything else in the file would be dropped silently.
        for name in own.into_iter().flat_map(|own| own.keys()).chain(everyone.keys()) {
            assert!(declared.iter().any(|(n, _)| n == name), "{id} does not declare {name}: sam local would drop it");
        }
    }
    assert!(functions >= 20, "only {functions} functions found");
    for (name, _) in file.as_object().expect("an object") {
        assert!(name == "Parameters" || template["Resources"][name.as_str()].is_mapping(), "no function {name}");
    }
    for stand_in in StandIn::ALL {
        let variable = stand_in_variable(stand_in);
        assert_eq!(everyone.get(variable).and_then(|v| v.as_str()), Some(sam_local_address(stand_in).as_str()));
    }
    // Every address in the file is one of make dev's stand-ins (the queues are on the SQS one).
    let addresses: Vec<String> = StandIn::ALL.iter().map(|s| sam_local_address(*s)).collect();
    for value in everyone.values().filter_map(|v| v.as_str()).filter(|v| v.contains("host.docker.internal")) {
        assert!(addresses.iter().any(|a| value.starts_with(a.as_str())), "{value} is no stand-in of make dev");
    }
}

/// (metric, function) of every alarm on the storefront's own metrics, a single metric or one of a math expression's.
fn storefront_metric_alarms(template: &Value) -> BTreeSet<(String, String)> {
    let function_of = |dimensions: &Value| {
        dimensions.as_sequence().and_then(|d| d.iter().find(|d| d["Name"] == "Function")).map(|d| {
            d["Value"].as_str().unwrap_or_else(|| panic!("a function's name, not {:?}", d["Value"])).to_owned()
        })
    };
    let mut watched = BTreeSet::new();
    for (id, alarm) in resources(template, "AWS::CloudWatch::Alarm") {
        let properties = &alarm["Properties"];
        let stats = properties["Metrics"].as_sequence().cloned().unwrap_or_default();
        let metrics =
            std::iter::once(properties.clone()).chain(stats.iter().map(|m| m["MetricStat"]["Metric"].clone()));
        for metric in metrics.filter(|m| m["Namespace"] == "Storefront") {
            let name = metric["MetricName"].as_str().expect("a metric name").to_owned();
            let function = function_of(&metric["Dimensions"]).unwrap_or_else(|| panic!("{id}: {name} by function"));
            watched.insert((name, function));
        }
    }
    watched
}

/// A payment refused for want of credentials, a forged or mis-signed webhook and payment work parked for an operator
/// must wake someone; every alarm on the storefront's metrics names a metric the code counts and a function it
/// deploys (a typo there is an alarm that never fires).
#[test]
fn money_that_stops_moving_wakes_someone_and_every_metric_alarm_watches_what_the_code_counts() {
    only_on!(DynamoDb, "template.yaml and the route tables: no store involved, one run is enough");
    let watched = storefront_metric_alarms(&template());
    let counted: BTreeSet<&str> = storefront::telemetry::metrics::Metric::ALL.iter().map(|m| m.name()).collect();
    let functions: BTreeSet<&str> = storefront_registry::names().collect();
    for (metric, function) in &watched {
        assert!(counted.contains(metric.as_str()), "an alarm watches {metric}, which the code never counts");
        assert!(functions.contains(function.as_str()), "an alarm watches {metric} of {function}, not a function");
    }
    let alarmed = |metric: &str, function: &str| watched.contains(&(metric.to_owned(), function.to_owned()));
    for function in ["payment-webhook", "place-order", "payment-worker", "order-sweeper", "payment-reconciler"] {
        assert!(alarmed("PaymentsMisconfigured", function), "PaymentsMisconfigured of {function} is not alarmed");
    }
    assert!(alarmed("WebhookSignaturesRefused", "payment-webhook"));
    assert!(alarmed("FollowUpsParked", "payment-reconciler"));
}

/// The sweeper and the reconciler stop reading a backlog at their budgets, leaving the rest to the next run; the
/// functions must be given longer than that, or Lambda kills a run mid-write and every run after it the same way.
#[test]
fn the_scheduled_jobs_stop_within_their_timeouts() {
    only_on!(DynamoDb, "template.yaml and the route tables: no store involved, one run is enough");
    use storefront::services::{reconciler::ReconcileBudget, sweeper::SweepBudget};
    let template = template();
    let timeout = |function: &str| number(&template["Resources"][function]["Properties"]["Timeout"]);
    // The work in flight when a budget ends (8 provider or store calls at once, each with its own timeout) and
    // the sweeper's confirmations and housekeeping after expiry.
    let margin = 20;
    assert!(SweepBudget::DEFAULT.expiry.as_secs() + margin <= timeout("OrderSweeperFunction"));
    assert!(ReconcileBudget::DEFAULT.whole_run().as_secs() + margin <= timeout("PaymentReconcilerFunction"));
}
