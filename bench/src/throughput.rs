//! Catalog read throughput: the local server's release binary on the embedded stand-ins beside a hello-world HTTP
//! server, both hit by the same load generator in alternating slices (floor, product page, listing, categories,
//! floor, …), so that whatever else the shared machine does hits every target alike.

use std::time::Duration;

use serde_json::Value;

use crate::load::{self, Samples};
use crate::process::Process;
use crate::report::{Chart, Report, Table, ms, ratio};

pub struct Throughput {
    pub name: String,
    pub samples: Samples,
}

pub const FLOOR: &str = "hello-world HTTP server (floor)";

/// `slices` rounds of `seconds / slices` per target.
pub async fn section(
    backend: &str,
    local: &Process,
    hello: &Process,
    connections: usize,
    seconds: u64,
    slices: u32,
    report: &mut Report,
) -> Vec<Throughput> {
    let client = reqwest::Client::new();
    let page: Value =
        client.get(format!("{}/products?limit=20", local.url)).send().await.expect("list").json().await.expect("JSON");
    let products: Vec<String> = page["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|p| format!("{}/products/{}", local.url, p["product_id"].as_str().expect("id")))
        .collect();
    assert!(!products.is_empty(), "the seeded catalog lists products");
    let targets = [
        (FLOOR, vec![format!("{}/", hello.url)]),
        ("GET /products/{id}", products),
        ("GET /products?limit=20", vec![format!("{}/products?limit=20", local.url)]),
        ("GET /categories", vec![format!("{}/categories", local.url)]),
    ];
    let slice = Duration::from_secs(seconds) / slices;
    let mut results: Vec<Throughput> =
        targets.iter().map(|(name, _)| Throughput { name: (*name).to_owned(), samples: Samples::default() }).collect();
    for _ in 0..slices {
        for ((_, urls), result) in targets.iter().zip(results.iter_mut()) {
            result.samples.add(load::run(urls, connections, slice).await);
        }
    }
    let floor_rps = results[0].samples.per_second();
    let mut table = Table::new(
        &format!("Throughput on {backend}, {connections} connections, closed loop, same generator"),
        &["target", "requests/s", "× floor", "p50 ms", "p99 ms", "errors"],
        &format!(
            "storefront-local (release) on {backend}; the floor is an axum hello-world server. \
             {slices} alternating slices of {:.1} s per target; the generator runs on the same 2 cores.",
            slice.as_secs_f64()
        ),
    );
    for t in &results {
        let latency = t.samples.latency();
        table.row(vec![
            t.name.clone(),
            format!("{:.0}", t.samples.per_second()),
            ratio(t.samples.per_second(), floor_rps),
            ms(latency.p50),
            ms(latency.p99),
            t.samples.errors.to_string(),
        ]);
    }
    report.table(table);
    report.chart(Chart {
        title: format!("Throughput on {backend}, floor first"),
        unit: "requests/s".into(),
        bars: results.iter().map(|t| (t.name.clone(), t.samples.per_second())).collect(),
    });
    results
}
