//! `PaymentProvider` on Stripe's API (PaymentIntents, Refunds, Connect Transfers), hand-written on the HTTP
//! stack the AWS SDK already builds (hyper with rustls): five form-encoded calls did not justify async-stripe's
//! 105 crates (docs/payments.md). Every POST carries an `Idempotency-Key` derived from what it is for (the order,
//! the payout), so a retried call, a replayed checkout or a redelivered message never charges, refunds or
//! transfers twice. The base URL is configurable: the local provider stand-in speaks the same calls.

mod secrets;
pub mod webhook;

use secrets::SecretSource;
pub use secrets::{MIN_API_KEY_LEN, ProviderSecrets, RETRY_TTL, SECRET_TTL};

use std::sync::OnceLock;
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use time::OffsetDateTime;

use crate::adapters::aws::LazyClient;
use crate::domain::{
    Currency, DisputeStage, IntentState, Money, Order, OrderId, OrderRef, PaymentEnd, PaymentEvent, PaymentOutcome,
    Payout, ProviderRef, UserId,
};
use crate::ports::{CreatedIntent, EventError, IntentRecord, PaymentError, PaymentProvider, VerifiedEvent};

/// The API version every call asks for, so a change of the account's default never changes what we parse.
pub const API_VERSION: &str = "2024-06-20";
/// Per call, inside the functions' timeouts (checkout's 10 s holds a DynamoDB write and this).
const CALL_TIMEOUT: Duration = Duration::from_secs(4);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(1);
/// Attempts of a call that failed on the network or the provider's side; safe, every call is idempotent.
const ATTEMPTS: u32 = 2;

type HttpsClient = Client<hyper_rustls::HttpsConnector<HttpConnector>, Full<Bytes>>;

pub struct StripeProvider {
    /// Built at the first call: every function holds a provider, few of them pay (docs/benchmarks.md, init).
    http: OnceLock<HttpsClient>,
    base_url: String,
    secrets: SecretSource,
}

impl StripeProvider {
    fn new(base_url: &str, secrets: SecretSource) -> Self {
        Self { http: OnceLock::new(), base_url: base_url.trim_end_matches('/').to_owned(), secrets }
    }

    fn http(&self) -> &HttpsClient {
        self.http.get_or_init(|| {
            let mut http = HttpConnector::new();
            http.set_connect_timeout(Some(CONNECT_TIMEOUT));
            http.enforce_http(false);
            // Mozilla's roots, compiled in: the provider's certificate chains to a public CA, and reading the
            // system trust store instead cost milliseconds.
            let roots = rustls::RootCertStore { roots: webpki_roots::TLS_SERVER_ROOTS.to_vec() };
            let config =
                rustls::ClientConfig::builder_with_provider(rustls::crypto::aws_lc_rs::default_provider().into())
                    .with_safe_default_protocol_versions()
                    .expect("aws-lc-rs supports rustls's default protocol versions")
                    .with_root_certificates(roots)
                    .with_no_client_auth();
            let tls = hyper_rustls::HttpsConnectorBuilder::new().with_tls_config(config);
            let connector = tls.https_or_http().enable_http1().wrap_connector(http);
            Client::builder(TokioExecutor::new()).build(connector)
        })
    }

    /// Credentials read from the Secrets Manager secret `secret_id` (a JSON `{"api_key", "webhook_secret"}`) at
    /// the first call that needs them, and again every [`SECRET_TTL`].
    pub fn from_secrets_manager(
        base_url: &str,
        client: LazyClient<aws_sdk_secretsmanager::Client>,
        secret_id: &str,
    ) -> Self {
        Self::new(base_url, SecretSource::secrets_manager(client, secret_id))
    }

    /// The same provider, its secret read again every `ttl` rather than every [`SECRET_TTL`] (tests of rotation).
    pub fn reading_secrets_every(mut self, ttl: Duration) -> Self {
        self.secrets = self.secrets.read_every(ttl);
        self
    }

    pub fn with_secrets(base_url: &str, secrets: ProviderSecrets) -> Self {
        Self::new(base_url, SecretSource::Given(std::sync::Arc::new(secrets)))
    }

    /// One API call: form-encoded, authenticated, under `idempotency_key` for a POST; retried once on a network
    /// or provider failure with the same key. Answers the status and the JSON body.
    async fn call(
        &self,
        method: http::Method,
        path: &str,
        form: &[(&str, String)],
        idempotency_key: Option<&str>,
    ) -> Result<(http::StatusCode, serde_json::Value), PaymentError> {
        let secrets = self.secrets.get().await?;
        let key = secrets.api_key()?;
        let body = form_encode(form);
        let mut last = None;
        for attempt in 0..ATTEMPTS {
            let mut request = http::Request::builder()
                .method(method.clone())
                .uri(format!("{}{path}", self.base_url))
                .header(http::header::AUTHORIZATION, format!("Bearer {key}"))
                .header("stripe-version", API_VERSION);
            if method == http::Method::POST {
                request = request.header(http::header::CONTENT_TYPE, "application/x-www-form-urlencoded");
            }
            if let Some(idempotency_key) = idempotency_key {
                request = request.header("idempotency-key", idempotency_key);
            }
            let request = request
                .body(Full::new(Bytes::from(body.clone())))
                .map_err(|e| PaymentError::Refused(format!("request could not be built: {e}")))?;
            let outcome = tokio::time::timeout(CALL_TIMEOUT, async {
                let response = self.http().request(request).await.map_err(|e| PaymentError::Unavailable(e.into()))?;
                let status = response.status();
                let bytes = response.into_body().collect().await.map_err(|e| PaymentError::Unavailable(e.into()))?;
                let json = serde_json::from_slice(&bytes.to_bytes()).unwrap_or(serde_json::Value::Null);
                Ok::<_, PaymentError>((status, json))
            })
            .await
            .unwrap_or_else(|_| Err(PaymentError::Unavailable("the payment provider timed out".into())));
            match outcome {
                Ok((status, json)) if status.is_server_error() || status == http::StatusCode::TOO_MANY_REQUESTS => {
                    last =
                        Some(PaymentError::Unavailable(format!("{path}: {status}: {}", error_message(&json)).into()));
                }
                Ok(answer) => return Ok(answer),
                Err(error @ PaymentError::Unavailable(_)) => last = Some(error),
                Err(error) => return Err(error),
            }
            if attempt + 1 < ATTEMPTS {
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
        Err(last.unwrap_or_else(|| PaymentError::Unavailable("no attempt made".into())))
    }

    /// A call whose answer must be a success carrying an object.
    async fn object(
        &self,
        method: http::Method,
        path: &str,
        form: &[(&str, String)],
        idempotency_key: Option<&str>,
    ) -> Result<serde_json::Value, PaymentError> {
        let (status, json) = self.call(method, path, form, idempotency_key).await?;
        if status.is_success() {
            Ok(json)
        } else {
            Err(PaymentError::Refused(format!("{path}: {status}: {}", error_message(&json))))
        }
    }
}

fn error_message(json: &serde_json::Value) -> String {
    let error = &json["error"];
    let code = error["code"].as_str().unwrap_or("-");
    let message = error["message"].as_str().unwrap_or("no message");
    format!("{code}: {message}")
}

/// `application/x-www-form-urlencoded`, every byte but the unreserved ones percent-encoded.
fn form_encode(pairs: &[(&str, String)]) -> String {
    let encode = |raw: &str| {
        raw.bytes()
            .map(|b| match b {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
                _ => format!("%{b:02X}"),
            })
            .collect::<String>()
    };
    pairs.iter().map(|(name, value)| format!("{}={}", encode(name), encode(value))).collect::<Vec<_>>().join("&")
}

fn provider_ref(json: &serde_json::Value, field: &str) -> Result<ProviderRef, PaymentError> {
    json[field]
        .as_str()
        .and_then(ProviderRef::parse)
        .ok_or_else(|| PaymentError::Refused(format!("the provider's answer has no valid {field}")))
}

/// Stripe's intent statuses, as the storefront needs them.
fn intent_state(json: &serde_json::Value) -> Result<IntentState, PaymentError> {
    match json["status"].as_str() {
        Some("requires_payment_method" | "requires_confirmation" | "requires_action") => Ok(IntentState::Open),
        Some("processing" | "requires_capture") => Ok(IntentState::Processing),
        Some("succeeded") => Ok(IntentState::Succeeded),
        Some("canceled") => Ok(IntentState::Canceled),
        other => Err(PaymentError::Refused(format!("unknown intent status {other:?}"))),
    }
}

/// Stripe's currency codes are lower case.
fn currency(amount: Money) -> String {
    amount.currency.code().to_ascii_lowercase()
}

#[async_trait]
impl PaymentProvider for StripeProvider {
    async fn create_intent(&self, order: &Order) -> Result<CreatedIntent, PaymentError> {
        let form = [
            ("amount", order.total.amount.to_string()),
            ("currency", currency(order.total)),
            ("automatic_payment_methods[enabled]", "true".to_owned()),
            // Separate charges and transfers: the artisans' shares are transferred from this charge.
            ("transfer_group", order.order_id.to_string()),
            ("metadata[order_id]", order.order_id.to_string()),
            ("metadata[user_id]", order.user_id.to_string()),
        ];
        let key = format!("intent-{}", order.order_id);
        let json = self.object(http::Method::POST, "/v1/payment_intents", &form, Some(&key)).await?;
        let client_secret = json["client_secret"]
            .as_str()
            .filter(|s| !s.is_empty())
            .ok_or_else(|| PaymentError::Refused("the intent has no client secret".into()))?;
        Ok(CreatedIntent { intent_id: provider_ref(&json, "id")?, client_secret: client_secret.to_owned() })
    }

    async fn cancel_intent(&self, intent: &ProviderRef) -> Result<IntentState, PaymentError> {
        let path = format!("/v1/payment_intents/{intent}/cancel");
        let key = format!("cancel-{intent}");
        let (status, json) = self.call(http::Method::POST, &path, &[], Some(&key)).await?;
        if status.is_success() {
            return intent_state(&json);
        }
        // Paid (or cancelled) already: where it stands is the answer.
        if json["error"]["code"] == "payment_intent_unexpected_state" {
            return Ok(self.read_intent(intent).await?.state);
        }
        Err(PaymentError::Refused(format!("{path}: {status}: {}", error_message(&json))))
    }

    async fn read_intent(&self, intent: &ProviderRef) -> Result<IntentRecord, PaymentError> {
        let json = self.object(http::Method::GET, &format!("/v1/payment_intents/{intent}"), &[], None).await?;
        Ok(IntentRecord {
            state: intent_state(&json)?,
            charge_id: json["latest_charge"].as_str().and_then(ProviderRef::parse),
            order: order_of(&json["metadata"]),
        })
    }

    async fn refund(&self, order: &OrderId, intent: &ProviderRef, amount: Money) -> Result<ProviderRef, PaymentError> {
        let form = [
            ("payment_intent", intent.to_string()),
            ("amount", amount.amount.to_string()),
            ("metadata[order_id]", order.to_string()),
        ];
        // Named by the amount too: what is left to refund changes when part went back at the provider meanwhile, and
        // a key reused with another amount is refused (the same amount again is the same refund).
        let key = format!("refund-{order}-{}", amount.amount);
        let json = self.object(http::Method::POST, "/v1/refunds", &form, Some(&key)).await?;
        provider_ref(&json, "id")
    }

    async fn transfer(
        &self,
        payout: &Payout,
        destination: &ProviderRef,
        charge: &ProviderRef,
    ) -> Result<ProviderRef, PaymentError> {
        // Separate charges and transfers, as Stripe documents them: the transfer names the charge it is funded from
        // (`source_transaction`), so it goes out while the charge's funds are still pending instead of failing
        // `balance_insufficient`, and joins the charge's transfer group (the order) by it.
        let form = [
            ("amount", payout.amount.amount.to_string()),
            ("currency", currency(payout.amount)),
            ("destination", destination.to_string()),
            ("source_transaction", charge.to_string()),
            ("metadata[order_id]", payout.order_id.to_string()),
            ("metadata[artisan_id]", payout.artisan_id.to_string()),
        ];
        // Named by the payout and its destination: a key never travels with another account.
        let key = format!("payout-{}-{}-{destination}", payout.order_id, payout.artisan_id);
        let json = self.object(http::Method::POST, "/v1/transfers", &form, Some(&key)).await?;
        provider_ref(&json, "id")
    }

    async fn reverse_transfer(&self, payout: &Payout, transfer: &ProviderRef) -> Result<ProviderRef, PaymentError> {
        let form = [
            ("amount", payout.amount.amount.to_string()),
            ("metadata[order_id]", payout.order_id.to_string()),
            ("metadata[artisan_id]", payout.artisan_id.to_string()),
        ];
        let key = format!("reversal-{}-{}", payout.order_id, payout.artisan_id);
        let path = format!("/v1/transfers/{transfer}/reversals");
        let json = self.object(http::Method::POST, &path, &form, Some(&key)).await?;
        provider_ref(&json, "id")
    }

    async fn verify_event(
        &self,
        payload: &[u8],
        signature: Option<&str>,
        now: OffsetDateTime,
    ) -> Result<VerifiedEvent, EventError> {
        let secrets = self.secrets.get().await.map_err(EventError::Unavailable)?;
        let secret = secrets.signing_secret().map_err(EventError::Unavailable)?;
        webhook::verify(&secret, payload, signature, now)?;
        read_event(payload)
    }
}

/// The order a metadata object names, if it names one of ours.
fn order_of(metadata: &serde_json::Value) -> Option<OrderRef> {
    let user_id = metadata["user_id"].as_str().and_then(UserId::parse)?;
    let order_id = metadata["order_id"].as_str().and_then(OrderId::parse)?;
    Some(OrderRef { user_id, order_id })
}

/// The event a verified payload carries, as the storefront acts on it: an intent's outcome, a charge refunded (by
/// how much in all), or a dispute of a charge opened or closed.
fn read_event(payload: &[u8]) -> Result<VerifiedEvent, EventError> {
    let json: serde_json::Value =
        serde_json::from_slice(payload).map_err(|e| EventError::Malformed(format!("not JSON: {e}")))?;
    let event_id = json["id"].as_str().ok_or_else(|| EventError::Malformed("no event id".into()))?;
    let kind = json["type"].as_str().ok_or_else(|| EventError::Malformed("no event type".into()))?;
    let object = &json["data"]["object"];
    let malformed = |what: &str| EventError::Malformed(format!("{kind} without a valid {what}"));
    let reference = |field: &str| object[field].as_str().and_then(ProviderRef::parse).ok_or_else(|| malformed(field));
    let (outcome, intent_id, charge_id) = match kind {
        "payment_intent.succeeded" | "payment_intent.payment_failed" | "payment_intent.canceled" => {
            let outcome = match kind {
                "payment_intent.succeeded" => PaymentOutcome::Succeeded,
                "payment_intent.payment_failed" => PaymentOutcome::Ended(PaymentEnd::Failed),
                _ => PaymentOutcome::Ended(PaymentEnd::Canceled),
            };
            let charge = object["latest_charge"].as_str().and_then(ProviderRef::parse);
            (outcome, reference("id").map_err(|_| malformed("intent id"))?, charge)
        }
        "charge.refunded" => {
            let refunded = object["amount_refunded"].as_i64().filter(|amount| *amount >= 0);
            let currency = object["currency"].as_str().and_then(|c| Currency::parse(&c.to_ascii_uppercase()));
            let (Some(amount), Some(currency)) = (refunded, currency) else {
                return Err(malformed("amount_refunded and currency"));
            };
            let total = Money::new(amount, currency);
            (PaymentOutcome::Refunded { total }, reference("payment_intent")?, Some(reference("id")?))
        }
        "charge.dispute.created" | "charge.dispute.closed" => {
            let stage = match (kind, object["status"].as_str()) {
                ("charge.dispute.created", _) => DisputeStage::Opened,
                (_, Some("lost")) => DisputeStage::Lost,
                // Won, an inquiry closed without a chargeback, or one prevented before it became one: the money
                // stays.
                (_, Some("won" | "warning_closed" | "prevented")) => DisputeStage::Won,
                _ => return Err(malformed("closed dispute status")),
            };
            (PaymentOutcome::Dispute(stage), reference("payment_intent")?, Some(reference("charge")?))
        }
        _ => return Ok(VerifiedEvent::Ignored { event_id: event_id.to_owned(), kind: kind.to_owned() }),
    };
    let event_id = ProviderRef::parse(event_id).ok_or_else(|| malformed("event id"))?;
    let order = order_of(&object["metadata"]);
    Ok(VerifiedEvent::Payment(PaymentEvent { event_id, intent_id, outcome, order, charge_id }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forms_are_percent_encoded() {
        let form = [("metadata[user_id]", "a+b@c.d".to_owned()), ("amount", "1250".to_owned())];
        assert_eq!(form_encode(&form), "metadata%5Buser_id%5D=a%2Bb%40c.d&amount=1250");
    }

    #[test]
    fn events_are_read_for_what_the_storefront_acts_on() {
        let event = |kind: &str, metadata: &str| {
            format!(r#"{{"id":"evt_1","type":"{kind}","data":{{"object":{{"id":"pi_1","metadata":{metadata}}}}}}}"#)
        };
        let ours = r#"{"user_id":"alice","order_id":"01KDVDTSS00000000001FET003"}"#;
        let Ok(VerifiedEvent::Payment(paid)) = read_event(event("payment_intent.succeeded", ours).as_bytes()) else {
            panic!("a payment event")
        };
        assert_eq!(paid.outcome, PaymentOutcome::Succeeded);
        assert_eq!(paid.order.map(|o| o.user_id.to_string()), Some("alice".to_owned()));
        let failed = read_event(event("payment_intent.payment_failed", "{}").as_bytes());
        assert!(matches!(failed, Ok(VerifiedEvent::Payment(PaymentEvent { order: None, .. }))), "not our intent");
        let other = read_event(event("customer.created", ours).as_bytes());
        assert!(matches!(other, Ok(VerifiedEvent::Ignored { .. })));
        assert!(matches!(read_event(b"{]"), Err(EventError::Malformed(_))));
        let bad_id = r#"{"id":"evt_1","type":"payment_intent.succeeded","data":{"object":{"id":"pi/1"}}}"#;
        assert!(matches!(read_event(bad_id.as_bytes()), Err(EventError::Malformed(_))));
    }

    /// The shapes of Stripe's charge and dispute objects (the fields the storefront reads; the rest is ignored).
    #[test]
    fn refunds_and_disputes_made_at_the_provider_name_their_intent_charge_and_stage() {
        use serde_json::json;
        let read = |kind: &str, object: serde_json::Value| {
            let event = serde_json::json!({"id": "evt_9", "type": kind, "data": {"object": object}});
            read_event(event.to_string().as_bytes())
        };
        let charge = |refunded: serde_json::Value, currency: &str| {
            serde_json::json!({"id": "ch_7", "object": "charge", "payment_intent": "pi_3", "amount": 4200,
                "amount_refunded": refunded, "currency": currency, "refunded": false, "metadata": {}})
        };
        let Ok(VerifiedEvent::Payment(refund)) = read("charge.refunded", charge(json!(1500), "usd")) else {
            panic!("a refund event")
        };
        assert_eq!(refund.outcome, PaymentOutcome::Refunded { total: Money::new(1500, Currency::Usd) });
        assert_eq!((refund.intent_id.as_str(), refund.charge_id.as_ref().map(|c| c.as_str())), ("pi_3", Some("ch_7")));
        assert_eq!(refund.order, None, "the worker asks the provider for the intent's order");
        for (refunded, currency) in
            [(json!(-1), "usd"), (json!(1500.5), "usd"), (json!("1500"), "usd"), (json!(1500), "xyz")]
        {
            let refused = read("charge.refunded", charge(refunded.clone(), currency));
            assert!(matches!(refused, Err(EventError::Malformed(_))), "{refunded} {currency}");
        }

        let dispute = |status: &str| {
            serde_json::json!({"id": "dp_5", "object": "dispute", "charge": "ch_7", "payment_intent": "pi_3",
                "amount": 4200, "currency": "usd", "status": status, "reason": "fraudulent"})
        };
        for (kind, status, stage) in [
            ("charge.dispute.created", "needs_response", DisputeStage::Opened),
            ("charge.dispute.created", "warning_needs_response", DisputeStage::Opened),
            ("charge.dispute.closed", "won", DisputeStage::Won),
            ("charge.dispute.closed", "warning_closed", DisputeStage::Won),
            ("charge.dispute.closed", "prevented", DisputeStage::Won),
            ("charge.dispute.closed", "lost", DisputeStage::Lost),
        ] {
            let Ok(VerifiedEvent::Payment(event)) = read(kind, dispute(status)) else { panic!("{kind} {status}") };
            assert_eq!(event.outcome, PaymentOutcome::Dispute(stage), "{kind} {status}");
            assert_eq!(event.charge_id.as_ref().map(|c| c.as_str()), Some("ch_7"), "the disputed charge, not dp_");
        }
        assert!(matches!(read("charge.dispute.closed", dispute("under_review")), Err(EventError::Malformed(_))));
        let no_intent = serde_json::json!({"id": "dp_5", "charge": "ch_7", "status": "lost"});
        assert!(matches!(read("charge.dispute.closed", no_intent), Err(EventError::Malformed(_))));
        let paid = serde_json::json!({"id": "pi_3", "latest_charge": "ch_7", "metadata": {}});
        let Ok(VerifiedEvent::Payment(paid)) = read("payment_intent.succeeded", paid) else { panic!("paid") };
        assert_eq!(paid.charge_id.as_ref().map(|c| c.as_str()), Some("ch_7"), "transfers are funded from it");
    }

    #[tokio::test]
    async fn the_https_client_is_built_at_the_first_call_not_with_the_provider() {
        let secrets = ProviderSecrets {
            api_key: "sk_test_of_stripes_length_0123456".into(),
            webhook_secret: "whsec_of_stripes_length_0123456789abcdef".into(),
        };
        // Nothing listens on port 1: the call fails, after building the client it was sent on.
        let provider = StripeProvider::with_secrets("http://127.0.0.1:1", secrets);
        assert!(provider.http.get().is_none(), "a function that never pays never builds the client");
        let called = provider.call(http::Method::GET, "/v1/balance", &[], None).await;
        assert!(matches!(called, Err(PaymentError::Unavailable(_))), "{called:?}");
        assert!(provider.http.get().is_some(), "the first call builds it");
    }
}
