//! What an operator sees locally: `GET /metrics` (the business counters CloudWatch gets as EMF in AWS, plus
//! per-route latency histograms), the Grafana dashboard built on them, `GET /openapi.json`, and the catalog read
//! cache that keeps product pages cheap without ever showing a process its own stale writes.

use std::collections::BTreeSet;

use storefront_tests::*;

/// Metric name → value, from the Prometheus text.
fn samples(text: &str) -> Vec<(String, f64)> {
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .filter_map(|l| {
            let (name, value) = l.rsplit_once(' ')?;
            Some((name.to_owned(), value.parse().ok()?))
        })
        .collect()
}

fn value(text: &str, name: &str) -> f64 {
    samples(text).into_iter().find(|(n, _)| n == name).map(|(_, v)| v).unwrap_or_else(|| panic!("{name} missing"))
}

#[tokio::test]
async fn metrics_count_business_events_and_time_every_route() {
    let app = spawn_app().await;
    let before = app.get("/metrics").await;
    assert_eq!(before.status, 200);
    assert_eq!(before.header("content-type"), Some("text/plain; version=0.0.4; charset=utf-8"));
    let placed_before = value(&before.text, "storefront_orders_placed_total");
    let replays_before = value(&before.text, "storefront_idempotent_replays_total");

    let shopper = app.shopper("metrics-shopper").await;
    let product = "01KDVDTSS00000000001FET003";
    app.order(&shopper, "metrics-1", buy(product, 1)).await.ok(201);
    app.order(&shopper, "metrics-1", buy(product, 1)).await.ok(201);

    let after = app.get("/metrics").await.text;
    // Other tests share the process-wide counters: at least our own events must show.
    assert!(value(&after, "storefront_orders_placed_total") >= placed_before + 1.0);
    assert!(value(&after, "storefront_idempotent_replays_total") >= replays_before + 1.0);
    let count = value(&after, "storefront_http_request_duration_seconds_count{route=\"POST /orders\",status=\"201\"}");
    let inf = value(
        &after,
        "storefront_http_request_duration_seconds_bucket{route=\"POST /orders\",status=\"201\",le=\"+Inf\"}",
    );
    assert!(count >= 2.0 && inf == count, "{after}");
    app.server.stop().await;
}

#[tokio::test]
async fn the_grafana_dashboard_only_queries_metrics_the_server_exposes() {
    let app = spawn_app().await;
    app.get("/products?limit=1").await.ok(200);
    let exposed: BTreeSet<String> = samples(&app.get("/metrics").await.text)
        .into_iter()
        .map(|(name, _)| name.split('{').next().unwrap_or_default().to_owned())
        .collect();
    let dashboard: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(repo_root().join("ops/grafana/storefront.json")).expect("dashboard"),
    )
    .expect("dashboard JSON");
    let mut queried = BTreeSet::new();
    for panel in dashboard["panels"].as_array().expect("panels") {
        for target in panel["targets"].as_array().expect("targets") {
            let expr = target["expr"].as_str().expect("expr");
            for word in expr.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_')) {
                if word.starts_with("storefront_") {
                    queried.insert(word.to_owned());
                }
            }
        }
    }
    assert!(queried.len() >= 8, "{queried:?}");
    for name in &queried {
        assert!(exposed.contains(name), "the dashboard queries {name}, which /metrics does not expose");
    }
    app.server.stop().await;
}

#[tokio::test]
async fn the_api_contract_is_served_as_json() {
    let app = spawn_app().await;
    let response = app.get("/openapi.json").await;
    assert_eq!(response.status, 200);
    assert_eq!(response.header("content-type"), Some("application/json"));
    let yaml: serde_json::Value =
        serde_yaml::from_str(&std::fs::read_to_string(repo_root().join("openapi.yaml")).expect("openapi.yaml"))
            .expect("YAML");
    assert_eq!(response.body, yaml);
    assert_eq!(response.body["openapi"], "3.1.0");
    app.server.stop().await;
}

#[tokio::test]
async fn product_pages_come_from_the_cache_until_this_process_writes() {
    let app = spawn_app().await;
    let artisan = app.artisan("cache-artisan").await;
    let product = app.create_product(&artisan, "Cached vase", "ceramics", 4200, 5).await;
    let id = product["product_id"].as_str().expect("id");
    let path = format!("/products/{id}");
    app.get(&path).await.ok(200);
    let hits = value(&app.get("/metrics").await.text, "storefront_cache_hits_total");
    assert_eq!(app.get(&path).await.ok(200)["stock"], 5);
    assert!(value(&app.get("/metrics").await.text, "storefront_cache_hits_total") >= hits + 1.0);

    // A stock move and a sale through this process show at once, not after the cache's TTL.
    app.send(reqwest::Method::POST, &format!("{path}/stock"), Some(&artisan), Some(json!({"delta": 3}))).await.ok(200);
    assert_eq!(app.get(&path).await.ok(200)["stock"], 8);
    let shopper = app.shopper("cache-shopper").await;
    app.order(&shopper, "cache-1", buy(id, 2)).await.ok(201);
    assert_eq!(app.get(&path).await.ok(200)["stock"], 6);
    let listed = app.get("/products?category=ceramics&limit=100").await;
    let entry = listed.ok(200)["items"].as_array().expect("items").iter().find(|p| p["product_id"] == id).cloned();
    assert_eq!(entry.expect("listed")["stock"], 6);
    app.server.stop().await;
}
