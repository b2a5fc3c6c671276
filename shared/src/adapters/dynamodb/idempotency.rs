//! `IdempotencyStore` on DynamoDB: one item per (user, key), expiring after 24 hours.

use std::collections::HashMap;

use async_trait::async_trait;
use aws_sdk_dynamodb::types::Update;
use time::{Duration, OffsetDateTime};

use super::items::*;
use super::keys::*;
use super::{DynamoStore, store_error};
use crate::ports::{Claim, Completion, IdempotencyScope, IdempotencyStore, StoreError};

/// How long a key is remembered.
pub const IDEMPOTENCY_TTL: Duration = Duration::hours(24);
/// How long a claim holds before another call may take it over (a crashed call's claim must not block forever;
/// a live checkout ends well within the Lambda timeout).
pub const CLAIM_LOCK: Duration = Duration::seconds(30);

pub const IN_PROGRESS: &str = "in_progress";
pub const COMPLETED: &str = "completed";

pub fn idempotency_key(scope: &IdempotencyScope) -> Item {
    HashMap::from([(PK.to_owned(), s(idempotency_pk(&scope.user, &scope.key))), (SK.to_owned(), s(IDEMPOTENCY_SK))])
}

/// The update that records a completion; conditional on the claim still being in progress (not taken over).
pub fn completion_update(table: &str, completion: &Completion, now: OffsetDateTime) -> Result<Update, StoreError> {
    Update::builder()
        .table_name(table)
        .set_key(Some(idempotency_key(&completion.scope)))
        .update_expression(
            "SET #state = :completed, response_status = :status, response_body = :body, updated_at = :now",
        )
        .condition_expression("#state = :in_progress")
        .expression_attribute_names("#state", "state")
        .expression_attribute_values(":completed", s(COMPLETED))
        .expression_attribute_values(":in_progress", s(IN_PROGRESS))
        .expression_attribute_values(":status", n(completion.status))
        .expression_attribute_values(":body", s(&completion.body))
        .expression_attribute_values(":now", timestamp(now))
        .build()
        .map_err(StoreError::unexpected)
}

#[async_trait]
impl IdempotencyStore for DynamoStore {
    async fn claim(
        &self,
        scope: &IdempotencyScope,
        fingerprint: &str,
        now: OffsetDateTime,
    ) -> Result<Claim, StoreError> {
        let mut item = idempotency_key(scope);
        item.insert("state".into(), s(IN_PROGRESS));
        item.insert("fingerprint".into(), s(fingerprint));
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
            .send()
            .await;
        match put {
            Ok(_) => Ok(Claim::Fresh),
            Err(error) if error.as_service_error().is_some_and(|e| e.is_conditional_check_failed_exception()) => {
                let existing = self
                    .client
                    .get_item()
                    .table_name(&self.table)
                    .set_key(Some(idempotency_key(scope)))
                    .consistent_read(true)
                    .send()
                    .await
                    .map_err(store_error)?
                    .item
                    .ok_or_else(|| StoreError::Conflict("idempotency record vanished".into()))?;
                let field = |name: &str| existing.get(name).and_then(|v| v.as_s().ok()).cloned().unwrap_or_default();
                if field("fingerprint") != fingerprint {
                    return Ok(Claim::Mismatch);
                }
                if field("state") == COMPLETED {
                    let status = existing
                        .get("response_status")
                        .and_then(|v| v.as_n().ok())
                        .and_then(|v| v.parse().ok())
                        .unwrap_or(200);
                    return Ok(Claim::Replay { status, body: field("response_body") });
                }
                Ok(Claim::InProgress)
            }
            Err(error) => Err(store_error(error)),
        }
    }

    async fn complete(&self, completion: &Completion, now: OffsetDateTime) -> Result<(), StoreError> {
        let update = completion_update(&self.table, completion, now)?;
        self.client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(update.key))
            .update_expression(update.update_expression)
            .set_condition_expression(update.condition_expression)
            .set_expression_attribute_names(update.expression_attribute_names)
            .set_expression_attribute_values(update.expression_attribute_values)
            .send()
            .await
            .map_err(store_error)?;
        Ok(())
    }

    async fn release(&self, scope: &IdempotencyScope) -> Result<(), StoreError> {
        self.client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(idempotency_key(scope)))
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
