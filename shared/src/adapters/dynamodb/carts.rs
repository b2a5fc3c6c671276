//! `CartStore` on DynamoDB: one item per cart line under the user's partition, expiring 30 days after its last
//! change, and a tally of the cart's products (`CART_PRODUCTS`) written in the same transaction as each line, whose
//! condition keeps the cart within `MAX_CART_LINES` however many adds run at once. Lines that expired by TTL stay in
//! the tally until a full tally is checked against the live lines and rewritten.

use async_trait::async_trait;
use aws_sdk_dynamodb::types::builders::UpdateBuilder;
use aws_sdk_dynamodb::types::{AttributeValue, Delete, TransactWriteItem, Update};
use time::OffsetDateTime;

use super::items::*;
use super::keys::*;
use super::write::{CONDITION_FAILED, Outcome, TRANSACTION_CONFLICT, update};
use super::{DynamoStore, store_error};
use crate::adapters::retention::CART_IDLE_EXPIRY;
use crate::domain::{CartLine, MAX_CART_LINES, ProductId, UserId};
use crate::ports::{CartLineError, CartStore, StoreError};

/// Tries of a cart write that meets a concurrent write of the same cart (real DynamoDB cancels one of two
/// transactions on the same item).
const ATTEMPTS: u32 = 4;

fn product_set(products: &[&ProductId]) -> AttributeValue {
    AttributeValue::Ss(products.iter().map(|p| p.to_string()).collect())
}

/// The tally's change for products leaving the cart (removed, or checked out).
pub(super) fn tally_leaves(table: &str, user: &UserId, products: &[&ProductId]) -> UpdateBuilder {
    Update::builder()
        .table_name(table)
        .set_key(Some(cart_tally_key(user)))
        .update_expression("DELETE product_ids :products ADD version :one")
        .expression_attribute_values(":products", product_set(products))
        .expression_attribute_values(":one", n(1))
}

impl DynamoStore {
    /// One write of the line and the tally; `Ok(false)` when the tally says the cart is full.
    async fn write_line(&self, user: &UserId, line: &CartLine, now: OffsetDateTime) -> Result<bool, StoreError> {
        let expires = n((now + CART_IDLE_EXPIRY).unix_timestamp());
        let line_item = update(
            Update::builder()
                .table_name(&self.table)
                .set_key(Some(cart_key(user, &line.product_id)))
                .update_expression(
                    "SET quantity = :quantity, product_id = :product, updated_at = :now, \
                     added_at = if_not_exists(added_at, :now), #ttl = :expires",
                )
                .expression_attribute_names("#ttl", TTL)
                .expression_attribute_values(":quantity", n(line.quantity.get()))
                .expression_attribute_values(":product", s(line.product_id.as_str()))
                .expression_attribute_values(":now", timestamp(now))
                .expression_attribute_values(":expires", expires.clone()),
        )?;
        let tally = update(
            Update::builder()
                .table_name(&self.table)
                .set_key(Some(cart_tally_key(user)))
                .update_expression("ADD product_ids :product_set, version :one SET #ttl = :expires")
                .condition_expression(
                    "attribute_not_exists(product_ids) OR size(product_ids) < :cap OR contains(product_ids, :product)",
                )
                .expression_attribute_names("#ttl", TTL)
                .expression_attribute_values(":product_set", product_set(&[&line.product_id]))
                .expression_attribute_values(":product", s(line.product_id.as_str()))
                .expression_attribute_values(":cap", n(MAX_CART_LINES))
                .expression_attribute_values(":one", n(1))
                .expression_attribute_values(":expires", expires),
        )?;
        for attempt in 0..ATTEMPTS {
            match self.transact(vec![line_item.clone(), tally.clone()], now).await? {
                Outcome::Written => return Ok(true),
                outcome if outcome.failed(1) => return Ok(false),
                outcome if outcome.any(TRANSACTION_CONFLICT) && attempt + 1 < ATTEMPTS => {
                    tokio::time::sleep(crate::services::checkout::backoff(attempt)).await;
                }
                Outcome::Cancelled(codes) => return Err(StoreError::Conflict(codes.join(","))),
            }
        }
        Err(StoreError::Unavailable("the cart kept changing under this write".into()))
    }

    /// Sets the tally to the cart's live lines (a line that expired by TTL leaves it here), unless it changed since
    /// it was read; whether the cart has room for a new line.
    async fn recount(&self, user: &UserId) -> Result<bool, StoreError> {
        let tally = self.read(cart_tally_key(user)).await?;
        let version: i64 = tally.as_ref().and_then(|item| get_n(item, "version").ok()).unwrap_or(0);
        let live = self.cart_lines(user).await?;
        if live.len() >= MAX_CART_LINES {
            return Ok(false);
        }
        let products: Vec<&ProductId> = live.iter().map(|line| &line.product_id).collect();
        let recount = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(cart_tally_key(user)))
            .condition_expression("attribute_not_exists(version) OR version = :read")
            .expression_attribute_values(":read", n(version))
            .expression_attribute_values(":next", n(version + 1));
        let recount = if products.is_empty() {
            recount.update_expression("SET version = :next REMOVE product_ids")
        } else {
            recount
                .update_expression("SET version = :next, product_ids = :products")
                .expression_attribute_values(":products", product_set(&products))
        };
        let written = recount.send().await;
        match written {
            // Changed meanwhile by another write: the add tries again either way.
            Ok(_) => Ok(true),
            Err(error) if error.as_service_error().is_some_and(|e| e.is_conditional_check_failed_exception()) => {
                Ok(true)
            }
            Err(error) => Err(store_error(error)),
        }
    }
}

#[async_trait]
impl CartStore for DynamoStore {
    async fn cart_lines(&self, user: &UserId) -> Result<Vec<CartLine>, StoreError> {
        let mut lines = Vec::new();
        let mut start_key = None;
        loop {
            let output = self
                .client
                .query()
                .table_name(&self.table)
                .key_condition_expression("PK = :pk AND begins_with(SK, :prefix)")
                .expression_attribute_values(":pk", s(user_pk(user)))
                .expression_attribute_values(":prefix", s(CART_PREFIX))
                .consistent_read(true)
                .set_exclusive_start_key(start_key.take())
                .send()
                .await
                .map_err(store_error)?;
            lines.extend(readable(output.items(), cart_line_from_item));
            match output.last_evaluated_key {
                Some(key) => start_key = Some(key),
                None => break,
            }
        }
        // TTL deletion lags by up to days; an expired line is already gone for the shopper.
        let now = OffsetDateTime::now_utc().unix_timestamp();
        lines.retain(|(_, _, expires_at)| expires_at.is_none_or(|at| at > now));
        lines.sort_by(|a, b| a.1.cmp(&b.1));
        Ok(lines.into_iter().map(|(line, _, _)| line).collect())
    }

    async fn put_cart_line(&self, user: &UserId, line: &CartLine, now: OffsetDateTime) -> Result<(), CartLineError> {
        if self.write_line(user, line, now).await? {
            return Ok(());
        }
        // Full by the tally: perhaps of lines that expired since. Counted again from the live lines, once.
        if self.recount(user).await? && self.write_line(user, line, now).await? {
            return Ok(());
        }
        Err(CartLineError::Full)
    }

    async fn remove_cart_line(&self, user: &UserId, product: &ProductId) -> Result<(), StoreError> {
        let delete = Delete::builder()
            .table_name(&self.table)
            .set_key(Some(cart_key(user, product)))
            .build()
            .map_err(StoreError::unexpected)?;
        let items = vec![
            TransactWriteItem::builder().delete(delete).build(),
            update(tally_leaves(&self.table, user, &[product]))?,
        ];
        for attempt in 0..ATTEMPTS {
            match self.transact(items.clone(), OffsetDateTime::now_utc()).await? {
                Outcome::Written => return Ok(()),
                outcome if outcome.any(TRANSACTION_CONFLICT) && attempt + 1 < ATTEMPTS => {
                    tokio::time::sleep(crate::services::checkout::backoff(attempt)).await;
                }
                outcome if outcome.any(CONDITION_FAILED) => return Err(StoreError::Conflict("cart".into())),
                Outcome::Cancelled(codes) => return Err(StoreError::Conflict(codes.join(","))),
            }
        }
        Err(StoreError::Unavailable("the cart kept changing under this write".into()))
    }
}
