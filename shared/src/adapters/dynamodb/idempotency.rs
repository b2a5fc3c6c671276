//! `IdempotencyStore` on DynamoDB: one item per (user, key), expiring after 24 hours. A claim is completed by the
//! checkout transaction itself ([`completion`]), with the id of the order it placed.

use async_trait::async_trait;
use aws_sdk_dynamodb::operation::put_item::PutItemError;
use aws_sdk_dynamodb::types::{ReturnValuesOnConditionCheckFailure, TransactWriteItem, Update};
use time::OffsetDateTime;

use super::items::*;
use super::keys::*;
use super::write::update;
use super::{DynamoStore, store_error};
use crate::adapters::retention::{CLAIM_LOCK, IDEMPOTENCY_TTL};
use crate::domain::{KeyHolder, Order, OrderId, RequestToken};
use crate::ports::{Claim, IdempotencyScope, IdempotencyStore, StoreError};

const IN_PROGRESS: &str = "in_progress";
const COMPLETED: &str = "completed";

fn scope_key(scope: &IdempotencyScope) -> Item {
    idempotency_key(&scope.user, scope.key.as_str())
}

/// The transaction item that completes a claim with the order it placed (its id: a replay answers with the order
/// as it is by then, paid or not); it holds only while the claim is still in progress (not taken over after its
/// lock ran out).
pub fn completion(table: &str, scope: &IdempotencyScope, order: &Order) -> Result<TransactWriteItem, StoreError> {
    update(
        Update::builder()
            .table_name(table)
            .set_key(Some(scope_key(scope)))
            .update_expression("SET #state = :completed, order_id = :order, updated_at = :now")
            .condition_expression("#state = :in_progress")
            .expression_attribute_names("#state", "state")
            .expression_attribute_values(":completed", s(COMPLETED))
            .expression_attribute_values(":in_progress", s(IN_PROGRESS))
            .expression_attribute_values(":order", s(order.order_id.as_str()))
            .expression_attribute_values(":now", timestamp(order.created_at)),
    )
}

#[async_trait]
impl IdempotencyStore for DynamoStore {
    async fn claim(
        &self,
        scope: &IdempotencyScope,
        fingerprint: &str,
        now: OffsetDateTime,
    ) -> Result<Claim, StoreError> {
        // Names this claim, so that the SDK's retry of a put that landed recognises its own claim.
        let claim_id = RequestToken::generate(now);
        let mut item = scope_key(scope);
        item.insert("state".into(), s(IN_PROGRESS));
        item.insert("fingerprint".into(), s(fingerprint));
        item.insert("claim_id".into(), s(claim_id.as_str()));
        item.insert("lock_until".into(), n((now + CLAIM_LOCK).unix_timestamp()));
        item.insert(TTL.into(), n((now + IDEMPOTENCY_TTL).unix_timestamp()));
        item.insert("created_at".into(), timestamp(now));
        let put = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            // New, expired (TTL lags), or an abandoned claim of the same request.
            .condition_expression(
                "attribute_not_exists(PK) OR #ttl < :now_s OR (#state = :in_progress AND lock_until < :now_s AND fingerprint = :fp)",
            )
            .expression_attribute_names("#ttl", TTL)
            .expression_attribute_names("#state", "state")
            .expression_attribute_values(":now_s", n(now.unix_timestamp()))
            .expression_attribute_values(":in_progress", s(IN_PROGRESS))
            .expression_attribute_values(":fp", s(fingerprint))
            // A refused claim answers with the record that refused it: a replay needs no second read to find it.
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .send()
            .await;
        match put {
            Ok(_) => Ok(Claim::Fresh),
            Err(error) if error.as_service_error().is_some_and(|e| e.is_conditional_check_failed_exception()) => {
                let returned = match error.into_service_error() {
                    PutItemError::ConditionalCheckFailedException(refused) => refused.item,
                    _ => None,
                };
                let existing = match returned {
                    Some(item) => item,
                    None => self
                        .read(scope_key(scope))
                        .await?
                        .ok_or_else(|| StoreError::Conflict("idempotency record vanished".into()))?,
                };
                if get_s(&existing, "claim_id").ok() == Some(claim_id.as_str()) {
                    return Ok(Claim::Fresh);
                }
                let placed = match get_s(&existing, "state").ok() {
                    Some(COMPLETED) => Some(
                        OrderId::parse(get_s(&existing, "order_id")?)
                            .ok_or_else(|| StoreError::unexpected("malformed idempotency record"))?,
                    ),
                    _ => None,
                };
                let fingerprint = get_s(&existing, "fingerprint").unwrap_or_default().to_owned();
                Ok(Claim::Held(KeyHolder { fingerprint, placed }))
            }
            Err(error) => Err(store_error(error)),
        }
    }

    async fn release(&self, scope: &IdempotencyScope) -> Result<(), StoreError> {
        self.client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(scope_key(scope)))
            .condition_expression("#state = :in_progress")
            .expression_attribute_names("#state", "state")
            .expression_attribute_values(":in_progress", s(IN_PROGRESS))
            .send()
            .await
            .map(|_| ())
            .or_else(|error| {
                // Already completed or gone: nothing to give up.
                if error.as_service_error().is_some_and(|e| e.is_conditional_check_failed_exception()) {
                    Ok(())
                } else {
                    Err(store_error(error))
                }
            })
    }
}
