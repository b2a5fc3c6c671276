//! Owed work that failed (a settlement of a cancelled order, a payout): how often, why, and when it is tried next.
//! Each failure backs off, so work that keeps failing stops taking the reconciler's time and never blocks newer work;
//! work that cannot succeed by being tried again (the provider refused it) or has failed too often is parked, out of
//! the due lists, with its reason, for an operator (`storefront-admin parked`, an alarm).

use serde::{Deserialize, Serialize};
use time::{Duration, OffsetDateTime};

/// Failures after which work is parked even when each looked temporary: with the backoff below, about a day of tries.
pub const MAX_ATTEMPTS: u32 = 10;
/// The wait after the first failure; it doubles with each further one.
pub const FIRST_BACKOFF: Duration = Duration::minutes(1);
/// The longest wait between two tries.
pub const MAX_BACKOFF: Duration = Duration::hours(6);
/// How much of a failure's message is kept (enough to act on, never a whole response body).
const MAX_ERROR_CHARS: usize = 300;

/// What the failures of one piece of owed work came to so far.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Retry {
    /// Failed tries so far.
    pub attempts: u32,
    /// Not tried again before this.
    #[serde(with = "time::serde::rfc3339")]
    pub next_at: OffsetDateTime,
    /// The last failure, as an operator reads it.
    pub last_error: String,
    /// Out of the due lists until an operator puts it back.
    pub parked: bool,
}

/// Whether a failure can go away by trying again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    /// The provider or the store was unreachable, busy or slow: try again later.
    Transient,
    /// The provider refused the request itself (a closed account, a disputed charge): trying the same again will
    /// not help.
    Permanent,
}

impl Retry {
    /// The record after one more failure: the next try waits twice as long as the last (from a minute, at most six
    /// hours), and the work is parked when the failure is permanent or the [`MAX_ATTEMPTS`]th.
    pub fn after(previous: Option<&Retry>, failure: Failure, error: &str, now: OffsetDateTime) -> Retry {
        let attempts = previous.map_or(0, |r| r.attempts).saturating_add(1);
        let doublings = attempts.saturating_sub(1).min(16);
        let wait = FIRST_BACKOFF.checked_mul(1 << doublings).unwrap_or(MAX_BACKOFF).min(MAX_BACKOFF);
        Retry {
            attempts,
            next_at: now + wait,
            last_error: error.chars().take(MAX_ERROR_CHARS).collect(),
            parked: failure == Failure::Permanent || attempts >= MAX_ATTEMPTS,
        }
    }

    /// Whether the work may be tried at `now`.
    pub fn is_due(&self, now: OffsetDateTime) -> bool {
        !self.parked && self.next_at <= now
    }
}

/// Whether work with this record (none: never failed) may be tried at `now`.
pub fn is_due(retry: Option<&Retry>, now: OffsetDateTime) -> bool {
    retry.is_none_or(|r| r.is_due(now))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_failure_waits_twice_as_long_up_to_six_hours_and_the_tenth_parks() {
        let now = OffsetDateTime::UNIX_EPOCH;
        let first = Retry::after(None, Failure::Transient, "provider unreachable", now);
        assert_eq!((first.attempts, first.next_at - now, first.parked), (1, Duration::minutes(1), false));
        assert!(!first.is_due(now) && first.is_due(now + Duration::minutes(1)));
        let second = Retry::after(Some(&first), Failure::Transient, "again", now);
        assert_eq!((second.attempts, second.next_at - now), (2, Duration::minutes(2)));
        let mut retry = second;
        for _ in 2..9 {
            retry = Retry::after(Some(&retry), Failure::Transient, "again", now);
        }
        assert_eq!((retry.attempts, retry.next_at - now, retry.parked), (9, Duration::minutes(256), false));
        let tenth = Retry::after(Some(&retry), Failure::Transient, "again", now);
        assert_eq!(tenth.next_at - now, MAX_BACKOFF, "512 minutes, capped at six hours");
        assert!(tenth.parked && !tenth.is_due(now + Duration::days(365)), "parked until an operator acts");
        let far = Retry { attempts: u32::MAX, ..tenth.clone() };
        assert_eq!(Retry::after(Some(&far), Failure::Transient, "x", now).attempts, u32::MAX, "no overflow");
    }

    #[test]
    fn a_refusal_parks_at_once_and_keeps_a_readable_reason() {
        let now = OffsetDateTime::UNIX_EPOCH;
        let refused = Retry::after(None, Failure::Permanent, &"account closed ".repeat(100), now);
        assert!(refused.parked && refused.attempts == 1);
        assert!(refused.last_error.chars().count() <= MAX_ERROR_CHARS && refused.last_error.starts_with("account"));
        assert!(is_due(None, now) && !is_due(Some(&refused), now));
    }
}
