//! The local queues on the SQS wire (JSON protocol, `SendMessage`), so that a function running as its own process
//! (under the Runtime API harness, `cargo lambda invoke`) sends `OrderPlaced` through the production SQS adapter
//! into the same in-process queue the local workers consume.

use std::collections::HashMap;
use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde::Deserialize;
use tokio::task::JoinHandle;

use crate::queue::LocalQueue;

/// A running SQS front: its endpoint (for `AWS_ENDPOINT_URL_SQS`) and the URL of each queue.
pub struct SqsWire {
    pub endpoint: String,
    task: JoinHandle<()>,
}

impl SqsWire {
    /// The queue URL a client sends `name`'s messages to.
    pub fn queue_url(&self, name: &str) -> String {
        format!("{}/000000000000/{name}", self.endpoint)
    }

    pub async fn stop(self) {
        self.task.abort();
        let _ = self.task.await;
    }
}

type Queues = Arc<HashMap<String, Arc<LocalQueue>>>;

pub async fn start(queues: Vec<(String, Arc<LocalQueue>)>, at: std::net::SocketAddr) -> std::io::Result<SqsWire> {
    let queues: Queues = Arc::new(queues.into_iter().collect());
    let (listener, reached) = crate::options::listen(at).await?;
    let endpoint = format!("http://{reached}");
    let router = Router::new().route("/", post(action)).with_state(queues);
    let task = tokio::spawn(async move {
        if let Err(error) = axum::serve(listener, router).await {
            tracing::error!(%error, "local SQS front stopped");
        }
    });
    Ok(SqsWire { endpoint, task })
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct SendMessage {
    queue_url: String,
    message_body: String,
}

async fn action(State(queues): State<Queues>, headers: HeaderMap, body: Bytes) -> Response {
    let target = headers.get("x-amz-target").and_then(|v| v.to_str().ok()).unwrap_or_default();
    if target != "AmazonSQS.SendMessage" {
        return error(StatusCode::BAD_REQUEST, "UnsupportedOperation", &format!("{target} is not served locally"));
    }
    let Ok(request) = serde_json::from_slice::<SendMessage>(&body) else {
        return error(StatusCode::BAD_REQUEST, "InvalidParameterValue", "malformed SendMessage");
    };
    let name = request.queue_url.rsplit('/').next().unwrap_or_default();
    let Some(queue) = queues.get(name) else {
        return error(StatusCode::BAD_REQUEST, "QueueDoesNotExist", &format!("no local queue {name}"));
    };
    match queue.send(request.message_body) {
        Ok(id) => {
            ([("content-type", "application/x-amz-json-1.0")], serde_json::json!({ "MessageId": id }).to_string())
                .into_response()
        }
        Err(refused) => error(StatusCode::INTERNAL_SERVER_ERROR, "InternalError", &refused.to_string()),
    }
}

fn error(status: StatusCode, code: &str, message: &str) -> Response {
    let body = serde_json::json!({ "__type": format!("com.amazonaws.sqs#{code}"), "message": message });
    (status, [("content-type", "application/x-amz-json-1.0")], body.to_string()).into_response()
}
