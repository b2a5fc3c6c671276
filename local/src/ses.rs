//! The local SES (API v2) for function processes: `SendEmail` is accepted and kept, so the order worker's own
//! binary sends its confirmation through the production SES adapter, and a test can read what it sent.

use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use http::StatusCode;
use tokio::task::JoinHandle;

/// One email as SES took it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SentEmail {
    pub from: String,
    pub to: Vec<String>,
    pub subject: String,
}

pub struct SesStandIn {
    pub endpoint: String,
    sent: Arc<Mutex<Vec<SentEmail>>>,
    task: JoinHandle<()>,
}

impl SesStandIn {
    pub fn sent(&self) -> Vec<SentEmail> {
        self.sent.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    pub async fn stop(self) {
        self.task.abort();
        let _ = self.task.await;
    }
}

pub async fn start(at: std::net::SocketAddr) -> std::io::Result<SesStandIn> {
    let sent: Arc<Mutex<Vec<SentEmail>>> = Arc::default();
    let (listener, reached) = crate::options::listen(at).await?;
    let endpoint = format!("http://{reached}");
    let router = Router::new().route("/v2/email/outbound-emails", post(send_email)).with_state(sent.clone());
    let task = tokio::spawn(async move {
        if let Err(error) = axum::serve(listener, router).await {
            tracing::error!(%error, "local SES stopped");
        }
    });
    Ok(SesStandIn { endpoint, sent, task })
}

async fn send_email(State(sent): State<Arc<Mutex<Vec<SentEmail>>>>, body: Bytes) -> Response {
    let Ok(request) = serde_json::from_slice::<serde_json::Value>(&body) else {
        return (StatusCode::BAD_REQUEST, "malformed SendEmail").into_response();
    };
    let email = SentEmail {
        from: request["FromEmailAddress"].as_str().unwrap_or_default().to_owned(),
        to: request["Destination"]["ToAddresses"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|a| a.as_str().map(str::to_owned))
            .collect(),
        subject: request["Content"]["Simple"]["Subject"]["Data"].as_str().unwrap_or_default().to_owned(),
    };
    tracing::info!(from = %email.from, to = ?email.to, subject = %email.subject, "local SES: email accepted");
    sent.lock().unwrap_or_else(|p| p.into_inner()).push(email);
    let id = format!("local-{}", sent.lock().unwrap_or_else(|p| p.into_inner()).len());
    ([("content-type", "application/json")], serde_json::json!({ "MessageId": id }).to_string()).into_response()
}
