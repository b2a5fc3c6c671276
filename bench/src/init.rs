//! Cold starts: each route function's release binary under the Runtime API harness, started afresh again and
//! again: exec → first poll for work (init over) and exec → first response, beside the hello-world floor.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use bytes::Bytes;
use storefront_local::runtime_api::{Outcome, RuntimeApi};

use crate::report::{Chart, Report, Table, ms, ratio};
use crate::stats::{Summary, millis};

#[derive(Debug, Clone)]
pub struct InitResult {
    pub name: String,
    pub ready: Summary,
    pub first_response: Summary,
    /// Highest peak RSS seen over the starts (init plus one request), in KiB.
    pub peak_rss_kib: u64,
    pub errors: usize,
}

/// One way of starting a function: its binary, environment and first event.
pub struct Variant {
    pub label: String,
    pub binary: PathBuf,
    pub env: Vec<(String, String)>,
    pub event: Bytes,
}

/// Starts every variant `starts` times, round-robin (A, B, C, A, B, C, …), so that whatever else the shared
/// machine is doing hits them alike; each start answers its event once and is stopped.
pub async fn measure(api: &RuntimeApi, variants: &[Variant], starts: usize) -> Vec<InitResult> {
    let mut samples: Vec<(Vec<Duration>, Vec<Duration>, u64, usize)> =
        variants.iter().map(|_| (Vec::new(), Vec::new(), 0, 0)).collect();
    for _ in 0..starts {
        for (variant, (ready, answered, peak_rss_kib, errors)) in variants.iter().zip(samples.iter_mut()) {
            let name = "bench-function";
            let exec = Instant::now();
            let process = match api.spawn(&variant.binary, name, &variant.env) {
                Ok(process) => process,
                Err(error) => panic!("cannot start {}: {error}", variant.binary.display()),
            };
            let Some(ready_at) = api.ready(name, Duration::from_secs(30)).await else {
                let output = process.stop().await;
                panic!("{} never became ready: {}", variant.label, output.stderr);
            };
            let outcome = api.invoke(name, variant.event.clone()).await;
            let done = Instant::now();
            if matches!(outcome, Outcome::Error(_)) {
                *errors += 1;
            }
            *peak_rss_kib = (*peak_rss_kib).max(process.peak_rss_kib().unwrap_or_default());
            process.stop().await;
            ready.push(ready_at.saturating_duration_since(exec));
            answered.push(done.saturating_duration_since(exec));
        }
    }
    variants
        .iter()
        .zip(samples)
        .map(|(variant, (ready, answered, peak_rss_kib, errors))| InitResult {
            name: variant.label.clone(),
            ready: millis(&ready),
            first_response: millis(&answered),
            peak_rss_kib,
            errors,
        })
        .collect()
}

/// The deployable artifact's size: the arm64 `bootstrap` from `make build`, deflated as Lambda's zip would be.
pub fn zipped_size(target: &Path, function: &str) -> Option<u64> {
    let bootstrap = target.join("lambda").join(function).join("bootstrap");
    if !bootstrap.exists() {
        return None;
    }
    let output = std::process::Command::new("gzip").args(["-9", "-c"]).arg(&bootstrap).output().ok()?;
    output.status.success().then_some(output.stdout.len() as u64)
}

/// The sample event a function's cold start answers: its `.ok` case, else its first case needing no set-up.
fn sample_event(function: &str) -> Bytes {
    let dir = crate::repo_root().join("events/apigw");
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

/// One route function's cold start beside the floor started alternately with it.
#[derive(Debug, Clone)]
pub struct Paired {
    pub function: InitResult,
    pub floor: InitResult,
    pub zipped: Option<u64>,
}

impl Paired {
    pub fn ready_ratio(&self) -> f64 {
        self.function.ready.p50 / self.floor.ready.p50
    }
}

/// Every route function paired with the floor, then the run-time variants of one function: the init table.
pub async fn section(
    api: &RuntimeApi,
    bin: &Path,
    env: &[(String, String)],
    postgres_env: Option<&[(String, String)]>,
    starts: usize,
    report: &mut Report,
) -> Vec<Paired> {
    let target = bin.parent().expect("the target dir");
    let variant = |label: &str, binary: &str, env: &[(String, String)], event: &str| Variant {
        label: label.to_owned(),
        binary: bin.join(binary),
        env: env.to_vec(),
        event: sample_event(event),
    };
    let floor = || variant("hello-lambda (floor)", "hello-lambda", env, "get-product");
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
        &format!(
            "ready = exec → first poll for work (init done); first response = exec → answer to its first event, \
             which includes its DynamoDB round trips. Each row is started alternately with the floor (a hello-world \
             `lambda_http` binary built with the same profile), {starts} times each; ratios are against that paired \
             floor. The function processes reach the stand-ins directly, as the floor would reach any endpoint. \
             Zipped size: the arm64 `bootstrap` from `make build`, deflated (gzip -9) as the Lambda zip is."
        ),
    );
    let mut row = |result: &InitResult, floor: &InitResult, zipped: Option<u64>| {
        assert_eq!(result.errors, 0, "{} answered its event with an error", result.name);
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
            zipped,
        ]);
    };
    let mut pairs = Vec::new();
    for function in storefront_registry::FUNCTIONS {
        let name = function.route.function;
        let mut pair = measure(api, &[floor(), variant(name, name, env, name)], starts).await;
        let (function, floor) = (pair.remove(1), pair.remove(0));
        let zipped = zipped_size(target, name);
        row(&function, &floor, zipped);
        pairs.push(Paired { function, floor, zipped });
    }
    // The fixes applied at run time, each against the same function without it, all alternating.
    let no_warm_up: Vec<(String, String)> =
        env.iter().cloned().chain([(storefront::config::WARM_UP.to_owned(), "0".to_owned())]).collect();
    let mut variants = vec![
        floor(),
        variant("get-product (as deployed)", "get-product", env, "get-product"),
        variant("get-product, no warm-up at init", "get-product", &no_warm_up, "get-product"),
    ];
    // On Postgres the warm-up opens the instance's database connection (plain TCP here; TLS and the IAM token in
    // AWS), so init carries it and the first response does not.
    if let Some(postgres_env) = postgres_env {
        variants.push(variant("get-product on Postgres", "get-product", postgres_env, "get-product"));
        variants.push(variant("place-order on Postgres", "place-order", postgres_env, "place-order"));
    }
    let fixes = measure(api, &variants, starts).await;
    for result in &fixes {
        row(result, &fixes[0], None);
    }
    report.table(table);
    report.chart(Chart {
        title: "Init: exec → ready, p50, floor first".into(),
        unit: "ms".into(),
        bars: std::iter::once(&fixes[0])
            .chain(pairs.iter().map(|p| &p.function))
            .map(|r| (r.name.clone(), r.ready.p50))
            .collect(),
    });
    pairs
}
