//! `make bench`: every figure beside its baseline, measured in the same run (the machine is shared and noisy).
//!
//! 1. Init: each route function's release binary under the Runtime API harness vs a hello-world `lambda_http`.
//! 2. Warm overhead: time in our code beyond the store calls, per request, in-process.
//! 3. Throughput: the local server's release binary vs a hello-world HTTP server, same load generator.
//! 4. Contention: checkouts/s on one hot product at 1, 8 and 64 buyers, with the oversell check.
//! 5. Footprint: zipped arm64 artifact (from `make build`) and peak RSS per function.
//!
//! Run `storefront-bench [--quick]` from the repository root after `cargo build --release --workspace --bins`;
//! it writes docs/benchmarks.md and docs/benchmarks.svg. `storefront-bench hello-http <port>` is the floor server.

mod init;
mod load;
mod report;
mod server;
mod stats;
mod warm;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use bytes::Bytes;
use report::{Chart, Table};
use storefront_local::functions::FUNCTIONS;
use storefront_local::runtime_api::RuntimeApi;

struct Settings {
    starts: usize,
    warm_iterations: usize,
    load_seconds: u64,
    connections: usize,
    contention_attempts: usize,
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("runtime");
    if args.get(1).map(String::as_str) == Some("hello-http") {
        let port = args.get(2).and_then(|p| p.parse().ok()).expect("hello-http <port>");
        runtime.block_on(server::serve_hello(port));
        return;
    }
    let quick = args.iter().any(|a| a == "--quick");
    let settings = if quick {
        Settings { starts: 5, warm_iterations: 100, load_seconds: 2, connections: 32, contention_attempts: 400 }
    } else {
        Settings { starts: 20, warm_iterations: 1000, load_seconds: 8, connections: 32, contention_attempts: 1600 }
    };
    runtime.block_on(run(settings, quick));
}

fn binaries() -> PathBuf {
    std::env::current_exe().expect("exe").parent().expect("target/release").to_path_buf()
}

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("repo root").to_path_buf()
}

/// The sample event a function's cold start answers: its `.ok` case, else its first case needing no set-up.
fn sample_event(function: &str) -> Bytes {
    let dir = repo_root().join("events/apigw");
    let mut candidates: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("events/apigw")
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.starts_with(&format!("{function}."))))
        .filter(|p| !std::fs::read_to_string(p).unwrap_or_default().contains("{{"))
        .collect();
    candidates.sort_by_key(|p| !p.to_string_lossy().ends_with(".ok.json"));
    Bytes::from(std::fs::read(candidates.first().unwrap_or_else(|| panic!("no event for {function}"))).expect("event"))
}

fn ms(value: f64) -> String {
    format!("{value:.2}")
}

fn ratio(value: f64, floor: f64) -> String {
    if floor > 0.0 { format!("{:.2}×", value / floor) } else { "-".into() }
}

async fn run(settings: Settings, quick: bool) {
    let started = Instant::now();
    let bin = binaries();
    let target = bin.parent().expect("target").to_path_buf();
    let mut tables: Vec<Table> = Vec::new();
    let mut charts: Vec<Chart> = Vec::new();

    // The local stack the function processes and the in-process handlers talk to (in this process).
    let data = tempfile::tempdir().expect("temp dir");
    let mut options = storefront_local::Options::new(0, data.path().to_path_buf());
    options.in_process_workers = false;
    let stack = storefront_local::start(options).await.expect("local stack");
    let env = stack.lambda_environment();
    let api = RuntimeApi::start().await.expect("runtime API");

    // 1 and 5. Cold starts and footprint: each function paired with the floor, started alternately.
    eprintln!("init: {} starts per function", settings.starts);
    let variant = |label: &str, binary: &str, env: &[(String, String)], event: &str| init::Variant {
        label: label.to_owned(),
        binary: bin.join(binary),
        env: env.to_vec(),
        event: sample_event(event),
    };
    let floor = || variant("hello-lambda (floor)", "hello-lambda", &env, "get-product");
    let mut table = Table::new(
        "Init under the Runtime API harness (ms, host release build)",
        &[
            "function",
            "ready p50",
            "ready p95",
            "floor ready p50",
            "× floor",
            "first response p50",
            "× floor",
            "peak RSS MiB",
            "zipped arm64 MB",
        ],
        "ready = exec → first poll for work (init done); first response = exec → answer to its first event, \
         which includes its DynamoDB round trips. Each row is started alternately with the floor (a hello-world \
         `lambda_http` binary built with the same profile), 20 times each; ratios are against that paired floor. \
         Zipped size: the arm64 `bootstrap` from `make build`, deflated (gzip -9) as the Lambda zip is.",
    );
    let mut row = |result: &init::InitResult, floor: &init::InitResult, zipped: Option<u64>| {
        let zipped = zipped.map(|b| format!("{:.2}", b as f64 / 1_000_000.0)).unwrap_or_else(|| "-".into());
        table.row(vec![
            result.name.clone(),
            ms(result.ready.p50),
            ms(result.ready.p95),
            ms(floor.ready.p50),
            ratio(result.ready.p50, floor.ready.p50),
            ms(result.first_response.p50),
            ratio(result.first_response.p50, floor.first_response.p50),
            format!("{:.1}", result.peak_rss_kib as f64 / 1024.0),
            if result.errors > 0 { format!("{zipped} ({} errors)", result.errors) } else { zipped },
        ]);
    };
    let mut inits = Vec::new();
    for function in FUNCTIONS {
        let name = function.route.function;
        let pair = init::measure(&api, &[floor(), variant(name, name, &env, name)], settings.starts).await;
        row(&pair[1], &pair[0], init::zipped_size(&target, name));
        inits.push(pair[1].clone());
    }
    // The fixes applied at run time, each against the same function without it, all alternating.
    let no_warm_up: Vec<(String, String)> =
        env.iter().cloned().chain([(storefront::config::WARM_UP.to_owned(), "0".to_owned())]).collect();
    let fixes = init::measure(
        &api,
        &[
            floor(),
            variant("get-product (as deployed)", "get-product", &env, "get-product"),
            variant("get-product, no warm-up at init", "get-product", &no_warm_up, "get-product"),
        ],
        settings.starts,
    )
    .await;
    for result in &fixes {
        row(result, &fixes[0], None);
    }
    table.print();
    tables.push(table);
    charts.push(Chart {
        title: "Init: exec → ready, p50, floor first".into(),
        unit: "ms".into(),
        bars: std::iter::once(&fixes[0]).chain(&inits).map(|r| (r.name.clone(), r.ready.p50)).collect(),
    });

    // Clients built at init: what a request would pay if it built them itself.
    let endpoint =
        env.iter().find(|(k, _)| k == "AWS_ENDPOINT_URL_DYNAMODB").map(|(_, v)| v.clone()).expect("endpoint");
    let config =
        storefront::config::Config::from_lookup(|name| env.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone()))
            .expect("config");
    let (mut fresh, mut reused) = (Vec::new(), Vec::new());
    let warm_state = build_state(&endpoint, &config).await;
    let _ = warm_state.catalog.ping().await;
    for _ in 0..settings.starts.max(10) {
        let begun = Instant::now();
        let state = build_state(&endpoint, &config).await;
        let _ = state.catalog.ping().await;
        fresh.push(begun.elapsed());
        let begun = Instant::now();
        let _ = warm_state.catalog.ping().await;
        reused.push(begun.elapsed());
    }
    let (fresh, reused) = (stats::millis(&fresh), stats::millis(&reused));
    let mut table = Table::new(
        "Clients built once at init vs per request (ms)",
        &["case", "p50", "p95"],
        "A request that built its own SDK config and clients would pay the difference between the rows on top of its store calls.",
    );
    table.row(vec!["store call on the clients built at init".into(), ms(reused.p50), ms(reused.p95)]);
    table.row(vec!["build config + clients, then the same call".into(), ms(fresh.p50), ms(fresh.p95)]);
    table.print();
    tables.push(table);

    // 2. Warm overhead, in-process.
    eprintln!("warm overhead: {} requests per route", settings.warm_iterations);
    warm::install();
    let state = stack.app.clone();
    let event = |name: &str| -> serde_json::Value {
        serde_json::from_slice(&std::fs::read(repo_root().join(format!("events/apigw/{name}.json"))).expect("event"))
            .expect("JSON")
    };
    let request = |value: &serde_json::Value| lambda_http::request::from_str(&value.to_string()).expect("event");
    let find = |name: &str| *FUNCTIONS.iter().find(|f| f.route.function == name).expect("function");
    // Enough stock for every checkout of the run.
    let restock = event("adjust-stock.ok");
    let mut restock = restock.clone();
    restock["rawPath"] = "/products/01KDVDTSS00000000001FET003/stock".into();
    restock["requestContext"]["http"]["path"] = restock["rawPath"].clone();
    restock["pathParameters"]["product_id"] = "01KDVDTSS00000000001FET003".into();
    let artisan = storefront::domain::ProductId::parse("01KDVDTSS00000000001FET003")
        .and_then(|id| futures::executor::block_on(state.catalog.get_product(&id)).ok().flatten())
        .map(|p| p.artisan_id.to_string())
        .expect("seeded product");
    restock["requestContext"]["authorizer"]["jwt"]["claims"]["sub"] = artisan.into();
    restock["body"] = serde_json::json!({"delta": 50_000}).to_string().into();
    let _ = find("adjust-stock").call(state.clone(), request(&restock)).await;

    let get = event("get-product.ok");
    let list = event("list-products.ok");
    let cart = event("put-cart-item.ok");
    let order = event("place-order.buy-now");
    let n = settings.warm_iterations;
    let mut warm_results = Vec::new();
    warm_results.push(warm::measure("get-product", find("get-product"), &state, n, |_| request(&get)).await);
    warm_results.push(warm::measure("list-products", find("list-products"), &state, n, |_| request(&list)).await);
    warm_results
        .push(warm::measure("add-to-cart (put-cart-item)", find("put-cart-item"), &state, n, |_| request(&cart)).await);
    warm_results.push(
        warm::measure("checkout (place-order)", find("place-order"), &state, n, |i| {
            let mut value = order.clone();
            value["headers"]["idempotency-key"] = format!("bench-{i}").into();
            request(&value)
        })
        .await,
    );
    let mut table = Table::new(
        "Warm requests in-process: total, store calls, and our overhead beyond them (ms)",
        &["route", "total p50", "total p99", "store p50", "overhead p50", "overhead p99", "statuses"],
        "Overhead = the handler's wall time (auth, parsing, validation, domain rules, JSON, the log line) minus the union \
         of its AWS SDK operation spans. Store calls go to the embedded engine over loopback.",
    );
    for result in &warm_results {
        table.row(vec![
            result.name.clone(),
            ms(result.total.p50),
            ms(result.total.p99),
            ms(result.store.p50),
            format!("{:.3}", result.overhead.p50),
            format!("{:.3}", result.overhead.p99),
            result.statuses.iter().map(u16::to_string).collect::<Vec<_>>().join(","),
        ]);
    }
    table.print();
    tables.push(table);
    charts.push(Chart {
        title: "Warm overhead beyond store calls, p99".into(),
        unit: "ms".into(),
        bars: std::iter::once(("budget".to_owned(), 1.0))
            .chain(warm_results.iter().map(|r| (r.name.clone(), r.overhead.p99)))
            .collect(),
    });
    stack.stop().await;
    api.stop().await;

    // 3. Throughput: the local server's release binary vs the floor.
    eprintln!("throughput: {} s per target", settings.load_seconds);
    let local = server::start_local(&bin.join("storefront-local")).await;
    let hello = server::start_hello(&bin.join("storefront-bench")).await;
    let throughput =
        server::throughput(&local, &hello, settings.connections, Duration::from_secs(settings.load_seconds)).await;
    hello.stop().await;
    let floor_rps = throughput[0].result.per_second;
    let mut table = Table::new(
        &format!("Throughput, {} connections, closed loop, same generator", settings.connections),
        &["target", "requests/s", "× floor", "p50 ms", "p99 ms", "errors"],
        "storefront-local (release) on the embedded DynamoDB engine; the floor is an axum hello-world server. \
         The generator runs on the same 2 cores.",
    );
    for t in &throughput {
        table.row(vec![
            t.name.clone(),
            format!("{:.0}", t.result.per_second),
            ratio(t.result.per_second, floor_rps),
            ms(t.result.latency.p50),
            ms(t.result.latency.p99),
            t.result.errors.to_string(),
        ]);
    }
    table.print();
    tables.push(table);
    charts.push(Chart {
        title: "Throughput, floor first".into(),
        unit: "requests/s".into(),
        bars: throughput.iter().map(|t| (t.name.clone(), t.result.per_second)).collect(),
    });

    // 4. Contention on one hot product.
    eprintln!("contention");
    let mut table = Table::new(
        "Checkout on one hot product (stock for 90% of the attempts)",
        &["buyers", "attempts", "checkouts/s", "p50 ms", "p99 ms", "sold / stock", "oversold", "conflicts retried"],
        "Each attempt buys one unit with its own idempotency key; the last 10% must be refused (409 out-of-stock).",
    );
    let mut contention_bars = Vec::new();
    for buyers in [1usize, 8, 64] {
        let attempts = if buyers == 1 { settings.contention_attempts / 8 } else { settings.contention_attempts };
        let c = server::contention(&local, buyers, attempts).await;
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
        contention_bars.push((format!("{buyers} buyers"), c.per_second));
    }
    local.stop().await;
    table.print();
    tables.push(table);
    charts.push(Chart { title: "Hot-product checkouts/s".into(), unit: "checkouts/s".into(), bars: contention_bars });

    let elapsed = started.elapsed();
    eprintln!("bench done in {:.0} s", elapsed.as_secs_f64());
    if quick {
        return;
    }
    write_report(&tables, &charts, elapsed);
}

/// What an init builds: SDK config and clients, wired into the state.
async fn build_state(endpoint: &str, config: &storefront::config::Config) -> storefront::AppState {
    use std::sync::Arc;
    use storefront::adapters::{s3::S3BlobStore, sqs::SqsOrderQueue};
    let sdk = storefront::adapters::aws::local_sdk_config(endpoint).await;
    let queue = SqsOrderQueue::new(aws_sdk_sqs::Client::new(&sdk), config.order_queue_url.clone());
    let blobs = S3BlobStore::new(S3BlobStore::local_client(&sdk), config.media_bucket.clone());
    storefront::AppState::with_dynamodb(aws_sdk_dynamodb::Client::new(&sdk), Arc::new(queue), Arc::new(blobs), config)
}

fn machine() -> BTreeMap<&'static str, String> {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|t| {
            t.lines()
                .find_map(|l| l.strip_prefix("model name").map(|v| v.trim_start_matches([' ', '\t', ':']).to_owned()))
        })
        .unwrap_or_default();
    let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0);
    let memory = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|t| {
            t.lines().next().map(|l| l.split_whitespace().nth(1).and_then(|kb| kb.parse::<u64>().ok()).unwrap_or(0))
        })
        .map(|kb| format!("{:.0} GiB", kb as f64 / 1024.0 / 1024.0))
        .unwrap_or_default();
    let rustc = std::process::Command::new("rustc")
        .arg("--version")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .unwrap_or_default();
    let date = std::process::Command::new("date")
        .args(["-u", "+%Y-%m-%d %H:%M UTC"])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .unwrap_or_default();
    let read = |file: &str| {
        std::fs::read_to_string(repo_root().join("target").join(file))
            .map(|s| s.trim().to_owned())
            .unwrap_or_else(|_| "not measured".into())
    };
    BTreeMap::from([
        ("cpu", format!("{cpu}, {cores} cores, {memory}")),
        ("rustc", rustc),
        ("date", date),
        ("host release build (make bench)", read("bench-build-time.txt")),
        ("arm64 release build (make build)", read("lambda-build-time.txt")),
    ])
}

fn write_report(tables: &[Table], charts: &[Chart], elapsed: Duration) {
    let mut out = String::from(
        "# Benchmarks\n\nGenerated by `make bench` (bench/); rerun it to refresh this page. Every figure sits beside its \
         baseline from the same run: the machine is shared and noisy, so ratios mean more than absolute numbers.\n\n",
    );
    out.push_str("| machine | |\n|---|---|\n");
    for (key, value) in machine() {
        out.push_str(&format!("| {key} | {value} |\n"));
    }
    out.push_str(&format!(
        "| bench run (after the build) | {:.0} s |\n\n![benchmarks](benchmarks.svg)\n\n",
        elapsed.as_secs_f64()
    ));
    for table in tables {
        out.push_str(&table.markdown());
    }
    // The reading of the numbers, written by hand (bench/notes.md): what limits each figure, what was changed.
    if let Ok(notes) = std::fs::read_to_string(repo_root().join("bench/notes.md")) {
        out.push_str(&notes);
    }
    let docs = repo_root().join("docs");
    std::fs::write(docs.join("benchmarks.md"), out).expect("write docs/benchmarks.md");
    std::fs::write(docs.join("benchmarks.svg"), report::svg(charts)).expect("write docs/benchmarks.svg");
    eprintln!("wrote docs/benchmarks.md and docs/benchmarks.svg");
}
