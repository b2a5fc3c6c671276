//! An order's moves after checkout. The shopper's shard decides: the move is one transaction there (the order,
//! conditional on what was read, its confirmation notice, and an `order_sync` row saying the catalog database owes
//! it an update, with the payouts the move made owed). Then [`ShardedStore::apply_sync`] brings the catalog up to
//! date in one transaction (the artisans' copy from the order as it now is, a cancelled order's reservation
//! released with its units, the payouts) and deletes the sync rows it applied. Applying twice changes nothing: the
//! copy moves only forward, a reservation is released once, a payout exists once. What a crash leaves, the sweeper
//! applies.
//!
//! A cancellation's units are the ones its decision gives back (the transition's restock, recorded in the sync
//! row), bounded again by the stock ceiling as it is when they land; releasing the reservation in the same
//! transaction is what makes them come back once.

use super::super::orders::{ExistingPart, insert_order, record_notice, update_order, write_parts};
use super::super::payments::insert_payout;
use super::super::rows::to_json;
use super::super::sqlx::{self, Postgres, Row, Transaction};
use super::super::{is_conflict, store_error};
use super::checkout::{give_back, lines_json, restock_of};
use super::{Access, FaultPoint, ShardedStore};
use crate::domain::{Order, OrderId, OrderStatus, Payout, UserId};
use crate::ports::{OrderStore, OrderTransition, StoreError, TransitionError};

impl ShardedStore {
    pub(super) async fn move_order(&self, transition: &OrderTransition<'_>) -> Result<(), TransitionError> {
        let (current, next) = (transition.current, transition.next);
        // What the artisans' copy shows or the catalog holds (stock, payouts): a payment attached or moving
        // without the order's status owes the catalog nothing.
        let owes_catalog = current.changes_artisan_view(next) || !transition.payouts.is_empty();
        let shard = self.shard_for(&current.user_id, Access::Write).await?;
        let mut tx = shard.writer().begin().await?;
        let written = async {
            if !update_order(&mut tx, current, next).await? {
                return Ok(false);
            }
            if transition.record_notice && !record_notice(&mut tx, current, next.updated_at).await? {
                return Ok(false);
            }
            if owes_catalog {
                // The units the decision gives back, recorded with the move that decided them (only one does).
                let restock = current.returns_stock(next)
                    .then(|| lines_json(transition.restock.iter().map(|r| (&r.product_id, r.delta.get()))));
                sqlx::query(
                    "INSERT INTO order_sync (order_id, user_id, payouts, restock, created_at) VALUES ($1, $2, $3, $4, $5)",
                )
                .bind(current.order_id.as_str())
                .bind(current.user_id.as_str())
                .bind(to_json(&transition.payouts))
                .bind(restock)
                .bind(next.updated_at)
                .execute(&mut *tx)
                .await?;
            }
            Ok::<_, sqlx::Error>(true)
        }
        .await;
        match written {
            Ok(true) => tx.commit().await.map_err(store_error)?,
            Ok(false) => return Err(TransitionError::Stale),
            Err(error) if is_conflict(&error) => return Err(TransitionError::Stale),
            Err(error) => return Err(store_error(error).into()),
        }
        if self.fault(FaultPoint::Moved).await.is_some() {
            return Err(StoreError::Unavailable("fault injected: the process stopped at Moved".into()).into());
        }
        if !owes_catalog {
            return Ok(());
        }
        // The move is durable in the shard: bringing the catalog up to date is retried by the sweeper if it fails.
        if let Err(error) = self.apply_sync(&current.user_id, &current.order_id).await {
            tracing::warn!(order_id = %current.order_id, %error, "catalog not yet told of the move; the sweeper will");
        }
        Ok(())
    }

    /// Brings the catalog database up to date with the order as its shard holds it, applying (then deleting) its
    /// unapplied sync rows.
    pub(super) async fn apply_sync(&self, user: &UserId, id: &OrderId) -> Result<(), StoreError> {
        let shard = self.shard_for(user, Access::Write).await?;
        let Some(order) = shard.get_order(user, id).await? else {
            return Err(StoreError::unexpected(format!("order {id} has moves to apply but is missing")));
        };
        let pending = shard
            .writer()
            .fetch_all(
                sqlx::query("SELECT seq, payouts, restock FROM order_sync WHERE order_id = $1 ORDER BY seq")
                    .bind(id.as_str()),
            )
            .await?;
        let mut last_seq = None;
        let mut payouts: Vec<Payout> = Vec::new();
        // What the cancellation decided to give back; `None` when its row is one of an earlier release (which
        // recorded none), and then the reservation's lines go back, as that release did.
        let mut restock: Option<Vec<_>> = None;
        for row in &pending {
            last_seq = Some(row.try_get::<i64, _>("seq").map_err(store_error)?);
            let owed: sqlx::Json<Vec<Payout>> = row.try_get("payouts").map_err(store_error)?;
            payouts.extend(owed.0);
            let decided: Option<sqlx::Json<serde_json::Value>> = row.try_get("restock").map_err(store_error)?;
            if let Some(decided) = decided {
                restock.get_or_insert_with(Vec::new).extend(restock_of(&decided.0));
            }
        }
        let mut restocked = false;
        let mut tx = self.catalog.writer().begin().await?;
        let applied = async {
            // The order exists, so its reservation is taken (step 3 of its checkout may never have run).
            sqlx::query(
                "UPDATE reservations SET state = 'taken', settled_at = $2 WHERE order_id = $1 AND state = 'reserved'",
            )
            .bind(id.as_str())
            .bind(order.updated_at)
            .execute(&mut *tx)
            .await?;
            upsert_copy(&mut tx, &order).await?;
            if order.status == OrderStatus::Cancelled {
                // A cancelled order's units go back once: the reservation remembers they did.
                let (from, now) = (&["reserved", "taken"], order.updated_at);
                restocked = give_back(&mut tx, id, from, "released", now, restock.as_deref()).await?;
            }
            for payout in &payouts {
                insert_payout(&mut tx, payout).await?;
            }
            Ok::<_, sqlx::Error>(())
        }
        .await;
        applied.map_err(store_error)?;
        tx.commit().await.map_err(store_error)?;
        if restocked {
            self.catalog.catalog_changed();
        }
        if let Some(seq) = last_seq {
            let applied =
                sqlx::query("DELETE FROM order_sync WHERE order_id = $1 AND seq <= $2").bind(id.as_str()).bind(seq);
            shard.writer().execute(applied).await?;
        }
        Ok(())
    }
}

/// The artisans' copy of `order`, written or brought forward (never back: a slower apply of an older state loses),
/// with each artisan's part status.
async fn upsert_copy(tx: &mut Transaction<'_, Postgres>, order: &Order) -> Result<(), sqlx::Error> {
    let moved = sqlx::query(
        "UPDATE orders SET status = $2, shipped_artisans = $3, payment = $4, payment_status = $5, updated_at = $6 \
         WHERE order_id = $1 AND updated_at <= $6",
    )
    .bind(order.order_id.as_str())
    .bind(order.status.as_str())
    .bind(to_json(&order.shipped_artisans))
    .bind(order.payment.as_ref().map(to_json))
    .bind(order.payment_status_name())
    .bind(order.updated_at)
    .execute(&mut **tx)
    .await?;
    if moved.rows_affected() == 0 && !insert_order(tx, order).await? {
        // The copy holds a later state already.
        return Ok(());
    }
    write_parts(tx, order, ExistingPart::Overwrite).await
}
