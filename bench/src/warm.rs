//! Warm overhead: the time an invocation spends in our code beyond its calls out (the store, the payment
//! provider), measured in-process against the local stack. Timed, as the Lambda runtime runs it: decoding the API
//! Gateway event, the handler (auth, parsing, rules, JSON), its JSON log line (formatted as in Lambda, written to a
//! sink), the EMF line, and encoding the API Gateway response. Not timed: the Runtime API's HTTP exchange around
//! it, which the init bench's first-response figures include. An interceptor on the store's DynamoDB client marks
//! when its operations are in flight, a wrapper around the payment provider when its calls are; the overhead is the
//! wall time minus those intervals.

use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use aws_sdk_dynamodb::config::interceptors::{
    BeforeSerializationInterceptorContextRef, FinalizerInterceptorContextRef,
};
use aws_sdk_dynamodb::config::{ConfigBag, Intercept, RuntimeComponents};
use aws_sdk_dynamodb::error::BoxError;
use storefront::AppState;
use storefront::api::Function;
use storefront::domain::{IntentState, Money, Order, OrderId, Payout, ProviderRef};
use storefront::ports::{CreatedIntent, EventError, IntentRecord, PaymentError, PaymentProvider, VerifiedEvent};
use tracing_subscriber::Layer;
use tracing_subscriber::layer::SubscriberExt;

use crate::stats::{Summary, millis, union_length};

/// Intervals of the request being measured when a call out (a store operation, a payment provider call) was in
/// flight: each from the moment one starts with none in flight to the moment none is in flight again, so
/// concurrent calls count once.
static CALLS_OUT: Mutex<Vec<(Instant, Instant)>> = Mutex::new(Vec::new());
/// Operations in flight, and since when.
static IN_FLIGHT: Mutex<(usize, Option<Instant>)> = Mutex::new((0, None));

/// Times each DynamoDB operation from before its input is serialized to after its output is parsed (or its
/// error read): the SDK's work and the round trip to the engine, what its operation span covered, a DEBUG span
/// that release builds no longer contain.
#[derive(Debug)]
struct StoreTimer;

impl Intercept for StoreTimer {
    fn name(&self) -> &'static str {
        "StoreTimer"
    }

    fn read_before_execution(
        &self,
        _: &BeforeSerializationInterceptorContextRef<'_>,
        _: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        call_begins();
        Ok(())
    }

    fn read_after_execution(
        &self,
        _: &FinalizerInterceptorContextRef<'_>,
        _: &RuntimeComponents,
        _: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        call_ends();
        Ok(())
    }
}

fn call_begins() {
    let mut in_flight = IN_FLIGHT.lock().unwrap_or_else(|p| p.into_inner());
    if in_flight.0 == 0 {
        in_flight.1 = Some(Instant::now());
    }
    in_flight.0 += 1;
}

fn call_ends() {
    let mut in_flight = IN_FLIGHT.lock().unwrap_or_else(|p| p.into_inner());
    in_flight.0 = in_flight.0.saturating_sub(1);
    if in_flight.0 == 0
        && let Some(since) = in_flight.1.take()
    {
        CALLS_OUT.lock().unwrap_or_else(|p| p.into_inner()).push((since, Instant::now()));
    }
}

/// `call` timed as a call out, as [`StoreTimer`] times the store's operations.
async fn out<T>(call: impl Future<Output = T>) -> T {
    call_begins();
    let answer = call.await;
    call_ends();
    answer
}

/// The payment provider with its calls timed: checkout creates its intent at the provider over HTTPS (here at its
/// stand-in, over plain HTTP on loopback), a round trip out of the function like a store call, not our overhead.
struct PaymentTimer(Arc<dyn PaymentProvider>);

#[async_trait::async_trait]
impl PaymentProvider for PaymentTimer {
    async fn create_intent(&self, order: &Order) -> Result<CreatedIntent, PaymentError> {
        out(self.0.create_intent(order)).await
    }

    async fn cancel_intent(&self, intent: &ProviderRef) -> Result<IntentState, PaymentError> {
        out(self.0.cancel_intent(intent)).await
    }

    async fn read_intent(&self, intent: &ProviderRef) -> Result<IntentRecord, PaymentError> {
        out(self.0.read_intent(intent)).await
    }

    async fn refund(&self, order: &OrderId, intent: &ProviderRef, amount: Money) -> Result<ProviderRef, PaymentError> {
        out(self.0.refund(order, intent, amount)).await
    }

    async fn transfer(
        &self,
        payout: &Payout,
        destination: &ProviderRef,
        charge: &ProviderRef,
    ) -> Result<ProviderRef, PaymentError> {
        out(self.0.transfer(payout, destination, charge)).await
    }

    async fn reverse_transfer(&self, payout: &Payout, transfer: &ProviderRef) -> Result<ProviderRef, PaymentError> {
        out(self.0.reverse_transfer(payout, transfer)).await
    }

    async fn verify_event(
        &self,
        payload: &[u8],
        signature: Option<&str>,
        now: time::OffsetDateTime,
    ) -> Result<VerifiedEvent, EventError> {
        out(self.0.verify_event(payload, signature, now)).await
    }
}

/// `app` with its store ports on a DynamoDB client of their own, built as the local stack builds its own but
/// with [`StoreTimer`] on it, and its payment provider behind [`PaymentTimer`]; the rest (queues, bucket) is the
/// stack's (no measured route reaches them).
pub async fn timed(app: &AppState, dynamodb_endpoint: &str) -> AppState {
    let sdk = storefront::adapters::aws::local_sdk_config(dynamodb_endpoint).await;
    let config = aws_sdk_dynamodb::config::Builder::from(&sdk).interceptor(StoreTimer).build();
    // Every store port named: a port added to `Stores` fails to compile here instead of staying untimed.
    let storefront::app::Stores {
        catalog,
        catalog_reads,
        carts,
        orders,
        idempotency,
        payment_records,
        housekeeping,
        warm_up: _,
    } = storefront::app::Stores::dynamodb(aws_sdk_dynamodb::Client::from_conf(config), storefront_local::TABLE_NAME);
    let mut state = app.clone();
    (state.catalog, state.catalog_reads, state.carts, state.orders) = (catalog, catalog_reads, carts, orders);
    (state.idempotency, state.payment_records, state.housekeeping) = (idempotency, payment_records, housekeeping);
    state.payments = Arc::new(PaymentTimer(app.payments.clone()));
    state
}

/// Installs the log lines Lambda would write (JSON, INFO and up), formatted in full and written to a sink, as the
/// process's subscriber. Fails the bench if another subscriber is already in place.
pub fn install() {
    let logs = tracing_subscriber::fmt::layer()
        .json()
        .with_writer(std::io::sink)
        .with_filter(tracing_subscriber::filter::LevelFilter::INFO);
    let subscriber = tracing_subscriber::registry().with(logs);
    tracing::subscriber::set_global_default(subscriber).expect("the bench's subscriber is the only one");
}

/// The response as the Lambda runtime sends it back to API Gateway (an HTTP API v2 payload).
fn encode(response: lambda_http::Response<lambda_http::Body>) -> String {
    use lambda_http::aws_lambda_events::apigw::ApiGatewayV2httpResponse;
    let (parts, body) = response.into_parts();
    let mut out = ApiGatewayV2httpResponse::default();
    out.status_code = i64::from(parts.status.as_u16());
    out.is_base64_encoded = matches!(body, lambda_http::Body::Binary(_));
    out.body = (!matches!(body, lambda_http::Body::Empty)).then_some(body);
    out.headers = parts.headers;
    serde_json::to_string(&out).expect("a response encodes")
}

#[derive(Debug, Clone)]
pub struct WarmResult {
    pub name: String,
    pub total: Summary,
    /// Time with a call out in flight (store, payment provider).
    pub calls_out: Summary,
    pub overhead: Summary,
    pub statuses: Vec<u16>,
}

/// One invocation as the runtime runs it: event text in, encoded response out; its status.
async fn invoke(function: Function, state: &AppState, event: &str) -> u16 {
    let request = lambda_http::request::from_str(event).expect("a sample API Gateway event");
    let response = function.call(state.clone(), request).await;
    let status = response.status().as_u16();
    let emf = storefront::telemetry::metrics::take_emf(function.route.function);
    std::hint::black_box((encode(response), emf));
    status
}

/// Runs the event `make_event` writes through `function` `iterations` times (after a few unmeasured warm-up
/// calls).
pub async fn measure(
    name: &str,
    function: Function,
    state: &AppState,
    iterations: usize,
    make_event: impl Fn(usize) -> String,
) -> WarmResult {
    for i in 0..20 {
        invoke(function, state, &make_event(iterations + i)).await;
    }
    let (mut totals, mut calls_out, mut overheads, mut statuses) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for i in 0..iterations {
        let event = make_event(i);
        CALLS_OUT.lock().unwrap_or_else(|p| p.into_inner()).clear();
        let started = Instant::now();
        let status = invoke(function, state, &event).await;
        let total = started.elapsed();
        let calls = std::mem::take(&mut *CALLS_OUT.lock().unwrap_or_else(|p| p.into_inner()));
        let out = union_length(calls);
        totals.push(total);
        calls_out.push(out);
        overheads.push(total.saturating_sub(out));
        if !statuses.contains(&status) {
            statuses.push(status);
        }
    }
    WarmResult {
        name: name.to_owned(),
        total: millis(&totals),
        calls_out: millis(&calls_out),
        overhead: millis(&overheads),
        statuses,
    }
}

/// The product the warm checkouts buy, restocked first so that every checkout of the run finds stock.
const HOT: &str = "01KDVDTSS00000000001FET003";

fn event(name: &str) -> serde_json::Value {
    let path = crate::repo_root().join(format!("events/apigw/{name}.json"));
    serde_json::from_slice(&std::fs::read(path).expect("a sample event")).expect("JSON")
}

fn function(name: &str) -> Function {
    *storefront_registry::FUNCTIONS.iter().find(|f| f.route.function == name).expect("a route function")
}

/// The warm table and chart: product page, listing, add to cart and checkout, `iterations` each.
pub async fn section(
    app: &AppState,
    dynamodb_endpoint: &str,
    iterations: usize,
    report: &mut crate::report::Report,
) -> Vec<WarmResult> {
    use crate::report::{Chart, Table, ms};
    install();
    let state = &timed(app, dynamodb_endpoint).await;
    let product = storefront::domain::ProductId::parse(HOT).expect("seeded id");
    let artisan = state.catalog.get_product(&product).await.expect("read").expect("the seeded product").artisan_id;
    let mut restock = event("adjust-stock.ok");
    restock["rawPath"] = format!("/products/{HOT}/stock").into();
    restock["requestContext"]["http"]["path"] = restock["rawPath"].clone();
    restock["pathParameters"]["product_id"] = HOT.into();
    restock["requestContext"]["authorizer"]["jwt"]["claims"]["sub"] = artisan.to_string().into();
    restock["body"] = serde_json::json!({"delta": 50_000}).to_string().into();
    assert_eq!(invoke(function("adjust-stock"), state, &restock.to_string()).await, 200, "the restock for the run");

    let (get, list, cart) = (event("get-product.ok"), event("list-products.ok"), event("put-cart-item.ok"));
    let order = event("place-order.buy-now");
    let results = vec![
        measure("get-product", function("get-product"), state, iterations, |_| get.to_string()).await,
        measure("list-products", function("list-products"), state, iterations, |_| list.to_string()).await,
        measure("add-to-cart (put-cart-item)", function("put-cart-item"), state, iterations, |_| cart.to_string())
            .await,
        measure("checkout (place-order)", function("place-order"), state, iterations, |i| {
            let mut event = order.clone();
            event["headers"]["idempotency-key"] = format!("bench-{i}").into();
            event.to_string()
        })
        .await,
    ];
    let mut table = Table::new(
        "Warm invocations in-process: total, calls out, and our overhead beyond them (ms)",
        &["route", "total p50", "total p99", "calls out p50", "overhead p50", "overhead p99", "statuses"],
        "Timed per invocation: decoding the API Gateway event, the handler (auth, parsing, validation, rules, JSON), \
         its JSON log line (formatted, written to a sink), the EMF line, and encoding the API Gateway response. \
         Overhead = that minus the time its calls out were in flight: its DynamoDB operations (the SDK's work and \
         the store calls to the embedded engine over loopback) and, for checkout, the payment intent (the provider \
         adapter's work and its HTTP call to the provider's stand-in over loopback). Outside it: the Runtime API's \
         HTTP exchange (in the init table's first response).",
    );
    for result in &results {
        assert!(result.statuses.iter().all(|s| *s < 400), "{}: statuses {:?}", result.name, result.statuses);
        table.row(vec![
            result.name.clone(),
            ms(result.total.p50),
            ms(result.total.p99),
            ms(result.calls_out.p50),
            format!("{:.3}", result.overhead.p50),
            format!("{:.3}", result.overhead.p99),
            result.statuses.iter().map(u16::to_string).collect::<Vec<_>>().join(","),
        ]);
    }
    report.table(table);
    report.chart(Chart {
        title: "Warm overhead beyond store calls, p99".into(),
        unit: "ms".into(),
        bars: std::iter::once(("budget".to_owned(), 1.0))
            .chain(results.iter().map(|r| (r.name.clone(), r.overhead.p99)))
            .collect(),
    });
    results
}
