//! Every sample event in events/apigw goes through its function's handler, as the Lambda runtime would hand it
//! over, against a fresh local stack. The same files serve `cargo lambda invoke` and `sam local invoke`.

use std::collections::BTreeMap;

use storefront_registry::{FUNCTIONS, SITE};
use storefront_tests::*;

/// The status each sample event must produce. Every file needs an entry, and every entry a file.
pub(crate) const EXPECTED: &[(&str, u16)] = &[
    ("adjust-stock.below-zero", 409),
    ("adjust-stock.ok", 200),
    ("archive-product.ok", 204),
    ("cancel-order.ok", 200),
    ("cancel-order.unknown", 404),
    ("connect-payout-account.bad-account", 422),
    ("connect-payout-account.ok", 200),
    ("create-product.mass-assignment", 422),
    ("create-product.ok", 201),
    ("create-product.shopper", 403),
    ("get-artisan.ok", 200),
    ("get-cart.no-claims", 401),
    // A user who signed up through the managed login is in no Cognito group: a shopper.
    ("get-cart.no-group", 200),
    ("get-cart.ok", 200),
    ("get-order.ok", 200),
    ("get-order.unknown", 404),
    ("get-product.not-modified", 304),
    ("get-product.ok", 200),
    ("get-product.unknown", 404),
    ("list-artisan-orders.bad-status", 422),
    ("list-artisan-orders.ok", 200),
    ("list-artisan-products.ok", 200),
    ("list-categories.ok", 200),
    ("list-orders.ok", 200),
    ("list-payouts.bad-status", 422),
    ("list-payouts.ok", 200),
    ("list-products.bad-limit", 422),
    ("list-products.by-category", 200),
    ("list-products.ok", 200),
    ("payment-webhook.succeeded", 200),
    ("payment-webhook.unsigned", 400),
    ("place-order.buy-now", 201),
    ("place-order.empty-cart", 422),
    ("place-order.from-cart", 201),
    ("place-order.no-key", 428),
    ("place-order.replay", 201),
    ("place-order.too-many", 422),
    ("put-cart-item.ok", 200),
    ("put-cart-item.too-many", 422),
    ("remove-cart-item.ok", 200),
    ("request-image-upload.bad-type", 422),
    ("request-image-upload.ok", 201),
    ("ship-order.ok", 200),
    ("ship-order.unknown", 404),
    ("update-product.not-owner", 404),
    ("update-product.ok", 200),
    ("web-pages.home", 200),
    ("web-pages.product", 200),
    ("web-pages.sitemap", 200),
    ("web-pages.unknown", 404),
];

pub(crate) fn sample_events() -> BTreeMap<String, String> {
    let dir = repo_root().join("events/apigw");
    std::fs::read_dir(&dir)
        .expect("events/apigw exists")
        .map(|entry| entry.expect("dir entry").path())
        .filter(|path| path.extension().is_some_and(|e| e == "json"))
        .map(|path| {
            let name = path.file_stem().expect("stem").to_string_lossy().into_owned();
            (name, std::fs::read_to_string(&path).expect("readable event"))
        })
        .collect()
}

#[test]
fn every_sample_event_has_an_expectation_and_every_function_an_event() {
    let events = sample_events();
    let named: Vec<&str> = EXPECTED.iter().map(|(name, _)| *name).collect();
    assert_eq!(events.keys().map(String::as_str).collect::<Vec<_>>(), named);
    for function in FUNCTIONS.iter().chain(std::iter::once(&SITE)) {
        assert!(
            events.keys().any(|name| name.starts_with(&format!("{}.", function.route.function))),
            "no sample event for {}",
            function.route.function
        );
    }
}

/// The product the order events buy: one of marta-clay's (she ships it in `ship-order.ok`).
pub(crate) const ORDERED_PRODUCT: &str = "01KDVDQ4K00000000001FET001";
/// The product the buy-now events buy (and alice's cart holds, beside the one above).
const BUY_NOW_PRODUCT: &str = "01KDVDTSS00000000001FET003";

/// An event as it runs against `app`: the state it needs beyond the demo seed is written first (through the app,
/// not the function), `{{ORDER_ID}}` becomes an order alice placed (paid and confirmed, for shipping) and
/// `{{INTENT_ID}}` its payment intent, and `{{STRIPE_SIGNATURE}}` signs the body as the provider would, now.
pub(crate) async fn render(event: &str, text: &str, app: &TestApp) -> String {
    let store = &app.server.app;
    let now = time::OffsetDateTime::now_utc();
    let cart_line = |product: &str| storefront::domain::CartLine {
        product_id: storefront::domain::ProductId::parse(product).expect("seeded id"),
        quantity: storefront::domain::Quantity::parse(2, "quantity").expect("quantity"),
    };
    let user = |id: &str| storefront::domain::UserId::parse(id).expect("user");
    // Carts the cart events find: cora checks hers out (`{}`); alice's is priced when read, or after a change.
    let carts: &[(&str, &[&str])] = match event {
        "place-order.from-cart" => &[("cora", &[ORDERED_PRODUCT])],
        "get-cart.ok" | "remove-cart-item.ok" => &[("alice", &[ORDERED_PRODUCT, BUY_NOW_PRODUCT])],
        "put-cart-item.ok" => &[("alice", &[ORDERED_PRODUCT])],
        _ => &[],
    };
    for (owner, products) in carts {
        for product in *products {
            store.carts.put_cart_line(&user(owner), &cart_line(product), now).await.expect("cart line");
        }
    }
    if event == "place-order.replay" {
        // The same key and request, answered once already: the event gets that order back.
        let purchase = storefront::domain::Purchase::parse(Some(&[(BUY_NOW_PRODUCT.to_owned(), 1)])).expect("lines");
        let key = storefront::domain::IdempotencyKey::parse("7d2f4c1e-replay-sample").expect("key");
        let buyer = storefront::services::checkout::Buyer { user: user("alice"), contact_email: None };
        storefront::services::checkout::checkout(&store.checkout_ports(), &buyer, key, purchase)
            .await
            .expect("the first order");
    }
    if event == "list-payouts.ok" {
        // A shipped part's share in marta-clay's ledger.
        let alice = app.shopper("alice").await;
        let id = app.order(&alice, "prepare-payout", buy(ORDERED_PRODUCT, 1)).await.ok(201)["order_id"].clone();
        let id = id.as_str().expect("id");
        app.pay_in_process("alice", id).await;
        let id = storefront::domain::OrderId::parse(id).expect("id");
        storefront::services::orders::ship(&store.order_ports(), &user("marta-clay"), &id).await.expect("shipped");
    }
    if !text.contains("{{ORDER_ID}}") {
        return text.to_owned();
    }
    let buyer = storefront::services::checkout::Buyer {
        user: storefront::domain::UserId::parse("alice").expect("user"),
        contact_email: None,
    };
    let purchase = storefront::domain::Purchase::parse(Some(&[(ORDERED_PRODUCT.to_owned(), 1)])).expect("lines");
    let key = storefront::domain::IdempotencyKey::parse(&format!("prepare-{event}")).expect("key");
    let outcome = storefront::services::checkout::checkout(&store.checkout_ports(), &buyer, key, purchase)
        .await
        .expect("order placed");
    let storefront::services::checkout::CheckoutOutcome::Placed(order) = outcome else { panic!("a fresh key") };
    if event.starts_with("ship-order.") {
        app.pay_in_process("alice", order.order_id.as_str()).await;
    }
    let intent = order.payment.as_ref().map(|p| p.intent_id.to_string()).unwrap_or_default();
    let text = text.replace("{{ORDER_ID}}", order.order_id.as_str()).replace("{{INTENT_ID}}", &intent);
    if !text.contains("{{STRIPE_SIGNATURE}}") {
        return text;
    }
    app.server.payments().succeed(&intent, Webhook::Never).expect("an open intent");
    let mut event: serde_json::Value = serde_json::from_str(&text).expect("JSON");
    let body = event["body"].as_str().expect("a body to sign").to_owned();
    let secret = &app.server.payments().secrets().webhook_secret;
    let signature = storefront::adapters::stripe::webhook::sign(secret, now.unix_timestamp(), body.as_bytes());
    event["headers"]["stripe-signature"] = signature.into();
    event.to_string()
}

/// A response body with what differs between two fresh stacks by design (new ids, times, signed cursors and
/// upload URLs) replaced by placeholders, so two runs of one event can be compared whole.
pub(crate) fn comparable(body: &str) -> serde_json::Value {
    fn walk(value: &mut serde_json::Value, seeded: &std::collections::BTreeSet<String>) {
        match value {
            serde_json::Value::Object(map) => {
                for (key, value) in map.iter_mut() {
                    match key.as_str() {
                        "created_at" | "updated_at" | "expires_at" | "at" | "connected_at" => *value = json!("<time>"),
                        "upload_url" | "headers" | "upload_id" => *value = json!("<upload>"),
                        "next_cursor" if !value.is_null() => *value = json!("<cursor>"),
                        "token" => *value = json!("<token>"),
                        _ => walk(value, seeded),
                    }
                }
            }
            serde_json::Value::Array(items) => items.iter_mut().for_each(|item| walk(item, seeded)),
            serde_json::Value::String(text)
                if !seeded.contains(text.as_str()) && storefront::domain::ProductId::parse(text).is_some() =>
            {
                *value = json!("<new id>");
            }
            _ => {}
        }
    }
    let seeded = storefront_local::seed::demo_products().iter().map(|(p, _)| p.product_id.to_string()).collect();
    let mut value = serde_json::from_str(body).unwrap_or(serde_json::Value::Null);
    walk(&mut value, &seeded);
    value
}

/// One event through its handler in-process: (name, status, content type, comparable body).
async fn run_event(name: String, text: String) -> (String, u16, String, serde_json::Value) {
    let function_name = name.split('.').next().expect("function part");
    let function = FUNCTIONS
        .iter()
        .chain(std::iter::once(&SITE))
        .find(|f| f.route.function == function_name)
        .expect("event names a function");
    let event: serde_json::Value = serde_json::from_str(&text).expect("event is JSON");
    assert_eq!(event["routeKey"], function.route.key(), "{name} is for another route");
    // No in-process workers: an order stays as the event left it, whichever runs it (handler or binary).
    let app = spawn_app_with(|options| options.in_process_workers = false).await;
    let text = render(&name, &text, &app).await;
    let request = lambda_http::request::from_str(&text).expect("an API Gateway v2 event");
    let response = function.call(app.server.app.clone(), request).await;
    let status = response.status().as_u16();
    let content_type = response.headers().get("content-type").and_then(|v| v.to_str().ok()).unwrap_or("").to_owned();
    if status >= 400 {
        // A browser asking for a page that is not there gets an HTML page; everything else problem+json.
        let expected =
            if name.starts_with("web-pages.") { "text/html; charset=utf-8" } else { "application/problem+json" };
        assert_eq!(content_type, expected, "{name}");
    }
    let body = match response.body() {
        lambda_http::Body::Text(text) => comparable(text),
        lambda_http::Body::Binary(bytes) => comparable(&String::from_utf8_lossy(bytes)),
        _ => serde_json::Value::Null,
    };
    app.server.stop().await;
    (name, status, content_type, body)
}

#[tokio::test]
async fn every_sample_event_gets_its_expected_status_from_its_handler() {
    let expected: BTreeMap<&str, u16> = EXPECTED.iter().copied().collect();
    let runs = in_process_runs().await;
    assert_eq!(runs.len(), sample_events().len());
    for (name, (status, _, _)) in runs {
        assert_eq!(Some(status), expected.get(name.as_str()), "{name}");
    }
}

/// What each sample API event's handler answers in-process (status, content type, comparable body), each against a
/// stack of its own, four at a time. Made once per test process: this file's status check and the binaries'
/// comparison (tests/e2e/invocations/) read the same runs (on sharded Postgres a stack is five databases).
pub(crate) async fn in_process_runs() -> &'static BTreeMap<String, (u16, String, serde_json::Value)> {
    use futures::StreamExt;
    static RUNS: tokio::sync::OnceCell<BTreeMap<String, (u16, String, serde_json::Value)>> =
        tokio::sync::OnceCell::const_new();
    RUNS.get_or_init(|| async {
        let runs = sample_events().into_iter().map(|(name, text)| run_event(name, text));
        futures::stream::iter(runs)
            .buffer_unordered(4)
            .map(|(name, status, content_type, body)| (name, (status, content_type, body)))
            .collect()
            .await
    })
    .await
}

#[test]
fn queue_and_schedule_sample_events_parse_as_their_lambda_event_types() {
    let sqs =
        std::fs::read_to_string(repo_root().join("events/sqs/order-worker.batch-with-poison.json")).expect("event");
    let event: aws_lambda_events::event::sqs::SqsEvent = serde_json::from_str(&sqs).expect("an SQS event");
    assert_eq!(event.records.len(), 2);
    assert!(event.records.iter().all(|r| r.message_id.is_some() && r.body.is_some()));
    let images =
        std::fs::read_to_string(repo_root().join("events/sqs/image-worker.object-created.json")).expect("event");
    let images: aws_lambda_events::event::sqs::SqsEvent = serde_json::from_str(&images).expect("an SQS event");
    assert_eq!(images.records.len(), 2);
    let payments =
        std::fs::read_to_string(repo_root().join("events/sqs/payment-worker.payment-succeeded.json")).expect("event");
    let payments: aws_lambda_events::event::sqs::SqsEvent = serde_json::from_str(&payments).expect("an SQS event");
    let body = payments.records[0].body.as_deref().expect("body");
    let filled = body.replace("{{INTENT_ID}}", "pi_1").replace("{{ORDER_ID}}", ORDERED_PRODUCT);
    serde_json::from_str::<storefront::ports::PaymentMessage>(&filled).expect("a payment message");
    for job in ["order-sweeper", "payment-reconciler"] {
        let schedule =
            std::fs::read_to_string(repo_root().join(format!("events/scheduled/{job}.json"))).expect("event");
        let schedule: serde_json::Value = serde_json::from_str(&schedule).expect("JSON");
        assert_eq!(schedule["detail-type"], "Scheduled Event");
    }
}
