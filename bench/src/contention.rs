//! Checkout contention on one hot product: 1, 8 and 64 buyers against the local server's release binary, each
//! attempt one unit by a shopper of its own with its own idempotency key, the stock enough for 90 % of them; with
//! the oversell check.

use std::time::{Duration, Instant};

use futures::StreamExt;
use serde_json::{Value, json};

use crate::process::Process;
use crate::report::{Chart, Report, Table, ms};
use crate::stats::{Summary, millis};

pub struct Contention {
    pub buyers: usize,
    pub attempts: usize,
    pub per_second: f64,
    pub latency: Summary,
    pub sold: i64,
    pub stock: i64,
    pub oversold: i64,
    pub drift: i64,
    pub conflicts_retried: u64,
}

async fn token(client: &reqwest::Client, url: &str, user: &str, role: &str) -> String {
    let body: Value = client
        .post(format!("{url}/dev/token"))
        .json(&json!({"user_id": user, "role": role}))
        .send()
        .await
        .expect("token")
        .json()
        .await
        .expect("JSON");
    body["token"].as_str().expect("a token for the bench's users").to_owned()
}

async fn counter(client: &reqwest::Client, url: &str, name: &str) -> u64 {
    let text = client.get(format!("{url}/metrics")).send().await.expect("metrics").text().await.expect("metrics text");
    text.lines()
        .find_map(|l| l.strip_prefix(&format!("{name} ")))
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("/metrics has no {name}"))
}

/// `buyers` buyers at once buy one unit each, again and again (each attempt a shopper of its own), of one product
/// stocked for 90% of the attempts.
pub async fn contention(local: &Process, buyers: usize, attempts: usize) -> Contention {
    let client = reqwest::Client::builder().pool_max_idle_per_host(256).build().expect("client");
    let url = &local.url;
    let artisan = token(&client, url, "bench-artisan", "artisan").await;
    let stock = (attempts * 9 / 10) as i64;
    let product: Value = client
        .post(format!("{url}/products"))
        .bearer_auth(&artisan)
        .json(&json!({"title": "Hot item", "description": "flash sale", "category": "glass",
                      "price": {"amount": 1000, "currency": "USD"}, "stock": stock}))
        .send()
        .await
        .expect("create")
        .json()
        .await
        .expect("JSON");
    let product = product["product_id"].as_str().expect("the hot product was created").to_owned();
    // Every attempt is a shopper of its own, as in a flash sale (a shopper holds at most three unpaid orders):
    // `buyers` of them at a time. Their tokens are made before the clock starts.
    let per_buyer = attempts / buyers;
    let tokens: Vec<String> = futures::stream::iter(0..buyers * per_buyer)
        .map(|n| {
            let client = client.clone();
            async move { token(&client, url, &format!("hot-{buyers}-{n}"), "shopper").await }
        })
        .buffered(32)
        .collect()
        .await;
    let conflicts_before = counter(&client, url, "storefront_conflicts_retried_total").await;
    let started = Instant::now();
    let runs = tokens.chunks(per_buyer.max(1)).enumerate().map(|(n, shoppers)| {
        let (client, product) = (client.clone(), product.clone());
        async move {
            let mut outcomes = Vec::with_capacity(per_buyer);
            for (i, token) in shoppers.iter().enumerate() {
                let begun = Instant::now();
                let status = client
                    .post(format!("{url}/orders"))
                    .bearer_auth(token)
                    .header("idempotency-key", format!("hot-{n}-{i}"))
                    .json(&json!({"items": [{"product_id": product, "quantity": 1}]}))
                    .send()
                    .await
                    .map(|r| r.status().as_u16())
                    .unwrap_or(0);
                outcomes.push((status, begun.elapsed()));
            }
            outcomes
        }
    });
    let outcomes: Vec<(u16, Duration)> = futures::future::join_all(runs).await.into_iter().flatten().collect();
    let seconds = started.elapsed().as_secs_f64();
    let conflicts_retried = counter(&client, url, "storefront_conflicts_retried_total").await - conflicts_before;
    let sold = outcomes.iter().filter(|(s, _)| *s == 201).count() as i64;
    let current: Value =
        client.get(format!("{url}/products/{product}")).send().await.expect("get").json().await.expect("JSON");
    let remaining = current["stock"].as_i64().expect("stock");
    let latencies: Vec<Duration> = outcomes.iter().map(|(_, d)| *d).collect();
    Contention {
        buyers,
        attempts: outcomes.len(),
        per_second: outcomes.len() as f64 / seconds,
        latency: millis(&latencies),
        sold,
        stock,
        // Units sold beyond the stock, or stock gone negative: both must be zero.
        oversold: (sold - stock).max(0) + (-remaining).max(0),
        drift: stock - (remaining + sold),
        conflicts_retried,
    }
}

/// The contention table and chart at 1, 8 and 64 buyers.
pub async fn section(backend: &str, local: &Process, attempts: usize, report: &mut Report) -> Vec<Contention> {
    let mut table = Table::new(
        &format!("Checkout on one hot product, on {backend} (stock for 90% of the attempts)"),
        &["buyers", "attempts", "checkouts/s", "p50 ms", "p99 ms", "sold / stock", "oversold", "conflicts retried"],
        "Each attempt buys one unit with its own idempotency key; the last 10% must be refused (409 out-of-stock).",
    );
    let mut results = Vec::new();
    for buyers in [1usize, 8, 64] {
        let attempts = if buyers == 1 { attempts / 8 } else { attempts };
        let c = contention(local, buyers, attempts).await;
        table.row(vec![
            c.buyers.to_string(),
            c.attempts.to_string(),
            format!("{:.0}", c.per_second),
            ms(c.latency.p50),
            ms(c.latency.p99),
            format!("{} / {}", c.sold, c.stock),
            if c.oversold == 0 && c.drift == 0 { "0".into() } else { format!("{} (drift {})", c.oversold, c.drift) },
            c.conflicts_retried.to_string(),
        ]);
        results.push(c);
    }
    report.table(table);
    report.chart(Chart {
        title: format!("Hot-product checkouts/s on {backend}"),
        unit: "checkouts/s".into(),
        bars: results.iter().map(|c| (format!("{} buyers", c.buyers), c.per_second)).collect(),
    });
    results
}
