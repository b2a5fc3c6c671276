//! The local server as a process (its release binary on the embedded stand-ins): catalog read throughput beside
//! a bare hello-world HTTP server hit by the same load generator, and checkout contention on one hot product.

use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::load::{self, LoadResult};
use crate::stats::{Summary, millis};

pub struct Process {
    pub url: String,
    child: tokio::process::Child,
    _dir: tempfile::TempDir,
}

impl Process {
    pub async fn stop(mut self) {
        let _ = self.child.kill().await;
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).expect("a free port")
}

async fn wait_until_up(url: &str) {
    let client = reqwest::Client::new();
    for _ in 0..600 {
        if client.get(url).send().await.is_ok_and(|r| r.status().is_success()) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("{url} never answered");
}

/// `storefront-local` on a free port with a fresh data dir (seeded).
pub async fn start_local(binary: &Path) -> Process {
    let dir = tempfile::tempdir().expect("temp dir");
    let port = free_port();
    let child = tokio::process::Command::new(binary)
        .env("PORT", port.to_string())
        .env("DATA_DIR", dir.path())
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("storefront-local starts");
    let url = format!("http://127.0.0.1:{port}");
    wait_until_up(&format!("{url}/health")).await;
    Process { url, child, _dir: dir }
}

/// The floor: this binary's `hello-http` mode, an axum server answering `hello`.
pub async fn start_hello(bench: &Path) -> Process {
    let dir = tempfile::tempdir().expect("temp dir");
    let port = free_port();
    let child = tokio::process::Command::new(bench)
        .args(["hello-http", &port.to_string()])
        .stdout(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("hello server starts");
    let url = format!("http://127.0.0.1:{port}");
    wait_until_up(&url).await;
    Process { url, child, _dir: dir }
}

/// Serves `hello` on 127.0.0.1:`port` until killed.
pub async fn serve_hello(port: u16) {
    let app = axum::Router::new().route("/", axum::routing::get(|| async { "hello" }));
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await.expect("bind");
    axum::serve(listener, app).await.expect("serve");
}

pub struct Throughput {
    pub name: String,
    pub result: LoadResult,
}

pub async fn throughput(local: &Process, hello: &Process, connections: usize, duration: Duration) -> Vec<Throughput> {
    let client = reqwest::Client::new();
    let page: Value =
        client.get(format!("{}/products?limit=20", local.url)).send().await.expect("list").json().await.expect("JSON");
    let products: Vec<String> = page["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|p| format!("{}/products/{}", local.url, p["product_id"].as_str().expect("id")))
        .collect();
    let mut results = Vec::new();
    for (name, urls) in [
        ("hello-world HTTP server (floor)", vec![format!("{}/", hello.url)]),
        ("GET /products/{id}", products),
        ("GET /products?limit=20", vec![format!("{}/products?limit=20", local.url)]),
        ("GET /categories", vec![format!("{}/categories", local.url)]),
    ] {
        let result = load::run(&urls, connections, duration).await;
        results.push(Throughput { name: name.to_owned(), result });
    }
    results
}

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
    body["token"].as_str().expect("token").to_owned()
}

async fn counter(client: &reqwest::Client, url: &str, name: &str) -> u64 {
    let text = client.get(format!("{url}/metrics")).send().await.expect("metrics").text().await.unwrap_or_default();
    text.lines().find_map(|l| l.strip_prefix(&format!("{name} "))).and_then(|v| v.parse().ok()).unwrap_or_default()
}

/// `buyers` shoppers buy one unit each, again and again, of one product stocked for 90% of the attempts.
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
    let product = product["product_id"].as_str().expect("id").to_owned();
    let tokens = futures::future::join_all((0..buyers).map(|n| {
        let client = client.clone();
        async move { token(&client, url, &format!("hot-{buyers}-{n}"), "shopper").await }
    }))
    .await;
    let conflicts_before = counter(&client, url, "storefront_conflicts_retried_total").await;
    let per_buyer = attempts / buyers;
    let started = Instant::now();
    let runs = tokens.iter().enumerate().map(|(n, token)| {
        let (client, product) = (client.clone(), product.clone());
        async move {
            let mut outcomes = Vec::with_capacity(per_buyer);
            for i in 0..per_buyer {
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
