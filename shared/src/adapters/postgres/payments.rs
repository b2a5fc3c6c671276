//! `PaymentStore` on Postgres: provider events seen (forgotten after a week), each artisan's payout account, and
//! the payouts ledger, whose accrued, unparked rows are the payouts due (a partial index).

use super::sqlx::{self, Postgres, Row, Transaction};
use async_trait::async_trait;
use time::OffsetDateTime;

use super::rows::{self, PAYOUT_COLUMNS, readable};
use super::{PgStore, is_conflict, store_error};
use crate::adapters::retention::EVENT_MEMORY;
use crate::domain::{OrderId, Payout, PayoutAccount, PayoutStatus, ProviderRef, UserId};
use crate::ports::{Page, PageRequest, ParkError, PaymentStore, StoreError, TransitionError};

/// Records a new payout inside a move's transaction; `false` if it exists already.
pub(super) async fn insert_payout(tx: &mut Transaction<'_, Postgres>, payout: &Payout) -> Result<bool, sqlx::Error> {
    let inserted = sqlx::query(
        "INSERT INTO payouts (artisan_id, order_id, amount, currency, status, transfer_id, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (artisan_id, order_id) DO NOTHING",
    )
    .bind(payout.artisan_id.as_str())
    .bind(payout.order_id.as_str())
    .bind(payout.amount.amount)
    .bind(payout.amount.currency.code())
    .bind(payout.status.as_str())
    .bind(payout.transfer_id.as_ref().map(ProviderRef::as_str))
    .bind(payout.created_at)
    .bind(payout.updated_at)
    .execute(&mut **tx)
    .await?;
    Ok(inserted.rows_affected() == 1)
}

#[async_trait]
impl PaymentStore for PgStore {
    async fn event_seen(&self, event_id: &ProviderRef) -> Result<bool, StoreError> {
        let seen = sqlx::query("SELECT 1 FROM payment_events WHERE event_id = $1 AND expires_at > now()")
            .bind(event_id.as_str());
        Ok(self.writer.fetch_optional(seen).await?.is_some())
    }

    async fn remember_event(&self, event_id: &ProviderRef, now: OffsetDateTime) -> Result<(), StoreError> {
        let statement = sqlx::query(
            "INSERT INTO payment_events (event_id, received_at, expires_at) VALUES ($1, $2, $3) \
             ON CONFLICT (event_id) DO UPDATE SET received_at = EXCLUDED.received_at, expires_at = EXCLUDED.expires_at",
        )
        .bind(event_id.as_str())
        .bind(now)
        .bind(now + EVENT_MEMORY);
        self.writer.execute(statement).await?;
        Ok(())
    }

    async fn payout_account(&self, artisan: &UserId) -> Result<Option<PayoutAccount>, StoreError> {
        let statement = sqlx::query("SELECT account_id, connected_at FROM payout_accounts WHERE artisan_id = $1")
            .bind(artisan.as_str());
        let row = self.writer.fetch_optional(statement).await?;
        row.as_ref().map(rows::payout_account).transpose()
    }

    async fn connect_payout_account(&self, artisan: &UserId, account: &PayoutAccount) -> Result<(), StoreError> {
        let statement = sqlx::query(
            "INSERT INTO payout_accounts (artisan_id, account_id, connected_at) VALUES ($1, $2, $3) \
             ON CONFLICT (artisan_id) DO UPDATE SET account_id = EXCLUDED.account_id, \
               connected_at = EXCLUDED.connected_at",
        )
        .bind(artisan.as_str())
        .bind(account.account_id.as_str())
        .bind(account.connected_at);
        self.writer.execute(statement).await?;
        Ok(())
    }

    async fn get_payout(&self, artisan: &UserId, order: &OrderId) -> Result<Option<Payout>, StoreError> {
        let sql = format!("SELECT {PAYOUT_COLUMNS} FROM payouts WHERE artisan_id = $1 AND order_id = $2");
        let row = self.writer.fetch_optional(sqlx::query(&sql).bind(artisan.as_str()).bind(order.as_str())).await?;
        row.as_ref().map(rows::payout).transpose()
    }

    async fn list_payouts(
        &self,
        artisan: &UserId,
        status: Option<PayoutStatus>,
        page: &PageRequest,
    ) -> Result<Page<Payout>, StoreError> {
        let sql = format!(
            "SELECT {PAYOUT_COLUMNS} FROM payouts WHERE artisan_id = $1 AND ($2::text IS NULL OR status = $2) \
             AND ($3::text IS NULL OR order_id < $3) ORDER BY order_id DESC LIMIT $4"
        );
        let statement = sqlx::query(&sql)
            .bind(artisan.as_str())
            .bind(status.map(PayoutStatus::as_str))
            .bind(page.after.as_deref())
            .bind(i64::try_from(page.limit + 1).unwrap_or(i64::MAX));
        let found = self.writer.fetch_all(statement).await?;
        let more = found.len() > page.limit;
        let shown = &found[..found.len().min(page.limit)];
        let next = if more { shown.last().and_then(|row| row.try_get("order_id").ok()) } else { None };
        Ok(Page { items: readable(shown, rows::payout), next })
    }

    async fn save_payout(&self, current: &Payout, next: &Payout) -> Result<(), TransitionError> {
        let mut tx = self.writer.begin().await?;
        let saved = sqlx::query(
            "UPDATE payouts SET amount = $3, currency = $4, status = $5, transfer_id = $6, updated_at = $7 \
             WHERE artisan_id = $1 AND order_id = $2 AND status = $8",
        )
        .bind(next.artisan_id.as_str())
        .bind(next.order_id.as_str())
        .bind(next.amount.amount)
        .bind(next.amount.currency.code())
        .bind(next.status.as_str())
        .bind(next.transfer_id.as_ref().map(ProviderRef::as_str))
        .bind(next.updated_at)
        .bind(current.status.as_str())
        .execute(&mut *tx)
        .await;
        match saved {
            Ok(done) if done.rows_affected() == 1 => tx.commit().await.map_err(|e| store_error(e).into()),
            Ok(_) => Err(TransitionError::Stale),
            Err(error) if is_conflict(&error) => Err(TransitionError::Stale),
            Err(error) => Err(store_error(error).into()),
        }
    }

    async fn park_payout(&self, payout: &Payout) -> Result<(), ParkError> {
        // Parked only while the artisan has no account, checked in the same statement: connecting one (which
        // brings every accrued payout back) and parking never cross.
        let parked = sqlx::query(
            "UPDATE payouts SET parked = true WHERE artisan_id = $1 AND order_id = $2 AND status = 'accrued' \
             AND NOT EXISTS (SELECT 1 FROM payout_accounts WHERE artisan_id = $1)",
        )
        .bind(payout.artisan_id.as_str())
        .bind(payout.order_id.as_str());
        if self.writer.execute(parked).await? == 1 || self.payout_account(&payout.artisan_id).await?.is_none() {
            // Parked, or transferred meanwhile: nothing to park.
            return Ok(());
        }
        Err(ParkError::AccountConnected)
    }

    async fn payouts_due(&self, before: OffsetDateTime, limit: usize) -> Result<Vec<(UserId, OrderId)>, StoreError> {
        let statement = sqlx::query(
            "SELECT artisan_id, order_id FROM payouts WHERE status = 'accrued' AND NOT parked AND created_at < $1 \
             ORDER BY created_at, order_id LIMIT $2",
        )
        .bind(before)
        .bind(i64::try_from(limit).unwrap_or(i64::MAX));
        let found = self.writer.fetch_all(statement).await?;
        Ok(found
            .iter()
            .filter_map(|row| {
                let (artisan, order) = rows::order_ref_of(row, "artisan_id")?;
                Some((artisan, order))
            })
            .collect())
    }
}
