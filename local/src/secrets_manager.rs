//! The local Secrets Manager: `GetSecretValue` and `PutSecretValue` (JSON protocol) on the secrets it was given,
//! so the server and function binaries load the payment provider's keys through the production adapter, as they do
//! in AWS, and a secret put later (an operator filling it in, a rotation) is what they read next.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde_json::json;
use tokio::task::JoinHandle;

type Secrets = Arc<Mutex<HashMap<String, String>>>;

pub struct SecretsManagerStandIn {
    pub endpoint: String,
    secrets: Secrets,
    task: JoinHandle<()>,
}

impl SecretsManagerStandIn {
    /// Stores a new value of the secret `id` (what `aws secretsmanager put-secret-value` does).
    pub fn put(&self, id: &str, value: String) {
        self.secrets.lock().unwrap_or_else(|p| p.into_inner()).insert(id.to_owned(), value);
    }

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
    let secrets: Secrets = Arc::new(Mutex::new(secrets));
    let router = Router::new().route("/", post(call)).with_state(secrets.clone());
    let task = tokio::spawn(async move {
        if let Err(error) = axum::serve(listener, router).await {
            tracing::error!(%error, "local Secrets Manager stopped");
        }
    });
    Ok(SecretsManagerStandIn { endpoint, secrets, task })
}

fn aws_error(kind: &str, message: &str) -> Response {
    let body = json!({ "__type": kind, "message": message }).to_string();
    (StatusCode::BAD_REQUEST, [("content-type", "application/x-amz-json-1.1")], body).into_response()
}

async fn call(State(secrets): State<Secrets>, headers: HeaderMap, body: Bytes) -> Response {
    let target = headers.get("x-amz-target").and_then(|v| v.to_str().ok()).unwrap_or_default();
    let request: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
    let id = request["SecretId"].as_str().unwrap_or_default();
    let name = id.rsplit(':').next().unwrap_or(id);
    let mut secrets = secrets.lock().unwrap_or_else(|p| p.into_inner());
    let Some(value) = secrets.get_mut(id) else {
        return aws_error("ResourceNotFoundException", "Secrets Manager can't find the specified secret.");
    };
    let body = match target {
        "secretsmanager.GetSecretValue" => json!({
            "ARN": id, "Name": name, "SecretString": value, "VersionId": "local-1",
            "VersionStages": ["AWSCURRENT"], "CreatedDate": 0.0,
        }),
        "secretsmanager.PutSecretValue" => {
            let Some(new) = request["SecretString"].as_str() else {
                return aws_error("InvalidParameterException", "SecretString is required locally");
            };
            new.clone_into(value);
            json!({ "ARN": id, "Name": name, "VersionId": "local-2", "VersionStages": ["AWSCURRENT"] })
        }
        other => {
            return aws_error("InvalidRequestException", &format!("the local Secrets Manager does not serve {other}"));
        }
    };
    ([("content-type", "application/x-amz-json-1.1")], body.to_string()).into_response()
}
