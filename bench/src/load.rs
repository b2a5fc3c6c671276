//! A closed-loop HTTP load generator: `connections` clients each send the next request when the last one
//! answered, for `duration`. The same generator hits the storefront and the hello-world floor.

use std::time::{Duration, Instant};

use crate::stats::{Summary, millis};

#[derive(Debug, Clone, Copy)]
pub struct LoadResult {
    pub errors: usize,
    pub per_second: f64,
    pub latency: Summary,
}

pub async fn run(urls: &[String], connections: usize, duration: Duration) -> LoadResult {
    let started = Instant::now();
    let deadline = started + duration;
    let workers = (0..connections).map(|n| {
        let urls = urls.to_vec();
        async move {
            // One client per connection: keep-alive, like wrk's connections.
            let client = reqwest::Client::builder().pool_max_idle_per_host(1).no_proxy().build().expect("client");
            let (mut latencies, mut errors, mut i) = (Vec::new(), 0usize, n);
            while Instant::now() < deadline {
                let url = &urls[i % urls.len()];
                i += 1;
                let begun = Instant::now();
                match client.get(url).send().await {
                    Ok(response) if response.status().is_success() => {
                        let _ = response.bytes().await;
                        latencies.push(begun.elapsed());
                    }
                    _ => errors += 1,
                }
            }
            (latencies, errors)
        }
    });
    let results = futures::future::join_all(workers).await;
    let elapsed = started.elapsed().as_secs_f64();
    let errors = results.iter().map(|(_, e)| e).sum();
    let latencies: Vec<Duration> = results.into_iter().flat_map(|(l, _)| l).collect();
    LoadResult { errors, per_second: latencies.len() as f64 / elapsed, latency: millis(&latencies) }
}
