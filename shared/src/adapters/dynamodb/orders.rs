//! `OrderStore` on DynamoDB. Checkout and every move of an order are one transaction each, conditional on what
//! was read (stock, status, price; the order's status and shipped parts), so concurrent checkouts never oversell,
//! a duplicate message changes nothing, and stock returns exactly once. The decisions are the domain's.

use async_trait::async_trait;
use aws_sdk_dynamodb::types::builders::UpdateBuilder;
use aws_sdk_dynamodb::types::{AttributeValue, Delete, TransactWriteItem, Update};
use futures::future::try_join_all;
use time::OffsetDateTime;

use super::idempotency::completion;
use super::items::*;
use super::keys::*;
use super::paging::Listing;
use super::write::{CONDITION_FAILED, Outcome, TRANSACTION_CONFLICT, put_new, stock_move, update};
use super::{DynamoStore, store_error};
use crate::domain::{
    FollowUp, MAX_UNPAID_ORDERS, Order, OrderId, OrderRef, OrderStatus, ProductId, StockDelta, UserId,
};
use crate::ports::{
    Due, IdempotencyScope, OrderStore, OrderTransition, Page, PageRequest, PlaceOrderError, StoreError, TransitionError,
};

/// One line's sale: its units off the shelf while the product is for sale at the price the order captured.
fn sale(table: &str, order: &Order, index: usize) -> Result<TransactWriteItem, StoreError> {
    let line = &order.items[index];
    let delta = StockDelta::parse(-i64::from(line.quantity.get())).map_err(StoreError::unexpected)?;
    let also = "#status = :active AND price_amount = :price AND currency = :currency";
    update(
        stock_move(table, &line.product_id, delta, order.created_at, also)
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":active", s("active"))
            .expression_attribute_values(":price", n(line.unit_price.amount))
            .expression_attribute_values(":currency", s(line.unit_price.currency.code())),
    )
}

/// The order joins its shopper's orders awaiting payment, while they hold fewer than [`MAX_UNPAID_ORDERS`] (or it
/// is there already: a retry of this write).
fn unpaid_joins(table: &str, order: &Order) -> Result<TransactWriteItem, StoreError> {
    update(
        Update::builder()
            .table_name(table)
            .set_key(Some(unpaid_key(&order.user_id)))
            .update_expression("ADD order_ids :order")
            .condition_expression(
                "attribute_not_exists(order_ids) OR size(order_ids) < :cap OR contains(order_ids, :id)",
            )
            .expression_attribute_values(":order", AttributeValue::Ss(vec![order.order_id.to_string()]))
            .expression_attribute_values(":id", s(order.order_id.as_str()))
            .expression_attribute_values(":cap", n(MAX_UNPAID_ORDERS)),
    )
}

/// The order leaves its shopper's orders awaiting payment (removing an id that is not there changes nothing).
fn unpaid_leaves(table: &str, order: &Order) -> Result<TransactWriteItem, StoreError> {
    update(
        Update::builder()
            .table_name(table)
            .set_key(Some(unpaid_key(&order.user_id)))
            .update_expression("DELETE order_ids :order")
            .expression_attribute_values(":order", AttributeValue::Ss(vec![order.order_id.to_string()])),
    )
}

/// The status of one item moves from `from` to `to`, and only from there.
fn status_move(table: &str, key: Item, from: OrderStatus, to: OrderStatus, now: OffsetDateTime) -> UpdateBuilder {
    Update::builder()
        .table_name(table)
        .set_key(Some(key))
        .update_expression("SET #status = :to, updated_at = :now")
        .condition_expression("#status = :from")
        .expression_attribute_names("#status", "status")
        .expression_attribute_values(":to", s(to.as_str()))
        .expression_attribute_values(":from", s(from.as_str()))
        .expression_attribute_values(":now", timestamp(now))
}

/// The order items under `pk` (a shopper's orders, or an artisan's parts), with `status` when filtered.
fn orders_of(pk: &str, status: Option<OrderStatus>) -> Listing<'_, Order> {
    Listing {
        pk,
        prefix: ORDER_PREFIX,
        status: status.map(OrderStatus::as_str),
        read: order_from_item,
        cursor: |order| order.order_id.to_string(),
    }
}

#[async_trait]
impl OrderStore for DynamoStore {
    async fn place_order(
        &self,
        order: &Order,
        scope: &IdempotencyScope,
        clear_cart: &[ProductId],
    ) -> Result<(), PlaceOrderError> {
        let mut items = Vec::new();
        for index in 0..order.items.len() {
            items.push(sale(&self.table, order, index)?);
        }
        let order_index = items.len();
        items.push(put_new(&self.table, order_item(order))?);
        for artisan in order.artisans() {
            items.push(put_new(&self.table, artisan_order_item(order, &artisan)?)?);
        }
        let claim_index = items.len();
        items.push(completion(&self.table, scope, order)?);
        let unpaid_index = items.len();
        items.push(unpaid_joins(&self.table, order)?);
        for product in clear_cart {
            let delete = Delete::builder()
                .table_name(&self.table)
                .set_key(Some(cart_key(&order.user_id, product)))
                .build()
                .map_err(StoreError::unexpected)?;
            items.push(TransactWriteItem::builder().delete(delete).build());
        }
        if !clear_cart.is_empty() {
            let cleared: Vec<&ProductId> = clear_cart.iter().collect();
            items.push(update(super::carts::tally_leaves(&self.table, &order.user_id, &cleared))?);
        }
        let outcome = self.transact(items, order.created_at).await?;
        let Outcome::Cancelled(codes) = &outcome else { return Ok(()) };
        // The order id is new and random: an order already under it is this write, landed on an earlier attempt.
        if outcome.failed(order_index) && self.get_order(&order.user_id, &order.order_id).await?.is_some() {
            return Ok(());
        }
        if outcome.failed(unpaid_index) {
            return Err(PlaceOrderError::TooManyUnpaid);
        }
        let changed: Vec<ProductId> = (0..order.items.len())
            .filter(|index| outcome.failed(*index))
            .map(|index| order.items[index].product_id.clone())
            .collect();
        if !changed.is_empty() {
            return Err(PlaceOrderError::Changed(changed));
        }
        if outcome.failed(claim_index) {
            return Err(PlaceOrderError::ClaimLost);
        }
        if outcome.any(TRANSACTION_CONFLICT) {
            return Err(PlaceOrderError::Conflict);
        }
        Err(StoreError::Conflict(codes.join(",")).into())
    }

    async fn get_order(&self, user: &UserId, id: &OrderId) -> Result<Option<Order>, StoreError> {
        self.read(order_key(user, id)).await?.as_ref().map(order_from_item).transpose()
    }

    async fn list_orders(&self, user: &UserId, page: &PageRequest) -> Result<Page<Order>, StoreError> {
        self.partition_page(orders_of(&user_pk(user), None), page).await
    }

    async fn list_artisan_orders(
        &self,
        artisan: &UserId,
        status: Option<OrderStatus>,
        page: &PageRequest,
    ) -> Result<Page<Order>, StoreError> {
        self.partition_page(orders_of(&artisan_pk(artisan), status), page).await
    }

    async fn get_artisan_order(&self, artisan: &UserId, id: &OrderId) -> Result<Option<Order>, StoreError> {
        self.read(artisan_order_key(artisan, id)).await?.as_ref().map(order_from_item).transpose()
    }

    async fn save_transition(&self, transition: &OrderTransition<'_>) -> Result<(), TransitionError> {
        let (current, next) = (transition.current, transition.next);
        let (id, now) = (&current.order_id, next.updated_at);
        let mut set = vec![
            "#status = :next",
            "shipped_parts = :shipped_next",
            "shipped_artisans = :shipped",
            "payment_status = :payment_next",
            "updated_at = :now",
        ];
        let mut remove = Vec::new();
        if next.payment.is_some() {
            set.push("payment = :payment");
        }
        if next.retry.is_some() {
            set.push("retry = :retry");
        } else {
            remove.push("retry");
        }
        let open = open_keys(next);
        if open.is_some() {
            set.push("#open_pk = :open_pk");
            set.push("#open_sk = :open_sk");
        } else {
            // Nothing owed any more: out of the sweeper's and the reconciler's view.
            remove.extend(["#open_pk", "#open_sk"]);
        }
        let mut expression = format!("SET {}", set.join(", "));
        if !remove.is_empty() {
            expression = format!("{expression} REMOVE {}", remove.join(", "));
        }
        let mut order = Update::builder()
            .table_name(&self.table)
            .set_key(Some(order_key(&current.user_id, id)))
            .update_expression(expression)
            // Still as read: the same status, no part shipped since, the payment where it was.
            .condition_expression(
                "#status = :current AND shipped_parts = :shipped_now AND payment_status = :payment_now",
            )
            .expression_attribute_names("#status", "status")
            .expression_attribute_names("#open_pk", SHARDED_INDEX_PK)
            .expression_attribute_names("#open_sk", SHARDED_INDEX_SK)
            .expression_attribute_values(":next", s(next.status.as_str()))
            .expression_attribute_values(":current", s(current.status.as_str()))
            .expression_attribute_values(":shipped_next", n(next.shipped_artisans.len()))
            .expression_attribute_values(":shipped_now", n(current.shipped_artisans.len()))
            .expression_attribute_values(":shipped", json_value(&next.shipped_artisans))
            .expression_attribute_values(":payment_next", s(payment_status_of(next)))
            .expression_attribute_values(":payment_now", s(payment_status_of(current)))
            .expression_attribute_values(":now", timestamp(now));
        if let Some(payment) = &next.payment {
            order = order.expression_attribute_values(":payment", json_value(payment));
        }
        if let Some(retry) = &next.retry {
            order = order.expression_attribute_values(":retry", json_value(retry));
        }
        if let Some((pk, sk)) = open {
            order = order.expression_attribute_values(":open_pk", s(pk)).expression_attribute_values(":open_sk", s(sk));
        }
        let mut items = vec![update(order)?];
        for artisan in current.artisans() {
            let (from, to) = (current.part_status(&artisan), next.part_status(&artisan));
            if from != to {
                items.push(update(status_move(&self.table, artisan_order_key(&artisan, id), from, to, now))?);
            }
        }
        for restock in transition.restock {
            items.push(update(stock_move(&self.table, &restock.product_id, restock.delta, now, ""))?);
        }
        if current.stops_awaiting_payment(next) {
            items.push(unpaid_leaves(&self.table, current)?);
        }
        if transition.record_notice {
            // The confirmation notice exists once per order, whatever the number of deliveries.
            let mut notice = notice_key(id);
            notice.insert("order_id".into(), s(id.as_str()));
            notice.insert("user_id".into(), s(current.user_id.as_str()));
            notice.insert("created_at".into(), timestamp(now));
            notice.insert("sent".into(), AttributeValue::Bool(false));
            items.push(put_new(&self.table, notice)?);
        }
        for payout in transition.payouts {
            // One per (artisan, order): a payout exists once, however the shipment is retried.
            items.push(put_new(&self.table, payout_item(payout))?);
        }
        match self.transact(items, now).await? {
            Outcome::Written => Ok(()),
            outcome if outcome.any(CONDITION_FAILED) || outcome.any(TRANSACTION_CONFLICT) => {
                Err(TransitionError::Stale)
            }
            Outcome::Cancelled(codes) => Err(StoreError::Conflict(codes.join(",")).into()),
        }
    }

    async fn notice_pending(&self, order: &OrderRef) -> Result<bool, StoreError> {
        Ok(self
            .read(notice_key(&order.order_id))
            .await?
            .is_some_and(|notice| notice.get("sent").and_then(|v| v.as_bool().ok()) == Some(&false)))
    }

    async fn notice_sent(&self, order: &OrderRef, now: OffsetDateTime) -> Result<(), StoreError> {
        self.client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(notice_key(&order.order_id)))
            .update_expression("SET sent = :yes, sent_at = :now")
            .condition_expression("attribute_exists(PK)")
            .expression_attribute_values(":yes", AttributeValue::Bool(true))
            .expression_attribute_values(":now", timestamp(now))
            .send()
            .await
            .map_err(store_error)?;
        Ok(())
    }

    async fn orders_due(
        &self,
        follow_up: FollowUp,
        before: OffsetDateTime,
        page: &PageRequest,
    ) -> Result<Page<Due>, StoreError> {
        let kind = follow_up_kind(follow_up);
        let found = self.sharded_page(|shard| open_shard_key(kind, shard), Some(before), page).await?;
        let items = readable(&found.items, |item| {
            let order = OrderRef {
                user_id: UserId::parse(get_s(item, "user_id")?).ok_or_else(|| StoreError::unexpected("user_id"))?,
                order_id: OrderId::parse(get_s(item, "order_id")?).ok_or_else(|| StoreError::unexpected("order_id"))?,
            };
            let retry = item.get("retry").and_then(|v| v.as_s().ok()).and_then(|raw| serde_json::from_str(raw).ok());
            Ok(Due { order, retry })
        });
        Ok(Page { items, next: found.next })
    }

    async fn parked_orders(&self, page: &PageRequest) -> Result<Page<Order>, StoreError> {
        let found = self.sharded_page(|shard| parked_shard_key(PARKED_ORDER, shard), None, page).await?;
        Ok(Page { items: readable(&found.items, order_from_item), next: found.next })
    }
}

impl DynamoStore {
    /// A page of one of GSI1's sharded lists (owed work, parked work, markers), oldest first: every shard of it read
    /// from after `page.after` (a sort key) to before `before`, merged, cut to the page. Its `next` is the last sort
    /// key on the page, so the next read starts past every item this one returned, whatever became of them.
    pub(super) async fn sharded_page(
        &self,
        partition: impl Fn(u32) -> String,
        before: Option<OffsetDateTime>,
        page: &PageRequest,
    ) -> Result<Page<Item>, StoreError> {
        let want = page.limit.clamp(1, 1000);
        let bound = before.map(open_bound);
        let after = page.after.as_deref();
        let shards = (0..CATALOG_SHARDS).map(|shard| {
            let query = self
                .client
                .query()
                .table_name(&self.table)
                .index_name(SHARDED_INDEX)
                .expression_attribute_names("#pk", SHARDED_INDEX_PK)
                .expression_attribute_values(":pk", s(partition(shard)))
                // One more than the page: the item at `after` itself may be among them (BETWEEN includes it).
                .limit(i32::try_from(want + 1).unwrap_or(i32::MAX));
            let ranged = |query: aws_sdk_dynamodb::operation::query::builders::QueryFluentBuilder| {
                query.expression_attribute_names("#sk", SHARDED_INDEX_SK)
            };
            match (after, &bound) {
                (None, None) => query.key_condition_expression("#pk = :pk"),
                (Some(after), None) => ranged(query)
                    .key_condition_expression("#pk = :pk AND #sk > :after")
                    .expression_attribute_values(":after", s(after)),
                (None, Some(bound)) => ranged(query)
                    .key_condition_expression("#pk = :pk AND #sk < :before")
                    .expression_attribute_values(":before", s(bound)),
                (Some(after), Some(bound)) => ranged(query)
                    .key_condition_expression("#pk = :pk AND #sk BETWEEN :after AND :before")
                    .expression_attribute_values(":after", s(after))
                    .expression_attribute_values(":before", s(bound)),
            }
            .send()
        });
        let pages = try_join_all(shards).await.map_err(store_error)?;
        let sort_key =
            |item: &Item| item.get(SHARDED_INDEX_SK).and_then(|v| v.as_s().ok()).cloned().unwrap_or_default();
        let mut more = pages.iter().any(|page| page.last_evaluated_key.is_some());
        let mut items: Vec<Item> = pages
            .into_iter()
            .flat_map(|page| page.items.unwrap_or_default())
            .filter(|item| after.is_none_or(|after| sort_key(item).as_str() > after))
            .filter(|item| bound.as_ref().is_none_or(|bound| &sort_key(item) < bound))
            .collect();
        items.sort_by_key(sort_key);
        if items.len() > want {
            more = true;
            items.truncate(want);
        }
        let next = if more { items.last().map(sort_key) } else { None };
        Ok(Page { items, next })
    }
}
