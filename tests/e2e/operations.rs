//! What an operator sees locally: the Grafana dashboard built on `GET /metrics`, `GET /openapi.json`, and the
//! catalog read cache that keeps product pages cheap without ever showing a process its own stale writes. The
//! counters' exact values are checked in their own test binary (tests/metrics), where no other test moves them.

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
    assert_eq!(app.get(&path).await.ok(200)["stock"], 5);

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
