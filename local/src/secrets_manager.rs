//! The local Secrets Manager for function processes: `GetSecretValue` (JSON protocol) on the secrets it was given,
//! so a function binary loads the payment provider's key through the production adapter, as it does in AWS.

use std::collections::HashMap;
use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde_json::json;
use tokio::task::JoinHandle;

pub struct SecretsManagerStandIn {
    pub endpoint: String,
    task: JoinHandle<()>,
}

impl SecretsManagerStandIn {
    pub async fn stop(self) {
        self.task.abort();
        let _ = self.task.await;
    }
}

/// Serves `secrets` (ARN → secret string) on a loopback port.
pub async fn start(
    secrets: HashMap<String, String>,
    at: std::net::SocketAddr,
) -> std::io::Result<SecretsManagerStandIn> {
    let (listener, reached) = crate::options::listen(at).await?;
    let endpoint = format!("http://{reached}");
    let router = Router::new().route("/", post(call)).with_state(Arc::new(secrets));
    let task = tokio::spawn(async move {
        if let Err(error) = axum::serve(listener, router).await {
            tracing::error!(%error, "local Secrets Manager stopped");
        }
    });
    Ok(SecretsManagerStandIn { endpoint, task })
}

fn aws_error(kind: &str, message: &str) -> Response {
    let body = json!({ "__type": kind, "message": message }).to_string();
    (StatusCode::BAD_REQUEST, [("content-type", "application/x-amz-json-1.1")], body).into_response()
}

async fn call(State(secrets): State<Arc<HashMap<String, String>>>, headers: HeaderMap, body: Bytes) -> Response {
    let target = headers.get("x-amz-target").and_then(|v| v.to_str().ok()).unwrap_or_default();
    if target != "secretsmanager.GetSecretValue" {
        return aws_error("InvalidRequestException", &format!("the local Secrets Manager does not serve {target}"));
    }
    let request: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
    let id = request["SecretId"].as_str().unwrap_or_default();
    let Some(value) = secrets.get(id) else {
        return aws_error("ResourceNotFoundException", "Secrets Manager can't find the specified secret.");
    };
    let name = id.rsplit(':').next().unwrap_or(id);
    let body = json!({
        "ARN": id, "Name": name, "SecretString": value, "VersionId": "local-1",
        "VersionStages": ["AWSCURRENT"], "CreatedDate": 0.0,
    })
    .to_string();
    ([("content-type", "application/x-amz-json-1.1")], body).into_response()
}
