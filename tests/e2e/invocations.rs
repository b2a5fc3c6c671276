//! Real invocations, the `sam local invoke` path without Docker: each function's own binary runs as a process
//! under our Lambda Runtime API (`storefront_local::runtime_api`), against a local stack it reaches over the AWS
//! wire (DynamoDB, S3 and SQS endpoints from `LocalServer::lambda_environment`), and every sample event goes
//! through `cargo lambda invoke`.
//!
//! The binaries come from `cargo build --bins` (the dev profile; `make test` builds them first). Without them
//! or without `cargo-lambda` (in .venv), the tests say so and pass, unless `STOREFRONT_REQUIRE_BINARIES=1`
//! (set by `make test`) makes that a failure.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use futures::StreamExt;
use serde_json::Value;
use storefront_local::functions::FUNCTIONS;
use storefront_local::runtime_api::{FunctionProcess, Outcome, RuntimeApi};
use storefront_tests::*;

use crate::events::{EXPECTED, render, sample_events};
use crate::routes::{granted_actions, template};

const WORKERS: [&str; 3] = ["order-worker", "image-worker", "order-sweeper"];

struct Tools {
    binaries: PathBuf,
    cargo_lambda: PathBuf,
}

/// The built function binaries and `cargo-lambda`, or the reason they cannot be used.
fn tools() -> Option<Tools> {
    let root = repo_root();
    let target = std::env::var_os("CARGO_TARGET_DIR").map(PathBuf::from).unwrap_or_else(|| root.join("target"));
    let binaries = target.join("debug");
    let cargo_lambda = root.join(".venv/bin/cargo-lambda");
    let problem = if cargo_lambda.exists() {
        stale_or_missing(&binaries)
    } else {
        Some("cargo-lambda is not in .venv (make tools installs it)".to_owned())
    };
    match problem {
        None => Some(Tools { binaries, cargo_lambda }),
        Some(reason) if std::env::var("STOREFRONT_REQUIRE_BINARIES").is_ok_and(|v| v == "1") => {
            panic!("{reason}; run `cargo build --bins` first (make test does)")
        }
        Some(reason) => {
            eprintln!("skipped: {reason}; run `cargo build --bins` or `make test`");
            None
        }
    }
}

/// A binary older than the newest source it is built from would test yesterday's code.
fn stale_or_missing(binaries: &Path) -> Option<String> {
    let root = repo_root();
    let newest_shared = newest_mtime(&root.join("shared/src"));
    let names = FUNCTIONS.iter().map(|f| f.route.function).chain(WORKERS);
    for name in names {
        let binary = binaries.join(name);
        let Ok(built) = std::fs::metadata(&binary).and_then(|m| m.modified()) else {
            return Some(format!("{} is missing", binary.display()));
        };
        let newest = newest_shared.max(newest_mtime(&root.join("functions").join(name).join("src")));
        if built < newest {
            return Some(format!("{} is older than its sources", binary.display()));
        }
    }
    None
}

fn newest_mtime(dir: &Path) -> SystemTime {
    let mut newest = SystemTime::UNIX_EPOCH;
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        let modified = if path.is_dir() {
            newest_mtime(&path)
        } else {
            entry.metadata().and_then(|m| m.modified()).unwrap_or(SystemTime::UNIX_EPOCH)
        };
        newest = newest.max(modified);
    }
    newest
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
    stdout: String,
    /// The DynamoDB IAM actions the function process needed.
    actions: BTreeSet<String>,
}

/// One API Gateway event through its function's binary against a fresh stack.
async fn run_apigw_event(api: &RuntimeApi, tools: &Tools, event: &str) -> EventRun {
    let app = spawn_app().await;
    let text = std::fs::read_to_string(repo_root().join("events/apigw").join(format!("{event}.json"))).expect("event");
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join(format!("{event}.json"));
    std::fs::write(&file, render(event, &text, &app).await).expect("rendered event");
    let function = event.split('.').next().expect("function part");
    let running = start(api, tools, function, event, &app.server.lambda_environment()).await;
    let response = cargo_lambda_invoke(api, tools, event, &file).await;
    let stdout = running.stop().await.stdout;
    let actions = app.server.lambda_calls.take_actions();
    app.server.stop().await;
    let status = response["statusCode"].as_u64().unwrap_or_else(|| panic!("{event}: no statusCode in {response}"));
    let content_type = header(&response, "content-type").unwrap_or_default().to_owned();
    EventRun { status: status as u16, content_type, stdout, actions }
}

/// The DynamoDB actions template.yaml grants a function.
fn granted_dynamodb_actions(function: &str) -> BTreeSet<String> {
    granted_actions(&template(), function).into_iter().filter(|action| action.starts_with("dynamodb:")).collect()
}

fn is_write(action: &str) -> bool {
    ["PutItem", "UpdateItem", "DeleteItem", "BatchWriteItem", "ConditionCheckItem"].iter().any(|w| action.ends_with(w))
}

/// What a function did (its actions over all its runs) must be granted, and no write may be granted unused.
fn assert_grants_match_use(function: &str, used: &BTreeSet<String>) {
    let granted = granted_dynamodb_actions(function);
    let missing: Vec<_> = used.difference(&granted).collect();
    assert!(
        missing.is_empty(),
        "{function} needs {missing:?}, which template.yaml does not grant (AccessDenied in AWS)"
    );
    let unused_writes: Vec<_> = granted.iter().filter(|a| is_write(a) && !used.contains(*a)).collect();
    assert!(unused_writes.is_empty(), "{function} is granted writes it never makes: {unused_writes:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_api_event_gets_its_expected_status_from_the_real_function_binary() {
    let Some(tools) = tools() else { return };
    let api = RuntimeApi::start().await.expect("runtime API starts");
    let names: Vec<String> = sample_events().into_keys().collect();
    let results: BTreeMap<String, EventRun> = futures::stream::iter(names)
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
        if run.status >= 400 {
            assert_eq!(run.content_type, "application/problem+json", "{name}");
        }
    }
    for function in FUNCTIONS {
        let name = function.route.function;
        let used: BTreeSet<String> = results
            .iter()
            .filter(|(event, _)| event.split('.').next() == Some(name))
            .flat_map(|(_, run)| run.actions.iter().cloned())
            .collect();
        assert_grants_match_use(name, &used);
    }
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
    assert_eq!(fields["user"], storefront::http::route::short_hash("alice"), "{log}");
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queue_and_schedule_events_run_through_the_worker_binaries() {
    let Some(tools) = tools() else { return };
    let api = RuntimeApi::start().await.expect("runtime API starts");
    // The worker binaries do the work here, not the server's in-process workers.
    let app = spawn_app_with(|options| options.in_process_workers = false).await;
    let env = app.server.lambda_environment();

    // A real order first, placed by the place-order binary (its OrderPlaced goes over the SQS wire).
    let place = start(&api, &tools, "place-order", "place-order", &env).await;
    let placed =
        cargo_lambda_invoke(&api, &tools, "place-order", &repo_root().join("events/apigw/place-order.buy-now.json"))
            .await;
    place.stop().await;
    assert_eq!(placed["statusCode"], 201, "{placed}");
    let order: Value = serde_json::from_str(placed["body"].as_str().expect("body")).expect("order JSON");
    let order_id = order["order_id"].as_str().expect("order id");

    // The order worker: the real order is confirmed, the poison message alone is reported as failed.
    let template =
        std::fs::read_to_string(repo_root().join("events/sqs/order-worker.batch-with-poison.json")).expect("event");
    let dir = tempfile::tempdir().expect("temp dir");
    let batch_file = dir.path().join("batch.json");
    std::fs::write(&batch_file, template.replace("{{ORDER_ID}}", order_id)).expect("write event");
    let batch: Value = serde_json::from_str(&std::fs::read_to_string(&batch_file).expect("read")).expect("JSON");
    let poison_id = batch["Records"][1]["messageId"].clone();
    app.server.lambda_calls.take_actions();
    let worker = start(&api, &tools, "order-worker", "order-worker", &env).await;
    let answer = cargo_lambda_invoke(&api, &tools, "order-worker", &batch_file).await;
    worker.stop().await;
    assert_grants_match_use("order-worker", &app.server.lambda_calls.take_actions());
    assert_eq!(answer["batchItemFailures"], serde_json::json!([{ "itemIdentifier": poison_id }]), "{answer}");
    let confirmed = eventually(10, || async {
        let user = storefront::domain::UserId::parse(order["user_id"].as_str().unwrap_or_default()).expect("user");
        let id = storefront::domain::OrderId::parse(order_id).expect("order id");
        let order = app.server.app.orders.get_order(&user, &id).await.expect("read").expect("order exists");
        order.status == storefront::domain::OrderStatus::Confirmed
    })
    .await;
    assert!(confirmed, "the order was never confirmed");

    // The image worker: an upload that is gone (already handled) and S3's test event both succeed.
    let images = start(&api, &tools, "image-worker", "image-worker", &env).await;
    let answer = cargo_lambda_invoke(
        &api,
        &tools,
        "image-worker",
        &repo_root().join("events/sqs/image-worker.object-created.json"),
    )
    .await;
    images.stop().await;
    let used = app.server.lambda_calls.take_actions();
    assert!(granted_dynamodb_actions("image-worker").is_superset(&used), "image-worker used {used:?}");
    assert_eq!(answer["batchItemFailures"], serde_json::json!([]), "{answer}");

    // The sweeper: nothing is stuck in `placed` for two minutes on a fresh stack.
    let sweeper = start(&api, &tools, "order-sweeper", "order-sweeper", &env).await;
    let answer =
        cargo_lambda_invoke(&api, &tools, "order-sweeper", &repo_root().join("events/scheduled/order-sweeper.json"))
            .await;
    sweeper.stop().await;
    assert_grants_match_use("order-sweeper", &app.server.lambda_calls.take_actions());
    assert_eq!(answer, serde_json::json!({ "resent": 0 }));
    app.server.stop().await;
    api.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_function_without_its_configuration_fails_init_naming_the_variable_and_its_invocations_fail() {
    let Some(tools) = tools() else { return };
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
