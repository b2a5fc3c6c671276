//! Percentiles over samples.

use std::time::Duration;

#[derive(Debug, Clone, Copy, Default)]
pub struct Summary {
    pub p50: f64,
    pub p95: f64,
    pub p99: f64,
}

/// Summary of durations, in milliseconds.
pub fn millis(samples: &[Duration]) -> Summary {
    summarize(samples.iter().map(|d| d.as_secs_f64() * 1000.0).collect())
}

/// Summary of plain numbers (nearest-rank percentiles).
pub fn summarize(mut values: Vec<f64>) -> Summary {
    if values.is_empty() {
        return Summary::default();
    }
    values.sort_by(f64::total_cmp);
    let rank = |p: f64| values[((p / 100.0 * values.len() as f64).ceil() as usize).clamp(1, values.len()) - 1];
    Summary { p50: rank(50.0), p95: rank(95.0), p99: rank(99.0) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_percentiles() {
        let s = summarize((1..=100).map(f64::from).collect());
        assert_eq!((s.p50, s.p95, s.p99), (50.0, 95.0, 99.0));
        assert_eq!(summarize(vec![7.0]).p99, 7.0);
    }
}
