//! `PaymentStore` on Postgres: provider events seen (forgotten after a week), each artisan's payout account, and
//! the payouts ledger. A payout is due while accrued and not parked for an operator, and either not waiting for an
//! account (`parked`, from 0001) or its artisan has one now: the due query joins the accounts, so connecting one
//! makes every waiting payout due in that very write.

use super::sqlx::{self, Postgres, Row, Transaction};
use async_trait::async_trait;
use time::OffsetDateTime;

use super::orders::{due_position, paged, read_position};
use super::rows::{self, PAYOUT_COLUMNS, readable, to_json};
use super::{PgStore, is_conflict, store_error};
use crate::adapters::retention::EVENT_MEMORY;
use crate::domain::{OrderId, Payout, PayoutAccount, PayoutStatus, ProviderRef, UserId};
use crate::ports::{Page, PageRequest, ParkError, PaymentStore, StoreError, TransitionError};

/// Records a new payout inside a move's transaction; `false` if it exists already.
pub(super) async fn insert_payout(tx: &mut Transaction<'_, Postgres>, payout: &Payout) -> Result<bool, sqlx::Error> {
    let inserted = sqlx::query(
        "INSERT INTO payouts (artisan_id, order_id, amount, currency, status, transfer_id, reason, intent_id, \
           charge_id, version, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) ON CONFLICT (artisan_id, order_id) DO NOTHING",
    )
    .bind(payout.artisan_id.as_str())
    .bind(payout.order_id.as_str())
    .bind(payout.amount.amount)
    .bind(payout.amount.currency.code())
    .bind(payout.status.as_str())
    .bind(payout.transfer_id.as_ref().map(ProviderRef::as_str))
    .bind(payout.reason.as_deref())
    .bind(payout.intent_id.as_ref().map(ProviderRef::as_str))
    .bind(payout.charge_id.as_ref().map(ProviderRef::as_str))
    .bind(i64::try_from(payout.version).unwrap_or(i64::MAX))
    .bind(payout.created_at)
    .bind(payout.updated_at)
    .execute(&mut **tx)
    .await?;
    Ok(inserted.rows_affected() == 1)
}

/// The payouts columns, each prefixed by `p.` (for the joins).
fn payout_columns_of_p() -> String {
    PAYOUT_COLUMNS.split(", ").map(|column| format!("p.{column}")).collect::<Vec<_>>().join(", ")
}

/// Positioned payouts from rows that carry `since` (the list's order) beside the payout's columns.
fn positioned(rows: &[sqlx::PgRow], since: &str) -> Vec<(String, Payout)> {
    rows.iter()
        .filter_map(|row| {
            let at: OffsetDateTime = row.try_get(since).ok()?;
            let payout = rows::payout(row).inspect_err(|e| tracing::error!(%e, "stored payout left out")).ok()?;
            Some((due_position(at, &format!("{}#{}", payout.order_id, payout.artisan_id)), payout))
        })
        .collect()
}

/// The (order, artisan) a payout's position names.
fn payout_of_position(id: String) -> (String, String) {
    match id.split_once('#') {
        Some((order, artisan)) => (order.to_owned(), artisan.to_owned()),
        None => (id, String::new()),
    }
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

    /// One row: from it on, the artisan's waiting payouts are due ([`PaymentStore::payouts_due`] joins it).
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
        let parked_at = next.retry.as_ref().filter(|r| r.parked).map(|_| next.updated_at);
        let mut tx = self.writer.begin().await?;
        // A whole payout is written once its artisan has an account: it no longer waits for one.
        let saved = sqlx::query(
            "UPDATE payouts SET amount = $3, currency = $4, status = $5, transfer_id = $6, reason = $7, \
               reversal_id = $8, destination = $9, intent_id = $10, charge_id = $11, version = $12, retry = $13, \
               parked_at = $14, parked = false, updated_at = $15 \
             WHERE artisan_id = $1 AND order_id = $2 AND version = $16",
        )
        .bind(next.artisan_id.as_str())
        .bind(next.order_id.as_str())
        .bind(next.amount.amount)
        .bind(next.amount.currency.code())
        .bind(next.status.as_str())
        .bind(next.transfer_id.as_ref().map(ProviderRef::as_str))
        .bind(next.reason.as_deref())
        .bind(next.reversal_id.as_ref().map(ProviderRef::as_str))
        .bind(next.destination.as_ref().map(ProviderRef::as_str))
        .bind(next.intent_id.as_ref().map(ProviderRef::as_str))
        .bind(next.charge_id.as_ref().map(ProviderRef::as_str))
        .bind(i64::try_from(next.version).unwrap_or(i64::MAX))
        .bind(next.retry.as_ref().map(to_json))
        .bind(parked_at)
        .bind(next.updated_at)
        .bind(i64::try_from(current.version).unwrap_or(i64::MAX))
        .execute(&mut *tx)
        .await;
        match saved {
            Ok(done) if done.rows_affected() == 1 => tx.commit().await.map_err(|e| store_error(e).into()),
            Ok(_) => Err(TransitionError::Stale),
            Err(error) if is_conflict(&error) => Err(TransitionError::Stale),
            Err(error) => Err(store_error(error).into()),
        }
    }

    async fn await_account(&self, payout: &Payout) -> Result<(), ParkError> {
        // Waiting only while the artisan has no account, checked in the same statement: connecting one (which
        // makes every waiting payout due) and waiting never cross.
        let waiting = sqlx::query(
            "UPDATE payouts SET parked = true WHERE artisan_id = $1 AND order_id = $2 AND status = 'accrued' \
             AND version = $3 AND NOT EXISTS (SELECT 1 FROM payout_accounts WHERE artisan_id = $1)",
        )
        .bind(payout.artisan_id.as_str())
        .bind(payout.order_id.as_str())
        .bind(i64::try_from(payout.version).unwrap_or(i64::MAX));
        if self.writer.execute(waiting).await? == 1 || self.payout_account(&payout.artisan_id).await?.is_none() {
            // Waiting, or changed meanwhile (transferred, held): nothing to wait for.
            return Ok(());
        }
        Err(ParkError::AccountConnected)
    }

    async fn payouts_due(&self, before: OffsetDateTime, page: &PageRequest) -> Result<Page<Payout>, StoreError> {
        let (after_since, after_id) = read_position(page.after.as_deref()).unzip();
        let (after_order, after_artisan) = after_id.map(payout_of_position).unzip();
        let sql = format!(
            "SELECT {} FROM payouts p WHERE p.status = 'accrued' AND p.parked_at IS NULL AND p.created_at < $1 \
               AND (NOT p.parked OR EXISTS (SELECT 1 FROM payout_accounts a WHERE a.artisan_id = p.artisan_id)) \
               AND ($2::timestamptz IS NULL OR (p.created_at, p.order_id, p.artisan_id) > ($2, $3, $4)) \
             ORDER BY p.created_at, p.order_id, p.artisan_id LIMIT $5",
            payout_columns_of_p()
        );
        let statement = sqlx::query(&sql)
            .bind(before)
            .bind(after_since)
            .bind(after_order)
            .bind(after_artisan)
            .bind(i64::try_from(page.limit).unwrap_or(i64::MAX));
        let found = self.writer.fetch_all(statement).await?;
        Ok(paged(positioned(&found, "created_at"), page.limit))
    }

    async fn artisans_to_pay(&self, page: &PageRequest) -> Result<Page<UserId>, StoreError> {
        let statement = sqlx::query(
            "SELECT DISTINCT p.artisan_id FROM payouts p JOIN payout_accounts a ON a.artisan_id = p.artisan_id \
             WHERE p.status = 'accrued' AND p.parked AND p.parked_at IS NULL \
               AND ($1::text IS NULL OR p.artisan_id > $1) ORDER BY p.artisan_id LIMIT $2",
        )
        .bind(page.after.as_deref())
        .bind(i64::try_from(page.limit).unwrap_or(i64::MAX));
        let found = self.writer.fetch_all(statement).await?;
        let artisans: Vec<(String, UserId)> = found
            .iter()
            .filter_map(|row| {
                let id: String = row.try_get("artisan_id").ok()?;
                Some((id.clone(), UserId::parse(&id)?))
            })
            .collect();
        Ok(paged(artisans, page.limit))
    }

    async fn payouts_awaiting_account(&self, artisan: &UserId, limit: usize) -> Result<Vec<Payout>, StoreError> {
        let sql = format!(
            "SELECT {PAYOUT_COLUMNS} FROM payouts WHERE artisan_id = $1 AND status = 'accrued' AND parked \
               AND parked_at IS NULL ORDER BY created_at, order_id LIMIT $2"
        );
        let statement = sqlx::query(&sql).bind(artisan.as_str()).bind(i64::try_from(limit).unwrap_or(i64::MAX));
        Ok(readable(&self.writer.fetch_all(statement).await?, rows::payout))
    }

    async fn parked_payouts(&self, page: &PageRequest) -> Result<Page<Payout>, StoreError> {
        let (after_since, after_id) = read_position(page.after.as_deref()).unzip();
        let (after_order, after_artisan) = after_id.map(payout_of_position).unzip();
        let sql = format!(
            "SELECT {PAYOUT_COLUMNS}, parked_at FROM payouts WHERE parked_at IS NOT NULL \
               AND ($1::timestamptz IS NULL OR (parked_at, order_id, artisan_id) > ($1, $2, $3)) \
             ORDER BY parked_at, order_id, artisan_id LIMIT $4"
        );
        let statement = sqlx::query(&sql)
            .bind(after_since)
            .bind(after_order)
            .bind(after_artisan)
            .bind(i64::try_from(page.limit).unwrap_or(i64::MAX));
        let found = self.writer.fetch_all(statement).await?;
        Ok(paged(positioned(&found, "parked_at"), page.limit))
    }
}
