//! Real invocations, the `sam local invoke` path without Docker: each function's own binary runs as a process
//! under our Lambda Runtime API (`storefront_local::runtime_api`), against a local stack it reaches over the AWS
//! wire (DynamoDB, S3, SQS and SES endpoints from `LocalServer::lambda_environment`, each behind a recording proxy),
//! and every sample event goes through `cargo lambda invoke`.
//!
//! The binaries come from `cargo build --bins` (the dev profile; `make test` and `make e2e` build them first), and
//! `cargo-lambda` from the project venv. A missing tool, or a binary older than any crate it is built from, fails
//! these tests with the command that fixes it: they never pass having run nothing.

//!
//! The harness is here (the tools, a function process, `cargo lambda invoke`); the suites: `apigw` (every sample
//! event through its binary, a function without its configuration, sam local's environment file), `workers` (the
//! queue workers and the scheduled jobs on their real paths) and `relay` (what a function opens and sends to
//! DynamoDB, through a TCP relay).

mod apigw;
mod relay;
mod workers;

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

/// A real photo, as a browser would PUT it to an upload URL.
fn photo() -> Vec<u8> {
    let pixels = image::ImageBuffer::from_fn(64, 48, |x, y| image::Rgb([(x * 4) as u8, (y * 5) as u8, 120]));
    let mut bytes = Vec::new();
    image::DynamicImage::ImageRgb8(pixels)
        .write_to(&mut std::io::Cursor::new(&mut bytes), image::ImageFormat::Jpeg)
        .expect("a JPEG");
    bytes
}

/// The sample event `event` rendered for `app`, written to a file in `dir` (what `cargo lambda invoke` sends).
async fn rendered_event(dir: &Path, event: &str, app: &TestApp) -> PathBuf {
    let text = std::fs::read_to_string(repo_root().join("events/apigw").join(format!("{event}.json"))).expect("event");
    let file = dir.join(format!("{event}.json"));
    std::fs::write(&file, render(event, &text, app).await).expect("rendered event");
    file
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
