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
    let app = spawn_app().await;
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

    // The second read of a product page within the cache's TTL is a hit, exactly one.
    let path = format!("/products/{product}");
    app.get(&path).await.ok(200);
    let hits = metric(&app.get("/metrics").await.text, "storefront_cache_hits_total");
    app.get(&path).await.ok(200);
    assert_eq!(metric(&app.get("/metrics").await.text, "storefront_cache_hits_total"), hits + 1.0);
    app.server.stop().await;
}
