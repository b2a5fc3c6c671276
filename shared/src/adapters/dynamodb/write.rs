//! The adapter's write and read primitives: transactions under a request token with their cancellation reasons,
//! the one stock movement every sale, return and adjustment uses, and strongly consistent single-item reads.

use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::builders::UpdateBuilder;
use aws_sdk_dynamodb::types::{Put, TransactWriteItem, Update};
use time::OffsetDateTime;

use super::items::{n, timestamp};
use super::keys::*;
use super::{DynamoStore, store_error};
use crate::domain::{ProductId, RequestToken, StockDelta};
use crate::ports::StoreError;

/// A transaction item whose condition did not hold.
pub const CONDITION_FAILED: &str = "ConditionalCheckFailed";
/// A transaction item another transaction was writing at the same moment (real DynamoDB only).
pub const TRANSACTION_CONFLICT: &str = "TransactionConflict";

/// How a transaction ended when it did not fail outright.
#[derive(Debug, PartialEq, Eq)]
pub enum Outcome {
    Written,
    /// Cancelled, nothing written: one reason code per item, in order (`None` where the item was fine).
    Cancelled(Vec<String>),
}

impl Outcome {
    /// Whether item `index` failed its condition.
    pub fn failed(&self, index: usize) -> bool {
        matches!(self, Outcome::Cancelled(codes) if codes.get(index).is_some_and(|c| c == CONDITION_FAILED))
    }

    pub fn any(&self, code: &str) -> bool {
        matches!(self, Outcome::Cancelled(codes) if codes.iter().any(|c| c == code))
    }
}

impl DynamoStore {
    /// One `TransactWriteItems` under a fresh `ClientRequestToken`. The SDK retries an attempt it gave up on with
    /// the same request, token included, and DynamoDB answers a token it already applied with success: a write
    /// that landed is neither applied twice nor reported as failed. Empties this process's catalog cache, since
    /// most transactions move a product.
    pub(super) async fn transact(
        &self,
        items: Vec<TransactWriteItem>,
        now: OffsetDateTime,
    ) -> Result<Outcome, StoreError> {
        let result = self
            .client
            .transact_write_items()
            .set_transact_items(Some(items))
            .client_request_token(RequestToken::generate(now).as_str())
            .send()
            .await;
        // After the attempt, not its success: a timed-out write may still have landed.
        self.catalog_changed();
        match result {
            Ok(_) => Ok(Outcome::Written),
            Err(error) => match error.as_service_error() {
                Some(TransactWriteItemsError::TransactionCanceledException(cancelled)) => Ok(Outcome::Cancelled(
                    cancelled.cancellation_reasons().iter().map(|r| r.code().unwrap_or("None").to_owned()).collect(),
                )),
                _ => Err(store_error(error)),
            },
        }
    }

    /// A strongly consistent read of one item.
    pub(super) async fn read(&self, key: Item) -> Result<Option<Item>, StoreError> {
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
}

/// A `Put` of an item that must not exist yet.
pub fn put_new(table: &str, item: Item) -> Result<TransactWriteItem, StoreError> {
    let put = Put::builder()
        .table_name(table)
        .set_item(Some(item))
        .condition_expression("attribute_not_exists(PK)")
        .build()
        .map_err(StoreError::unexpected)?;
    Ok(TransactWriteItem::builder().put(put).build())
}

pub fn update(update: UpdateBuilder) -> Result<TransactWriteItem, StoreError> {
    Ok(TransactWriteItem::builder().update(update.build().map_err(StoreError::unexpected)?).build())
}

/// Every stock movement (a sale, a return, an artisan's adjustment): `stock + delta`, one version later, under
/// the condition that keeps the result in `0..=MAX_STOCK` ([`StockDelta::allowed_before`]) and `also` (more
/// conditions, whose values the caller adds).
pub fn stock_move(
    table: &str,
    product: &ProductId,
    delta: StockDelta,
    now: OffsetDateTime,
    also: &str,
) -> UpdateBuilder {
    let allowed = delta.allowed_before();
    let mut condition = "attribute_exists(PK) AND stock BETWEEN :min_before AND :max_before".to_owned();
    if !also.is_empty() {
        condition = format!("{condition} AND {also}");
    }
    Update::builder()
        .table_name(table)
        .set_key(Some(product_key(product)))
        .update_expression("SET stock = stock + :delta, #version = #version + :one, updated_at = :now")
        .condition_expression(condition)
        .expression_attribute_names("#version", "version")
        .expression_attribute_values(":delta", n(delta.get()))
        .expression_attribute_values(":min_before", n(allowed.start()))
        .expression_attribute_values(":max_before", n(allowed.end()))
        .expression_attribute_values(":one", n(1))
        .expression_attribute_values(":now", timestamp(now))
}
