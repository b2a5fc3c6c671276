//! `CartStore` on DynamoDB: one item per cart line under the user's partition, expiring 30 days after its last change.

use async_trait::async_trait;
use time::OffsetDateTime;

use super::items::*;
use super::keys::*;
use super::{DynamoStore, store_error};
use crate::adapters::retention::CART_IDLE_EXPIRY;
use crate::domain::{CartLine, ProductId, UserId};
use crate::ports::{CartStore, StoreError};

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

    async fn put_cart_line(&self, user: &UserId, line: &CartLine, now: OffsetDateTime) -> Result<(), StoreError> {
        self.client
            .update_item()
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
            .expression_attribute_values(":expires", n((now + CART_IDLE_EXPIRY).unix_timestamp()))
            .send()
            .await
            .map_err(store_error)?;
        Ok(())
    }

    async fn remove_cart_line(&self, user: &UserId, product: &ProductId) -> Result<(), StoreError> {
        self.client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(cart_key(user, product)))
            .send()
            .await
            .map_err(store_error)?;
        Ok(())
    }
}
