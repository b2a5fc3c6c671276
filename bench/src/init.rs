//! Cold starts: each route function's release binary under the Runtime API harness, started afresh again and
//! again: exec → first poll for work (init over) and exec → first response, beside the hello-world floor.

use std::path::Path;
use std::time::{Duration, Instant};

use bytes::Bytes;
use storefront_local::runtime_api::{Outcome, RuntimeApi};

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

/// Starts `binary` `starts` times; each start gets `event` as its first invocation.
pub async fn measure(
    api: &RuntimeApi,
    binary: &Path,
    name: &str,
    env: &[(String, String)],
    event: &Bytes,
    starts: usize,
) -> InitResult {
    let (mut ready, mut answered, mut peak_rss_kib, mut errors) = (Vec::new(), Vec::new(), 0, 0);
    for _ in 0..starts {
        let exec = Instant::now();
        let process = match api.spawn(binary, name, env) {
            Ok(process) => process,
            Err(error) => panic!("cannot start {}: {error}", binary.display()),
        };
        let Some(ready_at) = api.ready(name, Duration::from_secs(30)).await else {
            let output = process.stop().await;
            panic!("{name} never became ready: {}", output.stderr);
        };
        let outcome = api.invoke(name, event.clone()).await;
        let done = Instant::now();
        if matches!(outcome, Outcome::Error(_)) {
            errors += 1;
        }
        peak_rss_kib = peak_rss_kib.max(process.peak_rss_kib().unwrap_or_default());
        process.stop().await;
        ready.push(ready_at.saturating_duration_since(exec));
        answered.push(done.saturating_duration_since(exec));
    }
    InitResult { name: name.to_owned(), ready: millis(&ready), first_response: millis(&answered), peak_rss_kib, errors }
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
