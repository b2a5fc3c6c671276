//! `OrderStore` on Postgres. Checkout and every move of an order are one transaction each, conditional on what
//! was read (stock, status, price; the order's status, shipped parts and payment), so concurrent checkouts never
//! oversell, a duplicate message changes nothing, and stock returns exactly once. The decisions are the domain's.
//!
//! Row locks are taken in one order (the order, then its parts, then products by id), so two transactions never
//! wait on each other in turn; when they still deadlock, Postgres aborts one and it is retried as a conflict.

use super::sqlx::{self, PgArguments, Postgres, Query, Row, Transaction};
use async_trait::async_trait;
use time::OffsetDateTime;

use super::catalog::move_stock;
use super::idempotency::complete;
use super::rows::{self, ORDER_COLUMNS, readable, to_json};
use super::{PgStore, is_conflict, store_error};
use crate::domain::{
    FollowUp, MAX_UNPAID_ORDERS, Order, OrderId, OrderRef, OrderStatus, ProductId, StockDelta, UserId,
};
use crate::ports::{
    Due, IdempotencyScope, OrderStore, OrderTransition, Page, PageRequest, PlaceOrderError, Restock, StoreError,
    TransitionError,
};

/// Where the order stands for the background functions: what it still owes ([`Order::follow_up`]) and since when.
fn open(order: &Order) -> (Option<&'static str>, Option<OffsetDateTime>) {
    match order.follow_up() {
        Some(follow_up) => (Some(follow_up.as_str()), Some(order.updated_at)),
        None => (None, None),
    }
}

fn bind_order<'q>(query: Query<'q, Postgres, PgArguments>, order: &'q Order) -> Query<'q, Postgres, PgArguments> {
    let (open_kind, open_since) = open(order);
    query
        .bind(order.order_id.as_str())
        .bind(order.user_id.as_str())
        .bind(order.status.as_str())
        .bind(to_json(&order.items))
        .bind(order.total.amount)
        .bind(order.total.currency.code())
        .bind(order.contact_email.as_deref())
        .bind(to_json(&order.shipped_artisans))
        .bind(order.payment.as_ref().map(to_json))
        .bind(to_json(&order.shares))
        .bind(order.created_at)
        .bind(order.updated_at)
        .bind(order.retry.as_ref().map(to_json))
        .bind(order.payment_status_name())
        .bind(open_kind)
        .bind(open_since)
}

/// What a checkout transaction found, when it did not commit.
enum Refused {
    /// The order exists already: this very checkout, landed on an earlier attempt.
    Exists,
    Changed(Vec<ProductId>),
    ClaimLost,
    TooManyUnpaid,
}

/// Locks the shopper's row (made on first use) until the transaction ends: the writes whose limits count the
/// shopper's rows (orders awaiting payment, cart lines) take turns, so each counts what the one before wrote.
pub(super) async fn lock_shopper(tx: &mut Transaction<'_, Postgres>, user: &UserId) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO shoppers (user_id) VALUES ($1) ON CONFLICT (user_id) DO UPDATE SET user_id = EXCLUDED.user_id",
    )
    .bind(user.as_str())
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// What inserting a new order found.
pub(super) enum Insertion {
    Inserted,
    /// The order exists already: this checkout, written by an earlier attempt.
    Existed,
    /// Its shopper holds [`MAX_UNPAID_ORDERS`] other orders awaiting payment: the caller rolls back.
    OverCap,
}

/// Inserts the order with its shopper locked, while they hold fewer than [`MAX_UNPAID_ORDERS`] other orders
/// awaiting payment.
pub(super) async fn insert_order_within_cap(
    tx: &mut Transaction<'_, Postgres>,
    order: &Order,
) -> Result<Insertion, sqlx::Error> {
    lock_shopper(tx, &order.user_id).await?;
    if !insert_order(tx, order).await? {
        return Ok(Insertion::Existed);
    }
    let unpaid: i64 =
        sqlx::query_scalar("SELECT count(*) FROM orders WHERE user_id = $1 AND status = 'awaiting_payment'")
            .bind(order.user_id.as_str())
            .fetch_one(&mut **tx)
            .await?;
    Ok(if usize::try_from(unpaid).unwrap_or(usize::MAX) > MAX_UNPAID_ORDERS {
        Insertion::OverCap
    } else {
        Insertion::Inserted
    })
}

/// Inserts the order row; `false` when it exists already (this very order, written by an earlier attempt).
pub(super) async fn insert_order(tx: &mut Transaction<'_, Postgres>, order: &Order) -> Result<bool, sqlx::Error> {
    let sql = format!(
        "INSERT INTO orders ({ORDER_COLUMNS}, payment_status, open_kind, open_since) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16) \
         ON CONFLICT (order_id) DO NOTHING"
    );
    Ok(bind_order(sqlx::query(&sql), order).execute(&mut **tx).await?.rows_affected() == 1)
}

/// What writing an order's parts does to a part row already there.
#[derive(Clone, Copy)]
pub(super) enum ExistingPart {
    /// Left as it is (a retried placement).
    Keep,
    /// Given the order's status for it (the artisans' copy brought forward).
    Overwrite,
}

/// One row per artisan holding a part of the order: their order list and their part's status.
pub(super) async fn write_parts(
    tx: &mut Transaction<'_, Postgres>,
    order: &Order,
    existing: ExistingPart,
) -> Result<(), sqlx::Error> {
    let sql = match existing {
        ExistingPart::Keep => {
            "INSERT INTO order_parts (artisan_id, order_id, status) VALUES ($1, $2, $3) \
             ON CONFLICT (artisan_id, order_id) DO NOTHING"
        }
        ExistingPart::Overwrite => {
            "INSERT INTO order_parts (artisan_id, order_id, status) VALUES ($1, $2, $3) \
             ON CONFLICT (artisan_id, order_id) DO UPDATE SET status = EXCLUDED.status"
        }
    };
    for artisan in order.artisans() {
        sqlx::query(sql)
            .bind(artisan.as_str())
            .bind(order.order_id.as_str())
            .bind(order.part_status(&artisan).as_str())
            .execute(&mut **tx)
            .await?;
    }
    Ok(())
}

/// Takes every line's units off the shelf, each only while the product is active at the order's price with
/// enough stock; the products that refused (every line is tried, so a refusal names all of them, as DynamoDB's
/// cancellation reasons do).
pub(super) async fn take_stock(
    tx: &mut Transaction<'_, Postgres>,
    order: &Order,
) -> Result<Vec<ProductId>, sqlx::Error> {
    let mut lines: Vec<_> = order.items.iter().collect();
    lines.sort_by(|a, b| a.product_id.cmp(&b.product_id));
    let mut changed = Vec::new();
    for line in lines {
        let delta = StockDelta::parse(-i64::from(line.quantity.get()))
            .map_err(|e| sqlx::Error::Protocol(format!("order line quantity: {e:?}")))?;
        let price = (line.unit_price.amount, line.unit_price.currency.code());
        if !move_stock(tx, &line.product_id, delta, order.created_at, Some(price)).await? {
            changed.push(line.product_id.clone());
        }
    }
    Ok(changed)
}

/// Removes the checked-out lines from the user's cart.
pub(super) async fn clear_cart(
    tx: &mut Transaction<'_, Postgres>,
    user: &UserId,
    products: &[ProductId],
) -> Result<(), sqlx::Error> {
    let cleared: Vec<&str> = products.iter().map(ProductId::as_str).collect();
    sqlx::query("DELETE FROM cart_lines WHERE user_id = $1 AND product_id = ANY($2)")
        .bind(user.as_str())
        .bind(&cleared)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

async fn place(
    tx: &mut Transaction<'_, Postgres>,
    order: &Order,
    scope: &IdempotencyScope,
    clear: &[ProductId],
) -> Result<Option<Refused>, sqlx::Error> {
    match insert_order_within_cap(tx, order).await? {
        Insertion::Inserted => {}
        Insertion::Existed => return Ok(Some(Refused::Exists)),
        Insertion::OverCap => return Ok(Some(Refused::TooManyUnpaid)),
    }
    write_parts(tx, order, ExistingPart::Keep).await?;
    let changed = take_stock(tx, order).await?;
    if !changed.is_empty() {
        return Ok(Some(Refused::Changed(changed)));
    }
    if !complete(tx, scope, &order.order_id).await? {
        return Ok(Some(Refused::ClaimLost));
    }
    clear_cart(tx, &order.user_id, clear).await?;
    Ok(None)
}

/// Moves the order row from `current` (as read) to `next`; `false` when it changed since it was read (status,
/// shipped parts, payment).
pub(super) async fn update_order(
    tx: &mut Transaction<'_, Postgres>,
    current: &Order,
    next: &Order,
) -> Result<bool, sqlx::Error> {
    let (open_kind, open_since) = open(next);
    let parked_at = next.parked().then_some(next.updated_at);
    let moved = sqlx::query(
        "UPDATE orders SET status = $3, shipped_artisans = $4, payment = COALESCE($5, payment), \
           payment_status = $6, updated_at = $7, open_kind = $8, open_since = $9, retry = $13, parked_at = $14 \
         WHERE order_id = $1 AND user_id = $2 AND status = $10 AND jsonb_array_length(shipped_artisans) = $11 \
           AND payment_status = $12",
    )
    .bind(current.order_id.as_str())
    .bind(current.user_id.as_str())
    .bind(next.status.as_str())
    .bind(to_json(&next.shipped_artisans))
    .bind(next.payment.as_ref().map(to_json))
    .bind(next.payment_status_name())
    .bind(next.updated_at)
    .bind(open_kind)
    .bind(open_since)
    .bind(current.status.as_str())
    .bind(i32::try_from(current.shipped_artisans.len()).unwrap_or(i32::MAX))
    .bind(current.payment_status_name())
    .bind(next.retry.as_ref().map(to_json))
    .bind(parked_at)
    .execute(&mut **tx)
    .await?;
    Ok(moved.rows_affected() == 1)
}

/// Moves each artisan's part whose status changes between `current` and `next`; `false` when one was not as read.
async fn move_parts(tx: &mut Transaction<'_, Postgres>, current: &Order, next: &Order) -> Result<bool, sqlx::Error> {
    for artisan in current.artisans() {
        let (from, to) = (current.part_status(&artisan), next.part_status(&artisan));
        if from != to {
            let part = sqlx::query(
                "UPDATE order_parts SET status = $3 WHERE artisan_id = $1 AND order_id = $2 AND status = $4",
            )
            .bind(artisan.as_str())
            .bind(current.order_id.as_str())
            .bind(to.as_str())
            .bind(from.as_str())
            .execute(&mut **tx)
            .await?;
            if part.rows_affected() == 0 {
                return Ok(false);
            }
        }
    }
    Ok(true)
}

/// Puts units back on the shelf, in product order; `false` when one would leave the stock's range.
pub(super) async fn restock(
    tx: &mut Transaction<'_, Postgres>,
    restock: &[Restock],
    now: OffsetDateTime,
) -> Result<bool, sqlx::Error> {
    let mut lines: Vec<_> = restock.iter().collect();
    lines.sort_by(|a, b| a.product_id.cmp(&b.product_id));
    for line in lines {
        if !move_stock(tx, &line.product_id, line.delta, now, None).await? {
            return Ok(false);
        }
    }
    Ok(true)
}

/// Records the order's confirmation notice, pending delivery; `false` when it was recorded already (the notice
/// exists once per order, whatever the number of deliveries).
pub(super) async fn record_notice(
    tx: &mut Transaction<'_, Postgres>,
    order: &Order,
    now: OffsetDateTime,
) -> Result<bool, sqlx::Error> {
    let notice = sqlx::query(
        "INSERT INTO notices (order_id, user_id, sent, created_at) VALUES ($1, $2, false, $3) \
         ON CONFLICT (order_id) DO NOTHING",
    )
    .bind(order.order_id.as_str())
    .bind(order.user_id.as_str())
    .bind(now)
    .execute(&mut **tx)
    .await?;
    Ok(notice.rows_affected() == 1)
}

/// Writes a decided move inside `tx`; `false` when something changed since it was read.
async fn transition(tx: &mut Transaction<'_, Postgres>, transition: &OrderTransition<'_>) -> Result<bool, sqlx::Error> {
    let (current, next) = (transition.current, transition.next);
    let now = next.updated_at;
    if !update_order(tx, current, next).await? || !move_parts(tx, current, next).await? {
        return Ok(false);
    }
    if !restock(tx, transition.restock, now).await? {
        return Ok(false);
    }
    if transition.record_notice && !record_notice(tx, current, now).await? {
        return Ok(false);
    }
    for payout in transition.payouts {
        // One per (artisan, order): a payout exists once, however the shipment is retried.
        if !super::payments::insert_payout(tx, payout).await? {
            return Ok(false);
        }
    }
    Ok(true)
}

/// The order columns prefixed by the orders table's alias `o`, for joins.
fn order_columns_of_o() -> String {
    ORDER_COLUMNS.split(", ").map(|column| format!("o.{column}")).collect::<Vec<_>>().join(", ")
}

impl PgStore {
    /// A newest-first page of orders: the shopper's own, or those holding `artisan`'s part (driven by the parts'
    /// key, artisan then order id), optionally only parts in `status`.
    async fn order_page(&self, owner: Owner<'_>, page: &PageRequest) -> Result<Page<Order>, StoreError> {
        let columns = order_columns_of_o();
        let limit = i64::try_from(page.limit + 1).unwrap_or(i64::MAX);
        let after = page.after.as_deref();
        let found = match owner {
            Owner::Shopper(user) => {
                let sql = format!(
                    "SELECT {columns} FROM orders o WHERE o.user_id = $1 AND ($2::text IS NULL OR o.order_id < $2) \
                     ORDER BY o.order_id DESC LIMIT $3"
                );
                self.writer.fetch_all(sqlx::query(&sql).bind(user.as_str()).bind(after).bind(limit)).await?
            }
            Owner::Artisan(artisan, status) => {
                let sql = format!(
                    "SELECT {columns} FROM order_parts p JOIN orders o ON o.order_id = p.order_id \
                     WHERE p.artisan_id = $1 AND ($2::text IS NULL OR p.status = $2) \
                       AND ($3::text IS NULL OR p.order_id < $3) \
                     ORDER BY p.order_id DESC LIMIT $4"
                );
                let status = status.map(OrderStatus::as_str);
                let statement = sqlx::query(&sql).bind(artisan.as_str()).bind(status).bind(after).bind(limit);
                self.writer.fetch_all(statement).await?
            }
        };
        let more = found.len() > page.limit;
        let shown = &found[..found.len().min(page.limit)];
        let next = if more { shown.last().and_then(|row| row.try_get("order_id").ok()) } else { None };
        let mut orders = readable(shown, rows::order);
        if let Owner::Artisan(artisan, _) = owner {
            orders = orders
                .iter()
                .filter_map(|order| {
                    order
                        .for_artisan(artisan)
                        .inspect_err(|error| tracing::error!(order_id = %order.order_id, %error, "left out"))
                        .ok()
                })
                .collect();
        }
        Ok(Page { items: orders, next })
    }
}

/// A due list's position: when the item became owed (microseconds since the epoch, the precision both the store and
/// the clock keep) and its id, as `<micros>:<id>`; keyset paging goes on after it. A sharded store merges its
/// shards' pages by it.
pub(super) fn due_position(since: OffsetDateTime, id: &str) -> String {
    format!("{:020}:{id}", since.unix_timestamp_nanos() / 1000)
}

/// The (time, id) a position names; a position this store did not make reads as none (the list from its start).
pub(super) fn read_position(position: Option<&str>) -> Option<(OffsetDateTime, String)> {
    let (micros, id) = position?.split_once(':')?;
    let since = OffsetDateTime::from_unix_timestamp_nanos(micros.parse::<i128>().ok()?.checked_mul(1000)?).ok()?;
    Some((since, id.to_owned()))
}

impl PgStore {
    /// [`OrderStore::orders_due`]: one page, with each item's position (a sharded store merges its shards' pages).
    pub(super) async fn orders_due_page(
        &self,
        follow_up: FollowUp,
        before: OffsetDateTime,
        page: &PageRequest,
    ) -> Result<Vec<(String, Due)>, StoreError> {
        let (after_since, after_id) = read_position(page.after.as_deref()).unzip();
        let statement = sqlx::query(
            "SELECT user_id, order_id, open_since, retry FROM orders \
             WHERE open_kind = $1 AND open_since < $2 AND parked_at IS NULL \
               AND ($3::timestamptz IS NULL OR (open_since, order_id) > ($3, $4)) \
             ORDER BY open_since, order_id LIMIT $5",
        )
        .bind(follow_up.as_str())
        .bind(before)
        .bind(after_since)
        .bind(after_id)
        .bind(i64::try_from(page.limit).unwrap_or(i64::MAX));
        let found = self.writer.fetch_all(statement).await?;
        Ok(found
            .iter()
            .filter_map(|row| {
                let since: OffsetDateTime = row.try_get("open_since").ok()?;
                let order = rows::order_ref(row)?;
                let retry = row
                    .try_get::<Option<sqlx::Json<crate::domain::Retry>>, _>("retry")
                    .ok()
                    .flatten()
                    .map(|sqlx::Json(retry)| retry);
                Some((due_position(since, order.order_id.as_str()), Due { order, retry }))
            })
            .collect())
    }

    /// [`OrderStore::parked_orders`]: one page, with each order's position.
    pub(super) async fn parked_orders_page(&self, page: &PageRequest) -> Result<Vec<(String, Order)>, StoreError> {
        let (after_since, after_id) = read_position(page.after.as_deref()).unzip();
        let sql = format!(
            "SELECT {ORDER_COLUMNS}, parked_at FROM orders WHERE parked_at IS NOT NULL \
             AND ($1::timestamptz IS NULL OR (parked_at, order_id) > ($1, $2)) ORDER BY parked_at, order_id LIMIT $3"
        );
        let statement =
            sqlx::query(&sql).bind(after_since).bind(after_id).bind(i64::try_from(page.limit).unwrap_or(i64::MAX));
        let found = self.writer.fetch_all(statement).await?;
        Ok(found
            .iter()
            .filter_map(|row| {
                let at: OffsetDateTime = row.try_get("parked_at").ok()?;
                let order = rows::order(row).inspect_err(|e| tracing::error!(%e, "parked order left out")).ok()?;
                Some((due_position(at, order.order_id.as_str()), order))
            })
            .collect())
    }
}

/// A page of at most `limit` from positioned items (in position order), its `next` the last one's position when the
/// list may go on.
pub(super) fn paged<T>(items: Vec<(String, T)>, limit: usize) -> Page<T> {
    let full = items.len() >= limit;
    let next = if full { items.last().map(|(position, _)| position.clone()) } else { None };
    Page { items: items.into_iter().map(|(_, item)| item).collect(), next }
}

/// Whose orders a page lists.
#[derive(Clone, Copy)]
enum Owner<'a> {
    Shopper(&'a UserId),
    Artisan(&'a UserId, Option<OrderStatus>),
}

#[async_trait]
impl OrderStore for PgStore {
    async fn place_order(
        &self,
        order: &Order,
        scope: &IdempotencyScope,
        clear_cart: &[ProductId],
    ) -> Result<(), PlaceOrderError> {
        let mut tx = self.writer.begin().await?;
        let placed = place(&mut tx, order, scope, clear_cart).await;
        let placed = match placed {
            Ok(None) => tx.commit().await.map(|()| None),
            other => other,
        };
        self.catalog_changed();
        match placed {
            Ok(None) | Ok(Some(Refused::Exists)) => Ok(()),
            Ok(Some(Refused::Changed(products))) => Err(PlaceOrderError::Changed(products)),
            Ok(Some(Refused::ClaimLost)) => Err(PlaceOrderError::ClaimLost),
            Ok(Some(Refused::TooManyUnpaid)) => Err(PlaceOrderError::TooManyUnpaid),
            Err(error) if is_conflict(&error) => Err(PlaceOrderError::Conflict),
            Err(error) => Err(store_error(error).into()),
        }
    }

    async fn get_order(&self, user: &UserId, id: &OrderId) -> Result<Option<Order>, StoreError> {
        let sql = format!("SELECT {ORDER_COLUMNS} FROM orders WHERE order_id = $1 AND user_id = $2");
        let row = self.writer.fetch_optional(sqlx::query(&sql).bind(id.as_str()).bind(user.as_str())).await?;
        row.as_ref().map(rows::order).transpose()
    }

    async fn list_orders(&self, user: &UserId, page: &PageRequest) -> Result<Page<Order>, StoreError> {
        self.order_page(Owner::Shopper(user), page).await
    }

    async fn list_artisan_orders(
        &self,
        artisan: &UserId,
        status: Option<OrderStatus>,
        page: &PageRequest,
    ) -> Result<Page<Order>, StoreError> {
        self.order_page(Owner::Artisan(artisan, status), page).await
    }

    async fn get_artisan_order(&self, artisan: &UserId, id: &OrderId) -> Result<Option<Order>, StoreError> {
        let columns = order_columns_of_o();
        let sql = format!(
            "SELECT {columns} FROM orders o JOIN order_parts p ON p.order_id = o.order_id \
             WHERE o.order_id = $1 AND p.artisan_id = $2"
        );
        let row = self.writer.fetch_optional(sqlx::query(&sql).bind(id.as_str()).bind(artisan.as_str())).await?;
        let order = row.as_ref().map(rows::order).transpose()?;
        order.map(|order| order.for_artisan(artisan)).transpose().map_err(StoreError::unexpected)
    }

    async fn save_transition(&self, change: &OrderTransition<'_>) -> Result<(), TransitionError> {
        let mut tx = self.writer.begin().await?;
        let written = match transition(&mut tx, change).await {
            Ok(true) => tx.commit().await.map(|()| true),
            other => other,
        };
        if !change.restock.is_empty() {
            self.catalog_changed();
        }
        match written {
            Ok(true) => Ok(()),
            Ok(false) => Err(TransitionError::Stale),
            Err(error) if is_conflict(&error) => Err(TransitionError::Stale),
            Err(error) => Err(store_error(error).into()),
        }
    }

    async fn notice_pending(&self, order: &OrderRef) -> Result<bool, StoreError> {
        let row = self
            .writer
            .fetch_optional(sqlx::query("SELECT sent FROM notices WHERE order_id = $1").bind(order.order_id.as_str()))
            .await?;
        let sent: Option<bool> = row.map(|row| row.try_get("sent")).transpose().map_err(store_error)?;
        Ok(sent == Some(false))
    }

    async fn notice_sent(&self, order: &OrderRef, now: OffsetDateTime) -> Result<(), StoreError> {
        let id = &order.order_id;
        let marked =
            sqlx::query("UPDATE notices SET sent = true, sent_at = $2 WHERE order_id = $1").bind(id.as_str()).bind(now);
        if self.writer.execute(marked).await? == 0 {
            return Err(StoreError::unexpected(format!("no confirmation notice recorded for order {id}")));
        }
        Ok(())
    }

    async fn orders_due(
        &self,
        follow_up: FollowUp,
        before: OffsetDateTime,
        page: &PageRequest,
    ) -> Result<Page<Due>, StoreError> {
        Ok(paged(self.orders_due_page(follow_up, before, page).await?, page.limit))
    }

    async fn parked_orders(&self, page: &PageRequest) -> Result<Page<Order>, StoreError> {
        Ok(paged(self.parked_orders_page(page).await?, page.limit))
    }
}
