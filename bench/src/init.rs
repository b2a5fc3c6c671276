//! Cold starts: each route function's release binary under the Runtime API harness, started afresh again and
//! again: exec → first poll for work (init over) and exec → first response, beside the hello-world floor.

use std::path::{Path, PathBuf};
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
