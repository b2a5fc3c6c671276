//! Cold starts: each route function's release binary under the Runtime API harness, started afresh again and
//! again: exec → first poll for work (init over) and exec → first response, beside the hello-world floor.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime};

use bytes::Bytes;
use storefront::adapters::aws::TRUST_STORE;
use storefront_local::runtime_api::{FunctionProcess, Outcome, RuntimeApi};

use crate::report::{Chart, Report, Table, ms, ratio};
use crate::stats::{Summary, merged, millis, summarize, union_length};
use crate::tls::{Outside, Span};

#[derive(Debug, Clone)]
pub struct InitResult {
    pub name: String,
    pub ready: Summary,
    pub first_response: Summary,
    /// CPU its threads ran from exec to the first answer (read as they wait for the next event).
    pub cpu: Summary,
    /// Highest peak RSS seen over the starts (init plus one request), in KiB.
    pub peak_rss_kib: u64,
    /// The host release binary's size: what the loader maps and relocates at every start.
    pub binary_bytes: u64,
    pub errors: usize,
    /// Where init went, from the function's `cold start` line (none for the floor, which has no such line):
    /// exec → main, each phase it names, then main's end of init → first poll, each as a summary over the starts.
    pub phases: Vec<(String, Summary)>,
    /// Where the first response went after init, for a start through the TLS front.
    pub after_ready: Option<AfterReady>,
}

/// A first response over TLS after the function polled for it, split by what the front saw: the time the
/// function waited on the far side of its connections (the server's share of each handshake, the store's calls),
/// which AWS's machines would spend in Lambda, and the rest, the function's own (and the harness's, as for the
/// floor). Spans before the first poll overlap init, which `ready` already holds.
#[derive(Debug, Clone)]
pub struct AfterReady {
    /// Time at least one handshake was in progress at the front.
    pub handshakes: Summary,
    /// Time at least one call was at the front or the store.
    pub calls: Summary,
    /// Time either was: what the function waited on outside itself.
    pub outside: Summary,
    /// exec → first response, less `outside`: the function's own time to its answer.
    pub own: Summary,
    /// Store calls its first request made, and the round trips they took (calls that overlapped share one).
    pub calls_made: Summary,
    pub rounds: Summary,
}

/// One start's spans at the front, clipped to its first request (from the first poll to the answer).
#[derive(Debug, Default)]
struct AfterReadySamples {
    handshakes: Vec<Duration>,
    calls: Vec<Duration>,
    outside: Vec<Duration>,
    own: Vec<Duration>,
    calls_made: Vec<f64>,
    rounds: Vec<f64>,
}

impl AfterReadySamples {
    fn push(&mut self, spans: &[(Span, Instant, Instant)], ready_at: Instant, done: Instant, answered: Duration) {
        let clipped = |kind: Option<Span>| -> Vec<(Instant, Instant)> {
            spans
                .iter()
                .filter(|(span, _, _)| kind.is_none_or(|k| k == *span))
                .map(|&(_, from, to)| (from.max(ready_at), to.min(done)))
                .filter(|(from, to)| from < to)
                .collect()
        };
        let outside = union_length(clipped(None));
        self.handshakes.push(union_length(clipped(Some(Span::Handshake))));
        self.outside.push(outside);
        self.own.push(answered.saturating_sub(outside));
        // The calls clipped and merged once: how many, their stretches (round trips) and the time those cover.
        let calls = clipped(Some(Span::Call));
        self.calls_made.push(calls.len() as f64);
        let rounds = merged(calls);
        self.calls.push(rounds.iter().map(|(from, to)| *to - *from).sum());
        self.rounds.push(rounds.len() as f64);
    }

    fn summary(&self) -> Option<AfterReady> {
        (!self.own.is_empty()).then(|| AfterReady {
            handshakes: millis(&self.handshakes),
            calls: millis(&self.calls),
            outside: millis(&self.outside),
            own: millis(&self.own),
            calls_made: summarize(self.calls_made.clone()),
            rounds: summarize(self.rounds.clone()),
        })
    }
}

/// One start's breakdown: `(phase, duration)` in order, from exec to the first poll.
type Breakdown = Vec<(String, Duration)>;

/// Reads the `cold start` line (storefront::lambda::ColdStart) a function wrote to its log, in either log format:
/// `main_at_unix_us` and `phases_us` ("name=µs ..."), and completes it with what only the harness sees: exec → main
/// from the time it spawned the process, and the rest of `ready` after the last phase (the runtime's start).
pub fn breakdown(log: &str, spawned_at: SystemTime, ready: Duration) -> Option<Breakdown> {
    let line = log.lines().find(|l| l.contains(storefront::lambda::COLD_START) && l.contains("phases_us"))?;
    let after = |key: &str| line.split_once(key).map(|(_, rest)| rest.trim_start_matches(['"', ':', '=', ' ']));
    let main_at: u64 = after("main_at_unix_us")?.split(|c: char| !c.is_ascii_digit()).next()?.parse().ok()?;
    let phases = after("phases_us")?.split('"').next()?;
    let spawned_at = spawned_at.duration_since(SystemTime::UNIX_EPOCH).ok()?;
    let exec_to_main = Duration::from_micros(main_at).checked_sub(spawned_at)?;
    let mut breakdown = vec![("exec → main".to_owned(), exec_to_main)];
    for pair in phases.split_whitespace() {
        let (name, micros) = pair.split_once('=')?;
        breakdown.push((name.to_owned(), Duration::from_micros(micros.parse().ok()?)));
    }
    let accounted: Duration = breakdown.iter().map(|(_, d)| *d).sum();
    breakdown.push(("init done → first poll".to_owned(), ready.saturating_sub(accounted)));
    Some(breakdown)
}

/// Debian's CA bundle (Lambda's Amazon Linux 2023 image has the same certificates in
/// /etc/pki/tls/certs/ca-bundle.crt).
pub const SYSTEM_CA_BUNDLE: &str = "/etc/ssl/certs/ca-certificates.crt";

/// `env` with `name` set to `value` (replaced if it was there).
pub fn with_variable(env: &[(String, String)], name: &str, value: &str) -> Vec<(String, String)> {
    env.iter().filter(|(n, _)| n != name).cloned().chain([(name.to_owned(), value.to_owned())]).collect()
}

/// `env` trusting the system's one CA bundle, as Lambda's image does, unless it names a bundle of its own.
pub fn one_bundle(env: &[(String, String)]) -> Vec<(String, String)> {
    let named = env.iter().any(|(name, _)| name == "SSL_CERT_FILE");
    if named || !Path::new(SYSTEM_CA_BUNDLE).exists() {
        return env.to_vec();
    }
    with_variable(env, "SSL_CERT_FILE", SYSTEM_CA_BUNDLE)
}

/// One way of starting a function: its binary, environment and first event.
pub struct Variant {
    pub label: String,
    pub binary: PathBuf,
    pub env: Vec<(String, String)>,
    pub event: Bytes,
    /// The spans of the TLS front this variant reaches DynamoDB through, if it does.
    pub front: Option<Outside>,
}

/// Starts `variant` under `name` and waits until it polls for work: the process and when it did.
async fn start(api: &RuntimeApi, variant: &Variant, name: &str) -> (FunctionProcess, Instant) {
    let process = match api.spawn(&variant.binary, name, &variant.env) {
        Ok(process) => process,
        Err(error) => panic!("cannot start {}: {error}", variant.binary.display()),
    };
    let Some(ready_at) = api.ready(name, Duration::from_secs(30)).await else {
        let output = process.stop().await;
        panic!("{} never became ready: {}", variant.label, output.stderr);
    };
    (process, ready_at)
}

/// Starts every variant `starts` times, round-robin (A, B, C, A, B, C, …), so that whatever else the shared
/// machine is doing hits them alike; each start answers its event once and is stopped.
pub async fn measure(api: &RuntimeApi, variants: &[Variant], starts: usize) -> Vec<InitResult> {
    let mut samples: Vec<Samples> = variants.iter().map(|_| Samples::default()).collect();
    for _ in 0..starts {
        for (variant, samples) in variants.iter().zip(samples.iter_mut()) {
            let name = "bench-function";
            let spawned_at = SystemTime::now();
            let exec = Instant::now();
            if let Some(front) = &variant.front {
                front.take();
            }
            let (process, ready_at) = start(api, variant, name).await;
            let outcome = api.invoke(name, variant.event.clone()).await;
            let done = Instant::now();
            if let Some(front) = &variant.front {
                samples.after_ready.push(&front.take(), ready_at, done, done.saturating_duration_since(exec));
            }
            if matches!(outcome, Outcome::Error(_)) {
                samples.errors += 1;
            }
            samples.peak_rss_kib = samples.peak_rss_kib.max(process.peak_rss_kib().unwrap_or_default());
            samples.cpu.extend(process.cpu_time().await);
            let output = process.stop().await;
            let became_ready = ready_at.saturating_duration_since(exec);
            samples.ready.push(became_ready);
            samples.answered.push(done.saturating_duration_since(exec));
            samples.breakdowns.extend(breakdown(&output.stdout, spawned_at, became_ready));
        }
    }
    variants
        .iter()
        .zip(samples)
        .map(|(variant, samples)| InitResult {
            name: variant.label.clone(),
            ready: millis(&samples.ready),
            first_response: millis(&samples.answered),
            cpu: millis(&samples.cpu),
            peak_rss_kib: samples.peak_rss_kib,
            binary_bytes: std::fs::metadata(&variant.binary).map(|m| m.len()).unwrap_or_default(),
            errors: samples.errors,
            phases: summarize_phases(&samples.breakdowns),
            after_ready: samples.after_ready.summary(),
        })
        .collect()
}

/// One instance of each variant started, then each one's event answered `invocations` times, taking turns as
/// `measure` does: each warm invocation's time from the harness handing it over to the answer (the floor's row is
/// the harness's own share).
pub async fn warm(api: &RuntimeApi, variants: &[Variant], invocations: usize) -> Vec<Summary> {
    let names: Vec<String> = (0..variants.len()).map(|i| format!("bench-warm-{i}")).collect();
    let mut processes = Vec::new();
    for (variant, name) in variants.iter().zip(&names) {
        let (process, _) = start(api, variant, name).await;
        // The first answer is the cold one, which `measure` times.
        let _ = api.invoke(name, variant.event.clone()).await;
        processes.push(process);
    }
    let mut samples: Vec<Vec<Duration>> = variants.iter().map(|_| Vec::with_capacity(invocations)).collect();
    for _ in 0..invocations {
        for ((variant, name), samples) in variants.iter().zip(&names).zip(samples.iter_mut()) {
            let started = Instant::now();
            let outcome = api.invoke(name, variant.event.clone()).await;
            samples.push(started.elapsed());
            assert!(
                !matches!(outcome, Outcome::Error(_)),
                "{} answered a warm invocation with an error",
                variant.label
            );
        }
    }
    for process in processes {
        process.stop().await;
    }
    samples.iter().map(|s| millis(s)).collect()
}

/// What the starts of one variant measured.
#[derive(Default)]
struct Samples {
    ready: Vec<Duration>,
    answered: Vec<Duration>,
    cpu: Vec<Duration>,
    peak_rss_kib: u64,
    errors: usize,
    breakdowns: Vec<Breakdown>,
    after_ready: AfterReadySamples,
}

/// Each phase's summary over the starts (the phases of the first start, in its order).
fn summarize_phases(breakdowns: &[Breakdown]) -> Vec<(String, Summary)> {
    let Some(first) = breakdowns.first() else { return Vec::new() };
    first
        .iter()
        .map(|(phase, _)| {
            let durations: Vec<Duration> =
                breakdowns.iter().filter_map(|b| b.iter().find(|(p, _)| p == phase).map(|(_, d)| *d)).collect();
            (phase.clone(), millis(&durations))
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
pub fn sample_event(function: &str) -> Bytes {
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
    /// The same function with DynamoDB over TLS, started in turn with the two.
    pub tls: InitResult,
    pub zipped: Option<u64>,
}

impl Paired {
    pub fn ready_ratio(&self) -> f64 {
        self.function.ready.p50 / self.floor.ready.p50
    }
}

/// How many more starts the comparison rows (the fixes, the TLS rows, the floors of one call) take than the route
/// rows: 20 starts left the TLS row's verdict to the run (the same binaries 1.95×-2.18× in one session's runs).
const FIX_STARTS_PER_START: usize = 5;

/// Every route function paired with the floor, then the run-time variants of one function: the init table.
pub async fn section(
    api: &RuntimeApi,
    bin: &Path,
    env: &[(String, String)],
    postgres_env: Option<&[(String, String)]>,
    (tls_env, front): (&[(String, String)], &Outside),
    starts: usize,
    report: &mut Report,
) -> InitFigures {
    let target = bin.parent().expect("the target dir");
    let fix_starts = starts * FIX_STARTS_PER_START;
    // The functions trust Amazon's roots, compiled in; one row below trusts the system's store instead, as the SDK
    // would by default. Lambda's image keeps it in one bundle (Debian adds a directory of ~300 per-certificate files
    // on top), so every row gets the one bundle (SSL_CERT_FILE) as Lambda would.
    let env = &one_bundle(env)[..];
    let postgres_env = postgres_env.map(one_bundle);
    let postgres_env = postgres_env.as_deref();
    let variant = |label: &str, binary: &str, env: &[(String, String)], event: &str| Variant {
        label: label.to_owned(),
        binary: bin.join(binary),
        env: env.to_vec(),
        event: sample_event(event),
        front: None,
    };
    // The same, reaching DynamoDB through the TLS front, whose spans split its first response.
    let over_tls = |label: &str, binary: &str, event: &str| Variant {
        front: Some(front.clone()),
        ..variant(label, binary, tls_env, event)
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
            "over TLS p50",
            "× floor",
            "peak RSS MiB",
            "binary MB",
            "zipped arm64 MB",
        ],
        &format!(
            "ready = exec → first poll for work (init done); first response = exec → answer to its first event, which \
             includes its DynamoDB round trips; over TLS = the same first response with DynamoDB behind the bench's \
             TLS front, as in AWS. Each route row is started alternately with the floor (a hello-world `lambda_http` \
             binary built with the same profile) and over TLS, {starts} times each; ratios are against that paired \
             floor. The rows from the floor's own on (the fixes, the TLS rows the goals read, the floors of one call) \
             take turns with each other and the floor {fix_starts} times each: their differences are tenths of a \
             millisecond, which this shared machine's noise hides in fewer starts. The function processes reach the \
             stand-ins directly, as the floor would reach any endpoint, and trust Amazon's roots compiled in \
             (`TRUST_STORE`'s default; the last rows say what differs). Binary: the host release binary, stripped; \
             each function links only the SDK clients it reaches (`Reach`). Zipped size: the arm64 `bootstrap` from \
             `make build`, deflated (gzip -9) as the Lambda zip is."
        ),
    );
    let mut row = |result: &InitResult, floor: &InitResult, tls: Option<&InitResult>, zipped: Option<u64>| {
        assert_eq!(result.errors, 0, "{} answered its event with an error", result.name);
        let zipped = zipped.map(|b| format!("{:.2}", b as f64 / 1_000_000.0)).unwrap_or_else(|| "-".into());
        let (tls, tls_ratio) = match tls {
            Some(tls) => {
                assert_eq!(tls.errors, 0, "{} answered its event over TLS with an error", tls.name);
                (ms(tls.first_response.p50), ratio(tls.first_response.p50, floor.first_response.p50))
            }
            None => ("-".into(), "-".into()),
        };
        table.row(vec![
            result.name.clone(),
            ms(result.ready.p50),
            ms(result.ready.p95),
            ms(floor.ready.p50),
            ratio(result.ready.p50, floor.ready.p50),
            ms(result.first_response.p50),
            ratio(result.first_response.p50, floor.first_response.p50),
            tls,
            tls_ratio,
            format!("{:.1}", result.peak_rss_kib as f64 / 1024.0),
            format!("{:.1}", result.binary_bytes as f64 / 1_000_000.0),
            zipped,
        ]);
    };
    let mut pairs = Vec::new();
    for function in storefront_registry::FUNCTIONS {
        let name = function.route.function;
        let tls = over_tls(&format!("{name} over TLS"), name, name);
        let mut trio = measure(api, &[floor(), variant(name, name, env, name), tls], starts).await;
        let (tls, function, floor) = (trio.remove(2), trio.remove(1), trio.remove(0));
        let zipped = zipped_size(target, name);
        row(&function, &floor, Some(&tls), zipped);
        pairs.push(Paired { function, floor, tls, zipped });
    }
    // The fixes applied at run time, each against the same function without it, all alternating. As deployed,
    // an on-demand start begins opening the store's connection at the end of init and its first request takes it
    // (`WARM_UP=connect`); under provisioned concurrency init waits for it (`WARM_UP`'s default follows
    // `AWS_LAMBDA_INITIALIZATION_TYPE`); `WARM_UP=off` leaves it to the first request.
    let provisioned = |env: &[(String, String)]| {
        with_variable(env, storefront::config::LAMBDA_INITIALIZATION_TYPE, "provisioned-concurrency")
    };
    let system_trust = with_variable(env, TRUST_STORE, "system");
    let mut variants = vec![
        floor(),
        variant("get-product (as deployed)", "get-product", env, "get-product"),
        variant("get-product, warm-up at init", "get-product", &provisioned(env), "get-product"),
        variant("get-product, the system's trust store", "get-product", &system_trust, "get-product"),
    ];
    // As Lambda pays it: DynamoDB over TLS, its handshake in the first request or in init.
    let tls_row = variants.len();
    variants.push(over_tls("get-product, DynamoDB over TLS", "get-product", "get-product"));
    variants.push(Variant {
        env: with_variable(tls_env, storefront::config::WARM_UP, "off"),
        ..over_tls("get-product, DynamoDB over TLS, no early connection", "get-product", "get-product")
    });
    variants.push(Variant {
        env: provisioned(tls_env),
        ..over_tls("get-product, DynamoDB over TLS, warm-up at init", "get-product", "get-product")
    });
    // What any function calling DynamoDB pays: the floor plus one request on a connection of its own, without the
    // SDK (bench/src/bin/hello-lambda-call.rs), plain and over the same TLS.
    variants.push(variant(ONE_CALL, "hello-lambda-call", env, "get-product"));
    variants.push(over_tls(ONE_CALL_TLS, "hello-lambda-call", "get-product"));
    // On Postgres the first request opens the instance's database connection (plain TCP here; TLS and the IAM
    // token in AWS); under provisioned concurrency init would.
    if let Some(postgres_env) = postgres_env {
        variants.push(variant("get-product on Postgres", "get-product", postgres_env, "get-product"));
        variants.push(variant("place-order on Postgres", "place-order", postgres_env, "place-order"));
    }
    let fixes = measure(api, &variants, fix_starts).await;
    for result in fixes.iter().filter(|r| !r.name.starts_with("hello-lambda")) {
        assert!(!result.phases.is_empty(), "{}: no `cold start` line read from its log", result.name);
    }
    for result in &fixes {
        row(result, &fixes[0], None, None);
    }
    let tls_first_response = fixes[tls_row].first_response.p50 / fixes[0].first_response.p50;
    let one_call_tls = fixes.iter().find(|r| r.name == ONE_CALL_TLS).expect("the one-call row over TLS");
    let tls_call_first_response = one_call_tls.first_response.p50 / fixes[0].first_response.p50;
    report.table(table);
    let over_tls = pairs.iter().map(|p| (&p.tls, &p.floor)).chain(fixes.iter().map(|r| (r, &fixes[0])));
    report.table(after_ready_table(over_tls, starts, fix_starts));
    report.table(breakdown_table(&fixes, fix_starts));
    report.chart(Chart {
        title: "Init: exec → ready, p50, floor first".into(),
        unit: "ms".into(),
        bars: std::iter::once(&fixes[0])
            .chain(pairs.iter().map(|p| &p.function))
            .map(|r| (r.name.clone(), r.ready.p50))
            .collect(),
    });
    InitFigures { pairs, tls_first_response, tls_call_first_response }
}

/// The floor plus one `GET /` to DynamoDB's endpoint, plain and over TLS.
pub const ONE_CALL: &str = "hello-lambda + one call (floor of a store call)";
pub const ONE_CALL_TLS: &str = "hello-lambda + one call over TLS (floor of a store call)";

/// What the goals read from the init section.
pub struct InitFigures {
    pub pairs: Vec<Paired>,
    /// get-product's first response over TLS against the floor's, as deployed (an on-demand start).
    pub tls_first_response: f64,
    /// The floor's one call over the same TLS against the floor: what the connection alone costs.
    pub tls_call_first_response: f64,
}

/// Each first response over TLS split at the front (`AfterReady`), against its paired floor's first response.
fn after_ready_table<'a>(
    results: impl Iterator<Item = (&'a InitResult, &'a InitResult)>,
    starts: usize,
    fix_starts: usize,
) -> Table {
    let mut table = Table::new(
        "The first response over TLS: outside the function and its own (p50, ms)",
        &[
            "function",
            "first response",
            "ready",
            "handshakes",
            "store calls",
            "outside",
            "own",
            "own × floor",
            "CPU",
            "CPU × floor",
            "calls",
            "round trips",
        ],
        &format!(
            "The TLS rows above, split by what the TLS front saw after the function polled for its first event: \
             handshakes = time at least one handshake was on the server's side (from the ClientHello in to the \
             server's flight out: its key share and RSA signature, made on this machine's two cores beside \
             everything else); store calls = time at least one call was at the front or the store (its request's \
             first byte in to its response's last byte out: the front's TLS and the stand-in's work); outside = \
             either; own = first response − outside: what the function and the harness spent from exec to the \
             answer, init and the client's side of each handshake included, which is what the floor's first \
             response is made of. In AWS the outside share runs on AWS's machines, in parallel, a network round \
             trip away. Own counts as outside whatever the function did while a span was open; CPU does not \
             depend on spans: the CPU time the function's threads ran from exec to the answer, beside the floor's. \
             Calls and round trips: the store calls the first request made, and how many waits they took (calls in \
             flight together share one). Route rows {starts} starts each, the others {fix_starts}; × floor against \
             the floor started in turn with them."
        ),
    );
    for (result, floor) in results {
        let Some(split) = &result.after_ready else { continue };
        table.row(vec![
            result.name.clone(),
            ms(result.first_response.p50),
            ms(result.ready.p50),
            ms(split.handshakes.p50),
            ms(split.calls.p50),
            ms(split.outside.p50),
            ms(split.own.p50),
            ratio(split.own.p50, floor.first_response.p50),
            ms(result.cpu.p50),
            ratio(result.cpu.p50, floor.cpu.p50),
            format!("{}", split.calls_made.p50),
            format!("{}", split.rounds.p50),
        ]);
    }
    table
}

/// Where each variant's cold start went, phase by phase (p50s; they need not add up to the p50 of the whole).
pub fn breakdown_table(results: &[InitResult], starts: usize) -> Table {
    let measured: Vec<&InitResult> = results.iter().filter(|r| !r.phases.is_empty()).collect();
    let floor = results.iter().find(|r| r.phases.is_empty());
    let mut header = vec!["phase"];
    header.extend(measured.iter().map(|r| r.name.as_str()));
    let mut table = Table::new(
        "Where a cold start goes (p50, ms)",
        &header,
        &format!(
            "From each start's `cold start` log line (storefront::lambda::ColdStart), {starts} starts per column: \
             exec → main is the loader and the process start (from the harness's clock to main's); runtime = the \
             tokio runtime; telemetry = the log subscriber; config = the environment read and checked; sdk_config = \
             the AWS SDK configuration (region, credentials provider, timeouts); clients = the \
             clients and adapters of the function's reach built, and the store's connection started (DynamoDB, in \
             Lambda: `HttpsClient::open_early`, which runs on while the function polls); warm_up = the store's \
             connection opened and awaited in init (DynamoDB's health check, Postgres' `SELECT 1`; the rows \
             \"warm-up at init\", as under provisioned concurrency); init done → first poll = the Lambda \
             runtime's client up to its first request for work. Each cell is that phase's own p50, so a column need \
             not add up to its ready p50, given last."
        ),
    );
    let phases: Vec<&str> =
        measured.first().map(|r| r.phases.iter().map(|(p, _)| p.as_str()).collect()).unwrap_or_default();
    for phase in phases {
        let mut row = vec![phase.to_owned()];
        for result in &measured {
            let cell = result.phases.iter().find(|(p, _)| p == phase).map(|(_, s)| ms(s.p50));
            row.push(cell.unwrap_or_else(|| "-".into()));
        }
        table.row(row);
    }
    let mut ready = vec!["ready (exec → first poll)".to_owned()];
    ready.extend(measured.iter().map(|r| ms(r.ready.p50)));
    table.row(ready);
    if let Some(floor) = floor {
        let mut row = vec![format!("{}: ready", floor.name)];
        row.extend(measured.iter().map(|_| ms(floor.ready.p50)));
        table.row(row);
    }
    table
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_first_response_is_split_at_the_front_from_the_first_poll_on() {
        let exec = Instant::now();
        let at = |ms: u64| exec + Duration::from_millis(ms);
        let (ready, done) = (at(10), at(30));
        let spans = [
            // A handshake begun in init: only its part after the first poll counts.
            (Span::Handshake, at(8), at(12)),
            // Two calls in flight together (one round trip), then one more, overlapping nothing.
            (Span::Call, at(13), at(16)),
            (Span::Call, at(14), at(17)),
            (Span::Call, at(20), at(24)),
            // A span of another start would fall outside the window.
            (Span::Call, at(31), at(33)),
        ];
        let mut samples = AfterReadySamples::default();
        samples.push(&spans, ready, done, done - exec);
        let split = samples.summary().expect("one start");
        assert_eq!((split.handshakes.p50, split.calls.p50, split.outside.p50), (2.0, 8.0, 10.0));
        assert_eq!(split.own.p50, 20.0);
        assert_eq!((split.calls_made.p50, split.rounds.p50), (3.0, 2.0));
        assert!(AfterReadySamples::default().summary().is_none(), "no start, no split");
    }

    #[test]
    fn a_cold_start_line_is_read_in_either_log_format() {
        let spawned = SystemTime::UNIX_EPOCH + Duration::from_micros(1_000_000);
        let text = "2026-11-28T14:00:00Z  INFO storefront::lambda: cold start function=\"get-product\" \
                    main_at_unix_us=1000900 phases_us=\"runtime=100 telemetry=20 warm_up=500\"";
        let json = r#"{"level":"INFO","fields":{"message":"cold start","function":"get-product","main_at_unix_us":1000900,"phases_us":"runtime=100 telemetry=20 warm_up=500"}}"#;
        for log in [text, json] {
            let phases = breakdown(&format!("something else\n{log}\n"), spawned, Duration::from_micros(2_000))
                .unwrap_or_else(|| panic!("not read: {log}"));
            let micros: Vec<(&str, u128)> = phases.iter().map(|(p, d)| (p.as_str(), d.as_micros())).collect();
            assert_eq!(
                micros,
                [
                    ("exec → main", 900),
                    ("runtime", 100),
                    ("telemetry", 20),
                    ("warm_up", 500),
                    ("init done → first poll", 480)
                ]
            );
        }
        assert!(breakdown("no such line", spawned, Duration::from_millis(2)).is_none());
    }
}
