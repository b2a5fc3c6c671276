//! Faults no emulator makes, injected on the wire: a loopback proxy between the DynamoDB adapter and the engine
//! that answers chosen calls the way DynamoDB does under contention and load: transactions cancelled for
//! `TransactionConflict`, throttling, responses so late the client times out after the write landed, and
//! transactions held until a test lets them go. The same proxy stands in front of every stand-in the function
//! processes reach (DynamoDB, S3, SQS, SES) and records what IAM would have been asked for each call
//! (`iam::uses`), which holds the template's grants to what the functions really do (tests/e2e/grants.rs).

use std::collections::BTreeSet;

use crate::iam::{Service, Use};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::{Bytes, to_bytes};
use axum::extract::{Request, State};
use axum::response::{IntoResponse, Response};
use http::{HeaderValue, StatusCode};
use serde_json::json;
use tokio::task::JoinHandle;

pub struct Faults {
    conflicts: AtomicU32,
    throttles: AtomicU32,
    late_transactions: AtomicU32,
    late_writes: AtomicU32,
    held_transactions: AtomicU32,
    unprocessed_batch_reads: AtomicU32,
    /// (operation, how many more calls of it fail).
    failing: Mutex<Option<(String, u32)>>,
    /// Transactions held at the proxy wait for a permit here ([`Faults::release_held`]).
    gate: tokio::sync::Semaphore,
    /// Signalled when a transaction starts waiting at the gate.
    holding: tokio::sync::Notify,
    /// How many calls the proxy answered with a fault (for assertions).
    pub injected: AtomicU32,
    /// What IAM would have been asked for each call seen (action and resource).
    uses: Mutex<BTreeSet<Use>>,
    /// Every request's operation and JSON body, while recording is on ([`Faults::record_requests`]).
    requests: Mutex<Option<Vec<(String, serde_json::Value)>>>,
}

impl Default for Faults {
    fn default() -> Self {
        Self {
            conflicts: AtomicU32::new(0),
            throttles: AtomicU32::new(0),
            late_transactions: AtomicU32::new(0),
            late_writes: AtomicU32::new(0),
            held_transactions: AtomicU32::new(0),
            unprocessed_batch_reads: AtomicU32::new(0),
            failing: Mutex::default(),
            gate: tokio::sync::Semaphore::new(0),
            holding: tokio::sync::Notify::new(),
            injected: AtomicU32::new(0),
            uses: Mutex::default(),
            requests: Mutex::default(),
        }
    }
}

/// The operations that change the table: a late answer to one of them is a write that landed.
const WRITES: &[&str] = &["PutItem", "UpdateItem", "DeleteItem", "BatchWriteItem", "TransactWriteItems"];

fn take(counter: &AtomicU32) -> bool {
    counter.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1)).is_ok()
}

impl Faults {
    /// The next `count` TransactWriteItems calls are cancelled with `TransactionConflict` (nothing written).
    pub fn conflict_next_transactions(&self, count: u32) {
        self.conflicts.store(count, Ordering::SeqCst);
    }

    /// The next `count` calls of any kind are throttled (`ProvisionedThroughputExceededException`).
    pub fn throttle_next_calls(&self, count: u32) {
        self.throttles.store(count, Ordering::SeqCst);
    }

    /// What the calls since the last take needed from IAM; starts a new record.
    pub fn take_uses(&self) -> BTreeSet<Use> {
        std::mem::take(&mut *self.uses.lock().unwrap_or_else(|poisoned| poisoned.into_inner()))
    }

    fn record(&self, uses: BTreeSet<Use>) {
        self.uses.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).extend(uses);
    }

    /// The next `count` TransactWriteItems calls are applied, but answered after the client's attempt timeout.
    pub fn delay_next_transactions(&self, count: u32) {
        self.late_transactions.store(count, Ordering::SeqCst);
    }

    /// The next `count` writes of any kind (put, update, delete, transaction) are applied, but answered after the
    /// client's attempt timeout: the SDK retries a write that already landed.
    pub fn delay_next_writes(&self, count: u32) {
        self.late_writes.store(count, Ordering::SeqCst);
    }

    /// The next `count` calls of `operation` (`DeleteItem`, `UpdateItem`, …) are refused with an error the SDK does
    /// not retry (`AccessDeniedException`), as a lost permission or an outage mid-call would look.
    pub fn fail_next(&self, operation: &str, count: u32) {
        *self.failing.lock().unwrap_or_else(|poisoned| poisoned.into_inner()) = Some((operation.to_owned(), count));
    }

    /// The next `count` BatchGetItem calls return every key as `UnprocessedKeys` (DynamoDB does so when throttled
    /// or past its response size), having read nothing.
    pub fn unprocess_next_batch_reads(&self, count: u32) {
        self.unprocessed_batch_reads.store(count, Ordering::SeqCst);
    }

    fn fails(&self, operation: &str) -> bool {
        let mut failing = self.failing.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        match failing.as_mut() {
            Some((op, left)) if op == operation && *left > 0 => {
                *left -= 1;
                true
            }
            _ => false,
        }
    }

    /// The next `count` TransactWriteItems calls wait at the proxy, unsent, until [`Faults::release_held`].
    pub fn hold_next_transactions(&self, count: u32) {
        self.held_transactions.store(count, Ordering::SeqCst);
    }

    /// Returns once a transaction is waiting at the proxy.
    pub async fn until_held(&self) {
        self.holding.notified().await;
    }

    /// Lets every held transaction go on to the engine.
    pub fn release_held(&self, count: u32) {
        self.gate.add_permits(count as usize);
    }

    /// Starts (or restarts) recording every request's operation and body.
    pub fn record_requests(&self) {
        *self.requests.lock().unwrap_or_else(|poisoned| poisoned.into_inner()) = Some(Vec::new());
    }

    /// The requests recorded since [`Faults::record_requests`]: (operation, JSON body).
    pub fn recorded_requests(&self) -> Vec<(String, serde_json::Value)> {
        self.requests.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).clone().unwrap_or_default()
    }
}

/// Longer than the SDK's attempt timeout (`adapters::aws`), so the client gives up and retries.
pub const LATE_BY: Duration = Duration::from_secs(3);

#[derive(Clone)]
struct Proxy {
    upstream: String,
    service: Service,
    client: reqwest::Client,
    faults: Arc<Faults>,
}

fn dynamodb_error(kind: &str, body: serde_json::Value) -> Response {
    let mut body = body;
    body["__type"] = json!(format!("com.amazonaws.dynamodb.v20120810#{kind}"));
    let mut response = (StatusCode::BAD_REQUEST, body.to_string()).into_response();
    response.headers_mut().insert("content-type", HeaderValue::from_static("application/x-amz-json-1.0"));
    response
}

async fn forward(State(proxy): State<Proxy>, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    let Ok(body) = to_bytes(body, 16 * 1024 * 1024).await else {
        return (StatusCode::PAYLOAD_TOO_LARGE, "too large").into_response();
    };
    let target = parts.headers.get("x-amz-target").and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
    let operation = target.rsplit('.').next().unwrap_or_default().to_owned();
    let is_transaction = operation == "TransactWriteItems";
    let (method, path) = (parts.method.as_str().to_owned(), parts.uri.to_string());
    let recorded = body.clone();
    if let Some(requests) = proxy.faults.requests.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).as_mut() {
        requests.push((operation.clone(), serde_json::from_slice(&body).unwrap_or_default()));
    }
    if is_transaction && take(&proxy.faults.held_transactions) {
        proxy.faults.holding.notify_one();
        if let Ok(permit) = proxy.faults.gate.acquire().await {
            permit.forget();
        }
    }
    if proxy.faults.fails(&operation) {
        proxy.faults.injected.fetch_add(1, Ordering::SeqCst);
        return dynamodb_error("AccessDeniedException", json!({"message": "injected: not authorized"}));
    }
    if operation == "BatchGetItem" && take(&proxy.faults.unprocessed_batch_reads) {
        proxy.faults.injected.fetch_add(1, Ordering::SeqCst);
        let request: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
        let mut response =
            (StatusCode::OK, json!({"Responses": {}, "UnprocessedKeys": request["RequestItems"]}).to_string())
                .into_response();
        response.headers_mut().insert("content-type", HeaderValue::from_static("application/x-amz-json-1.0"));
        return response;
    }
    if take(&proxy.faults.throttles) {
        proxy.faults.injected.fetch_add(1, Ordering::SeqCst);
        return dynamodb_error(
            "ProvisionedThroughputExceededException",
            json!({"message": "The level of configured provisioned throughput for the table was exceeded."}),
        );
    }
    if is_transaction && take(&proxy.faults.conflicts) {
        proxy.faults.injected.fetch_add(1, Ordering::SeqCst);
        let items = serde_json::from_slice::<serde_json::Value>(&body)
            .ok()
            .and_then(|v| v["TransactItems"].as_array().map(Vec::len))
            .unwrap_or(1);
        let mut reasons = vec![json!({"Code": "None"}); items];
        reasons[0] = json!({"Code": "TransactionConflict", "Message": "Transaction is ongoing for the item"});
        let codes: Vec<&str> = (0..items).map(|i| if i == 0 { "TransactionConflict" } else { "None" }).collect();
        return dynamodb_error(
            "TransactionCanceledException",
            json!({
                "Message": format!("Transaction cancelled, please refer cancellation reasons for specific reasons [{}]", codes.join(", ")),
                "CancellationReasons": reasons,
            }),
        );
    }
    let late = (is_transaction && take(&proxy.faults.late_transactions))
        || (WRITES.contains(&operation.as_str()) && take(&proxy.faults.late_writes));
    let response = match relay(&proxy, &parts, body).await {
        Ok(response) => response,
        Err(error) => return (StatusCode::BAD_GATEWAY, error).into_response(),
    };
    let status = response.status().as_u16();
    proxy.faults.record(crate::iam::uses(proxy.service, &method, &path, &target, &recorded, status));
    if late {
        proxy.faults.injected.fetch_add(1, Ordering::SeqCst);
        tokio::time::sleep(LATE_BY).await;
    }
    response
}

async fn relay(proxy: &Proxy, parts: &http::request::Parts, body: Bytes) -> Result<Response, String> {
    let url = format!("{}{}", proxy.upstream, parts.uri.path_and_query().map(|p| p.as_str()).unwrap_or("/"));
    let mut request = proxy.client.request(parts.method.clone(), url).body(body);
    // Every header as sent, `Host` included: S3 checks the signature, which covers it.
    for (name, value) in &parts.headers {
        if name != http::header::CONTENT_LENGTH {
            request = request.header(name, value);
        }
    }
    let upstream = request.send().await.map_err(|e| e.to_string())?;
    let status = upstream.status();
    let headers = upstream.headers().clone();
    let bytes = upstream.bytes().await.map_err(|e| e.to_string())?;
    let mut response = (status, bytes).into_response();
    for (name, value) in &headers {
        if name != http::header::CONTENT_LENGTH && name != http::header::TRANSFER_ENCODING {
            response.headers_mut().insert(name, value.clone());
        }
    }
    Ok(response)
}

/// Starts a proxy on a loopback port in front of `upstream` (a stand-in for `service`), injecting and recording
/// through `faults`; returns its endpoint.
pub async fn start_proxy(
    upstream: &str,
    service: Service,
    faults: Arc<Faults>,
) -> Result<(String, JoinHandle<()>), String> {
    let proxy = Proxy {
        upstream: upstream.to_owned(),
        service,
        client: reqwest::Client::builder().no_proxy().build().map_err(|e| e.to_string())?,
        faults: faults.clone(),
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.map_err(|e| e.to_string())?;
    let endpoint = format!("http://{}", listener.local_addr().map_err(|e| e.to_string())?);
    let app = axum::Router::new().fallback(forward).with_state(proxy);
    let task = tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    Ok((endpoint, task))
}
