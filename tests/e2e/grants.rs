//! IAM grants held to use, all of them: what template.yaml allows each function (every service, resource by
//! resource, `Effect` honoured, scalar or list `Action`, the `s3:prefix` condition) against what the function's
//! own binary asked IAM for while it ran (recorded by the proxies in front of every stand-in,
//! `storefront_local::iam`). Both ways: a use no grant covers is AccessDenied in AWS; a grant nothing used is more
//! than the function needs. tests/e2e/invocations/ drives the binaries through every sample event and the
//! workers' real paths, then asks this module.

use std::collections::BTreeSet;

use serde_yaml::Value;
use storefront_local::iam::Use;
use storefront_local::stack::PAYMENTS_SECRET_ARN;
use storefront_local::{LAMBDA_CONFIRMATION_SENDER, MEDIA_BUCKET, TABLE_NAME};

use crate::routes::{pascal, template};

/// One statement of a function's policies, its resources resolved to the names the local stack uses.
#[derive(Debug, Clone)]
pub(crate) struct Statement {
    pub allow: bool,
    pub actions: Vec<String>,
    pub resources: Vec<String>,
    /// `Condition: StringLike: s3:prefix`
    pub prefix: Option<String>,
}

fn glob(pattern: &str, value: &str) -> bool {
    match pattern.split_once('*') {
        None => pattern == value,
        Some((head, rest)) => {
            value.starts_with(head) && {
                let tail = &value[head.len()..];
                (0..=tail.len()).any(|i| tail.is_char_boundary(i) && glob(rest, &tail[i..]))
            }
        }
    }
}

/// `!GetAtt Table.Arn`, `!Sub "${MediaBucket.Arn}/uploads/*"`, an SES identity ARN, `!Ref PaymentsSecret`: the
/// resource as `iam::Use` names it (`table/storefront/index/*`, `object/storefront-media/uploads/*`,
/// `identity/orders@…`, `secret/arn:…`).
fn resolve(value: &Value) -> String {
    let (text, vars) = match value {
        Value::Tagged(tagged) if tagged.tag == "!GetAtt" || tagged.tag == "!Ref" => {
            (format!("${{{}}}", tagged.value.as_str().expect("GetAtt or Ref target")), Vec::new())
        }
        Value::Tagged(tagged) if tagged.tag == "!Sub" => match &tagged.value {
            Value::String(text) => (text.clone(), Vec::new()),
            Value::Sequence(parts) => {
                let vars = parts[1].as_mapping().expect("Sub variables");
                let vars = vars.iter().map(|(k, v)| (k.as_str().expect("name").to_owned(), v.clone())).collect();
                (parts[0].as_str().expect("Sub template").to_owned(), vars)
            }
            other => panic!("unexpected !Sub {other:?}"),
        },
        Value::String(text) => (text.clone(), Vec::new()),
        other => panic!("unexpected resource {other:?}"),
    };
    let domain = LAMBDA_CONFIRMATION_SENDER.split('@').nth(1).expect("a domain");
    let mut text = text
        .replace("${Table.Arn}", &format!("table/{TABLE_NAME}"))
        .replace("${MediaBucket.Arn}", &format!("bucket/{MEDIA_BUCKET}"))
        .replace("${OrderQueue.Arn}", "queue/storefront-orders")
        .replace("${ImageQueue.Arn}", "queue/storefront-images")
        .replace("${PaymentQueue.Arn}", "queue/storefront-payments")
        .replace("${PaymentsSecret}", &format!("secret/{PAYMENTS_SECRET_ARN}"))
        .replace("${ConfirmationSender}", LAMBDA_CONFIRMATION_SENDER);
    for (name, _) in &vars {
        // The only variable the template uses is the sender's domain (`!Select [1, !Split ["@", …]]`).
        assert_eq!(name, "Domain", "an unknown !Sub variable");
        text = text.replace("${Domain}", domain);
    }
    if let Some(identity) = text.split(":identity/").nth(1) {
        return format!("identity/{identity}");
    }
    match text.strip_prefix(&format!("bucket/{MEDIA_BUCKET}/")) {
        Some(key) => format!("object/{MEDIA_BUCKET}/{key}"),
        None => text,
    }
}

fn strings(value: &Value) -> Vec<Value> {
    match value {
        Value::Sequence(items) => items.clone(),
        Value::Null => Vec::new(),
        one => vec![one.clone()],
    }
}

/// Every statement of `function`'s policies, as deployed with a confirmation sender (an `!If` statement counts as
/// its true branch).
pub(crate) fn statements(template: &Value, function: &str) -> Vec<Statement> {
    let policies = &template["Resources"][format!("{}Function", pascal(function)).as_str()]["Properties"]["Policies"];
    policies
        .as_sequence()
        .expect("Policies")
        .iter()
        .flat_map(|policy| strings(&policy["Statement"]))
        .map(|statement| match statement {
            Value::Tagged(tagged) if tagged.tag == "!If" => tagged.value[1].clone(),
            other => other,
        })
        .map(|statement| Statement {
            allow: statement["Effect"] == "Allow",
            actions: strings(&statement["Action"]).iter().map(|a| a.as_str().expect("action").to_owned()).collect(),
            resources: strings(&statement["Resource"]).iter().map(resolve).collect(),
            prefix: statement["Condition"]["StringLike"]["s3:prefix"].as_str().map(str::to_owned),
        })
        .collect()
}

impl Statement {
    fn covers(&self, used: &Use) -> bool {
        self.actions.iter().any(|a| glob(a, &used.action))
            && self.resources.iter().any(|r| glob(r, &used.resource))
            && match (&self.prefix, &used.prefix) {
                (None, _) => true,
                (Some(pattern), Some(prefix)) => glob(pattern, prefix),
                // A listing without a prefix is not covered by a grant that needs one.
                (Some(_), None) => false,
            }
    }
}

/// What `function` used must be granted, and what it is granted must have been used.
#[track_caller]
pub(crate) fn assert_grants_match_use(function: &str, used: &BTreeSet<Use>) {
    let findings = grant_findings(function, used);
    assert!(findings.is_empty(), "{}", findings.join("\n"));
}

/// Every way `function`'s grants in template.yaml and its uses disagree (empty when they match).
pub(crate) fn grant_findings(function: &str, used: &BTreeSet<Use>) -> Vec<String> {
    let mut statements = statements(&template(), function);
    if storefront_tests::backend() != storefront_tests::Backend::DynamoDb {
        // On Postgres the table is not the store: its grants are not what the function needs, and any use of the
        // table is a finding (the function read or wrote the wrong backend).
        statements.retain(|s| !s.actions.iter().any(|a| a.starts_with("dynamodb:")));
    }
    findings(function, &statements, used)
}

fn findings(function: &str, statements: &[Statement], used: &BTreeSet<Use>) -> Vec<String> {
    let mut findings = Vec::new();
    let denied: Vec<&Use> = used
        .iter()
        .filter(|u| {
            !statements.iter().any(|s| s.allow && s.covers(u)) || statements.iter().any(|s| !s.allow && s.covers(u))
        })
        .collect();
    if !denied.is_empty() {
        findings.push(format!("{function} needs what template.yaml does not grant (AccessDenied in AWS): {denied:?}"));
    }
    let mut unused = Vec::new();
    for statement in statements.iter().filter(|s| s.allow) {
        for action in &statement.actions {
            let use_of = |resource: &String| {
                let one =
                    Statement { actions: vec![action.clone()], resources: vec![resource.clone()], ..statement.clone() };
                used.iter().any(|u| one.covers(u))
            };
            // An SES sender is authorized as its address or as its domain, whichever was verified: the statement
            // names both, and either one being used is the whole of its use.
            if action.starts_with("ses:") && statement.resources.iter().any(use_of) {
                continue;
            }
            unused.extend(statement.resources.iter().filter(|r| !use_of(r)).map(|r| format!("{action} on {r}")));
        }
    }
    if !unused.is_empty() {
        let used: Vec<String> = used.iter().map(|u| format!("{} on {}", u.action, u.resource)).collect();
        findings.push(format!("{function} is granted what it never used: {unused:?} (it used {used:?})"));
    }
    findings
}

#[test]
fn a_scalar_action_counts_and_a_deny_wins_over_an_allow() {
    let policy: Value = serde_yaml::from_str(
        r#"
Resources:
  ProbeFunction:
    Properties:
      Policies:
        - Statement:
            - Effect: Allow
              Action: dynamodb:GetItem
              Resource: !GetAtt Table.Arn
            - Effect: Allow
              Action: [dynamodb:Query]
              Resource: !Sub "${Table.Arn}/index/*"
            - Effect: Deny
              Action: dynamodb:Query
              Resource: !Sub "${Table.Arn}/index/GSI3"
"#,
    )
    .expect("yaml");
    let statements = statements(&policy, "probe");
    let get = Use { action: "dynamodb:GetItem".into(), resource: format!("table/{TABLE_NAME}"), prefix: None };
    let query = |index: &str| Use {
        action: "dynamodb:Query".into(),
        resource: format!("table/{TABLE_NAME}/index/{index}"),
        prefix: None,
    };
    assert!(findings("probe", &statements, &BTreeSet::from([get.clone(), query("GSI1")])).is_empty());
    let denied = findings("probe", &statements, &BTreeSet::from([get.clone(), query("GSI3")]));
    assert!(denied.iter().any(|f| f.contains("needs")), "the Deny holds: {denied:?}");
    let unused = findings("probe", &statements, &BTreeSet::from([query("GSI1")]));
    assert!(unused.iter().any(|f| f.contains("never used") && f.contains("GetItem")), "{unused:?}");
}

#[test]
fn resources_resolve_and_globs_match_the_way_iam_does() {
    assert!(glob("table/storefront/index/*", "table/storefront/index/GSI1"));
    assert!(!glob("table/storefront", "table/storefront/index/GSI1"));
    assert!(glob("object/m/uploads/*", "object/m/uploads/a/b/c"));
    assert!(!glob("object/m/uploads/*", "object/m/images/x"));
    let grants = statements(&template(), "image-worker");
    let list = grants.iter().find(|s| s.actions.contains(&"s3:ListBucket".to_owned())).expect("a ListBucket grant");
    assert_eq!(list.resources, [format!("bucket/{MEDIA_BUCKET}")]);
    let missing_upload = Use {
        action: "s3:ListBucket".into(),
        resource: format!("bucket/{MEDIA_BUCKET}"),
        prefix: Some("uploads/a/b/c".into()),
    };
    assert!(list.covers(&missing_upload));
    assert!(!list.covers(&Use { prefix: Some("images/x".into()), ..missing_upload.clone() }));
    let ses = statements(&template(), "order-worker");
    let send = ses.iter().find(|s| s.actions.contains(&"ses:SendEmail".to_owned())).expect("an SES grant");
    assert!(send.resources.contains(&format!("identity/{LAMBDA_CONFIRMATION_SENDER}")), "{:?}", send.resources);
}
