//! `IdempotencyStore` on Postgres: one row per (user, key), forgotten after 24 hours. A claim is completed by the
//! checkout transaction itself ([`complete`]), with the id of the order it placed.

use super::sqlx::{self, Postgres, Row, Transaction};
use async_trait::async_trait;
use time::OffsetDateTime;

use super::{PgStore, store_error};
use crate::adapters::retention::{CLAIM_LOCK, IDEMPOTENCY_TTL};
use crate::domain::{KeyHolder, OrderId, RequestToken};
use crate::ports::{Claim, IdempotencyScope, IdempotencyStore, StoreError};

/// Completes the claim on `scope` with the order it placed, inside the checkout's transaction; whether it held
/// (the claim is still in progress: not taken over after its lock ran out).
pub(super) async fn complete(
    tx: &mut Transaction<'_, Postgres>,
    scope: &IdempotencyScope,
    order: &OrderId,
) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(
        "UPDATE idempotency_records SET state = 'completed', order_id = $3 \
         WHERE user_id = $1 AND key = $2 AND state = 'in_progress'",
    )
    .bind(scope.user.as_str())
    .bind(scope.key.as_str())
    .bind(order.as_str())
    .execute(&mut **tx)
    .await?;
    Ok(done.rows_affected() == 1)
}

#[async_trait]
impl IdempotencyStore for PgStore {
    async fn claim(
        &self,
        scope: &IdempotencyScope,
        fingerprint: &str,
        now: OffsetDateTime,
    ) -> Result<Claim, StoreError> {
        let claim_id = RequestToken::generate(now);
        // New, expired, or an abandoned claim of the same request: ours. Anything else stays as it is.
        let taken = sqlx::query(
            "INSERT INTO idempotency_records \
               (user_id, key, state, fingerprint, claim_id, lock_until, order_id, created_at, expires_at) \
             VALUES ($1, $2, 'in_progress', $3, $4, $5, NULL, $6, $7) \
             ON CONFLICT (user_id, key) DO UPDATE SET state = EXCLUDED.state, fingerprint = EXCLUDED.fingerprint, \
               claim_id = EXCLUDED.claim_id, lock_until = EXCLUDED.lock_until, order_id = NULL, \
               created_at = EXCLUDED.created_at, expires_at = EXCLUDED.expires_at \
             WHERE idempotency_records.expires_at < $6 OR (idempotency_records.state = 'in_progress' \
               AND idempotency_records.lock_until < $6 AND idempotency_records.fingerprint = $3)",
        )
        .bind(scope.user.as_str())
        .bind(scope.key.as_str())
        .bind(fingerprint)
        .bind(claim_id.as_str())
        .bind(now + CLAIM_LOCK)
        .bind(now)
        .bind(now + IDEMPOTENCY_TTL);
        if self.writer().execute(taken).await? == 1 {
            return Ok(Claim::Fresh);
        }
        let existing =
            sqlx::query("SELECT fingerprint, state, order_id FROM idempotency_records WHERE user_id = $1 AND key = $2")
                .bind(scope.user.as_str())
                .bind(scope.key.as_str());
        let row = self
            .writer()
            .fetch_optional(existing)
            .await?
            .ok_or_else(|| StoreError::Conflict("idempotency record vanished".into()))?;
        let read = |column: &str| row.try_get::<Option<String>, _>(column).map_err(store_error);
        let (stored_fingerprint, state, order) = (read("fingerprint")?, read("state")?, read("order_id")?);
        let placed = match (state.as_deref(), order) {
            (Some("completed"), Some(order)) => {
                Some(OrderId::parse(&order).ok_or_else(|| StoreError::unexpected("malformed idempotency record"))?)
            }
            _ => None,
        };
        Ok(Claim::Held(KeyHolder { fingerprint: stored_fingerprint.unwrap_or_default(), placed }))
    }

    async fn release(&self, scope: &IdempotencyScope) -> Result<(), StoreError> {
        // Already completed or gone: nothing to give up.
        let statement =
            sqlx::query("DELETE FROM idempotency_records WHERE user_id = $1 AND key = $2 AND state = 'in_progress'")
                .bind(scope.user.as_str())
                .bind(scope.key.as_str());
        self.writer().execute(statement).await?;
        Ok(())
    }
}
