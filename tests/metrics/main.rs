//! The process-wide counters behind `GET /metrics` (the business counters CloudWatch gets as EMF in AWS, the
//! per-route latency histograms, the catalog cache's hits), checked exactly. A test binary of its own: the counters
//! belong to the process, and in the end-to-end binary every test running beside this one would move them.

use storefront_tests::*;

/// Metric name → value, from the Prometheus text.
fn value(text: &str, name: &str) -> f64 {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| l.rsplit_once(' '))
        .find(|(n, _)| *n == name)
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(0.0)
}

/// One test, so nothing in this process moves a counter while it reads them.
#[tokio::test]
async fn metrics_count_business_events_time_every_route_and_cache_hits_exactly() {
    // The sweeper every 200 ms and a 3 s payment window: an order left unpaid expires while the test runs.
    let app = spawn_app_with(|o| {
        o.sweep_every = std::time::Duration::from_millis(200);
        o.payment_window = time::Duration::seconds(3);
    })
    .await;
    let before = app.get("/metrics").await;
    assert_eq!(before.status, 200);
    assert_eq!(before.header("content-type"), Some("text/plain; version=0.0.4; charset=utf-8"));
    let metric = |text: &str, name: &str| value(text, name);
    let route = "storefront_http_request_duration_seconds";
    let orders_201 = format!("{route}_count{{route=\"POST /orders\",status=\"201\"}}");

    let shopper = app.shopper("metrics-shopper").await;
    let product = "01KDVDTSS00000000001FET003";
    app.order(&shopper, "metrics-1", buy(product, 1)).await.ok(201);
    app.order(&shopper, "metrics-1", buy(product, 1)).await.ok(201);
    let after = app.get("/metrics").await.text;
    assert_eq!(
        metric(&after, "storefront_orders_placed_total"),
        metric(&before.text, "storefront_orders_placed_total") + 1.0
    );
    assert_eq!(
        metric(&after, "storefront_idempotent_replays_total"),
        metric(&before.text, "storefront_idempotent_replays_total") + 1.0
    );
    assert_eq!(metric(&after, &orders_201), metric(&before.text, &orders_201) + 2.0, "{after}");
    let inf = format!("{route}_bucket{{route=\"POST /orders\",status=\"201\",le=\"+Inf\"}}");
    assert_eq!(metric(&after, &inf), metric(&after, &orders_201), "the +Inf bucket holds every request");

    // Payments: one succeeds and is refunded after a cancel, one is declined, one succeeds and pays out, one expires.
    let counted = |text: &str| {
        [
            "storefront_payments_succeeded_total",
            "storefront_payments_failed_total",
            "storefront_payments_refunded_total",
            "storefront_payouts_transferred_total",
            "storefront_orders_expired_total",
        ]
        .map(|name| metric(text, name))
    };
    let start = counted(&after);
    let place = |key: &'static str| {
        let (app, shopper) = (&app, &shopper);
        async move { app.order(shopper, key, buy(product, 1)).await.ok(201)["order_id"].as_str().expect("id").to_owned() }
    };
    let refunded = place("metrics-refunded").await;
    app.pay("metrics-shopper", &refunded).await;
    app.send(reqwest::Method::POST, &format!("/orders/{refunded}/cancel"), Some(&shopper), None).await.ok(200);
    let declined = place("metrics-declined").await;
    let intent = app.intent_of("metrics-shopper", &declined).await;
    app.server.payments().decline(&intent, Webhook::Now).expect("declined");
    let shipped = place("metrics-shipped").await;
    app.pay("metrics-shopper", &shipped).await;
    let marta = app.artisan("marta-clay").await;
    let account = json!({"account_id": "acct_marta"});
    app.send(reqwest::Method::PUT, "/artisan/payout-account", Some(&marta), Some(account)).await.ok(200);
    app.send(reqwest::Method::POST, &format!("/artisan/orders/{shipped}/ship"), Some(&marta), None).await.ok(200);
    place("metrics-expired").await;
    // Expired: this one and the first order of the test, never paid either.
    let expected = [start[0] + 2.0, start[1] + 1.0, start[2] + 1.0, start[3] + 1.0, start[4] + 2.0];
    let reached = eventually(15, || async { counted(&app.get("/metrics").await.text) == expected }).await;
    assert!(reached, "{:?} != {expected:?}", counted(&app.get("/metrics").await.text));
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    assert_eq!(counted(&app.get("/metrics").await.text), expected, "and no more");

    // The second read of a product page within the cache's TTL is a hit, exactly one.
    let path = format!("/products/{product}");
    app.get(&path).await.ok(200);
    let hits = metric(&app.get("/metrics").await.text, "storefront_cache_hits_total");
    app.get(&path).await.ok(200);
    assert_eq!(metric(&app.get("/metrics").await.text, "storefront_cache_hits_total"), hits + 1.0);
    app.server.stop().await;
}
