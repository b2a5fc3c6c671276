//! `make bench`: every figure beside its baseline, measured in the same run (the machine is shared and noisy).
//!
//! 1. Init (`init`): each route function's release binary under the Runtime API harness vs a hello-world
//!    `lambda_http`, started alternately; and what building the clients per request would cost (`clients`).
//! 2. Warm overhead (`warm`): time in our code beyond the store calls, per invocation, in-process.
//! 3. Throughput (`throughput`): the local server's release binary vs a hello-world HTTP server, alternating; on
//!    the embedded DynamoDB engine, then on PostgreSQL.
//! 4. Contention (`contention`): checkouts/s on one hot product at 1, 8 and 64 buyers, with the oversell check, on
//!    each backend. Init (1.) also starts get-product and place-order on Postgres.
//! 5. Footprint: zipped arm64 artifact (from `make build`) and peak RSS per function, in the init table.
//! 6. Web pages (`web`): rendered vs the same bytes served fixed, first-load transfer, LCP in Chromium.
//! 7. Goals (`goals`): DESIGN §7's targets (and the web budgets) against this run's figures.
//!
//! Run `storefront-bench [--quick]` from the repository root after `cargo build --release --workspace --bins`;
//! it writes docs/benchmarks.md and docs/benchmarks.svg (not with --quick). `storefront-bench hello-http <port>`
//! is the floor server.

mod clients;
mod contention;
mod goals;
mod init;
mod latency;
mod load;
mod process;
mod report;
mod sharding;
mod stats;
mod throughput;
mod tls;
mod warm;
mod web;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use report::Report;
use storefront::adapters::aws::AWS_CA_BUNDLE;
use storefront::adapters::postgres::admin;
use storefront_local::LocalStore;
use storefront_local::runtime_api::RuntimeApi;

struct Settings {
    starts: usize,
    warm_iterations: usize,
    load_seconds: u64,
    load_slices: u32,
    connections: usize,
    contention_attempts: usize,
    lcp_runs: usize,
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("runtime");
    if args.get(1).map(String::as_str) == Some("hello-http") {
        let port = args.get(2).and_then(|p| p.parse().ok()).expect("hello-http <port>");
        runtime.block_on(process::serve_hello(port));
        return;
    }
    if args.get(1).map(String::as_str) == Some("init-ab") {
        runtime.block_on(init_ab(&args[2..]));
        return;
    }
    let quick = args.iter().any(|a| a == "--quick");
    let settings = if quick {
        Settings {
            starts: 5,
            warm_iterations: 100,
            load_seconds: 2,
            load_slices: 2,
            connections: 32,
            contention_attempts: 400,
            lcp_runs: 2,
        }
    } else {
        Settings {
            starts: 20,
            warm_iterations: 1000,
            load_seconds: 8,
            load_slices: 4,
            connections: 32,
            contention_attempts: 1600,
            lcp_runs: 5,
        }
    };
    runtime.block_on(run(settings, quick));
}

const DYNAMODB: &str = "the embedded DynamoDB engine";
const POSTGRES: &str = "PostgreSQL (local server, one database per run)";

/// The Postgres server the bench uses: `POSTGRES_URL`, which `make bench` sets by running it inside
/// scripts/with-postgres.sh (the local server, or a throwaway cluster).
struct PostgresServer(String);

/// The databases the bench makes: the in-process stack's (init), the local server process's (throughput), and
/// the sharded runs' catalog databases (their shards are named after them).
const BENCH_DATABASES: [&str; 4] =
    ["storefront_bench_stack", "storefront_bench_http", "storefront_bench_shards_1", "storefront_bench_shards_4"];
/// Shards the sharded runs use, at most.
const BENCH_SHARDS: usize = 4;

impl PostgresServer {
    fn from_env() -> Self {
        let url = std::env::var("POSTGRES_URL")
            .expect("POSTGRES_URL: run the bench through scripts/with-postgres.sh (make bench does)");
        Self(url)
    }

    /// A fresh database named `name` on the server (and no shards beside it): dropped first if an earlier run
    /// left them.
    async fn database(&self, name: &str) -> String {
        let url = admin::with_database(&self.0, name).expect("POSTGRES_URL");
        self.drop_with_shards(&url).await;
        url
    }

    async fn drop_with_shards(&self, url: &str) {
        let shards = storefront::config::shard_urls(url, Some(BENCH_SHARDS.to_string()), None).expect("shard URLs");
        for url in shards.iter().map(String::as_str).chain([url]) {
            admin::drop_database(url).await.expect("the bench's database dropped");
        }
    }

    /// The bench's databases, once it is done with them.
    async fn drop_databases(&self) {
        for name in BENCH_DATABASES {
            let url = admin::with_database(&self.0, name).expect("POSTGRES_URL");
            self.drop_with_shards(&url).await;
        }
    }
}

/// The DynamoDB endpoint `env` points the functions at.
fn dynamodb_endpoint(env: &[(String, String)]) -> &str {
    let endpoint = env.iter().find(|(name, _)| name == "AWS_ENDPOINT_URL_DYNAMODB").map(|(_, v)| v.as_str());
    endpoint.expect("the stand-in's endpoint")
}

/// `env` with DynamoDB reached over TLS, through a front whose CA the functions trust beside Amazon's roots (the
/// front stops when dropped with the bench).
async fn through_tls(env: &[(String, String)]) -> (Vec<(String, String)>, tls::TlsFront) {
    let front = tls::start(dynamodb_endpoint(env)).await;
    let tls_env = init::with_variable(env, "AWS_ENDPOINT_URL_DYNAMODB", &front.endpoint);
    (init::with_variable(&tls_env, AWS_CA_BUNDLE, &front.ca.display().to_string()), front)
}

/// `env` with a region's round trip between the functions and DynamoDB (behind TLS when it is: the handshake pays
/// it too); the proxy stops when dropped.
async fn through_latency(env: &[(String, String)], rtt: Duration) -> (Vec<(String, String)>, latency::Latency) {
    let (scheme, address) = dynamodb_endpoint(env).split_once("://").expect("<scheme>://<address>");
    let latency = latency::start(address, rtt).await;
    let delayed = format!("{scheme}://{}", latency.address);
    (init::with_variable(env, "AWS_ENDPOINT_URL_DYNAMODB", &delayed), latency)
}

/// `storefront-bench init-ab [--tls] [--rtt MS] [--starts N] [--cold-only] [--event F] <label>=<binary>[+NAME=VALUE]
/// ...`: the cold starts of builds of one function under other profiles or settings (a release-profile A/B:
/// bench/notes.md quotes it; `+WARM_UP=off` adds a variable to that one's environment), each alternating with the
/// floor, the floor's one call (bench/src/bin/hello-lambda-call.rs) and the others, answering function F's sample
/// event (`init::sample_event`; get-product's unless given), N times each (20), then 500 warm invocations of one
/// instance of each (ms, harness to answer; one with `--cold-only`, for a profile of the starts alone); prints the
/// table and where each build's cold start went. `--tls` puts TLS in front of the DynamoDB stand-in, as the bench's
/// TLS rows do; `--rtt` a network's round trip between the functions and it (`latency`), which loopback leaves out.
async fn init_ab(args: &[String]) {
    let mut args = args.iter();
    let (mut tls, mut starts, mut warm_invocations, mut builds) = (false, 20, 500, Vec::new());
    let mut event = "get-product".to_owned();
    let mut rtt = None;
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--tls" => tls = true,
            "--cold-only" => warm_invocations = 1,
            "--starts" => starts = args.next().and_then(|n| n.parse().ok()).expect("--starts <number>"),
            "--event" => event = args.next().cloned().expect("--event <function>"),
            "--rtt" => {
                let ms: f64 = args.next().and_then(|ms| ms.parse().ok()).expect("--rtt <milliseconds>");
                rtt = Some(Duration::from_secs_f64(ms / 1000.0));
            }
            build => builds.push(build),
        }
    }
    let bin = binaries();
    let data = tempfile::tempdir().expect("temp dir");
    let stack = storefront_local::start(function_stack(data.path())).await.expect("local stack");
    let env = init::one_bundle(&stack.lambda_environment());
    let (env, front) = if !tls {
        (env, None)
    } else {
        let (env, front) = through_tls(&env).await;
        (env, Some(front))
    };
    let (env, _latency) = match rtt {
        None => (env, None),
        Some(rtt) => {
            let (env, latency) = through_latency(&env, rtt).await;
            (env, Some(latency))
        }
    };
    let event = init::sample_event(&event);
    let variant = |label: &str, binary: PathBuf| init::Variant {
        label: label.to_owned(),
        binary,
        env: env.clone(),
        event: event.clone(),
        // Split at the front only without the round trip, which the front does not see.
        front: front.as_ref().filter(|_| rtt.is_none()).map(|f: &tls::TlsFront| f.outside.clone()),
    };
    let mut variants = vec![
        variant("hello-lambda (floor)", bin.join("hello-lambda")),
        variant("hello-lambda + one call", bin.join("hello-lambda-call")),
    ];
    for build in builds {
        let (label, binary) = build.split_once('=').expect("<label>=<binary>");
        // `<binary>+NAME=VALUE`: the same build with one more variable (`+WARM_UP=off`).
        let (binary, setting) = binary.split_once('+').map_or((binary, None), |(b, s)| (b, Some(s)));
        let mut build = variant(label, PathBuf::from(binary));
        if let Some((name, value)) = setting.and_then(|s| s.split_once('=')) {
            build.env = init::with_variable(&build.env, name, value);
        }
        variants.push(build);
    }
    let api = RuntimeApi::start().await.expect("runtime API");
    let results = init::measure(&api, &variants, starts).await;
    let warm = init::warm(&api, &variants, warm_invocations).await;
    println!(
        "| build | ready p50 | × floor | first response p50 | × floor | CPU p50 | × floor | warm p50 | warm p99 \
         | size MB |\n|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
    );
    for ((result, variant), warm) in results.iter().zip(&variants).zip(&warm) {
        let size = std::fs::metadata(&variant.binary).map(|m| m.len() as f64 / 1e6).unwrap_or_default();
        println!(
            "| {} | {:.2} | {:.2}× | {:.2} | {:.2}× | {:.2} | {:.2}× | {:.3} | {:.3} | {size:.1} |",
            result.name,
            result.ready.p50,
            result.ready.p50 / results[0].ready.p50,
            result.first_response.p50,
            result.first_response.p50 / results[0].first_response.p50,
            result.cpu.p50,
            result.cpu.p50 / results[0].cpu.p50,
            warm.p50,
            warm.p99,
        );
    }
    if results.iter().any(|r| r.after_ready.is_some()) {
        println!("\n| build | outside p50 (handshakes, store calls) | own p50 | × floor | calls | round trips |");
        println!("|---|---:|---:|---:|---:|---:|");
        for result in &results {
            let Some(split) = &result.after_ready else { continue };
            println!(
                "| {} | {:.2} ({:.2}, {:.2}) | {:.2} | {:.2}× | {} | {} |",
                result.name,
                split.outside.p50,
                split.handshakes.p50,
                split.calls.p50,
                split.own.p50,
                split.own.p50 / results[0].first_response.p50,
                split.calls_made.p50,
                split.rounds.p50,
            );
        }
    }
    init::breakdown_table(&results, starts).print();
    api.stop().await;
    stack.stop().await;
}

/// A local stack for function processes (no workers in-process), which reach it directly: no recording proxy in
/// the timed path.
fn function_stack(data_dir: &Path) -> storefront_local::Options {
    let mut options = storefront_local::Options::new(0, data_dir.to_path_buf());
    options.in_process_workers = false;
    options.record_lambda_calls = false;
    options
}

fn binaries() -> PathBuf {
    std::env::current_exe().expect("exe").parent().expect("target/<profile>").to_path_buf()
}

pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("repo root").to_path_buf()
}

async fn run(settings: Settings, quick: bool) {
    let started = Instant::now();
    let bin = binaries();
    let mut report = Report::default();

    // The local stack the function processes and the in-process handlers talk to, reached directly (no
    // recording proxy in the timed path).
    let postgres = PostgresServer::from_env();
    let data = tempfile::tempdir().expect("temp dir");
    let mut options = function_stack(data.path());
    let stack = storefront_local::start(options.clone()).await.expect("local stack");
    let env = stack.lambda_environment();
    // The same stack on Postgres, for the function processes started on it.
    options.store = LocalStore::Postgres {
        url: postgres.database(BENCH_DATABASES[0]).await,
        read_url: None,
        setup_url: None,
        shards: Vec::new(),
    };
    options.data_dir = data.path().join("postgres");
    let postgres_stack = storefront_local::start(options).await.expect("local stack on Postgres");
    let postgres_env = postgres_stack.lambda_environment();
    let api = RuntimeApi::start().await.expect("runtime API");

    eprintln!("init: {} starts per function", settings.starts);
    let (tls_env, tls_front) = through_tls(&env).await;
    let init::InitFigures { pairs: inits, tls_first_response, tls_call_first_response } = init::section(
        &api,
        &bin,
        &env,
        Some(&postgres_env),
        (&tls_env, &tls_front.outside),
        settings.starts,
        &mut report,
    )
    .await;
    tls_front.stop();
    clients::section(&env, settings.starts.max(10), &mut report).await;
    eprintln!("warm overhead: {} invocations per route", settings.warm_iterations);
    let warm = warm::section(&stack.app, stack.dynamodb_endpoint(), settings.warm_iterations, &mut report).await;
    stack.stop().await;
    postgres_stack.stop().await;
    api.stop().await;

    eprintln!("throughput: {} s per target", settings.load_seconds);
    let local = process::start_local(&bin.join("storefront-local"), &[]).await;
    let hello = process::start_hello(&bin.join("storefront-bench")).await;
    let (connections, seconds, slices) = (settings.connections, settings.load_seconds, settings.load_slices);
    let throughput = throughput::section(DYNAMODB, &local, &hello, connections, seconds, slices, &mut report).await;
    eprintln!("contention");
    let contention = contention::section(DYNAMODB, &local, settings.contention_attempts, &mut report).await;
    eprintln!("web pages");
    let web = web::section(&local, settings.connections, settings.load_seconds, settings.lcp_runs, &mut report).await;
    local.stop().await;

    eprintln!("throughput and contention on Postgres");
    let store = [
        ("STORE".to_owned(), "postgres".to_owned()),
        ("DATABASE_URL".to_owned(), postgres.database(BENCH_DATABASES[1]).await),
    ];
    let local = process::start_local(&bin.join("storefront-local"), &store).await;
    throughput::section(POSTGRES, &local, &hello, connections, seconds, slices, &mut report).await;
    contention::section(POSTGRES, &local, settings.contention_attempts, &mut report).await;
    hello.stop().await;

    eprintln!("checkout with customer data sharded");
    let mut runs = vec![sharding::Run { label: "one database".into(), local }];
    for (shards, name) in [(1, BENCH_DATABASES[2]), (BENCH_SHARDS, BENCH_DATABASES[3])] {
        let store = [
            ("STORE".to_owned(), "postgres".to_owned()),
            ("DATABASE_URL".to_owned(), postgres.database(name).await),
            ("SHARDS".to_owned(), shards.to_string()),
        ];
        let local = process::start_local(&bin.join("storefront-local"), &store).await;
        runs.push(sharding::Run {
            label: format!("catalog + {shards} shard{}", if shards > 1 { "s" } else { "" }),
            local,
        });
    }
    sharding::section(runs, settings.contention_attempts, &mut report).await;
    postgres.drop_databases().await;

    let figures = goals::Figures {
        inits: &inits,
        tls_first_response,
        tls_call_first_response,
        warm: &warm,
        throughput: &throughput,
        contention: &contention,
        web: &web,
    };
    goals::section(&figures, &mut report);
    let elapsed = started.elapsed();
    eprintln!("bench done in {:.0} s", elapsed.as_secs_f64());
    if !quick {
        write_report(&report, elapsed);
    }
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
    // Written by the build steps of `make bench` and `make build` (quoted with their date: the arm64 build is
    // `make build`'s last run, not this one's).
    let read = |file: &str| {
        std::fs::read_to_string(repo_root().join("target").join(file))
            .map(|s| format!("{} (quoted from that build's run)", s.trim()))
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

fn write_report(report: &Report, elapsed: Duration) {
    let mut out = String::from(
        "# Benchmarks\n\nGenerated by `make bench` (bench/); rerun it to refresh this page. Every figure sits beside its \
         baseline from the same run: the machine is shared and noisy, so ratios mean more than absolute numbers. \
         The one hand-written section (bench/notes.md) explains the figures; any number it quotes from another run \
         says when and how it was measured.\n\n",
    );
    out.push_str("| machine | |\n|---|---|\n");
    for (key, value) in machine() {
        out.push_str(&format!("| {key} | {value} |\n"));
    }
    out.push_str(&format!(
        "| bench run (after the build) | {:.0} s |\n\n![benchmarks](benchmarks.svg)\n\n",
        elapsed.as_secs_f64()
    ));
    for table in &report.tables {
        out.push_str(&table.markdown());
    }
    if let Ok(notes) = std::fs::read_to_string(repo_root().join("bench/notes.md")) {
        out.push_str(&notes);
    }
    let docs = repo_root().join("docs");
    std::fs::write(docs.join("benchmarks.md"), out).expect("write docs/benchmarks.md");
    std::fs::write(docs.join("benchmarks.svg"), report::svg(&report.charts)).expect("write docs/benchmarks.svg");
    eprintln!("wrote docs/benchmarks.md and docs/benchmarks.svg");
}
