//! A closed-loop HTTP load generator: `connections` clients each send the next request when the last one
//! answered, for a while. The same generator hits the storefront and the hello-world floor, in alternating slices
//! whose samples add up per target.

use std::time::{Duration, Instant};

use crate::stats::{Summary, millis};

/// What one or more slices of load against one target gave.
#[derive(Debug, Clone, Default)]
pub struct Samples {
    pub latencies: Vec<Duration>,
    pub errors: usize,
    pub elapsed: Duration,
}

impl Samples {
    pub fn add(&mut self, other: Samples) {
        self.latencies.extend(other.latencies);
        self.errors += other.errors;
        self.elapsed += other.elapsed;
    }

    pub fn per_second(&self) -> f64 {
        self.latencies.len() as f64 / self.elapsed.as_secs_f64().max(f64::EPSILON)
    }

    pub fn latency(&self) -> Summary {
        millis(&self.latencies)
    }
}

pub async fn run(urls: &[String], connections: usize, duration: Duration) -> Samples {
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
    let elapsed = started.elapsed();
    let errors = results.iter().map(|(_, e)| e).sum();
    let latencies = results.into_iter().flat_map(|(l, _)| l).collect();
    Samples { latencies, errors, elapsed }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slices_add_up_to_one_rate() {
        let ms = Duration::from_millis;
        let mut total = Samples { latencies: vec![ms(1); 100], errors: 1, elapsed: ms(1000) };
        total.add(Samples { latencies: vec![ms(3); 300], errors: 0, elapsed: ms(1000) });
        assert_eq!(total.per_second(), 200.0);
        assert_eq!(total.errors, 1);
        assert_eq!(total.latency().p50, 3.0);
    }
}
