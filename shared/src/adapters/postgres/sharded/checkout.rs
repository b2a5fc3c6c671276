//! Checkout across the catalog database and the shopper's shard, without a distributed transaction:
//!
//! 1. **Reserve** (catalog, one transaction): every line's conditional decrement and a reservation keyed by the
//!    order id. A retry finds its reservation and takes nothing twice.
//! 2. **Place** (shard, one transaction): the fence row `placements(order_id, 'placed')`, the order, the
//!    idempotency claim completed, the cart lines cleared. From its commit the order is acknowledged.
//! 3. **Take** (catalog): the reservation marked taken, the artisans' copy of the order written.
//!
//! A failure after step 1 settles the reservation at once ([`ShardedStore::settle`]; a transaction conflict in
//! step 2 is retried by the service on the same reservation instead); a crash leaves it to the sweeper, which settles it the same way after [`super::RESERVATION_BOUND`]. Settling inserts the fence as
//! `voided` unless step 2 got there first: the unique key makes one of them win (a step 2 still in flight holds
//! its row, and the sweeper waits for its commit), so a reservation is released only when its order can never
//! exist, and completed only when it does.

use time::OffsetDateTime;

use super::super::idempotency::complete;
use super::super::orders::{
    ExistingPart, Insertion, clear_cart, insert_order, insert_order_within_cap, take_stock, write_parts,
};
use super::super::sqlx::{self, Postgres, Row, Transaction};
use super::super::{PgStore, is_conflict, store_error};
use super::{Access, Fault, FaultPoint, ShardedStore};
use crate::domain::{Order, OrderId, ProductId, StockDelta, UserId, returnable_units};
use crate::ports::{IdempotencyScope, OrderStore, PlaceOrderError, StoreError};

/// What step 2 found.
enum Placement {
    /// The order is written (now, or by an earlier attempt of this checkout).
    Placed,
    /// The sweeper settled the reservation first: this order will never exist.
    Voided,
    /// The idempotency claim was taken over; nothing was written.
    ClaimLost,
    /// The shopper holds the most orders awaiting payment already; nothing was written.
    TooManyUnpaid,
    /// A test stopped the process before the commit: nothing was written, and nothing may run after.
    Crashed,
}

/// Who decided an order's fence, and how.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    Placed,
    Voided,
}

fn crashed(point: FaultPoint) -> StoreError {
    StoreError::Unavailable(format!("fault injected: the process stopped at {point:?}").into())
}

fn failed(point: FaultPoint) -> StoreError {
    StoreError::Unavailable(format!("fault injected: the database failed at {point:?}").into())
}

/// Lines as a reservation (and a cancellation's sync row) stores them: `[{"product_id": "...", "quantity": n}]`.
pub(super) fn lines_json<'a>(lines: impl IntoIterator<Item = (&'a ProductId, i64)>) -> serde_json::Value {
    lines
        .into_iter()
        .map(|(product, quantity)| serde_json::json!({ "product_id": product.as_str(), "quantity": quantity }))
        .collect()
}

/// The units each line of a stored reservation gives back (products it cannot read are skipped, logged).
pub(super) fn restock_of(lines: &serde_json::Value) -> Vec<(ProductId, StockDelta)> {
    let mut back = Vec::new();
    for line in lines.as_array().into_iter().flatten() {
        let product = line["product_id"].as_str().and_then(ProductId::parse);
        let delta = line["quantity"].as_i64().and_then(|q| StockDelta::parse(q).ok());
        match (product, delta) {
            (Some(product), Some(delta)) => back.push((product, delta)),
            _ => tracing::error!(%line, "unreadable reservation line; its units stay reserved"),
        }
    }
    back
}

/// Marks a reservation `to` (`void` or `released`) if it is still in one of `from`, and puts units back on the
/// shelf: `lines` when the move decided them (a cancellation's restock), else the reservation's own. Whether it moved.
pub(super) async fn give_back(
    tx: &mut Transaction<'_, Postgres>,
    order: &OrderId,
    from: &[&str],
    to: &str,
    now: OffsetDateTime,
    lines: Option<&[(ProductId, StockDelta)]>,
) -> Result<bool, sqlx::Error> {
    let from: Vec<&str> = from.to_vec();
    let moved = sqlx::query(
        "UPDATE reservations SET state = $2, settled_at = $3 WHERE order_id = $1 AND state = ANY($4) RETURNING lines",
    )
    .bind(order.as_str())
    .bind(to)
    .bind(now)
    .bind(&from)
    .fetch_optional(&mut **tx)
    .await?;
    let Some(row) = moved else { return Ok(false) };
    let reserved: sqlx::Json<serde_json::Value> = row.try_get("lines")?;
    let mut back = match lines {
        Some(lines) => lines.to_vec(),
        None => restock_of(&reserved.0),
    };
    // In product order, as checkout takes them: two transactions never wait on each other's rows crosswise.
    back.sort_by(|a, b| a.0.cmp(&b.0));
    for (product, delta) in back {
        let stock = sqlx::query("SELECT stock FROM products WHERE product_id = $1 FOR UPDATE")
            .bind(product.as_str())
            .fetch_optional(&mut **tx)
            .await?;
        let Some(stock) = stock else { continue };
        // Back on the shelf as far as the ceiling allows (the domain's rule): an artisan may have raised the stock
        // since the move was decided.
        let stock = u32::try_from(stock.try_get::<i64, _>("stock")?).unwrap_or(u32::MAX);
        let wanted = u32::try_from(delta.get()).unwrap_or(0);
        let units = returnable_units(stock, wanted);
        if units < wanted {
            tracing::warn!(product_id = %product, units, "the stock is near its ceiling; returning fewer units");
        }
        sqlx::query(
            "UPDATE products SET stock = stock + $2, version = version + 1, updated_at = $3 WHERE product_id = $1",
        )
        .bind(product.as_str())
        .bind(i64::from(units))
        .bind(now)
        .execute(&mut **tx)
        .await?;
    }
    Ok(true)
}

impl ShardedStore {
    pub(super) async fn place(
        &self,
        order: &Order,
        scope: &IdempotencyScope,
        clear: &[ProductId],
    ) -> Result<(), PlaceOrderError> {
        // Routed first: a slot being moved refuses the checkout before any stock is taken.
        let shard = self.shard_for(&order.user_id, Access::Write).await?;
        self.reserve(order).await?;
        match self.fault(FaultPoint::Reserved).await {
            Some(Fault::Fail) => {
                self.settle_after_failure(order).await;
                return Err(failed(FaultPoint::Reserved).into());
            }
            Some(Fault::Crash) => return Err(crashed(FaultPoint::Reserved).into()),
            None => {}
        }
        let placed = self.write_order(shard, order, scope, clear).await;
        match placed {
            Ok(Placement::Placed) => {}
            Ok(Placement::Voided) => {
                // Stuck past the bound: the sweeper released the stock; the client may try again.
                return Err(StoreError::Unavailable("the checkout outlived its reservation".into()).into());
            }
            Ok(Placement::Crashed) => return Err(crashed(FaultPoint::PlaceCommit).into()),
            Ok(Placement::ClaimLost) => {
                self.settle_after_failure(order).await;
                return Err(PlaceOrderError::ClaimLost);
            }
            Ok(Placement::TooManyUnpaid) => {
                self.settle_after_failure(order).await;
                return Err(PlaceOrderError::TooManyUnpaid);
            }
            // The service tries step 2 again on the same reservation (kept: voiding it would fail the retry); if it
            // gives up, the sweeper releases the reservation after the bound.
            Err(PlaceOrderError::Conflict) => return Err(PlaceOrderError::Conflict),
            Err(error) => {
                self.settle_after_failure(order).await;
                return Err(error);
            }
        }
        if self.fault(FaultPoint::Placed).await.is_some() {
            return Err(crashed(FaultPoint::Placed).into());
        }
        // The order is acknowledged from here: a failure to mark the reservation is the sweeper's to finish.
        if let Err(error) = self.take(order).await {
            tracing::warn!(order_id = %order.order_id, %error, "reservation not marked taken; the sweeper will");
        }
        Ok(())
    }

    /// Step 1: the stock off the shelf and the reservation, in the catalog database. A reservation already there
    /// is this checkout's own from an earlier attempt: nothing is taken twice.
    async fn reserve(&self, order: &Order) -> Result<(), PlaceOrderError> {
        let mut tx = self.catalog.writer().begin().await?;
        let reserved = async {
            let inserted = sqlx::query(
                "INSERT INTO reservations (order_id, user_id, lines, state, created_at) \
                 VALUES ($1, $2, $3, 'reserved', $4) ON CONFLICT (order_id) DO NOTHING",
            )
            .bind(order.order_id.as_str())
            .bind(order.user_id.as_str())
            .bind(lines_json(order.items.iter().map(|line| (&line.product_id, i64::from(line.quantity.get())))))
            .bind(order.created_at)
            .execute(&mut *tx)
            .await?;
            if inserted.rows_affected() == 0 {
                return Ok(Vec::new());
            }
            take_stock(&mut tx, order).await
        }
        .await;
        let changed = match reserved {
            Ok(changed) => changed,
            Err(error) if is_conflict(&error) => return Err(PlaceOrderError::Conflict),
            Err(error) => return Err(store_error(error).into()),
        };
        if !changed.is_empty() {
            return Err(PlaceOrderError::Changed(changed));
        }
        if self.fault(FaultPoint::ReserveCommit).await.is_some() {
            // Rolled back, as a failed commit is.
            return Err(failed(FaultPoint::ReserveCommit).into());
        }
        tx.commit().await.map_err(store_error)?;
        self.catalog.catalog_changed();
        Ok(())
    }

    /// Step 2: the fence, the order, the completed claim and the cleared cart, in the shopper's shard.
    async fn write_order(
        &self,
        shard: &PgStore,
        order: &Order,
        scope: &IdempotencyScope,
        clear: &[ProductId],
    ) -> Result<Placement, PlaceOrderError> {
        let mut tx = shard.writer().begin().await?;
        let written = async {
            if let Some(outcome) = fence(&mut tx, &order.user_id, &order.order_id, Outcome::Placed).await? {
                return Ok(match outcome {
                    Outcome::Placed => Placement::Placed,
                    Outcome::Voided => Placement::Voided,
                });
            }
            // An order written by an earlier attempt has its fence too (found above): this one is new.
            if let Insertion::OverCap = insert_order_within_cap(&mut tx, order).await? {
                return Ok(Placement::TooManyUnpaid);
            }
            if !complete(&mut tx, scope, &order.order_id).await? {
                return Ok(Placement::ClaimLost);
            }
            clear_cart(&mut tx, &order.user_id, clear).await?;
            Ok(Placement::Placed)
        }
        .await;
        match written {
            Ok(Placement::Placed) => {}
            Ok(other) => return Ok(other),
            Err(error) if is_conflict(&error) => return Err(PlaceOrderError::Conflict),
            Err(error) => return Err(store_error(error).into()),
        }
        match self.fault(FaultPoint::PlaceCommit).await {
            Some(Fault::Fail) => return Err(failed(FaultPoint::PlaceCommit).into()),
            Some(Fault::Crash) => return Ok(Placement::Crashed),
            None => {}
        }
        tx.commit().await.map_err(store_error)?;
        Ok(Placement::Placed)
    }

    /// Step 3: the reservation taken and the artisans' copy written, once the order exists.
    pub(super) async fn take(&self, order: &Order) -> Result<(), StoreError> {
        let mut tx = self.catalog.writer().begin().await?;
        let taken = async {
            sqlx::query(
                "UPDATE reservations SET state = 'taken', settled_at = $2 WHERE order_id = $1 AND state = 'reserved'",
            )
            .bind(order.order_id.as_str())
            .bind(order.updated_at)
            .execute(&mut *tx)
            .await?;
            if insert_order(&mut tx, order).await? {
                write_parts(&mut tx, order, ExistingPart::Keep).await?;
            }
            Ok::<_, sqlx::Error>(())
        }
        .await;
        taken.map_err(store_error)?;
        tx.commit().await.map_err(store_error)
    }

    /// After a failed step 2, settles the reservation now; if that fails too (the shard is down), the sweeper does.
    async fn settle_after_failure(&self, order: &Order) {
        if let Err(error) = self.settle(&order.user_id, &order.order_id, OffsetDateTime::now_utc()).await {
            tracing::warn!(order_id = %order.order_id, %error, "reservation left to the sweeper");
        }
    }

    /// Decides a reservation for good: the fence says whether its order exists. If it does, the reservation is
    /// taken (and the artisans' copy written); if not, the fence now says it never will, and the units go back.
    pub(super) async fn settle(&self, user: &UserId, order: &OrderId, now: OffsetDateTime) -> Result<(), StoreError> {
        let shard = self.shard_for(user, Access::Write).await?;
        let mut tx = shard.writer().begin().await?;
        let outcome =
            fence(&mut tx, user, order, Outcome::Voided).await.map_err(store_error)?.unwrap_or(Outcome::Voided);
        tx.commit().await.map_err(store_error)?;
        match outcome {
            Outcome::Voided => {
                let mut tx = self.catalog.writer().begin().await?;
                give_back(&mut tx, order, &["reserved"], "void", now, None).await.map_err(store_error)?;
                tx.commit().await.map_err(store_error)?;
                self.catalog.catalog_changed();
                Ok(())
            }
            Outcome::Placed => match shard.get_order(user, order).await? {
                Some(placed) => self.take(&placed).await,
                None => Err(StoreError::unexpected(format!("order {order} is fenced as placed but missing"))),
            },
        }
    }
}

/// Inserts the order's fence row as `outcome`; `None` when this call decided, else what was decided before (a
/// row still being inserted by another transaction is waited for: the unique key serialises the two).
async fn fence(
    tx: &mut Transaction<'_, Postgres>,
    user: &UserId,
    order: &OrderId,
    outcome: Outcome,
) -> Result<Option<Outcome>, sqlx::Error> {
    let name = match outcome {
        Outcome::Placed => "placed",
        Outcome::Voided => "voided",
    };
    let decided = sqlx::query(
        "INSERT INTO placements (order_id, user_id, outcome, decided_at) VALUES ($1, $2, $3, now()) \
         ON CONFLICT (order_id) DO NOTHING",
    )
    .bind(order.as_str())
    .bind(user.as_str())
    .bind(name)
    .execute(&mut **tx)
    .await?;
    if decided.rows_affected() == 1 {
        return Ok(None);
    }
    let before: String = sqlx::query_scalar("SELECT outcome FROM placements WHERE order_id = $1")
        .bind(order.as_str())
        .fetch_one(&mut **tx)
        .await?;
    Ok(Some(if before == "placed" { Outcome::Placed } else { Outcome::Voided }))
}
