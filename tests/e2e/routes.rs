//! One definition per route: template.yaml, the local router (the `Function` values) and openapi.yaml name the
//! same (method, path) → function set; the template protects what it should and grants no write to a read route;
//! its table matches the adapter's schema.

use std::collections::BTreeSet;

use serde_yaml::Value;
use storefront::adapters::dynamodb::{keys, schema};
use storefront::api::{Access, Role};
use storefront_registry::FUNCTIONS;
use storefront_tests::{only_on, repo_root};

pub(crate) fn template() -> Value {
    let text = std::fs::read_to_string(repo_root().join("template.yaml")).expect("template.yaml");
    serde_yaml::from_str(&text).expect("template.yaml parses")
}

pub(crate) fn pascal(name: &str) -> String {
    name.split('-').map(|part| part[..1].to_uppercase() + &part[1..]).collect()
}

/// Every IAM action the template allows a function (its `Policies` statements).
pub(crate) fn granted_actions(template: &Value, function: &str) -> Vec<String> {
    crate::grants::statements(template, function).into_iter().filter(|s| s.allow).flat_map(|s| s.actions).collect()
}

/// (method, path, logical id, authorizer) of every HttpApi event in the template.
fn template_routes(template: &Value) -> BTreeSet<(String, String, String, String)> {
    let mut routes = BTreeSet::new();
    let resources = template["Resources"].as_mapping().expect("Resources");
    for (id, resource) in resources {
        if resource["Type"] != "AWS::Serverless::Function" {
            continue;
        }
        for (_, event) in resource["Properties"]["Events"].as_mapping().into_iter().flatten() {
            if event["Type"] != "HttpApi" {
                continue;
            }
            let props = &event["Properties"];
            // No path and no method: the API's default route (the web pages).
            let default = props["Path"].is_null() && props["Method"].is_null();
            routes.insert((
                if default { "GET".to_owned() } else { props["Method"].as_str().expect("Method").to_uppercase() },
                if default { "$default".to_owned() } else { props["Path"].as_str().expect("Path").to_owned() },
                id.as_str().expect("logical id").to_owned(),
                props["Auth"]["Authorizer"].as_str().unwrap_or("CognitoAuthorizer (default)").to_owned(),
            ));
        }
    }
    routes
}

#[test]
fn template_and_local_router_serve_the_same_routes_with_the_same_protection() {
    only_on!(DynamoDb, "template.yaml and the route tables: no store involved, one run is enough");
    let from_template = template_routes(&template());
    let from_router: BTreeSet<_> = FUNCTIONS
        .iter()
        .chain(std::iter::once(&storefront_registry::SITE))
        .map(|f| {
            let authorizer = match f.route.access {
                Access::Public => "NONE",
                Access::Role(_) => "CognitoAuthorizer",
            };
            (
                f.route.method.to_owned(),
                f.route.path.to_owned(),
                format!("{}Function", pascal(f.route.function)),
                authorizer.to_owned(),
            )
        })
        .collect();
    assert_eq!(from_template, from_router);
}

#[test]
fn every_function_builds_its_own_binary() {
    only_on!(DynamoDb, "template.yaml and the route tables: no store involved, one run is enough");
    let template = template();
    for function in FUNCTIONS.iter().chain(std::iter::once(&storefront_registry::SITE)) {
        let resource = &template["Resources"][format!("{}Function", pascal(function.route.function)).as_str()];
        assert_eq!(resource["Metadata"]["BuildMethod"], "rust-cargolambda", "{}", function.route.function);
        assert_eq!(resource["Metadata"]["BuildProperties"]["Binary"], function.route.function);
        let manifest = repo_root().join("functions").join(function.route.function).join("Cargo.toml");
        assert!(manifest.exists(), "{} has no crate", function.route.function);
    }
}

#[test]
fn openapi_documents_every_served_route_and_nothing_else_but_the_local_extras() {
    only_on!(DynamoDb, "template.yaml and the route tables: no store involved, one run is enough");
    let text = std::fs::read_to_string(repo_root().join("openapi.yaml")).expect("openapi.yaml");
    let spec: Value = serde_yaml::from_str(&text).expect("openapi.yaml parses");
    let (mut api, mut local_only) = (BTreeSet::new(), BTreeSet::new());
    for (route, item) in spec["paths"].as_mapping().expect("paths") {
        let path = route.as_str().expect("path").to_owned();
        let local = item["x-local-only"] == Value::Bool(true);
        for (key, _) in item.as_mapping().expect("path item") {
            let key = key.as_str().expect("key");
            if ["get", "post", "put", "patch", "delete"].contains(&key) {
                let entry = (key.to_uppercase(), path.clone());
                if local {
                    local_only.insert(entry)
                } else {
                    api.insert(entry)
                };
            }
        }
    }
    let served: BTreeSet<_> = FUNCTIONS.iter().map(|f| (f.route.method.to_owned(), f.route.path.to_owned())).collect();
    assert_eq!(api, served, "openapi.yaml and the route functions disagree");
    let extras: BTreeSet<_> = [
        ("POST", "/dev/token"),
        ("GET", "/dev/oauth2/authorize"),
        ("POST", "/dev/oauth2/authorize"),
        ("POST", "/dev/oauth2/token"),
        ("GET", "/dev/static/{path}"),
        ("GET", "/dev/pay/{intent_id}"),
        ("POST", "/dev/pay/{intent_id}"),
        ("GET", "/health"),
        ("GET", "/metrics"),
        ("GET", "/openapi.json"),
    ]
    .iter()
    .map(|(m, p)| (m.to_string(), p.to_string()))
    .collect();
    assert_eq!(local_only, extras);
}

#[test]
fn read_routes_get_read_only_table_access_and_no_route_gets_scan() {
    only_on!(DynamoDb, "template.yaml and the route tables: no store involved, one run is enough");
    let template = template();
    // s3:PutObject counts: an upload URL is signed with the function's own authority to write.
    let writes = [
        "PutItem",
        "UpdateItem",
        "DeleteItem",
        "BatchWriteItem",
        "TransactWriteItems",
        "ConditionCheckItem",
        "s3:PutObject",
    ];
    for function in FUNCTIONS {
        let actions = granted_actions(&template, function.route.function);
        assert!(!actions.is_empty(), "{} has no table access", function.route.function);
        let allowed = |a: &String| {
            (a.starts_with("dynamodb:") && a != "dynamodb:Scan" && a != "dynamodb:*")
                || a == "sqs:SendMessage"
                || a == "s3:PutObject"
                || a == "secretsmanager:GetSecretValue"
        };
        assert!(actions.iter().all(allowed), "{actions:?}");
        let is_read = function.route.method == "GET";
        let has_write = actions.iter().any(|a| writes.iter().any(|w| a.ends_with(w)));
        assert_eq!(has_write, !is_read, "{}: {actions:?}", function.route.function);
    }
}

#[test]
fn protected_routes_name_their_role_and_public_ones_are_reads_or_signed_webhooks() {
    only_on!(DynamoDb, "template.yaml and the route tables: no store involved, one run is enough");
    for function in FUNCTIONS {
        match function.route.access {
            // The provider's signature is a webhook's authentication (checked by the function itself).
            Access::Public if function.route.path.starts_with("/webhooks/") => {
                assert_eq!(function.route.method, "POST", "{}", function.route.function)
            }
            Access::Public => {
                assert_eq!(function.route.method, "GET", "{}", function.route.function)
            }
            Access::Role(Role::Artisan) => {
                assert!(
                    ["/products", "/artisan/"].iter().any(|p| function.route.path.starts_with(p)),
                    "{}",
                    function.route.path
                )
            }
            Access::Role(Role::Shopper) => {
                assert!(
                    ["/cart", "/orders"].iter().any(|p| function.route.path.starts_with(p)),
                    "{}",
                    function.route.path
                )
            }
        }
    }
}

#[test]
fn the_template_table_matches_the_adapter_schema() {
    only_on!(DynamoDb, "template.yaml and the route tables: no store involved, one run is enough");
    let template = template();
    let table = &template["Resources"]["Table"]["Properties"];
    assert_eq!(table["BillingMode"], "PAY_PER_REQUEST");
    assert_eq!(table["TimeToLiveSpecification"]["AttributeName"], keys::TTL);
    let key_names = |schema: &Value| -> Vec<String> {
        schema
            .as_sequence()
            .expect("KeySchema")
            .iter()
            .map(|k| k["AttributeName"].as_str().expect("name").to_owned())
            .collect()
    };
    assert_eq!(key_names(&table["KeySchema"]), [keys::PK, keys::SK]);
    let indexes: BTreeSet<(String, String, String)> = table["GlobalSecondaryIndexes"]
        .as_sequence()
        .expect("GSIs")
        .iter()
        .map(|gsi| {
            let names = key_names(&gsi["KeySchema"]);
            assert_eq!(gsi["Projection"]["ProjectionType"], "ALL");
            (gsi["IndexName"].as_str().expect("name").to_owned(), names[0].clone(), names[1].clone())
        })
        .collect();
    let expected: BTreeSet<_> =
        schema::INDEXES.iter().map(|(i, p, s)| (i.to_string(), p.to_string(), s.to_string())).collect();
    assert_eq!(indexes, expected);
}

#[test]
fn the_pages_router_hands_every_api_route_to_the_api_and_knows_no_other_prefix() {
    only_on!(DynamoDb, "template.yaml and the route tables: no store involved, one run is enough");
    // The local server's own paths: its stand-ins' pages and the bucket's, with no function behind them.
    const LOCAL: &[&str] = &["/dev/", "/images/", "/assets/"];
    let sample =
        |path: &str| path.split('/').map(|s| if s.starts_with('{') { "x" } else { s }).collect::<Vec<_>>().join("/");
    for function in FUNCTIONS {
        let path = sample(function.route.path);
        assert!(storefront_web::is_api_path(&path), "{path} would be answered by the pages");
    }
    for page in storefront_web::PAGE_PATHS {
        assert!(!storefront_web::is_api_path(&sample(page)), "page {page} would be answered as the API");
    }
    for prefix in storefront_web::API_PREFIXES.iter().filter(|p| !LOCAL.contains(p)) {
        let route = FUNCTIONS.iter().find(|f| f.route.path.starts_with(prefix.trim_end_matches('/')));
        assert!(route.is_some(), "{prefix} names no route: a prefix left behind by a route that went");
    }
}
