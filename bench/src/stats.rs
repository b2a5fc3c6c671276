//! Percentiles over samples.

use std::time::{Duration, Instant};

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

/// Intervals merged where they overlap or touch, in order: what was covered, and in how many stretches.
pub fn merged(mut intervals: Vec<(Instant, Instant)>) -> Vec<(Instant, Instant)> {
    intervals.sort();
    let mut stretches: Vec<(Instant, Instant)> = Vec::with_capacity(intervals.len());
    for (start, end) in intervals {
        match stretches.last_mut() {
            Some((_, last_end)) if start <= *last_end => *last_end = (*last_end).max(end),
            _ => stretches.push((start, end)),
        }
    }
    stretches
}

/// How long at least one of the intervals was open.
pub fn union_length(intervals: Vec<(Instant, Instant)>) -> Duration {
    merged(intervals).into_iter().map(|(start, end)| end - start).sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overlapping_intervals_count_once_and_gaps_part_stretches() {
        let t = Instant::now();
        let at = |ms: u64| t + Duration::from_millis(ms);
        let intervals = vec![(at(5), at(8)), (at(0), at(2)), (at(1), at(3)), (at(3), at(4)), (at(6), at(7))];
        assert_eq!(merged(intervals.clone()), vec![(at(0), at(4)), (at(5), at(8))]);
        assert_eq!(union_length(intervals), Duration::from_millis(7));
        assert_eq!(union_length(Vec::new()), Duration::ZERO);
    }

    #[test]
    fn nearest_rank_percentiles() {
        let s = summarize((1..=100).map(f64::from).collect());
        assert_eq!((s.p50, s.p95, s.p99), (50.0, 95.0, 99.0));
        assert_eq!(summarize(vec![7.0]).p99, 7.0);
    }
}
