//! Real invocations, the `sam local invoke` path without Docker: each function's own binary runs as a process
//! under our Lambda Runtime API (`storefront_local::runtime_api`), against a local stack it reaches over the AWS
//! wire (DynamoDB, S3, SQS and SES endpoints from `LocalServer::lambda_environment`, each behind a recording proxy),
//! and every sample event goes through `cargo lambda invoke`.
//!
//! The binaries come from `cargo build --bins` (the dev profile; `make test` and `make e2e` build them first), and
//! `cargo-lambda` from the project venv. A missing tool, or a binary older than any crate it is built from, fails
//! these tests with the command that fixes it: they never pass having run nothing.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use futures::StreamExt;
use serde_json::Value;
use storefront::domain::Order;
use storefront_local::runtime_api::{FunctionProcess, Outcome, RuntimeApi};
use storefront_registry::FUNCTIONS;
use storefront_tests::*;

use storefront_local::iam::Use;

use crate::events::{EXPECTED, comparable, in_process_runs, render, sample_events};
use crate::grants::{assert_grants_match_use, grant_findings};

struct Tools {
    binaries: PathBuf,
    cargo_lambda: PathBuf,
}

/// The built function binaries and `cargo-lambda`; a missing or stale one fails the test, naming the fix.
fn tools() -> Tools {
    let root = repo_root();
    let target = std::env::var_os("CARGO_TARGET_DIR").map(PathBuf::from).unwrap_or_else(|| root.join("target"));
    let binaries = target.join("debug");
    let cargo_lambda = root.join(".venv/bin/cargo-lambda");
    assert!(cargo_lambda.exists(), "cargo-lambda is not in .venv: run `make tools` (make test and make e2e do)");
    if let Some(problem) = stale_or_missing(&binaries) {
        panic!("{problem}: run `cargo build --workspace --bins` (make test and make e2e do)");
    }
    Tools { binaries, cargo_lambda }
}

/// Each workspace crate's directory and the workspace crates it depends on by path (`cargo metadata`).
fn workspace_crates() -> BTreeMap<String, (PathBuf, Vec<String>)> {
    let output = std::process::Command::new(env!("CARGO"))
        .args(["metadata", "--no-deps", "--format-version", "1", "--offline"])
        .current_dir(repo_root())
        .output()
        .expect("cargo metadata runs");
    let metadata: Value = serde_json::from_slice(&output.stdout).expect("cargo metadata answers JSON");
    metadata["packages"]
        .as_array()
        .expect("packages")
        .iter()
        .map(|package| {
            let manifest = PathBuf::from(package["manifest_path"].as_str().expect("manifest path"));
            let dir = manifest.parent().expect("a crate directory").to_path_buf();
            let path_deps = package["dependencies"]
                .as_array()
                .into_iter()
                .flatten()
                .filter(|d| d["path"].is_string())
                .map(|d| d["name"].as_str().expect("name").to_owned())
                .collect();
            (package["name"].as_str().expect("name").to_owned(), (dir, path_deps))
        })
        .collect()
}

/// The crate and every workspace crate it is built from, transitively.
fn built_from(crates: &BTreeMap<String, (PathBuf, Vec<String>)>, name: &str) -> BTreeSet<String> {
    let mut seen = BTreeSet::new();
    let mut next = vec![name.to_owned()];
    while let Some(name) = next.pop() {
        if seen.insert(name.clone())
            && let Some((_, deps)) = crates.get(&name)
        {
            next.extend(deps.iter().cloned());
        }
    }
    seen
}

/// A binary older than any source it is built from (its crate and every workspace crate under it, their
/// manifests) would test yesterday's code.
fn stale_or_missing(binaries: &Path) -> Option<String> {
    let crates = workspace_crates();
    for name in storefront_registry::names() {
        let binary = binaries.join(name);
        let Ok(built) = std::fs::metadata(&binary).and_then(|m| m.modified()) else {
            return Some(format!("{} is missing", binary.display()));
        };
        let sources = built_from(&crates, name);
        assert!(sources.contains("storefront"), "{name} should be built from the storefront library: {sources:?}");
        let newest = sources
            .iter()
            .filter_map(|c| crates.get(c))
            .flat_map(|(dir, _)| [newest_mtime(&dir.join("src")), newest_mtime(&dir.join("Cargo.toml"))])
            // Not the lock file: cargo relinks only the binaries a lock change touches, so its time says nothing
            // about one binary (a changed dependency changes a crate's build, which `make test` runs first).
            .fold(SystemTime::UNIX_EPOCH, SystemTime::max);
        if built < newest {
            return Some(format!("{} is older than its sources ({sources:?})", binary.display()));
        }
    }
    None
}

fn newest_mtime(path: &Path) -> SystemTime {
    let Ok(metadata) = std::fs::metadata(path) else { return SystemTime::UNIX_EPOCH };
    if !metadata.is_dir() {
        return metadata.modified().unwrap_or(SystemTime::UNIX_EPOCH);
    }
    std::fs::read_dir(path)
        .into_iter()
        .flatten()
        .flatten()
        .map(|entry| newest_mtime(&entry.path()))
        .fold(SystemTime::UNIX_EPOCH, SystemTime::max)
}

/// Starts a function process and waits until its init is over (its first poll for work).
async fn start(api: &RuntimeApi, tools: &Tools, binary: &str, name: &str, env: &[(String, String)]) -> FunctionProcess {
    let process = api.spawn(&tools.binaries.join(binary), name, env).expect("function process starts");
    if api.ready(name, Duration::from_secs(20)).await.is_none() {
        let output = process.stop().await;
        panic!("{name} never asked for an invocation; stderr:\n{}", output.stderr);
    }
    process
}

/// `cargo lambda invoke <name> --data-file <file>` against the harness; the function's JSON answer.
async fn cargo_lambda_invoke(api: &RuntimeApi, tools: &Tools, name: &str, data_file: &Path) -> Value {
    let output = tokio::process::Command::new(&tools.cargo_lambda)
        .args(["lambda", "invoke", "--invoke-address", "127.0.0.1", "--invoke-port"])
        .arg(api.port.to_string())
        .arg("--data-file")
        .arg(data_file)
        .args(["--output-format", "json", name])
        .output()
        .await
        .expect("cargo lambda runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "cargo lambda invoke {name}: {}{stdout}", String::from_utf8_lossy(&output.stderr));
    serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("{name}: not JSON ({e}): {stdout}"))
}

fn header<'a>(response: &'a Value, name: &str) -> Option<&'a str> {
    response["headers"].as_object()?.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).and_then(|(_, v)| v.as_str())
}

struct EventRun {
    status: u16,
    content_type: String,
    /// The body, comparable across stacks (`events::comparable`).
    body: Value,
    stdout: String,
    /// What the function process needed from IAM.
    uses: BTreeSet<Use>,
}

/// A real photo, as a browser would PUT it to an upload URL.
fn photo() -> Vec<u8> {
    let pixels = image::ImageBuffer::from_fn(64, 48, |x, y| image::Rgb([(x * 4) as u8, (y * 5) as u8, 120]));
    let mut bytes = Vec::new();
    image::DynamicImage::ImageRgb8(pixels)
        .write_to(&mut std::io::Cursor::new(&mut bytes), image::ImageFormat::Jpeg)
        .expect("a JPEG");
    bytes
}

/// Uses the upload URL a function answered with, as the artisan's browser does: the PUT is authorized by the
/// function's own grant (the URL carries its signature), so it counts among the function's uses.
async fn upload_through(answer: &Value, client: &reqwest::Client) {
    let ticket: Value = serde_json::from_str(answer["body"].as_str().expect("body")).expect("JSON");
    let mut request = client.put(ticket["upload_url"].as_str().expect("upload_url")).body(photo());
    for (name, value) in ticket["headers"].as_object().expect("headers") {
        request = request.header(name, value.as_str().expect("header value"));
    }
    let status = request.send().await.expect("PUT sent").status();
    assert!(status.is_success(), "the upload URL took no photo: {status}");
}

/// The sample event `event` rendered for `app`, written to a file in `dir` (what `cargo lambda invoke` sends).
async fn rendered_event(dir: &Path, event: &str, app: &TestApp) -> PathBuf {
    let text = std::fs::read_to_string(repo_root().join("events/apigw").join(format!("{event}.json"))).expect("event");
    let file = dir.join(format!("{event}.json"));
    std::fs::write(&file, render(event, &text, app).await).expect("rendered event");
    file
}

/// One API Gateway event through its function's binary against a fresh stack.
async fn run_apigw_event(api: &RuntimeApi, tools: &Tools, event: &str) -> EventRun {
    let app = spawn_app_with(|options| options.in_process_workers = false).await;
    let dir = tempfile::tempdir().expect("temp dir");
    let file = rendered_event(dir.path(), event, &app).await;
    let function = event.split('.').next().expect("function part");
    let running = start(api, tools, function, event, &app.server.lambda_environment()).await;
    let response = cargo_lambda_invoke(api, tools, event, &file).await;
    if event == "request-image-upload.ok" {
        upload_through(&response, &app.client).await;
    }
    let stdout = running.stop().await.stdout;
    let uses = app.server.lambda_calls.take_uses();
    app.server.stop().await;
    let status = response["statusCode"].as_u64().unwrap_or_else(|| panic!("{event}: no statusCode in {response}"));
    let content_type = header(&response, "content-type").unwrap_or_default().to_owned();
    let body = comparable(response["body"].as_str().unwrap_or_default());
    EventRun { status: status as u16, content_type, body, stdout, uses }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_api_event_gets_its_expected_status_from_the_real_function_binary() {
    let tools = tools();
    let api = RuntimeApi::start().await.expect("runtime API starts");
    let events = sample_events();
    let results: BTreeMap<String, EventRun> = futures::stream::iter(events.keys().cloned())
        .map(|name| {
            let (api, tools) = (&api, &tools);
            async move { (name.clone(), run_apigw_event(api, tools, &name).await) }
        })
        .buffer_unordered(4)
        .collect()
        .await;
    for (name, expected) in EXPECTED {
        let run = &results[*name];
        assert_eq!(run.status, *expected, "{name}");
        if run.status >= 400 && !name.starts_with("web-pages.") {
            assert_eq!(run.content_type, "application/problem+json", "{name}");
        }
    }
    // The binary answers exactly what the handler answers in-process (the local server's path), body and all.
    let handled = in_process_runs().await;
    assert_eq!(handled.len(), events.len());
    for (name, (status, content_type, body)) in handled {
        let run = &results[name];
        assert_eq!((run.status, &run.content_type), (*status, content_type), "{name}");
        assert_eq!(&run.body, body, "{name}: the binary's body differs from the handler's");
    }
    let findings: Vec<String> = FUNCTIONS
        .iter()
        .chain(std::iter::once(&storefront_registry::SITE))
        .flat_map(|function| {
            let name = function.route.function;
            let used: BTreeSet<Use> = results
                .iter()
                .filter(|(event, _)| event.split('.').next() == Some(name))
                .flat_map(|(_, run)| run.uses.iter().cloned())
                .collect();
            grant_findings(name, &used)
        })
        .collect();
    assert!(findings.is_empty(), "grants and use disagree:\n{}", findings.join("\n"));
    // The place-order process logged its request as one JSON line (Lambda's JSON log format): route, API Gateway
    // request id, status, latency, the user as a hash; the runtime's span adds Lambda's request id.
    let stdout = &results["place-order.buy-now"].stdout;
    let log: Value = stdout
        .lines()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .find(|doc| doc["fields"]["message"] == "request")
        .unwrap_or_else(|| panic!("no JSON request log line in place-order's stdout:\n{stdout}"));
    let fields = &log["fields"];
    assert_eq!(fields["route"], "POST /orders", "{log}");
    assert_eq!(fields["status"], 201, "{log}");
    assert_eq!(fields["request_id"], "JkHlbgLsoAMEbJg=", "{log}");
    assert!(fields["latency_us"].as_u64().is_some_and(|us| us > 0), "{log}");
    assert_eq!(fields["user"], storefront::api::route::short_hash("alice"), "{log}");
    assert!(!stdout.contains("\"alice\""), "the user id itself is never logged");
    assert!(log["span"]["requestId"].as_str().is_some_and(|id| !id.is_empty()), "{log}");
    // And the CloudWatch EMF line counting its order.
    let emf: Value = stdout
        .lines()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .find(|doc| doc.get("_aws").is_some())
        .unwrap_or_else(|| panic!("no EMF line in place-order's stdout:\n{stdout}"));
    assert_eq!(emf["OrdersPlaced"], 1, "{emf}");
    assert_eq!(emf["Function"], "place-order");
    assert_eq!(emf["_aws"]["CloudWatchMetrics"][0]["Namespace"], "Storefront");
    api.stop().await;
}

/// A clock stopped in the past: what is done with it looks overdue to the sweeper and the reconciler.
struct Past(time::OffsetDateTime);

impl storefront::ports::Clock for Past {
    fn now(&self) -> time::OffsetDateTime {
        self.0
    }
}

/// The state with its clock `minutes` in the past.
fn minutes_ago(state: &storefront::AppState, minutes: i64) -> storefront::AppState {
    let mut past = state.clone();
    past.clock = std::sync::Arc::new(Past(time::OffsetDateTime::now_utc() - time::Duration::minutes(minutes)));
    past
}

fn first_page() -> storefront::ports::PageRequest {
    storefront::ports::PageRequest { limit: 100, after: None }
}

/// A checkout of one `product` by `buyer` made in-process (not by a binary), with a confirmation address, at the
/// state's clock's time; the order awaits payment with its intent.
async fn placed(state: &storefront::AppState, buyer: &str, product: &str, key: &str) -> Order {
    use storefront::domain::{IdempotencyKey, Purchase, UserId};
    use storefront::services::checkout::{Buyer, CheckoutOutcome, checkout};
    let buyer =
        Buyer { user: UserId::parse(buyer).expect("user"), contact_email: Some(format!("{buyer}@example.com")) };
    let purchase = Purchase::parse(Some(&[(product.to_owned(), 1)])).expect("lines");
    match checkout(&state.checkout_ports(), &buyer, IdempotencyKey::parse(key).expect("key"), purchase).await {
        Ok(CheckoutOutcome::Placed(order)) => order,
        other => panic!("not placed: {other:?}"),
    }
}

fn intent_of(order: &Order) -> storefront::domain::ProviderRef {
    order.payment.as_ref().expect("the order has its intent").intent_id.clone()
}

fn reference(order: &Order) -> storefront::domain::OrderRef {
    storefront::domain::OrderRef { user_id: order.user_id.clone(), order_id: order.order_id.clone() }
}

/// Paid at the provider (no webhook) and recorded paid at the state's clock's time, sending nothing.
async fn paid(app: &TestApp, state: &storefront::AppState, order: &Order) -> Order {
    app.server.payments().succeed(intent_of(order).as_str(), Webhook::Never).expect("an open intent");
    let intent = intent_of(order);
    let moved =
        storefront::services::orders::move_order(&state.order_ports(), &order.user_id, &order.order_id, |o, now| {
            o.payment_succeeded(&intent, None, now)
        })
        .await
        .expect("paid");
    moved.order().clone()
}

/// Paid, confirmed and `artisan`'s part shipped, at the state's clock's time: their payout is owed since then.
async fn shipped(app: &TestApp, state: &storefront::AppState, order: &Order, artisan: &str) {
    paid(app, state, order).await;
    storefront::services::orders::confirm(&state.order_ports(), &reference(order)).await.expect("confirmed");
    let artisan = storefront::domain::UserId::parse(artisan).expect("artisan");
    storefront::services::orders::ship(&state.order_ports(), &artisan, &order.order_id).await.expect("shipped");
}

/// A product of `artisan` (a new one), in stock.
async fn product_of(state: &storefront::AppState, artisan: &str) -> String {
    let new = storefront::domain::NewProduct::parse("Stool", "", "woodwork", 6000, "USD", 20).expect("valid");
    let artisan_id = storefront::domain::UserId::parse(artisan).expect("artisan");
    let product =
        storefront::services::products::create(state.catalog.as_ref(), state.clock.as_ref(), &artisan_id, artisan, new)
            .await
            .expect("created");
    product.product_id.to_string()
}

/// An S3 `ObjectCreated` notification for `key`, delivered by SQS, as the image queue receives it.
fn object_created_batch(key: &str) -> Value {
    let notification = serde_json::json!({"Records": [{
        "eventVersion": "2.1", "eventSource": "aws:s3", "awsRegion": "us-east-1",
        "eventTime": "2026-11-28T10:00:00.000Z", "eventName": "ObjectCreated:Put",
        "s3": {"s3SchemaVersion": "1.0", "bucket": {"name": storefront_local::MEDIA_BUCKET}, "object": {"key": key, "size": 1}},
    }]});
    serde_json::json!({"Records": [{
        "messageId": "5d0c8f4e-2222-4c3e-9d6a-000000000001", "receiptHandle": "r1", "body": notification.to_string(),
        "attributes": {"ApproximateReceiveCount": "1", "SentTimestamp": "1795813200000", "SenderId": "s3",
            "ApproximateFirstReceiveTimestamp": "1795813200000"},
        "messageAttributes": {}, "md5OfBody": "", "eventSource": "aws:sqs",
        "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:storefront-images", "awsRegion": "us-east-1",
    }]})
}

/// An SQS batch of `bodies`, as the event source mapping delivers it.
fn sqs_batch(bodies: &[String]) -> Value {
    let records: Vec<Value> = bodies
        .iter()
        .enumerate()
        .map(|(n, body)| {
            serde_json::json!({
                "messageId": format!("9a7e0c11-4444-4c3e-9d6a-{n:012}"), "receiptHandle": format!("r{n}"),
                "body": body, "attributes": {"ApproximateReceiveCount": "1", "SentTimestamp": "1795813200000",
                "SenderId": "AROAEXAMPLE:payment-webhook", "ApproximateFirstReceiveTimestamp": "1795813200000"},
                "messageAttributes": {}, "md5OfBody": "", "eventSource": "aws:sqs",
                "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:storefront-payments", "awsRegion": "us-east-1",
            })
        })
        .collect();
    serde_json::json!({ "Records": records })
}

/// Runs `function`'s binary on the event in `file` and returns its answer and what it used.
async fn run_binary(
    api: &RuntimeApi,
    tools: &Tools,
    app: &TestApp,
    function: &str,
    file: &Path,
) -> (Value, String, BTreeSet<Use>) {
    app.server.lambda_calls.take_uses();
    let process = start(api, tools, function, function, &app.server.lambda_environment()).await;
    let answer = cargo_lambda_invoke(api, tools, function, file).await;
    let stdout = process.stop().await.stdout;
    (answer, stdout, app.server.lambda_calls.take_uses())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_payment_and_order_workers_run_on_their_real_paths() {
    use storefront::domain::{OrderStatus, PaymentStatus, ProductId, UserId};
    use storefront::ports::PaymentMessage;
    let tools = tools();
    let api = RuntimeApi::start().await.expect("runtime API starts");
    // The worker binaries do the work here, not the server's in-process workers.
    let app = spawn_app_with(|options| options.in_process_workers = false).await;
    let state = app.server.app.clone();
    let dir = tempfile::tempdir().expect("temp dir");
    let seeded = crate::events::ORDERED_PRODUCT;
    let stock = |id: &str| {
        let state = state.clone();
        let id = ProductId::parse(id).expect("id");
        async move { state.catalog.get_product(&id).await.expect("read").expect("product").stock }
    };

    // The payment worker, its key from Secrets Manager, on one batch of every kind of payment work: a payment
    // that succeeded, one that failed (the order cancelled, the stock back, the intent cancelled), a paid order
    // cancelled (refunded), a payout for an artisan without an account (kept accrued, waiting for one), the payouts
    // that waited for an artisan who just connected one (transferred), an artisan who connected one with none
    // waiting (their marker gone), and a dispute won (the payout it held released, and sent to be paid).
    let succeeded = placed(&state, "alice", seeded, "succeeds").await;
    app.server.payments().succeed(intent_of(&succeeded).as_str(), Webhook::Never).expect("paid");
    let failed = placed(&state, "bob", seeded, "fails").await;
    app.server.payments().decline(intent_of(&failed).as_str(), Webhook::Never).expect("declined");
    let refunded = placed(&state, "cora", seeded, "refunds").await;
    paid(&app, &state, &refunded).await;
    storefront::services::orders::cancel(&state.order_ports(), &refunded.user_id, &refunded.order_id)
        .await
        .expect("cancelled");
    let (ivo, pia) = (product_of(&state, "ivo").await, product_of(&state, "pia").await);
    let unconnected = placed(&state, "dan", &ivo, "ivo-ships").await;
    shipped(&app, &state, &unconnected, "ivo").await;
    let connected = placed(&state, "dan", &pia, "pia-ships").await;
    shipped(&app, &state, &connected, "pia").await;
    let pia_id = UserId::parse("pia").expect("id");
    let waits = storefront::services::payouts::pay_out(&state.payment_ports(), &pia_id, &connected.order_id).await;
    assert!(matches!(waits, Ok(storefront::services::payouts::PayoutOutcome::AwaitingAccount(_))), "{waits:?}");
    let account = |id: &str| storefront::domain::PayoutAccount {
        account_id: storefront::domain::ProviderRef::parse(id).expect("id"),
        connected_at: state.clock.now(),
    };
    state.payment_records.connect_payout_account(&pia_id, &account("acct_pia")).await.expect("connected");
    let uma = UserId::parse("uma").expect("id");
    state.payment_records.connect_payout_account(&uma, &account("acct_uma")).await.expect("connected");
    let vic = product_of(&state, "vic").await;
    let disputed = placed(&state, "eve", &vic, "vic-ships").await;
    shipped(&app, &state, &disputed, "vic").await;
    let opened = storefront::domain::PaymentEvent {
        event_id: storefront::domain::ProviderRef::parse("evt_dispute_opened").expect("id"),
        intent_id: intent_of(&disputed),
        outcome: storefront::domain::PaymentOutcome::Dispute(storefront::domain::DisputeStage::Opened),
        order: Some(reference(&disputed)),
        charge_id: None,
    };
    storefront::services::payments::apply_event(&state.payment_ports(), &opened).await.expect("disputed");
    let vic_id = UserId::parse("vic").expect("id");
    let held = state.payment_records.get_payout(&vic_id, &disputed.order_id).await.expect("read").expect("payout");
    assert_eq!(held.status.as_str(), "held", "an open dispute holds the unsent payout");
    let stock_before = stock(seeded).await;
    let event = |order: &Order, outcome| {
        PaymentMessage::Event(storefront::domain::PaymentEvent {
            event_id: storefront::domain::ProviderRef::parse(&format!("evt_{}", order.order_id)).expect("id"),
            intent_id: intent_of(order),
            outcome,
            order: Some(reference(order)),
            charge_id: None,
        })
    };
    let messages = [
        event(&succeeded, storefront::domain::PaymentOutcome::Succeeded),
        event(&failed, storefront::domain::PaymentOutcome::Ended(storefront::domain::PaymentEnd::Failed)),
        PaymentMessage::Settle(reference(&refunded)),
        PaymentMessage::Payout {
            artisan_id: UserId::parse("ivo").expect("id"),
            order_id: unconnected.order_id.clone(),
        },
        PaymentMessage::PayoutsFor { artisan_id: pia_id.clone() },
        PaymentMessage::PayoutsFor { artisan_id: uma.clone() },
        PaymentMessage::Event(storefront::domain::PaymentEvent {
            event_id: storefront::domain::ProviderRef::parse("evt_dispute_won").expect("id"),
            outcome: storefront::domain::PaymentOutcome::Dispute(storefront::domain::DisputeStage::Won),
            ..opened.clone()
        }),
    ];
    let bodies: Vec<String> = messages.iter().map(|m| serde_json::to_string(m).expect("JSON")).collect();
    let batch_file = dir.path().join("payments.json");
    std::fs::write(&batch_file, sqs_batch(&bodies).to_string()).expect("write event");
    let (answer, _, uses) = run_binary(&api, &tools, &app, "payment-worker", &batch_file).await;
    assert_eq!(answer["batchItemFailures"], serde_json::json!([]), "{answer}");
    assert_grants_match_use("payment-worker", &uses);
    let stored = |order: &Order| {
        let state = state.clone();
        let (user, id) = (order.user_id.clone(), order.order_id.clone());
        async move { state.orders.get_order(&user, &id).await.expect("read").expect("order") }
    };
    assert_eq!(stored(&succeeded).await.status, OrderStatus::Paid);
    assert!(
        app.server.queue.pending().iter().any(|m| m.contains(succeeded.order_id.as_str())),
        "sent to the order worker"
    );
    let cancelled = stored(&failed).await;
    assert_eq!(
        (cancelled.status, cancelled.payment.map(|p| p.status)),
        (OrderStatus::Cancelled, Some(PaymentStatus::Canceled))
    );
    assert_eq!(stock(seeded).await, stock_before + 1, "the failed order's unit is back");
    assert_eq!(app.server.payments().intent(intent_of(&failed).as_str()).expect("intent")["status"], "canceled");
    assert_eq!(stored(&refunded).await.payment.map(|p| p.status), Some(PaymentStatus::Refunded));
    assert_eq!(app.server.payments().refunds().len(), 1, "one refund");
    let ivo_payout = state.payment_records.get_payout(&UserId::parse("ivo").expect("id"), &unconnected.order_id).await;
    assert_eq!(ivo_payout.expect("read").expect("payout").status.as_str(), "accrued");
    let transfers = app.server.payments().transfers();
    assert_eq!(transfers.len(), 1, "{transfers:?}");
    assert_eq!((transfers[0]["destination"].as_str(), transfers[0]["amount"].as_i64()), (Some("acct_pia"), Some(5400)));
    assert_eq!(transfers[0]["transfer_group"], connected.order_id.as_str(), "the charge's group: the order's");
    let charge = app.server.payments().intent(intent_of(&connected).as_str()).expect("intent")["latest_charge"].clone();
    assert_eq!(transfers[0]["source_transaction"], charge, "funded from the order's own charge");
    assert!(state.payment_records.artisans_to_pay(&first_page()).await.expect("read").items.is_empty(), "none waits");
    let released = state.payment_records.get_payout(&vic_id, &disputed.order_id).await.expect("read").expect("payout");
    assert_eq!(released.status.as_str(), "accrued", "the dispute won releases it");
    assert!(
        app.server
            .payment_queue
            .pending()
            .iter()
            .any(|m| m.contains("payout") && m.contains(disputed.order_id.as_str())),
        "and sends it to be paid"
    );

    // The order worker: the paid order is confirmed and emailed through SES; the poison message alone is reported
    // as failed.
    let template =
        std::fs::read_to_string(repo_root().join("events/sqs/order-worker.batch-with-poison.json")).expect("event");
    let batch_file = dir.path().join("batch.json");
    let mut batch: Value =
        serde_json::from_str(&template.replace("{{ORDER_ID}}", succeeded.order_id.as_str())).expect("JSON");
    // The poison message on its last receive: failing it sends it to the dead-letter queue, which is counted.
    batch["Records"][1]["attributes"]["ApproximateReceiveCount"] =
        storefront::worker::MAX_RECEIVE_COUNT.to_string().into();
    std::fs::write(&batch_file, batch.to_string()).expect("write event");
    let poison_id = batch["Records"][1]["messageId"].clone();
    let (answer, stdout, uses) = run_binary(&api, &tools, &app, "order-worker", &batch_file).await;
    let emf: Value = stdout
        .lines()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .find(|doc| doc.get("_aws").is_some())
        .unwrap_or_else(|| panic!("no EMF line in the order worker's stdout:\n{stdout}"));
    assert_eq!(emf["DlqSends"], 1, "the worker binary counts the message it sends to the dead letters: {emf}");
    assert_grants_match_use("order-worker", &uses);
    assert_eq!(answer["batchItemFailures"], serde_json::json!([{ "itemIdentifier": poison_id }]), "{answer}");
    assert_eq!(stored(&succeeded).await.status, OrderStatus::Confirmed);
    let emails = app.server.lambda_emails();
    assert_eq!(emails.len(), 1, "{emails:?}");
    assert_eq!(emails[0].from, storefront_local::LAMBDA_CONFIRMATION_SENDER);
    assert_eq!(emails[0].to, ["alice@example.com"]);
    assert!(emails[0].subject.contains(succeeded.order_id.as_str()), "{emails:?}");
    app.server.stop().await;
    api.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_image_worker_runs_on_its_real_path() {
    use storefront::domain::ProductId;
    let tools = tools();
    let api = RuntimeApi::start().await.expect("runtime API starts");
    let app = spawn_app_with(|options| options.in_process_workers = false).await;
    let state = app.server.app.clone();
    let dir = tempfile::tempdir().expect("temp dir");
    let seeded = crate::events::ORDERED_PRODUCT;
    // A real upload becomes variants on the product; an upload already handled (gone) and S3's test event both
    // succeed.
    let product = ProductId::parse(seeded).expect("id");
    let upload = format!("uploads/marta-clay/{seeded}/01KDVDQ4K00000000001FET0A1");
    state.blobs.put(&upload, photo(), "image/jpeg", "no-store").await.expect("uploaded");
    let real_file = dir.path().join("upload.json");
    std::fs::write(&real_file, object_created_batch(&upload).to_string()).expect("write event");
    let env = app.server.lambda_environment();
    app.server.lambda_calls.take_uses();
    let images = start(&api, &tools, "image-worker", "image-worker", &env).await;
    let real = cargo_lambda_invoke(&api, &tools, "image-worker", &real_file).await;
    let sample = repo_root().join("events/sqs/image-worker.object-created.json");
    let gone = cargo_lambda_invoke(&api, &tools, "image-worker", &sample).await;
    images.stop().await;
    assert_grants_match_use("image-worker", &app.server.lambda_calls.take_uses());
    assert_eq!(
        (real["batchItemFailures"].clone(), gone["batchItemFailures"].clone()),
        (serde_json::json!([]), serde_json::json!([]))
    );
    let photographed = state.catalog.get_product(&product).await.expect("read").expect("product");
    assert_eq!(photographed.images.len(), 1, "the photo was attached");
    assert!(state.blobs.list("uploads/").await.expect("list").is_empty(), "the upload was removed");
    app.server.stop().await;
    api.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sweeper_and_the_reconciler_run_on_their_real_paths() {
    use storefront::domain::{OrderStatus, PaymentStatus, UserId};
    let tools = tools();
    let api = RuntimeApi::start().await.expect("runtime API starts");
    let app = spawn_app_with(|options| options.in_process_workers = false).await;
    let state = app.server.app.clone();
    let seeded = crate::events::ORDERED_PRODUCT;
    let (ten_minutes_ago, twenty_minutes_ago) = (minutes_ago(&state, 10), minutes_ago(&state, 20));
    let stored = |order: &Order| {
        let state = state.clone();
        let (user, id) = (order.user_id.clone(), order.order_id.clone());
        async move { state.orders.get_order(&user, &id).await.expect("read").expect("order") }
    };

    // The sweeper: an order unpaid for twenty minutes expires (its intent cancelled at the provider first); an order
    // paid ten minutes ago whose message to the order worker was lost is sent again.
    let unpaid = placed(&twenty_minutes_ago, "alice", seeded, "unpaid").await;
    let stuck = placed(&ten_minutes_ago, "alice", seeded, "stuck").await;
    paid(&app, &ten_minutes_ago, &stuck).await;
    let schedule = repo_root().join("events/scheduled/order-sweeper.json");
    let (answer, _, uses) = run_binary(&api, &tools, &app, "order-sweeper", &schedule).await;
    assert_grants_match_use("order-sweeper", &uses);
    assert_eq!(
        answer,
        serde_json::json!({
            "expired": 1, "failed": 0, "backlog_left": false, "forgotten": 0, "paid_late": 0, "resent": 1,
        })
    );
    let expired = stored(&unpaid).await;
    assert_eq!(
        (expired.status, expired.payment.map(|p| p.status)),
        (OrderStatus::Cancelled, Some(PaymentStatus::Canceled))
    );
    assert_eq!(app.server.payments().intent(intent_of(&unpaid).as_str()).expect("intent")["status"], "canceled");
    assert!(app.server.queue.pending().iter().any(|body| body.contains(stuck.order_id.as_str())), "re-sent");

    // The reconciler: a paid order cancelled ten minutes ago whose refund was never made (refunded), a payment
    // whose webhook was lost (made paid, sent to the order worker), an intent cancelled at the provider (the
    // order cancelled, its stock back), and two shipped parts' payouts, one artisan without an account (kept
    // accrued), one with (transferred).
    let to_refund = placed(&ten_minutes_ago, "bob", seeded, "to-refund").await;
    paid(&app, &ten_minutes_ago, &to_refund).await;
    storefront::services::orders::move_order(
        &ten_minutes_ago.order_ports(),
        &to_refund.user_id,
        &to_refund.order_id,
        |o, now| o.cancel(now),
    )
    .await
    .expect("cancelled, its settlement never queued");
    let lost_webhook = placed(&ten_minutes_ago, "cora", seeded, "lost-webhook").await;
    app.server.payments().succeed(intent_of(&lost_webhook).as_str(), Webhook::Never).expect("paid");
    let cancelled_at_provider = placed(&ten_minutes_ago, "dan", seeded, "cancelled-at-provider").await;
    state.payments.cancel_intent(&intent_of(&cancelled_at_provider)).await.expect("cancelled at the provider");
    let (ivo, pia) = (product_of(&state, "ivo").await, product_of(&state, "pia").await);
    let unconnected = placed(&ten_minutes_ago, "erin", &ivo, "ivo-ships").await;
    shipped(&app, &ten_minutes_ago, &unconnected, "ivo").await;
    let connected = placed(&ten_minutes_ago, "erin", &pia, "pia-ships").await;
    shipped(&app, &ten_minutes_ago, &connected, "pia").await;
    let pia_account = storefront::domain::PayoutAccount {
        account_id: storefront::domain::ProviderRef::parse("acct_pia").expect("id"),
        connected_at: state.clock.now(),
    };
    state
        .payment_records
        .connect_payout_account(&UserId::parse("pia").expect("id"), &pia_account)
        .await
        .expect("connected");
    let schedule = repo_root().join("events/scheduled/payment-reconciler.json");
    let (answer, _, uses) = run_binary(&api, &tools, &app, "payment-reconciler", &schedule).await;
    assert_grants_match_use("payment-reconciler", &uses);
    assert_eq!(answer["fixed"], 4, "refund, lost webhook, cancelled intent, one transfer: {answer}");
    let found: BTreeSet<&str> =
        answer["disagreements"].as_array().expect("listed").iter().filter_map(|d| d["order_id"].as_str()).collect();
    let expected: BTreeSet<&str> =
        [&to_refund, &lost_webhook, &cancelled_at_provider].iter().map(|o| o.order_id.as_str()).collect();
    assert_eq!(found, expected, "{answer}");
    assert_eq!(stored(&to_refund).await.payment.map(|p| p.status), Some(PaymentStatus::Refunded));
    assert_eq!(stored(&lost_webhook).await.status, OrderStatus::Paid);
    assert!(app.server.queue.pending().iter().any(|body| body.contains(lost_webhook.order_id.as_str())));
    assert_eq!(stored(&cancelled_at_provider).await.status, OrderStatus::Cancelled);
    assert_eq!(app.server.payments().transfers().len(), 1);
    let ivo_payout = state.payment_records.get_payout(&UserId::parse("ivo").expect("id"), &unconnected.order_id).await;
    assert_eq!(ivo_payout.expect("read").expect("payout").status.as_str(), "accrued");
    app.server.stop().await;
    api.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_function_without_its_configuration_fails_init_naming_the_variable_and_its_invocations_fail() {
    let tools = tools();
    let api = RuntimeApi::start().await.expect("runtime API starts");
    let env: Vec<(String, String)> = vec![("AWS_REGION".into(), "us-east-1".into())];
    let process = api.spawn(&tools.binaries.join("get-product"), "no-config", &env).expect("spawn");
    let output = tokio::time::timeout(Duration::from_secs(20), process.wait()).await.expect("the process exits");
    assert!(output.status.is_some_and(|s| !s.success()), "{output:?}");
    assert!(output.stderr.contains("TABLE_NAME") || output.stdout.contains("TABLE_NAME"), "{output:?}");
    let Outcome::Error(body) = api.invoke("no-config", "{}".into()).await else { panic!("the invocation should fail") };
    assert!(String::from_utf8_lossy(&body).contains("Runtime.ExitError"), "{}", String::from_utf8_lossy(&body));
    api.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_functions_answer_on_the_sam_local_env_file_pointed_at_the_stand_ins() {
    only_on!(DynamoDb, "events/env.json is sam local's environment, the DynamoDB backend's");
    use crate::template::{sam_local_address, sam_local_env_file, stand_in_variable};
    use storefront_local::options::StandIn;

    let tools = tools();
    let api = RuntimeApi::start().await.expect("runtime API starts");
    let app = spawn_app_with(|options| options.in_process_workers = false).await;
    // The file as `sam local` gives it to a container, with make dev's fixed ports moved to where this test's
    // stand-ins listen (free ports: tests run side by side), and the credentials sam local passes from the shell
    // (docs/deploy.md: AWS_ACCESS_KEY_ID=local, as make dev's stand-ins expect).
    let lambda: BTreeMap<String, String> = app.server.lambda_environment().into_iter().collect();
    let moved: Vec<(String, String)> =
        StandIn::ALL.iter().map(|s| (sam_local_address(*s), lambda[stand_in_variable(*s)].clone())).collect();
    let file = sam_local_env_file();
    let environment_of = |logical_id: &str| -> Vec<(String, String)> {
        let given = file["Parameters"].as_object().into_iter().chain(file[logical_id].as_object()).flatten();
        let from_shell =
            [("AWS_REGION", "us-east-1"), ("AWS_ACCESS_KEY_ID", "local"), ("AWS_SECRET_ACCESS_KEY", "local")];
        given
            .map(|(name, value)| {
                let mut value = value.as_str().expect("a string").to_owned();
                for (fixed, here) in &moved {
                    value = value.replace(fixed.as_str(), here);
                }
                (name.clone(), value)
            })
            .chain(from_shell.map(|(name, value)| (name.to_owned(), value.to_owned())))
            .collect()
    };
    // A catalog read (DynamoDB), a checkout (DynamoDB, Secrets Manager, the payment provider), an upload URL (S3).
    let cases = [
        ("GetProductFunction", "get-product.ok", 200),
        ("PlaceOrderFunction", "place-order.buy-now", 201),
        ("RequestImageUploadFunction", "request-image-upload.ok", 201),
    ];
    let dir = tempfile::tempdir().expect("temp dir");
    for (logical_id, event, status) in cases {
        let file = rendered_event(dir.path(), event, &app).await;
        let function = event.split('.').next().expect("function part");
        let running = start(&api, &tools, function, event, &environment_of(logical_id)).await;
        let response = cargo_lambda_invoke(&api, &tools, event, &file).await;
        let stdout = running.stop().await.stdout;
        assert_eq!(response["statusCode"].as_u64(), Some(status), "{event} on events/env.json: {response}\n{stdout}");
    }
    app.server.stop().await;
    api.stop().await;
}

/// A TCP relay in front of an endpoint that keeps, per connection, the bytes the client sent and whether an
/// answer came back: what a function opened, in what order, and what it sent on each. It also keeps what crossed
/// it in order (`Crossing`), holding each answer back a little so that calls sent together are seen together.
struct Relay {
    endpoint: String,
    connections: std::sync::Arc<std::sync::Mutex<Vec<RelayedConnection>>>,
    crossings: std::sync::Arc<std::sync::Mutex<Vec<Crossing>>>,
    task: tokio::task::JoinHandle<()>,
}

#[derive(Debug, Default, Clone)]
struct RelayedConnection {
    sent: Vec<u8>,
    answered: bool,
}

/// Through the relay, in the order it happened: a call going out (the DynamoDB operation its `X-Amz-Target`
/// names), or an answer handed back.
#[derive(Debug, Clone)]
enum Crossing {
    Call(String),
    Answer,
}

/// How long the relay holds an answer back: far longer than a function takes to send the calls it makes together.
const ANSWER_DELAY: Duration = Duration::from_millis(50);

impl Relay {
    async fn start(upstream: &str) -> Self {
        let upstream = upstream.trim_start_matches("http://").to_owned();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("a port");
        let endpoint = format!("http://{}", listener.local_addr().expect("address"));
        let connections = std::sync::Arc::new(std::sync::Mutex::new(Vec::<RelayedConnection>::new()));
        let crossings = std::sync::Arc::new(std::sync::Mutex::new(Vec::<Crossing>::new()));
        let (seen, crossed) = (connections.clone(), crossings.clone());
        let task = tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let index = {
                    let mut all = seen.lock().expect("lock");
                    all.push(RelayedConnection::default());
                    all.len() - 1
                };
                let server = tokio::net::TcpStream::connect(&upstream).await.expect("the upstream answers");
                let ((client_read, client_write), (server_read, server_write)) =
                    (client.into_split(), server.into_split());
                let (up, down, calls, answers) = (seen.clone(), seen.clone(), crossed.clone(), crossed.clone());
                tokio::spawn(pump(client_read, server_write, Duration::ZERO, move |bytes| {
                    up.lock().expect("lock")[index].sent.extend_from_slice(bytes);
                    if let Some(operation) = operation_of(bytes) {
                        calls.lock().expect("lock").push(Crossing::Call(operation));
                    }
                }));
                // Marked before the client can read the answer: whatever the client did next, the mark is there.
                tokio::spawn(pump(server_read, client_write, ANSWER_DELAY, move |_| {
                    down.lock().expect("lock")[index].answered = true;
                    answers.lock().expect("lock").push(Crossing::Answer);
                }));
            }
        });
        Self { endpoint, connections, crossings, task }
    }

    fn connections(&self) -> Vec<RelayedConnection> {
        self.connections.lock().expect("lock").clone()
    }

    /// The DynamoDB calls made through the relay, in round trips: a call sent after an answer came back starts the
    /// next round; the calls of a round went out together (sorted by name here).
    fn rounds(&self) -> Vec<Vec<String>> {
        let mut rounds: Vec<Vec<String>> = Vec::new();
        let mut answered = true;
        for crossing in self.crossings.lock().expect("lock").iter() {
            match crossing {
                Crossing::Call(operation) if answered => rounds.push(vec![operation.clone()]),
                Crossing::Call(operation) => rounds.last_mut().expect("a round").push(operation.clone()),
                Crossing::Answer => {}
            }
            answered = matches!(crossing, Crossing::Answer);
        }
        rounds.iter_mut().for_each(|round| round.sort());
        rounds
    }
}

/// The DynamoDB operation a request's head names (`X-Amz-Target: DynamoDB_20120810.GetItem`), if these bytes hold one.
fn operation_of(bytes: &[u8]) -> Option<String> {
    let text = String::from_utf8_lossy(bytes);
    let target = text.lines().find(|line| line.to_ascii_lowercase().starts_with("x-amz-target:"))?;
    target.rsplit('.').next().map(|operation| operation.trim().to_owned())
}

/// Copies `from` to `to` until either side closes, each chunk `delay` late, showing `seen` each chunk before it is
/// passed on.
async fn pump(
    mut from: impl tokio::io::AsyncRead + Unpin,
    mut to: impl tokio::io::AsyncWrite + Unpin,
    delay: Duration,
    mut seen: impl FnMut(&[u8]),
) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut buffer = [0u8; 8192];
    while let Ok(n @ 1..) = from.read(&mut buffer).await {
        tokio::time::sleep(delay).await;
        seen(&buffer[..n]);
        if to.write_all(&buffer[..n]).await.is_err() {
            break;
        }
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// A function started under the harness with its DynamoDB traffic through a [`Relay`], as Lambda starts it with
/// `AWS_LAMBDA_INITIALIZATION_TYPE=<initialization>`, ready for its first event (`event`, rendered into `file`).
struct RelayedStart {
    event: &'static str,
    tools: Tools,
    api: RuntimeApi,
    app: TestApp,
    _dir: tempfile::TempDir,
    file: PathBuf,
    relay: Relay,
    running: FunctionProcess,
}

async fn behind_a_relay(function: &str, event: &'static str, initialization: &str) -> RelayedStart {
    let tools = tools();
    let api = RuntimeApi::start().await.expect("runtime API starts");
    let app = spawn_app_with(|options| options.in_process_workers = false).await;
    let dir = tempfile::tempdir().expect("temp dir");
    let file = rendered_event(dir.path(), event, &app).await;
    let mut env = app.server.lambda_environment();
    let dynamodb = env.iter_mut().find(|(name, _)| name == "AWS_ENDPOINT_URL_DYNAMODB").expect("DynamoDB endpoint");
    let relay = Relay::start(&dynamodb.1).await;
    dynamodb.1 = relay.endpoint.clone();
    env.push((storefront::config::LAMBDA_INITIALIZATION_TYPE.into(), initialization.into()));
    let running = start(&api, &tools, function, event, &env).await;
    RelayedStart { event, tools, api, app, _dir: dir, file, relay, running }
}

/// Waits (up to 5 s) for init to open `count` connections through `relay` by itself, before any event, and holds
/// them to exactly `count` with nothing sent on any; a failure stops `running` and shows its output.
async fn bare_connections(relay: &Relay, count: usize, running: FunctionProcess) -> FunctionProcess {
    let mut opened = relay.connections();
    for _ in 0..500 {
        if opened.len() >= count {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
        opened = relay.connections();
    }
    if !(opened.len() == count && opened.iter().all(|c| c.sent.is_empty())) {
        let stdout = running.stop().await.stdout;
        panic!("init did not open {count} bare connections: {opened:?}\n{stdout}");
    }
    running
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dynamodb_warm_up_on_demand_opens_a_bare_connection_the_first_request_takes() {
    only_on!(DynamoDb, "DynamoDB's warm-up connections");
    let RelayedStart { event, tools, api, app, _dir, file, relay, running } =
        behind_a_relay("get-product", "get-product.ok", "on-demand").await;
    // Before any event: the connection opens by itself, and nothing is sent on it.
    let running = bare_connections(&relay, 1, running).await;
    let response = cargo_lambda_invoke(&api, &tools, event, &file).await;
    let stdout = running.stop().await.stdout;
    assert_eq!(response["statusCode"].as_u64(), Some(200), "{response}\n{stdout}");
    let connections = relay.connections();
    assert_eq!(connections.len(), 1, "the first request opened a connection of its own: {connections:?}");
    let sent = String::from_utf8_lossy(&connections[0].sent).into_owned();
    assert!(sent.starts_with("POST / HTTP/1.1\r\n") && sent.contains("GetItem"), "no warm-up request: {sent}");
    app.server.stop().await;
    api.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dynamodb_warm_up_on_demand_opens_a_connection_for_each_of_a_listings_first_calls() {
    only_on!(DynamoDb, "DynamoDB's warm-up connections");
    let calls = storefront::app::LISTING_CALLS;
    let RelayedStart { event, tools, api, app, _dir, file, relay, running } =
        behind_a_relay("list-products", "list-products.ok", "on-demand").await;
    let running = bare_connections(&relay, calls, running).await;
    let response = cargo_lambda_invoke(&api, &tools, event, &file).await;
    let stdout = running.stop().await.stdout;
    assert_eq!(response["statusCode"].as_u64(), Some(200), "{response}\n{stdout}");
    let connections = relay.connections();
    assert_eq!(connections.len(), calls, "the first page opened connections of its own: {connections:?}");
    for connection in &connections {
        let sent = String::from_utf8_lossy(&connection.sent).into_owned();
        let requests = sent.matches(" HTTP/1.1\r\n").count();
        assert!(requests == 1 && sent.contains("DynamoDB_20120810.Query"), "one shard's Query each: {sent}");
    }
    app.server.stop().await;
    api.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dynamodb_warm_up_opens_the_connection_the_first_request_uses_and_calls_no_api() {
    only_on!(DynamoDb, "DynamoDB's warm-up connections");
    // As under provisioned concurrency, where `WARM_UP`'s default opens the connection in init.
    let RelayedStart { event, tools, api, app, _dir, file, relay, running } =
        behind_a_relay("get-product", "get-product.ok", "provisioned-concurrency").await;
    let opened = relay.connections();
    assert!(opened.len() == 1 && opened[0].answered, "init did not open the connection: {opened:?}");
    let response = cargo_lambda_invoke(&api, &tools, event, &file).await;
    let stdout = running.stop().await.stdout;
    assert_eq!(response["statusCode"].as_u64(), Some(200), "{response}\n{stdout}");
    assert!(!stdout.contains("warm-up failed"), "{stdout}");

    let connections = relay.connections();
    assert_eq!(connections.len(), 1, "the first request opened a connection of its own: {connections:?}");
    let sent = String::from_utf8_lossy(&connections[0].sent).into_owned();
    let requests: Vec<&str> = sent.split("\r\n\r\n").filter(|head| head.contains(" HTTP/1.1")).collect();
    assert!(requests[0].starts_with("GET / HTTP/1.1\r\n"), "the warm-up is the health check: {sent}");
    let unsigned = !requests[0].to_ascii_lowercase().contains("authorization:");
    assert!(unsigned && !requests[0].contains("X-Amz-Target"), "the warm-up calls no API: {sent}");
    assert!(requests[1].starts_with("POST / HTTP/1.1\r\n") && requests[1].contains("GetItem"), "{sent}");
    let uses = app.server.lambda_calls.take_uses();
    let actions: BTreeSet<&str> = uses.iter().map(|u| u.action.as_str()).collect();
    assert_eq!(actions, BTreeSet::from(["dynamodb:GetItem"]), "{uses:?}");
    app.server.stop().await;
    api.stop().await;
}

/// Starts `function` behind a relay (on demand), checks init opened `connections` bare ones, answers its event
/// with `status` and gives the DynamoDB round trips the event took.
async fn round_trips_of(function: &str, event: &'static str, connections: usize, status: u64) -> Vec<Vec<String>> {
    let RelayedStart { event, tools, api, app, _dir, file, relay, running } =
        behind_a_relay(function, event, "on-demand").await;
    let running = bare_connections(&relay, connections, running).await;
    let response = cargo_lambda_invoke(&api, &tools, event, &file).await;
    let stdout = running.stop().await.stdout;
    assert_eq!(response["statusCode"].as_u64(), Some(status), "{event}: {response}\n{stdout}");
    let opened = relay.connections();
    assert_eq!(opened.len(), connections, "{event} opened connections of its own: {opened:?}");
    app.server.stop().await;
    api.stop().await;
    relay.rounds()
}

fn calls(rounds: &[&[&str]]) -> Vec<Vec<String>> {
    rounds.iter().map(|round| round.iter().map(|call| (*call).to_owned()).collect()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cart_change_makes_two_dynamodb_round_trips_on_connections_opened_at_init() {
    only_on!(DynamoDb, "the round trips a request makes to DynamoDB");
    use storefront::services::carts::CART_CALLS;
    // alice's cart holds another product (put) or keeps one (remove): its price is read beside the write, or after.
    let put = round_trips_of("put-cart-item", "put-cart-item.ok", CART_CALLS, 200).await;
    // Each line is written with the cart's tally of products in one transaction (the cart's limit holds under races).
    assert_eq!(put, calls(&[&["GetItem", "Query"], &["BatchGetItem", "TransactWriteItems"]]), "put-cart-item");
    let removed = round_trips_of("remove-cart-item", "remove-cart-item.ok", CART_CALLS, 200).await;
    assert_eq!(removed, calls(&[&["Query", "TransactWriteItems"], &["BatchGetItem"]]), "remove-cart-item");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_checkout_claims_its_key_beside_its_reads_in_dynamodb_round_trips() {
    only_on!(DynamoDb, "the round trips a request makes to DynamoDB");
    use storefront::services::checkout::CHECKOUT_CALLS;
    let placed = round_trips_of("place-order", "place-order.buy-now", CHECKOUT_CALLS, 201).await;
    assert_eq!(placed, calls(&[&["BatchGetItem", "PutItem"], &["TransactWriteItems"], &["TransactWriteItems"]]));
    // The refused claim answers with the record that refused it: no GetItem of it, only of the order.
    let replayed = round_trips_of("place-order", "place-order.replay", CHECKOUT_CALLS, 201).await;
    assert_eq!(replayed, calls(&[&["BatchGetItem", "PutItem"], &["GetItem"]]), "place-order.replay");
}
