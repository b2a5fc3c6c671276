//! The deploy's migration step on Postgres (`Backend: postgres`), never a cold start's: CloudFormation runs it as
//! a custom resource whenever the migrations change (template.yaml, `DatabaseSchema`), and it can be invoked
//! directly (`make migrate`). It applies the embedded migrations through the proxy as the cluster's master user
//! (IAM token), then lets the functions' role log in with the password the proxy holds for it and use the
//! storefront's tables, nothing else. Running it again changes nothing.

use std::sync::Arc;

use serde_json::{Value, json};
use storefront::adapters::postgres::sharded::{ShardedStore, SlotMap};
use storefront::adapters::postgres::{Endpoint, IamAuth, PgStore, PoolSettings, admin, migrations};

/// What the step reads from its environment (template.yaml sets each).
#[derive(Clone)]
pub struct Settings {
    /// The writer endpoint, as the master user: `postgres://<master>@<proxy>:5432/storefront?sslmode=verify-full`.
    pub database_url: String,
    pub iam_auth: bool,
    /// The functions' database user, and the secret holding its password (`{"username", "password"}`), which the
    /// proxy uses to log it in.
    pub app_user: String,
    pub app_user_secret_arn: String,
    /// The customer shards (`SHARDS=n` beside the catalog database, or `SHARD_URLS`), each created if missing,
    /// migrated and granted like it; the slot map is stored on the first run (docs/sharding.md).
    pub shard_urls: Vec<String>,
}

impl Settings {
    pub fn from_env() -> Result<Self, String> {
        let variable = |name: &str| std::env::var(name).map_err(|_| format!("missing environment variable {name}"));
        let optional = |name: &str| std::env::var(name).ok().filter(|v| !v.trim().is_empty());
        let database_url = variable("DATABASE_URL")?;
        let shard_urls = storefront::config::shard_urls(
            &database_url,
            optional(storefront::config::SHARDS),
            optional(storefront::config::SHARD_URLS),
        )
        .map_err(|e| e.to_string())?;
        Ok(Self {
            database_url,
            iam_auth: variable("DATABASE_IAM_AUTH").is_ok_and(|v| v == "true"),
            app_user: variable("APP_DATABASE_USER")?,
            app_user_secret_arn: variable("APP_DATABASE_SECRET_ARN")?,
            shard_urls,
        })
    }
}

/// Applies what is missing and sets the app role up; what it did, as the invocation's answer.
pub async fn migrate(settings: &Settings, sdk: &aws_config::SdkConfig) -> Result<Value, String> {
    let password = app_password(sdk, &settings.app_user_secret_arn).await?;
    let catalog = endpoint(settings, sdk, &settings.database_url)?;
    let applied = migrate_one(&catalog, settings, &password).await?;
    let mut shards = Vec::new();
    for url in &settings.shard_urls {
        // Created from the catalog database's session (shards start as databases on the same cluster).
        let name = admin::database_name(url).map_err(|e| e.to_string())?;
        admin::create_database_from(catalog.pool().await.map_err(|e| e.to_string())?, &name)
            .await
            .map_err(|e| format!("shard {name}: {e}"))?;
        let shard = endpoint(settings, sdk, url)?;
        migrate_one(&shard, settings, &password).await.map_err(|e| format!("shard {name}: {e}"))?;
        shards.push(PgStore::new(shard));
    }
    if !shards.is_empty() {
        let count = shards.len();
        let store = ShardedStore::new(PgStore::new(catalog.clone()), shards);
        store.ensure_slot_map(&SlotMap::even(count)).await.map_err(|e| format!("slot map: {e}"))?;
    }
    catalog.pool().await.map_err(|e| e.to_string())?.close().await;
    tracing::info!(
        ?applied,
        latest = migrations::latest_version(),
        shards = settings.shard_urls.len(),
        "database migrated"
    );
    Ok(json!({
        "applied": applied,
        "latest": migrations::latest_version(),
        "app_user": settings.app_user,
        "shards": settings.shard_urls.len(),
    }))
}

/// One connection to `url` as the master user (an IAM token when the proxy wants one).
fn endpoint(settings: &Settings, sdk: &aws_config::SdkConfig, url: &str) -> Result<Endpoint, String> {
    let iam = if settings.iam_auth { Some(Arc::new(IamAuth::for_url(sdk, url)?)) } else { None };
    Endpoint::connect_lazy(PoolSettings {
        url: url.to_owned(),
        application_name: "db-migrate".into(),
        max_connections: 1,
        iam,
    })
    .map_err(|e| e.to_string())
}

/// Applies what is missing to one database and lets the functions' user use its tables; the versions applied.
async fn migrate_one(endpoint: &Endpoint, settings: &Settings, password: &str) -> Result<Vec<i64>, String> {
    let pool = endpoint.pool().await.map_err(|e| e.to_string())?;
    // The migrator's lock is session state: the proxy pins this one connection for the step, which is fine.
    let applied = migrations::migrate(pool).await.map_err(|e| format!("migrations: {e}"))?;
    admin::ensure_app_role(pool, &settings.app_user, Some(password), false).await.map_err(|e| e.to_string())?;
    Ok(applied)
}

async fn app_password(sdk: &aws_config::SdkConfig, secret_arn: &str) -> Result<String, String> {
    let secret = aws_sdk_secretsmanager::Client::new(sdk)
        .get_secret_value()
        .secret_id(secret_arn)
        .send()
        .await
        .map_err(|e| format!("app user secret: {}", aws_sdk_secretsmanager::error::DisplayErrorContext(e)))?;
    let text = secret.secret_string().ok_or("the app user secret holds no string")?;
    let value: Value = serde_json::from_str(text).map_err(|_| "the app user secret is not JSON")?;
    value["password"].as_str().map(str::to_owned).ok_or_else(|| "the app user secret has no password".into())
}

/// A CloudFormation custom resource request (the fields the answer needs).
#[derive(Debug, serde::Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct CustomResourceRequest {
    pub request_type: String,
    #[serde(rename = "ResponseURL")]
    pub response_url: String,
    pub stack_id: String,
    pub request_id: String,
    pub logical_resource_id: String,
    pub physical_resource_id: Option<String>,
}

/// The answer CloudFormation waits for: SUCCESS with what was done, or FAILED with why (the deploy stops and rolls
/// back). The physical id stays the same across updates, so an update never "replaces" (and deletes) the schema.
pub fn custom_resource_answer(request: &CustomResourceRequest, outcome: &Result<Value, String>) -> Value {
    let (status, reason, data) = match outcome {
        Ok(data) => ("SUCCESS", "done".to_owned(), data.clone()),
        Err(error) => ("FAILED", error.clone(), json!({})),
    };
    json!({
        "Status": status,
        "Reason": reason,
        "PhysicalResourceId": request.physical_resource_id.clone().unwrap_or_else(|| "storefront-schema".into()),
        "StackId": request.stack_id,
        "RequestId": request.request_id,
        "LogicalResourceId": request.logical_resource_id,
        "Data": { "Latest": data.get("latest").cloned().unwrap_or(Value::Null) },
    })
}

/// Puts the answer to the presigned URL CloudFormation gave (S3, reached through the VPC's gateway endpoint).
pub async fn send_answer(url: &str, answer: &Value) -> Result<(), String> {
    use http_body_util::{BodyExt, Full};
    use hyper_util::client::legacy::Client;
    use hyper_util::rt::TokioExecutor;
    let tls = hyper_rustls::HttpsConnectorBuilder::new()
        .with_provider_and_native_roots(rustls::crypto::aws_lc_rs::default_provider())
        .map_err(|e| format!("TLS roots: {e}"))?
        .https_only()
        .enable_http1()
        .build();
    let client: Client<_, Full<bytes::Bytes>> = Client::builder(TokioExecutor::new()).build(tls);
    let body = answer.to_string();
    // An empty content type: the URL was signed without one.
    let request = http::Request::put(url)
        .header("content-type", "")
        .header("content-length", body.len())
        .body(Full::new(bytes::Bytes::from(body)))
        .map_err(|e| e.to_string())?;
    let response = client.request(request).await.map_err(|e| format!("answering CloudFormation: {e}"))?;
    let status = response.status();
    let text = response.into_body().collect().await.map(|b| b.to_bytes()).unwrap_or_default();
    if !status.is_success() {
        return Err(format!("CloudFormation's URL answered {status}: {}", String::from_utf8_lossy(&text)));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(kind: &str) -> CustomResourceRequest {
        serde_json::from_value(json!({
            "RequestType": kind, "ResponseURL": "https://example.com/answer", "StackId": "stack",
            "RequestId": "r-1", "LogicalResourceId": "DatabaseSchema", "ResourceType": "Custom::DatabaseSchema",
            "ResourceProperties": {"MigrationsVersion": "1"},
        }))
        .expect("a CloudFormation request")
    }

    #[test]
    fn the_sample_request_is_what_cloudformation_sends() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../events/cloudformation/db-migrate.create.json");
        let text = std::fs::read_to_string(path).expect("the sample event");
        let request: CustomResourceRequest = serde_json::from_str(&text).expect("a custom resource request");
        assert_eq!((request.request_type.as_str(), request.physical_resource_id.as_deref()), ("Create", None));
        assert!(request.response_url.starts_with("https://"), "answered over HTTPS");
        let answer = custom_resource_answer(&request, &Ok(json!({"latest": 1})));
        assert_eq!(answer["LogicalResourceId"], "DatabaseSchema");
    }

    #[test]
    fn an_answer_names_its_request_and_keeps_one_physical_id() {
        let created = custom_resource_answer(&request("Create"), &Ok(json!({"latest": 1})));
        assert_eq!(
            (created["Status"].as_str(), created["PhysicalResourceId"].as_str(), created["Data"]["Latest"].as_i64()),
            (Some("SUCCESS"), Some("storefront-schema"), Some(1))
        );
        assert_eq!(
            (created["RequestId"].as_str(), created["LogicalResourceId"].as_str()),
            (Some("r-1"), Some("DatabaseSchema"))
        );
        let mut update = request("Update");
        update.physical_resource_id = Some("storefront-schema".into());
        let failed = custom_resource_answer(&update, &Err("migrations: boom".into()));
        assert_eq!((failed["Status"].as_str(), failed["Reason"].as_str()), (Some("FAILED"), Some("migrations: boom")));
        assert_eq!(failed["PhysicalResourceId"], "storefront-schema");
    }
}
