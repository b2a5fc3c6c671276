//! How long the stores keep what expires, whichever backend holds it (DynamoDB's TTL attribute, Postgres'
//! `expires_at` columns and the housekeeping sweep).

use time::Duration;

/// A cart line left alone this long is gone.
pub const CART_IDLE_EXPIRY: Duration = Duration::days(30);
/// How long an idempotency key is remembered.
pub const IDEMPOTENCY_TTL: Duration = Duration::hours(24);
/// How long a claim holds before another call may take it over (a crashed call's claim must not block forever;
/// a live checkout ends well within the Lambda timeout).
pub const CLAIM_LOCK: Duration = Duration::seconds(30);
/// How long a provider event id is remembered: longer than the provider redelivers (Stripe: three days).
pub const EVENT_MEMORY: Duration = Duration::days(7);
/// How long a stock adjustment's id is remembered (a client's retry of the same key comes within a day).
pub const ADJUSTMENT_MEMORY: Duration = Duration::hours(24);
