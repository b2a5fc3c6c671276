//! `OrderStore` on DynamoDB. Every move of an order is one conditional write (a transaction where it spans items),
//! so concurrent checkouts never oversell, a duplicate message changes nothing, and stock returns exactly once.

use std::collections::HashMap;

use async_trait::async_trait;
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{AttributeValue, Delete, Put, TransactWriteItem, Update};
use futures::future::try_join_all;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::idempotency::completion_update;
use super::items::*;
use super::keys::*;
use super::{DynamoStore, store_error};
use crate::domain::{Currency, Money, Order, OrderId, OrderLine, OrderStatus, ProductId, UserId};
use crate::ports::{Completion, OrderStore, Page, PageRequest, PlaceOrderError, StoreError, Transition};

fn order_key(user: &UserId, id: &OrderId) -> Item {
    HashMap::from([(PK.to_owned(), s(user_pk(user))), (SK.to_owned(), s(order_sk(id)))])
}

fn artisan_order_key(artisan: &UserId, id: &OrderId) -> Item {
    HashMap::from([(PK.to_owned(), s(artisan_pk(artisan))), (SK.to_owned(), s(order_sk(id)))])
}

fn order_attributes(order: &Order, item: &mut Item) {
    item.insert("order_id".into(), s(order.order_id.as_str()));
    item.insert("user_id".into(), s(order.user_id.as_str()));
    item.insert("status".into(), s(order.status.as_str()));
    // Lines never change after checkout; one JSON attribute keeps them whole.
    item.insert("items".into(), s(serde_json::to_string(&order.items).unwrap_or_default()));
    item.insert("total_amount".into(), n(order.total.amount));
    item.insert("currency".into(), s(order.total.currency.code()));
    item.insert("created_at".into(), timestamp(order.created_at));
    item.insert("updated_at".into(), timestamp(order.updated_at));
    if let Some(email) = &order.contact_email {
        item.insert("contact_email".into(), s(email));
    }
}

fn order_item(order: &Order) -> Item {
    let mut item = order_key(&order.user_id, &order.order_id);
    item.insert("entity".into(), s("order"));
    order_attributes(order, &mut item);
    item.insert("artisan_count".into(), n(order.artisans().len()));
    item.insert("shipped_parts".into(), n(0));
    // In the sweeper's view until confirmed.
    item.insert(CATALOG_INDEX_PK.into(), s(placed_shard_key(shard_of(&order.order_id))));
    item.insert(CATALOG_INDEX_SK.into(), s(order.order_id.as_str()));
    item
}

fn artisan_order_item(order: &Order, artisan: &UserId) -> Item {
    let mut item = artisan_order_key(artisan, &order.order_id);
    item.insert("entity".into(), s("artisan_order"));
    order_attributes(&order.for_artisan(artisan), &mut item);
    item
}

fn malformed(what: &str) -> StoreError {
    StoreError::unexpected(format!("malformed order item: {what}"))
}

fn order_from_item(item: &Item) -> Result<Order, StoreError> {
    let text = |name: &str| item.get(name).and_then(|v| v.as_s().ok()).ok_or_else(|| malformed(name));
    let time = |name: &str| OffsetDateTime::parse(text(name)?, &Rfc3339).map_err(|_| malformed(name));
    let items: Vec<OrderLine> = serde_json::from_str(text("items")?).map_err(|_| malformed("items"))?;
    Ok(Order {
        order_id: ProductId::parse(text("order_id")?).ok_or_else(|| malformed("order_id"))?,
        user_id: UserId::parse(text("user_id")?).ok_or_else(|| malformed("user_id"))?,
        status: OrderStatus::parse(text("status")?).ok_or_else(|| malformed("status"))?,
        items,
        total: Money::new(
            item.get("total_amount")
                .and_then(|v| v.as_n().ok())
                .and_then(|v| v.parse().ok())
                .ok_or_else(|| malformed("total"))?,
            Currency::parse(text("currency")?).ok_or_else(|| malformed("currency"))?,
        ),
        contact_email: item.get("contact_email").and_then(|v| v.as_s().ok()).cloned(),
        created_at: time("created_at")?,
        updated_at: time("updated_at")?,
    })
}

fn number(item: &Item, name: &str) -> i64 {
    item.get(name).and_then(|v| v.as_n().ok()).and_then(|v| v.parse().ok()).unwrap_or(0)
}

/// The cancellation codes of a failed transaction, one per item, or `None` if it failed otherwise.
fn cancellation_codes(error: &aws_sdk_dynamodb::error::SdkError<TransactWriteItemsError>) -> Option<Vec<String>> {
    match error.as_service_error()? {
        TransactWriteItemsError::TransactionCanceledException(cancelled) => {
            Some(cancelled.cancellation_reasons().iter().map(|r| r.code().unwrap_or("None").to_owned()).collect())
        }
        _ => None,
    }
}

fn status_update(
    table: &str,
    key: Item,
    to: OrderStatus,
    from: &[OrderStatus],
    now: OffsetDateTime,
) -> Result<Update, StoreError> {
    let mut update = Update::builder()
        .table_name(table)
        .set_key(Some(key))
        .update_expression("SET #status = :to, updated_at = :now")
        .expression_attribute_names("#status", "status")
        .expression_attribute_values(":to", s(to.as_str()))
        .expression_attribute_values(":now", timestamp(now));
    let mut allowed = Vec::new();
    for (i, status) in from.iter().enumerate() {
        allowed.push(format!(":from{i}"));
        update = update.expression_attribute_values(format!(":from{i}"), s(status.as_str()));
    }
    update.condition_expression(format!("#status IN ({})", allowed.join(", "))).build().map_err(StoreError::unexpected)
}

enum Move {
    Sale,
    Return,
}

/// One line's stock movement. A sale decrements only while enough is left and the product is for sale: the
/// guard against overselling. A return (cancellation) adds the units back.
fn stock_move(table: &str, line: &OrderLine, direction: Move, now: OffsetDateTime) -> Result<Update, StoreError> {
    let update = Update::builder()
        .table_name(table)
        .set_key(Some(product_key(&line.product_id)))
        .expression_attribute_names("#version", "version")
        .expression_attribute_values(":q", n(line.quantity.get()))
        .expression_attribute_values(":one", n(1))
        .expression_attribute_values(":now", timestamp(now));
    let update = match direction {
        Move::Sale => update
            .update_expression("SET stock = stock - :q, #version = #version + :one, updated_at = :now")
            .condition_expression("attribute_exists(PK) AND #status = :active AND stock >= :q")
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":active", s("active")),
        Move::Return => update
            .update_expression("SET stock = stock + :q, #version = #version + :one, updated_at = :now")
            .condition_expression("attribute_exists(PK)"),
    };
    update.build().map_err(StoreError::unexpected)
}

fn item_of(update: Update) -> TransactWriteItem {
    TransactWriteItem::builder().update(update).build()
}

impl DynamoStore {
    async fn read(&self, key: Item) -> Result<Option<Item>, StoreError> {
        Ok(self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(key))
            .consistent_read(true)
            .send()
            .await
            .map_err(store_error)?
            .item)
    }

    /// Runs a status transaction; a failed condition becomes `Refused` with the status found on re-read.
    async fn transition(
        &self,
        items: Vec<TransactWriteItem>,
        reread: Item,
        moved: Order,
    ) -> Result<Transition, StoreError> {
        let result = self.client.transact_write_items().set_transact_items(Some(items)).send().await;
        // A cancellation returns stock.
        self.catalog_changed();
        match result {
            Ok(_) => Ok(Transition::Moved(moved)),
            Err(error) => match cancellation_codes(&error) {
                Some(codes) if codes.iter().any(|c| c == "ConditionalCheckFailed") => {
                    let current = self.read(reread).await?.ok_or(StoreError::NotFound)?;
                    Ok(Transition::Refused(order_from_item(&current)?.status))
                }
                Some(codes) if codes.iter().any(|c| c == "TransactionConflict") => {
                    Err(StoreError::Unavailable("transaction conflict".into()))
                }
                _ => Err(store_error(error)),
            },
        }
    }

    /// A newest-first page of order items under `pk`, optionally filtered by status.
    async fn order_page(
        &self,
        pk: String,
        status: Option<OrderStatus>,
        page: &PageRequest,
    ) -> Result<Page<Order>, StoreError> {
        let want = page.limit + 1;
        let mut start_key = page.after.as_ref().map(|after| {
            HashMap::from([(PK.to_owned(), s(&pk)), (SK.to_owned(), s(format!("{ORDER_PREFIX}{after}")))])
        });
        let mut orders = Vec::new();
        loop {
            let mut query = self
                .client
                .query()
                .table_name(&self.table)
                .key_condition_expression("PK = :pk AND begins_with(SK, :prefix)")
                .expression_attribute_values(":pk", s(&pk))
                .expression_attribute_values(":prefix", s(ORDER_PREFIX))
                .scan_index_forward(false)
                .limit(if status.is_some() { 100 } else { want as i32 })
                .set_exclusive_start_key(start_key.take());
            if let Some(status) = status {
                query = query
                    .filter_expression("#status = :status")
                    .expression_attribute_names("#status", "status")
                    .expression_attribute_values(":status", s(status.as_str()));
            }
            let output = query.send().await.map_err(store_error)?;
            for item in output.items() {
                orders.push(order_from_item(item)?);
            }
            match output.last_evaluated_key {
                Some(key) if orders.len() < want => start_key = Some(key),
                _ => break,
            }
        }
        let more = orders.len() > page.limit;
        orders.truncate(page.limit);
        let next = if more { orders.last().map(|o| o.order_id.to_string()) } else { None };
        Ok(Page { items: orders, next })
    }
}

#[async_trait]
impl OrderStore for DynamoStore {
    async fn place_order(
        &self,
        order: &Order,
        completion: Option<&Completion>,
        clear_cart: &[ProductId],
        request_token: &str,
    ) -> Result<(), PlaceOrderError> {
        let now = order.created_at;
        let mut items = Vec::new();
        for line in &order.items {
            items.push(item_of(stock_move(&self.table, line, Move::Sale, now)?));
        }
        let put = |item: Item| {
            Put::builder()
                .table_name(&self.table)
                .set_item(Some(item))
                .condition_expression("attribute_not_exists(PK)")
                .build()
                .map(|put| TransactWriteItem::builder().put(put).build())
                .map_err(StoreError::unexpected)
        };
        items.push(put(order_item(order))?);
        for artisan in order.artisans() {
            items.push(put(artisan_order_item(order, &artisan))?);
        }
        let claim_index = completion.map(|_| items.len());
        if let Some(completion) = completion {
            items.push(item_of(completion_update(&self.table, completion, now)?));
        }
        for product in clear_cart {
            let delete = Delete::builder()
                .table_name(&self.table)
                .set_key(Some(cart_key(&order.user_id, product)))
                .build()
                .map_err(StoreError::unexpected)?;
            items.push(TransactWriteItem::builder().delete(delete).build());
        }
        let result = self
            .client
            .transact_write_items()
            .set_transact_items(Some(items))
            .client_request_token(request_token)
            .send()
            .await;
        self.catalog_changed();
        let Err(error) = result else { return Ok(()) };
        let Some(codes) = cancellation_codes(&error) else { return Err(store_error(error).into()) };
        let short: Vec<ProductId> = order
            .items
            .iter()
            .zip(&codes)
            .filter(|(_, code)| *code == "ConditionalCheckFailed")
            .map(|(line, _)| line.product_id.clone())
            .collect();
        if !short.is_empty() {
            return Err(PlaceOrderError::OutOfStock(short));
        }
        if claim_index.is_some_and(|i| codes.get(i).is_some_and(|c| c == "ConditionalCheckFailed")) {
            return Err(PlaceOrderError::ClaimLost);
        }
        if codes.iter().any(|c| c == "TransactionConflict") {
            return Err(PlaceOrderError::Conflict);
        }
        Err(StoreError::Conflict(codes.join(",")).into())
    }

    async fn get_order(&self, user: &UserId, id: &OrderId) -> Result<Option<Order>, StoreError> {
        self.read(order_key(user, id)).await?.as_ref().map(order_from_item).transpose()
    }

    async fn list_orders(&self, user: &UserId, page: &PageRequest) -> Result<Page<Order>, StoreError> {
        self.order_page(user_pk(user), None, page).await
    }

    async fn list_artisan_orders(
        &self,
        artisan: &UserId,
        status: Option<OrderStatus>,
        page: &PageRequest,
    ) -> Result<Page<Order>, StoreError> {
        self.order_page(artisan_pk(artisan), status, page).await
    }

    async fn get_artisan_order(&self, artisan: &UserId, id: &OrderId) -> Result<Option<Order>, StoreError> {
        self.read(artisan_order_key(artisan, id)).await?.as_ref().map(order_from_item).transpose()
    }

    async fn confirm(&self, user: &UserId, id: &OrderId, now: OffsetDateTime) -> Result<Transition, StoreError> {
        let order = self.get_order(user, id).await?.ok_or(StoreError::NotFound)?;
        if order.status != OrderStatus::Placed {
            return Ok(Transition::Refused(order.status));
        }
        let from = OrderStatus::sources_of(OrderStatus::Confirmed);
        let mut confirm = status_update(&self.table, order_key(user, id), OrderStatus::Confirmed, &from, now)?;
        confirm.update_expression =
            format!("{} REMOVE {CATALOG_INDEX_PK}, {CATALOG_INDEX_SK}", confirm.update_expression);
        let mut items = vec![item_of(confirm)];
        for artisan in order.artisans() {
            items.push(item_of(status_update(
                &self.table,
                artisan_order_key(&artisan, id),
                OrderStatus::Confirmed,
                &from,
                now,
            )?));
        }
        // The confirmation notice exists once per order, whatever the number of deliveries.
        let notice = Put::builder()
            .table_name(&self.table)
            .item(PK, s(notice_pk(id)))
            .item(SK, s(NOTICE_SK))
            .item("order_id", s(id.as_str()))
            .item("user_id", s(user.as_str()))
            .item("created_at", timestamp(now))
            .item("sent", AttributeValue::Bool(false))
            .condition_expression("attribute_not_exists(PK)")
            .build()
            .map_err(StoreError::unexpected)?;
        items.push(TransactWriteItem::builder().put(notice).build());
        let moved = Order { status: OrderStatus::Confirmed, updated_at: now, ..order };
        self.transition(items, order_key(user, id), moved).await
    }

    async fn cancel(&self, user: &UserId, id: &OrderId, now: OffsetDateTime) -> Result<Transition, StoreError> {
        let stored = self.read(order_key(user, id)).await?.ok_or(StoreError::NotFound)?;
        let order = order_from_item(&stored)?;
        let shipped_parts = number(&stored, "shipped_parts");
        if !order.status.can_become(OrderStatus::Cancelled) || shipped_parts > 0 {
            return Ok(Transition::Refused(if shipped_parts > 0 { OrderStatus::Shipped } else { order.status }));
        }
        let from = OrderStatus::sources_of(OrderStatus::Cancelled);
        let mut cancel = status_update(&self.table, order_key(user, id), OrderStatus::Cancelled, &from, now)?;
        // Nothing of it may have shipped meanwhile: shipping conditions on the status, cancelling on this count.
        cancel.condition_expression = cancel.condition_expression.map(|c| format!("{c} AND shipped_parts = :none"));
        cancel.update_expression =
            format!("{} REMOVE {CATALOG_INDEX_PK}, {CATALOG_INDEX_SK}", cancel.update_expression);
        cancel.expression_attribute_values.get_or_insert_default().insert(":none".into(), n(0));
        let mut items = vec![item_of(cancel)];
        for line in &order.items {
            items.push(item_of(stock_move(&self.table, line, Move::Return, now)?));
        }
        for artisan in order.artisans() {
            items.push(item_of(status_update(
                &self.table,
                artisan_order_key(&artisan, id),
                OrderStatus::Cancelled,
                &from,
                now,
            )?));
        }
        let moved = Order { status: OrderStatus::Cancelled, updated_at: now, ..order };
        self.transition(items, order_key(user, id), moved).await
    }

    async fn ship(&self, artisan: &UserId, id: &OrderId, now: OffsetDateTime) -> Result<Transition, StoreError> {
        let part = self.get_artisan_order(artisan, id).await?.ok_or(StoreError::NotFound)?;
        if part.status != OrderStatus::Confirmed {
            return Ok(Transition::Refused(part.status));
        }
        let stored = self.read(order_key(&part.user_id, id)).await?.ok_or(StoreError::NotFound)?;
        let (shipped, parts) = (number(&stored, "shipped_parts"), number(&stored, "artisan_count"));
        let ship_part = status_update(
            &self.table,
            artisan_order_key(artisan, id),
            OrderStatus::Shipped,
            &[OrderStatus::Confirmed],
            now,
        )?;
        let last = shipped + 1 >= parts;
        let mut order = Update::builder()
            .table_name(&self.table)
            .set_key(Some(order_key(&part.user_id, id)))
            .update_expression(if last {
                "SET shipped_parts = :next, updated_at = :now, #status = :shipped"
            } else {
                "SET shipped_parts = :next, updated_at = :now"
            })
            .condition_expression("#status = :confirmed AND shipped_parts = :shipped_parts")
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":next", n(shipped + 1))
            .expression_attribute_values(":shipped_parts", n(shipped))
            .expression_attribute_values(":confirmed", s(OrderStatus::Confirmed.as_str()))
            .expression_attribute_values(":now", timestamp(now));
        if last {
            order = order.expression_attribute_values(":shipped", s(OrderStatus::Shipped.as_str()));
        }
        let items = vec![item_of(ship_part), item_of(order.build().map_err(StoreError::unexpected)?)];
        let moved = Order { status: OrderStatus::Shipped, updated_at: now, ..part };
        match self.transition(items, artisan_order_key(artisan, id), moved).await {
            // Another artisan shipped their part at the same moment: the count moved; try once more.
            Ok(Transition::Refused(OrderStatus::Confirmed)) => {
                Err(StoreError::Unavailable("concurrent shipment".into()))
            }
            other => other,
        }
    }

    async fn notice_pending(&self, id: &OrderId) -> Result<bool, StoreError> {
        let key = HashMap::from([(PK.to_owned(), s(notice_pk(id))), (SK.to_owned(), s(NOTICE_SK))]);
        Ok(self
            .read(key)
            .await?
            .is_some_and(|notice| notice.get("sent").and_then(|v| v.as_bool().ok()) == Some(&false)))
    }

    async fn notice_sent(&self, id: &OrderId, now: OffsetDateTime) -> Result<(), StoreError> {
        self.client
            .update_item()
            .table_name(&self.table)
            .key(PK, s(notice_pk(id)))
            .key(SK, s(NOTICE_SK))
            .update_expression("SET sent = :yes, sent_at = :now")
            .condition_expression("attribute_exists(PK)")
            .expression_attribute_values(":yes", AttributeValue::Bool(true))
            .expression_attribute_values(":now", timestamp(now))
            .send()
            .await
            .map_err(store_error)?;
        Ok(())
    }

    async fn placed_before(&self, before: OffsetDateTime, limit: usize) -> Result<Vec<(UserId, OrderId)>, StoreError> {
        let before_ms = u64::try_from(before.unix_timestamp_nanos() / 1_000_000).unwrap_or(0);
        let bound = ProductId::from_parts(before_ms, 0);
        let shards = (0..CATALOG_SHARDS).map(|shard| {
            self.client
                .query()
                .table_name(&self.table)
                .index_name(CATALOG_INDEX)
                .key_condition_expression("#pk = :pk AND #sk < :before")
                .expression_attribute_names("#pk", CATALOG_INDEX_PK)
                .expression_attribute_names("#sk", CATALOG_INDEX_SK)
                .expression_attribute_values(":pk", s(placed_shard_key(shard)))
                .expression_attribute_values(":before", s(bound.as_str()))
                .limit(limit as i32)
                .send()
        });
        let pages = try_join_all(shards).await.map_err(store_error)?;
        let mut stuck = Vec::new();
        for item in pages.iter().flat_map(|page| page.items()) {
            let user = item.get("user_id").and_then(|v| v.as_s().ok()).and_then(|v| UserId::parse(v));
            let order = item.get("order_id").and_then(|v| v.as_s().ok()).and_then(|v| ProductId::parse(v));
            if let (Some(user), Some(order)) = (user, order) {
                stuck.push((user, order));
            }
        }
        stuck.sort_by(|a, b| a.1.cmp(&b.1));
        stuck.truncate(limit);
        Ok(stuck)
    }
}
