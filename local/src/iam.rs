//! What a call on the AWS wire needs from IAM: its action and the resource it acts on, read off the request the way
//! AWS authorizes it. The recording proxies in front of every stand-in (`faults.rs`) use it, so a test can hold
//! template.yaml's grants to what the function binaries really did, both ways and resource by resource.

use std::collections::BTreeSet;

use serde_json::Value;

/// The AWS service a stand-in plays.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Service {
    DynamoDb,
    S3,
    Sqs,
    Ses,
    SecretsManager,
}

/// One use of a permission: `dynamodb:GetItem` on `table/storefront`, `s3:PutObject` on
/// `object/storefront-media/images/…`, `s3:ListBucket` on `bucket/storefront-media` for a key prefix.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Use {
    pub action: String,
    /// `table/<name>[/index/<index>]`, `bucket/<name>`, `object/<bucket>/<key>`, `queue/<name>`,
    /// `identity/<address>`, `secret/<arn>`.
    pub resource: String,
    /// The `s3:prefix` a `ListBucket` was evaluated with (S3 evaluates it for a read of a missing key).
    pub prefix: Option<String>,
}

impl Use {
    fn new(action: impl Into<String>, resource: impl Into<String>) -> Self {
        Self { action: action.into(), resource: resource.into(), prefix: None }
    }
}

/// What one request (and, for S3, its answer's status) needed.
pub fn uses(service: Service, method: &str, path: &str, target: &str, body: &[u8], status: u16) -> BTreeSet<Use> {
    match service {
        Service::DynamoDb => dynamodb(target, body),
        Service::S3 => s3(method, path, status),
        Service::Sqs => sqs(target, body),
        Service::Ses => ses(method, path, body),
        Service::SecretsManager => secrets_manager(target, body),
    }
}

/// `secretsmanager:<Operation>` on `secret/<id>` (the id as sent: the ARN the function was given).
fn secrets_manager(target: &str, body: &[u8]) -> BTreeSet<Use> {
    let operation = target.rsplit('.').next().unwrap_or_default();
    let mut uses = BTreeSet::new();
    if let Some(id) = json(body)["SecretId"].as_str() {
        uses.insert(Use::new(format!("secretsmanager:{operation}"), format!("secret/{id}")));
    }
    uses
}

fn json(body: &[u8]) -> Value {
    serde_json::from_slice(body).unwrap_or_default()
}

fn table(spec: &Value) -> Option<String> {
    let name = spec["TableName"].as_str()?;
    Some(match spec["IndexName"].as_str() {
        Some(index) => format!("table/{name}/index/{index}"),
        None => format!("table/{name}"),
    })
}

fn dynamodb(target: &str, body: &[u8]) -> BTreeSet<Use> {
    let operation = target.rsplit('.').next().unwrap_or_default();
    let body = json(body);
    let mut uses = BTreeSet::new();
    match operation {
        "" => {}
        // DynamoDB authorizes a transaction by the actions of its items, each on its own table.
        "TransactWriteItems" | "TransactGetItems" => {
            for item in body["TransactItems"].as_array().into_iter().flatten() {
                for (kind, spec) in item.as_object().into_iter().flatten() {
                    let action = match kind.as_str() {
                        "ConditionCheck" => "dynamodb:ConditionCheckItem".to_owned(),
                        "Get" => "dynamodb:GetItem".to_owned(),
                        other => format!("dynamodb:{other}Item"),
                    };
                    if let Some(resource) = table(spec) {
                        uses.insert(Use::new(action, resource));
                    }
                }
            }
        }
        "BatchGetItem" | "BatchWriteItem" => {
            for name in body["RequestItems"].as_object().into_iter().flatten().map(|(name, _)| name) {
                uses.insert(Use::new(format!("dynamodb:{operation}"), format!("table/{name}")));
            }
        }
        other => {
            if let Some(resource) = table(&body) {
                uses.insert(Use::new(format!("dynamodb:{other}"), resource));
            }
        }
    }
    uses
}

/// Path-style requests: `/bucket` or `/bucket/key`.
fn s3(method: &str, path: &str, status: u16) -> BTreeSet<Use> {
    let path = path.split('?').next().unwrap_or_default().trim_start_matches('/');
    let (bucket, key) = match path.split_once('/') {
        Some((bucket, key)) if !key.is_empty() => (bucket, Some(key)),
        Some((bucket, _)) => (bucket, None),
        None => (path, None),
    };
    let bucket_resource = format!("bucket/{bucket}");
    let mut uses = BTreeSet::new();
    match (method, key) {
        ("GET" | "HEAD", Some(key)) => {
            uses.insert(Use::new("s3:GetObject", format!("object/{bucket}/{key}")));
            // S3 tells a missing key (404) from a denied one only to a caller that may list the bucket.
            if status == 404 {
                uses.insert(Use { prefix: Some(key.to_owned()), ..Use::new("s3:ListBucket", bucket_resource) });
            }
        }
        ("PUT", Some(key)) => {
            uses.insert(Use::new("s3:PutObject", format!("object/{bucket}/{key}")));
        }
        ("DELETE", Some(key)) => {
            uses.insert(Use::new("s3:DeleteObject", format!("object/{bucket}/{key}")));
        }
        ("GET" | "HEAD", None) => {
            uses.insert(Use::new("s3:ListBucket", bucket_resource));
        }
        ("PUT", None) => {
            uses.insert(Use::new("s3:CreateBucket", bucket_resource));
        }
        _ => {}
    }
    uses
}

fn sqs(target: &str, body: &[u8]) -> BTreeSet<Use> {
    let operation = target.rsplit('.').next().unwrap_or_default();
    let body = json(body);
    let queue = body["QueueUrl"].as_str().and_then(|url| url.rsplit('/').next()).unwrap_or_default();
    if operation.is_empty() {
        return BTreeSet::new();
    }
    BTreeSet::from([Use::new(format!("sqs:{operation}"), format!("queue/{queue}"))])
}

fn ses(method: &str, path: &str, body: &[u8]) -> BTreeSet<Use> {
    if method != "POST" || !path.starts_with("/v2/email/outbound-emails") {
        return BTreeSet::new();
    }
    let from = json(body)["FromEmailAddress"].as_str().unwrap_or_default().to_owned();
    BTreeSet::from([Use::new("ses:SendEmail", format!("identity/{from}"))])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_transaction_needs_each_items_action_on_its_table() {
        let body = br#"{"TransactItems":[{"Update":{"TableName":"t"}},{"Put":{"TableName":"t"}},{"ConditionCheck":{"TableName":"t"}}]}"#;
        let uses = dynamodb("DynamoDB_20120810.TransactWriteItems", body);
        let actions: Vec<&str> = uses.iter().map(|u| u.action.as_str()).collect();
        assert_eq!(actions, ["dynamodb:ConditionCheckItem", "dynamodb:PutItem", "dynamodb:UpdateItem"]);
        let query = dynamodb("DynamoDB_20120810.Query", br#"{"TableName":"t","IndexName":"GSI1"}"#);
        assert_eq!(query.into_iter().next().map(|u| u.resource), Some("table/t/index/GSI1".to_owned()));
    }

    #[test]
    fn a_read_of_a_missing_object_also_needs_list_on_its_prefix() {
        let found = s3("HEAD", "/media/uploads/a/b", 200);
        assert_eq!(found.len(), 1);
        let missing = s3("HEAD", "/media/uploads/a/b", 404);
        let list = missing.iter().find(|u| u.action == "s3:ListBucket").expect("list");
        assert_eq!((list.resource.as_str(), list.prefix.as_deref()), ("bucket/media", Some("uploads/a/b")));
        assert_eq!(
            s3("PUT", "/media/images/x.jpg?x-id=PutObject", 200).into_iter().next().map(|u| u.resource),
            Some("object/media/images/x.jpg".to_owned())
        );
    }
}
