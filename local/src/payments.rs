//! The payment provider stand-in: the part of Stripe's API the adapter calls (payment intents: create, read,
//! confirm, cancel; the charge a payment makes; refunds; Connect transfers funded from a charge, and their
//! reversals), with Stripe's idempotency keys, error shapes, limits and test cards, on a loopback port. It signs its
//! webhooks with the webhook secret and delivers them to the storefront's webhook route, retrying a failed delivery
//! as Stripe does. Tests and the local test-card page (`/dev/pay/...`) drive it: a payment succeeds, is declined,
//! arrives late, or its webhook never arrives; a charge is refunded or disputed from "the dashboard"; a connected
//! account is closed.
//!
//! The platform's available balance is zero, as it is while a new charge's funds are pending: a transfer that names
//! no `source_transaction` fails `balance_insufficient`, as it would at Stripe within days of the charge.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::{Value, json};
use storefront::adapters::stripe::ProviderSecrets;
use storefront::adapters::stripe::webhook::sign;
use tokio::task::JoinHandle;

/// When the webhook of a payment's outcome is delivered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Webhook {
    Now,
    /// Late: the outcome is settled at the provider at once, its event delivered after this.
    After(Duration),
    /// Lost: the event is never delivered (the reconciler finds the payment).
    Never,
}

/// One event's deliveries to the webhook route.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    pub event_id: String,
    pub kind: String,
    /// The status of each attempt, in order (0: the route could not be reached).
    pub statuses: Vec<u16>,
}

#[derive(Default)]
struct Ledger {
    next_id: u64,
    intents: BTreeMap<String, Value>,
    charges: BTreeMap<String, Value>,
    refunds: Vec<Value>,
    transfers: Vec<Value>,
    reversals: Vec<Value>,
    disputes: BTreeMap<String, Value>,
    /// Connected accounts closed (transfers to them are refused).
    closed_accounts: Vec<String>,
    /// Transfers for these orders (their `metadata[order_id]`) answered with a 500 this many more times.
    failing_transfers: HashMap<String, u32>,
    /// Intents whose charge may not be refunded (`charge_not_refundable`).
    unrefundable: Vec<String>,
    events: BTreeMap<String, Value>,
    /// Idempotency key → (the request it was first used with, the answer).
    idempotent: HashMap<String, (String, u16, Value)>,
    /// Every authenticated API call, as `<what> <path or id>` (tests count how often the provider was asked).
    calls: Vec<String>,
}

impl Ledger {
    fn id(&mut self, prefix: &str) -> String {
        self.next_id += 1;
        format!("{prefix}_local{:08}", self.next_id)
    }
}

struct Inner {
    secrets: ProviderSecrets,
    ledger: Mutex<Ledger>,
    webhook_url: Mutex<Option<String>>,
    deliveries: Mutex<Vec<Delivery>>,
    /// Fault injection: answer this many API calls with a 500, as an outage would.
    fail_next: AtomicU32,
    /// API calls refused for their key (none, empty, or not ours): the storefront must never make one.
    refused_keys: AtomicU32,
    client: reqwest::Client,
}

impl Inner {
    fn ledger(&self) -> std::sync::MutexGuard<'_, Ledger> {
        self.ledger.lock().unwrap_or_else(|p| p.into_inner())
    }
}

pub struct PaymentStandIn {
    pub endpoint: String,
    pub controls: PaymentControls,
    task: JoinHandle<()>,
}

impl PaymentStandIn {
    pub async fn stop(self) {
        self.task.abort();
        let _ = self.task.await;
    }
}

/// What tests and the test-card page do to the stand-in: pay, decline, fail calls, and look at what it holds.
#[derive(Clone)]
pub struct PaymentControls {
    inner: Arc<Inner>,
}

pub async fn start(secrets: ProviderSecrets, at: std::net::SocketAddr) -> std::io::Result<PaymentStandIn> {
    let inner = Arc::new(Inner {
        secrets,
        ledger: Mutex::default(),
        webhook_url: Mutex::default(),
        deliveries: Mutex::default(),
        fail_next: AtomicU32::new(0),
        refused_keys: AtomicU32::new(0),
        client: reqwest::Client::builder().no_proxy().build().map_err(std::io::Error::other)?,
    });
    let (listener, reached) = crate::options::listen(at).await?;
    let endpoint = format!("http://{reached}");
    let router = Router::new()
        .route("/v1/payment_intents", post(create_intent))
        .route("/v1/payment_intents/{id}", get(read_intent))
        .route("/v1/payment_intents/{id}/confirm", post(confirm_intent))
        .route("/v1/payment_intents/{id}/cancel", post(cancel_intent))
        .route("/v1/refunds", post(create_refund))
        .route("/v1/transfers", post(create_transfer))
        .route("/v1/transfers/{id}/reversals", post(reverse_transfer))
        .fallback(|| async {
            error(StatusCode::NOT_FOUND, "invalid_request_error", "unknown_route", "Unrecognized request URL")
        })
        .with_state(inner.clone());
    let task = tokio::spawn(async move {
        if let Err(error) = axum::serve(listener, router).await {
            tracing::error!(%error, "payment provider stand-in stopped");
        }
    });
    Ok(PaymentStandIn { endpoint, controls: PaymentControls { inner }, task })
}

impl PaymentControls {
    /// Where webhooks go (the storefront's `POST /webhooks/payments`).
    pub fn deliver_to(&self, url: String) {
        *self.inner.webhook_url.lock().unwrap_or_else(|p| p.into_inner()) = Some(url);
    }

    pub fn secrets(&self) -> &ProviderSecrets {
        &self.inner.secrets
    }

    /// The intent as the provider holds it.
    pub fn intent(&self, id: &str) -> Option<Value> {
        self.inner.ledger().intents.get(id).cloned()
    }

    pub fn refunds(&self) -> Vec<Value> {
        self.inner.ledger().refunds.clone()
    }

    pub fn transfers(&self) -> Vec<Value> {
        self.inner.ledger().transfers.clone()
    }

    pub fn reversals(&self) -> Vec<Value> {
        self.inner.ledger().reversals.clone()
    }

    /// The charge as the provider holds it.
    pub fn charge(&self, id: &str) -> Option<Value> {
        self.inner.ledger().charges.get(id).cloned()
    }

    /// Answers the next `times` transfers for `order` with a 500 (an outage that hits one payout, whatever the
    /// order other calls come in).
    pub fn fail_transfers_for(&self, order: &str, times: u32) {
        self.inner.ledger().failing_transfers.insert(order.to_owned(), times);
    }

    /// Refuses every refund of the intent's charge from now on, as Stripe refuses one for a charge it cannot
    /// refund any more (too old, or its payment method closed).
    pub fn refuse_refunds(&self, intent: &str) {
        self.inner.ledger().unrefundable.push(intent.to_owned());
    }

    /// Lets the intent's charge be refunded again.
    pub fn allow_refunds(&self, intent: &str) {
        self.inner.ledger().unrefundable.retain(|refused| refused != intent);
    }

    /// Closes a connected account: transfers to it are refused from now on (`account_invalid`).
    pub fn close_account(&self, account: &str) {
        self.inner.ledger().closed_accounts.push(account.to_owned());
    }

    /// Refunds `amount` of the intent's charge from "the dashboard" (not through the storefront): the refund is made
    /// and `charge.refunded` sent.
    pub fn refund_outside(&self, intent: &str, amount: i64, webhook: Webhook) -> Result<Value, String> {
        let mut ledger = self.inner.ledger();
        let charge_id = charge_of(&ledger, intent)?;
        let refund = refund_charge(&mut ledger, &charge_id, amount).map_err(|(_, error)| error.to_string())?;
        let charge = ledger.charges.get(&charge_id).cloned().unwrap_or_default();
        record_event(&self.inner, &mut ledger, "charge.refunded", &charge, webhook);
        Ok(refund)
    }

    /// The shopper's bank disputes the intent's charge: `charge.dispute.created`; answers the dispute's id.
    pub fn dispute(&self, intent: &str, webhook: Webhook) -> Result<String, String> {
        let mut ledger = self.inner.ledger();
        let charge_id = charge_of(&ledger, intent)?;
        let charge = ledger.charges.get(&charge_id).cloned().unwrap_or_default();
        let id = ledger.id("dp");
        let dispute = json!({ "id": id, "object": "dispute", "amount": charge["amount"], "currency": charge["currency"],
                              "charge": charge_id, "payment_intent": intent, "status": "needs_response",
                              "reason": "fraudulent", "created": now() });
        ledger.disputes.insert(id.clone(), dispute.clone());
        record_event(&self.inner, &mut ledger, "charge.dispute.created", &dispute, webhook);
        Ok(id)
    }

    /// The bank decides the dispute: `charge.dispute.closed`, won or lost.
    pub fn close_dispute(&self, dispute: &str, won: bool, webhook: Webhook) -> Result<(), String> {
        let mut ledger = self.inner.ledger();
        let Some(mut closed) = ledger.disputes.get(dispute).cloned() else {
            return Err(format!("no dispute {dispute}"));
        };
        closed["status"] = json!(if won { "won" } else { "lost" });
        ledger.disputes.insert(dispute.to_owned(), closed.clone());
        record_event(&self.inner, &mut ledger, "charge.dispute.closed", &closed, webhook);
        Ok(())
    }

    /// How many API calls began with `what` (`POST /v1/transfers`, `CANCEL pi_…`), replays included.
    pub fn calls(&self, what: &str) -> usize {
        self.inner.ledger().calls.iter().filter(|call| call.starts_with(what)).count()
    }

    /// How many API calls came with a key that is not the stand-in's (none, empty, another).
    pub fn refused_keys(&self) -> u32 {
        self.inner.refused_keys.load(Ordering::SeqCst)
    }

    pub fn deliveries(&self) -> Vec<Delivery> {
        self.inner.deliveries.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Answers the next `count` API calls with a 500.
    pub fn fail_next_calls(&self, count: u32) {
        self.inner.fail_next.store(count, Ordering::SeqCst);
    }

    /// The shopper pays with a card that works (Stripe's `pm_card_visa`).
    pub fn succeed(&self, intent: &str, webhook: Webhook) -> Result<Value, String> {
        settle_payment(&self.inner, intent, true, webhook)
    }

    /// The shopper's card is declined (`pm_card_chargeDeclined`): the intent waits for another payment method.
    pub fn decline(&self, intent: &str, webhook: Webhook) -> Result<Value, String> {
        settle_payment(&self.inner, intent, false, webhook)
    }

    /// Delivers an event again (the provider's retries make duplicates).
    pub fn redeliver(&self, event_id: &str) {
        deliver(self.inner.clone(), event_id.to_owned(), Duration::ZERO);
    }

    /// The ids of the events of `kind` about `intent`, oldest first.
    pub fn events_about(&self, intent: &str, kind: &str) -> Vec<String> {
        self.inner
            .ledger()
            .events
            .values()
            .filter(|e| e["type"] == kind && e["data"]["object"]["id"] == intent)
            .filter_map(|e| e["id"].as_str().map(str::to_owned))
            .collect()
    }
}

fn now() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

fn error(status: StatusCode, kind: &str, code: &str, message: &str) -> Response {
    (status, axum::Json(json!({ "error": { "type": kind, "code": code, "message": message } }))).into_response()
}

fn form(body: &[u8]) -> BTreeMap<String, String> {
    serde_urlencoded::from_bytes::<Vec<(String, String)>>(body).unwrap_or_default().into_iter().collect()
}

/// Every API call: the secret key, then the injected outage, then idempotency (the same key with the same request
/// answers the first answer again; with another request, an error), then `handle`.
fn api_call(
    inner: &Inner,
    headers: &HeaderMap,
    request: String,
    handle: impl FnOnce(&mut Ledger) -> (StatusCode, Value),
) -> Response {
    let expected = format!("Bearer {}", inner.secrets.api_key);
    if headers.get("authorization").and_then(|v| v.to_str().ok()) != Some(expected.as_str()) {
        inner.refused_keys.fetch_add(1, Ordering::SeqCst);
        return error(StatusCode::UNAUTHORIZED, "invalid_request_error", "api_key_invalid", "Invalid API Key provided");
    }
    if inner.fail_next.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1)).is_ok() {
        return error(StatusCode::INTERNAL_SERVER_ERROR, "api_error", "injected", "injected outage");
    }
    let key = headers.get("idempotency-key").and_then(|v| v.to_str().ok()).map(str::to_owned);
    let mut ledger = inner.ledger();
    ledger.calls.push(request.split(' ').take(2).collect::<Vec<_>>().join(" "));
    if let Some(key) = &key
        && let Some((first, status, body)) = ledger.idempotent.get(key)
    {
        if first != &request {
            return error(
                StatusCode::BAD_REQUEST,
                "idempotency_error",
                "idempotency_key_in_use",
                "Keys for idempotent requests can only be used with the same parameters they were first used with",
            );
        }
        let mut response =
            (StatusCode::from_u16(*status).unwrap_or(StatusCode::OK), axum::Json(body.clone())).into_response();
        response.headers_mut().insert("idempotent-replayed", http::HeaderValue::from_static("true"));
        return response;
    }
    let (status, body) = handle(&mut ledger);
    // Stripe keeps the answer of a request that ran: a success, or a card's decline; not a request refused by its
    // checks before it ran (an `invalid_request_error`: no idempotent result is saved, and a retry once the cause is
    // fixed runs), nor a 500.
    if let Some(key) = key
        && (status.is_success() || status == StatusCode::PAYMENT_REQUIRED)
    {
        ledger.idempotent.insert(key, (request, status.as_u16(), body.clone()));
    }
    (status, axum::Json(body)).into_response()
}

fn api_error(kind: &str, code: &str, message: &str) -> (StatusCode, Value) {
    (StatusCode::BAD_REQUEST, json!({ "error": { "type": kind, "code": code, "message": message } }))
}

async fn create_intent(State(inner): State<Arc<Inner>>, headers: HeaderMap, body: Bytes) -> Response {
    let request = format!("POST /v1/payment_intents {}", String::from_utf8_lossy(&body));
    let params = form(&body);
    api_call(&inner, &headers, request, |ledger| {
        let Some(amount) = params.get("amount").and_then(|a| a.parse::<i64>().ok()) else {
            return api_error("invalid_request_error", "parameter_missing", "Missing required param: amount.");
        };
        if params.get("currency").map(String::as_str) != Some("usd") {
            return api_error("invalid_request_error", "parameter_invalid", "Invalid currency.");
        }
        if amount < 50 {
            return api_error("invalid_request_error", "amount_too_small", "Amount must be at least $0.50 usd");
        }
        let id = ledger.id("pi");
        let secret = format!("{id}_secret_{}", ledger.next_id * 7919);
        let metadata: serde_json::Map<String, Value> = params
            .iter()
            .filter_map(|(name, value)| {
                let key = name.strip_prefix("metadata[")?.strip_suffix(']')?;
                Some((key.to_owned(), json!(value)))
            })
            .collect();
        let intent = json!({
            "id": id, "object": "payment_intent", "amount": amount, "currency": "usd",
            "status": "requires_payment_method", "client_secret": secret, "metadata": metadata,
            "transfer_group": params.get("transfer_group"), "amount_received": 0, "created": now(),
            "livemode": false,
        });
        ledger.intents.insert(id, intent.clone());
        (StatusCode::OK, intent)
    })
}

async fn read_intent(State(inner): State<Arc<Inner>>, headers: HeaderMap, Path(id): Path<String>) -> Response {
    api_call(&inner, &headers, format!("GET {id}"), |ledger| match ledger.intents.get(&id) {
        Some(intent) => (StatusCode::OK, intent.clone()),
        None => missing("payment_intent", &id),
    })
}

fn missing(what: &str, id: &str) -> (StatusCode, Value) {
    (
        StatusCode::NOT_FOUND,
        json!({ "error": { "type": "invalid_request_error", "code": "resource_missing",
                           "message": format!("No such {what}: '{id}'") } }),
    )
}

fn unexpected_state(intent: &Value, action: &str) -> (StatusCode, Value) {
    let status = intent["status"].as_str().unwrap_or_default();
    (
        StatusCode::BAD_REQUEST,
        json!({ "error": { "type": "invalid_request_error", "code": "payment_intent_unexpected_state",
                           "message": format!("You cannot {action} this PaymentIntent because it has a status of {status}."),
                           "payment_intent": intent } }),
    )
}

fn open(intent: &Value) -> bool {
    matches!(intent["status"].as_str(), Some("requires_payment_method" | "requires_confirmation" | "requires_action"))
}

/// Records an event about `object` (an intent, a charge, a dispute) and schedules its delivery.
fn record_event(inner: &Arc<Inner>, ledger: &mut Ledger, kind: &str, object: &Value, webhook: Webhook) {
    let id = ledger.id("evt");
    let event = json!({ "id": id, "object": "event", "type": kind, "created": now(), "livemode": false,
                        "data": { "object": object } });
    ledger.events.insert(id.clone(), event);
    match webhook {
        Webhook::Now => deliver(inner.clone(), id, Duration::ZERO),
        Webhook::After(delay) => deliver(inner.clone(), id, delay),
        Webhook::Never => {}
    }
}

fn settle_payment(inner: &Arc<Inner>, id: &str, succeeds: bool, webhook: Webhook) -> Result<Value, String> {
    let mut ledger = inner.ledger();
    let Some(mut intent) = ledger.intents.get(id).cloned() else { return Err(format!("no intent {id}")) };
    if !open(&intent) {
        return Err(format!("intent {id} is {}", intent["status"]));
    }
    if succeeds {
        let charge_id = ledger.id("ch");
        let charge = json!({ "id": charge_id, "object": "charge", "amount": intent["amount"],
                             "amount_refunded": 0, "refunded": false, "currency": intent["currency"],
                             "payment_intent": id, "paid": true, "status": "succeeded",
                             "transfer_group": intent["transfer_group"], "created": now() });
        ledger.charges.insert(charge_id.clone(), charge);
        intent["status"] = json!("succeeded");
        intent["amount_received"] = intent["amount"].clone();
        intent["latest_charge"] = json!(charge_id);
        intent["last_payment_error"] = Value::Null;
    } else {
        intent["status"] = json!("requires_payment_method");
        intent["last_payment_error"] = json!({ "code": "card_declined", "message": "Your card was declined." });
    }
    ledger.intents.insert(id.to_owned(), intent.clone());
    let kind = if succeeds { "payment_intent.succeeded" } else { "payment_intent.payment_failed" };
    record_event(inner, &mut ledger, kind, &intent, webhook);
    Ok(intent)
}

async fn confirm_intent(
    State(inner): State<Arc<Inner>>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Bytes,
) -> Response {
    let params = form(&body);
    let method = params.get("payment_method").cloned().unwrap_or_default();
    let succeeds = match method.as_str() {
        "pm_card_visa" | "pm_card_mastercard" => true,
        "pm_card_chargeDeclined" | "pm_card_visa_chargeDeclined" => false,
        _ => {
            return error(
                StatusCode::BAD_REQUEST,
                "invalid_request_error",
                "resource_missing",
                "No such PaymentMethod",
            );
        }
    };
    let known = api_call(&inner, &headers, format!("CONFIRM {id}"), |ledger| match ledger.intents.get(&id) {
        Some(intent) if open(intent) => (StatusCode::OK, intent.clone()),
        Some(intent) => unexpected_state(intent, "confirm"),
        None => missing("payment_intent", &id),
    });
    if !known.status().is_success() {
        return known;
    }
    match settle_payment(&inner, &id, succeeds, Webhook::Now) {
        Ok(intent) if succeeds => (StatusCode::OK, axum::Json(intent)).into_response(),
        Ok(intent) => (
            StatusCode::PAYMENT_REQUIRED,
            axum::Json(json!({ "error": { "type": "card_error", "code": "card_declined",
                                          "message": "Your card was declined.", "payment_intent": intent } })),
        )
            .into_response(),
        Err(message) => {
            error(StatusCode::BAD_REQUEST, "invalid_request_error", "payment_intent_unexpected_state", &message)
        }
    }
}

async fn cancel_intent(State(inner): State<Arc<Inner>>, headers: HeaderMap, Path(id): Path<String>) -> Response {
    let events = inner.clone();
    api_call(&inner, &headers, format!("CANCEL {id}"), |ledger| {
        let Some(mut intent) = ledger.intents.get(&id).cloned() else { return missing("payment_intent", &id) };
        if !open(&intent) {
            return unexpected_state(&intent, "cancel");
        }
        intent["status"] = json!("canceled");
        intent["cancellation_reason"] = json!("requested_by_customer");
        ledger.intents.insert(id.clone(), intent.clone());
        record_event(&events, ledger, "payment_intent.canceled", &intent, Webhook::Now);
        (StatusCode::OK, intent)
    })
}

async fn create_refund(State(inner): State<Arc<Inner>>, headers: HeaderMap, body: Bytes) -> Response {
    let request = format!("POST /v1/refunds {}", String::from_utf8_lossy(&body));
    let params = form(&body);
    let events = inner.clone();
    api_call(&inner, &headers, request, |ledger| {
        let intent_id = params.get("payment_intent").cloned().unwrap_or_default();
        let Some(intent) = ledger.intents.get(&intent_id).cloned() else {
            return missing("payment_intent", &intent_id);
        };
        if ledger.unrefundable.contains(&intent_id) {
            return api_error("invalid_request_error", "charge_not_refundable", "This charge cannot be refunded.");
        }
        if intent["status"] != "succeeded" {
            return api_error(
                "invalid_request_error",
                "charge_not_refundable",
                "This PaymentIntent has no charge to refund.",
            );
        }
        let Some(charge_id) = intent["latest_charge"].as_str().map(str::to_owned) else {
            return api_error("invalid_request_error", "charge_not_refundable", "This PaymentIntent has no charge.");
        };
        let remaining = remaining_of(ledger, &charge_id);
        let amount = params.get("amount").and_then(|a| a.parse::<i64>().ok()).unwrap_or(remaining);
        match refund_charge(ledger, &charge_id, amount) {
            Ok(refund) => {
                // As Stripe does for every refund, ours included.
                let charge = ledger.charges.get(&charge_id).cloned().unwrap_or_default();
                record_event(&events, ledger, "charge.refunded", &charge, Webhook::Now);
                (StatusCode::OK, refund)
            }
            Err(refused) => refused,
        }
    })
}

/// The intent's charge, if it made one.
fn charge_of(ledger: &Ledger, intent: &str) -> Result<String, String> {
    let intent = ledger.intents.get(intent).ok_or_else(|| format!("no intent {intent}"))?;
    intent["latest_charge"].as_str().map(str::to_owned).ok_or_else(|| "the intent has no charge".into())
}

/// What is left of a charge to refund.
fn remaining_of(ledger: &Ledger, charge: &str) -> i64 {
    let charge = ledger.charges.get(charge);
    charge.map_or(0, |c| c["amount"].as_i64().unwrap_or(0) - c["amount_refunded"].as_i64().unwrap_or(0))
}

/// Refunds `amount` of the charge (never more than is left, never a disputed charge), updating it.
fn refund_charge(ledger: &mut Ledger, charge_id: &str, amount: i64) -> Result<Value, (StatusCode, Value)> {
    let disputed = ledger.disputes.values().any(|d| d["charge"] == charge_id && d["status"] == "needs_response");
    if disputed {
        return Err(api_error("invalid_request_error", "charge_disputed", "This charge is disputed."));
    }
    if amount <= 0 || amount > remaining_of(ledger, charge_id) {
        return Err(api_error(
            "invalid_request_error",
            "charge_already_refunded",
            "The charge has already been refunded.",
        ));
    }
    let id = ledger.id("re");
    let Some(charge) = ledger.charges.get_mut(charge_id) else {
        return Err(missing("charge", charge_id));
    };
    let refunded = charge["amount_refunded"].as_i64().unwrap_or(0) + amount;
    charge["amount_refunded"] = json!(refunded);
    charge["refunded"] = json!(refunded >= charge["amount"].as_i64().unwrap_or(0));
    let refund = json!({ "id": id, "object": "refund", "amount": amount, "currency": charge["currency"],
                         "charge": charge_id, "payment_intent": charge["payment_intent"], "status": "succeeded",
                         "created": now() });
    charge["refunds"] = json!({ "object": "list", "data": [refund.clone()] });
    ledger.refunds.push(refund.clone());
    Ok(refund)
}

async fn create_transfer(State(inner): State<Arc<Inner>>, headers: HeaderMap, body: Bytes) -> Response {
    let request = format!("POST /v1/transfers {}", String::from_utf8_lossy(&body));
    let params = form(&body);
    if let Some(order) = params.get("metadata[order_id]") {
        let mut ledger = inner.ledger();
        if let Some(left) = ledger.failing_transfers.get_mut(order).filter(|left| **left > 0) {
            *left -= 1;
            return error(StatusCode::INTERNAL_SERVER_ERROR, "api_error", "injected", "injected outage");
        }
    }
    api_call(&inner, &headers, request, |ledger| {
        let destination = params.get("destination").cloned().unwrap_or_default();
        if !destination.starts_with("acct_") {
            return api_error("invalid_request_error", "resource_missing", "No such destination");
        }
        if ledger.closed_accounts.contains(&destination) {
            return api_error("invalid_request_error", "account_invalid", "The destination account is closed.");
        }
        let Some(amount) = params.get("amount").and_then(|a| a.parse::<i64>().ok()).filter(|a| *a > 0) else {
            return api_error("invalid_request_error", "parameter_invalid_integer", "Invalid positive integer");
        };
        // Funded from a charge (pending funds may go), or from the available balance, which is none here.
        let group = match params.get("source_transaction") {
            None => {
                return api_error(
                    "invalid_request_error",
                    "balance_insufficient",
                    "You have insufficient available funds in your Stripe account.",
                );
            }
            Some(source) => {
                let Some(charge) = ledger.charges.get(source).cloned() else { return missing("charge", source) };
                let sent: i64 = ledger
                    .transfers
                    .iter()
                    .filter(|t| t["source_transaction"] == source.as_str())
                    .filter_map(|t| t["amount"].as_i64())
                    .sum();
                if params.get("currency").map(String::as_str) != charge["currency"].as_str() {
                    return api_error(
                        "invalid_request_error",
                        "parameter_invalid",
                        "Currency must match the charge's.",
                    );
                }
                if sent + amount > charge["amount"].as_i64().unwrap_or(0) {
                    return api_error(
                        "invalid_request_error",
                        "transfer_source_balance_parameters_mismatch",
                        "The transfers from this charge would exceed its amount.",
                    );
                }
                charge["transfer_group"].clone()
            }
        };
        let id = ledger.id("tr");
        let metadata: serde_json::Map<String, Value> = params
            .iter()
            .filter_map(|(name, value)| {
                Some((name.strip_prefix("metadata[")?.strip_suffix(']')?.to_owned(), json!(value)))
            })
            .collect();
        let transfer = json!({ "id": id, "object": "transfer", "amount": amount, "currency": params.get("currency"),
                               "destination": destination, "source_transaction": params.get("source_transaction"),
                               "transfer_group": group, "amount_reversed": 0, "reversed": false,
                               "metadata": metadata, "created": now() });
        ledger.transfers.push(transfer.clone());
        (StatusCode::OK, transfer)
    })
}

async fn reverse_transfer(
    State(inner): State<Arc<Inner>>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Bytes,
) -> Response {
    let request = format!("POST /v1/transfers/{id}/reversals {}", String::from_utf8_lossy(&body));
    let params = form(&body);
    api_call(&inner, &headers, request, |ledger| {
        let reversal_id = ledger.id("trr");
        let Some(transfer) = ledger.transfers.iter_mut().find(|t| t["id"] == id.as_str()) else {
            return missing("transfer", &id);
        };
        let left = transfer["amount"].as_i64().unwrap_or(0) - transfer["amount_reversed"].as_i64().unwrap_or(0);
        let amount = params.get("amount").and_then(|a| a.parse::<i64>().ok()).unwrap_or(left);
        if amount <= 0 || amount > left {
            return api_error("invalid_request_error", "parameter_invalid_integer", "The amount exceeds the transfer.");
        }
        let reversed = transfer["amount_reversed"].as_i64().unwrap_or(0) + amount;
        transfer["amount_reversed"] = json!(reversed);
        transfer["reversed"] = json!(reversed >= transfer["amount"].as_i64().unwrap_or(0));
        let reversal = json!({ "id": reversal_id, "object": "transfer_reversal", "amount": amount,
                               "currency": transfer["currency"], "transfer": id, "created": now() });
        ledger.reversals.push(reversal.clone());
        (StatusCode::OK, reversal)
    })
}

/// Delivers an event after `delay`, signed at each attempt; a failed attempt is retried a few times, sooner than
/// Stripe's hours (this is a laptop), with the same event id.
fn deliver(inner: Arc<Inner>, event_id: String, delay: Duration) {
    tokio::spawn(async move {
        tokio::time::sleep(delay).await;
        let Some(event) = inner.ledger().events.get(&event_id).cloned() else { return };
        let url = inner.webhook_url.lock().unwrap_or_else(|p| p.into_inner()).clone();
        let Some(url) = url else {
            tracing::warn!(event_id, "no webhook endpoint set; event not delivered");
            return;
        };
        let payload = event.to_string();
        let index = {
            let mut deliveries = inner.deliveries.lock().unwrap_or_else(|p| p.into_inner());
            deliveries.push(Delivery {
                event_id: event_id.clone(),
                kind: event["type"].as_str().unwrap_or_default().to_owned(),
                statuses: Vec::new(),
            });
            deliveries.len() - 1
        };
        for attempt in 0..5u32 {
            let signature = sign(&inner.secrets.webhook_secret, now(), payload.as_bytes());
            let status = match inner
                .client
                .request(Method::POST, &url)
                .header("content-type", "application/json")
                .header("stripe-signature", signature)
                .body(payload.clone())
                .send()
                .await
            {
                Ok(response) => response.status().as_u16(),
                Err(_) => 0,
            };
            if let Some(delivery) = inner.deliveries.lock().unwrap_or_else(|p| p.into_inner()).get_mut(index) {
                delivery.statuses.push(status);
            }
            if (200..300).contains(&status) {
                return;
            }
            tracing::warn!(event_id, status, attempt, "webhook delivery failed; retrying");
            tokio::time::sleep(Duration::from_millis(200 << attempt)).await;
        }
    });
}
