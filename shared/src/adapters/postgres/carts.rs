//! `CartStore` on Postgres: one row per cart line, expiring 30 days after its last change (hidden from then on,
//! deleted by the housekeeping sweep).

use async_trait::async_trait;

use super::sqlx;
use time::OffsetDateTime;

use super::{PgStore, store_error};
use crate::adapters::retention::CART_IDLE_EXPIRY;
use crate::domain::{CartLine, ProductId, Quantity, UserId};
use crate::ports::{CartStore, StoreError};

#[async_trait]
impl CartStore for PgStore {
    async fn cart_lines(&self, user: &UserId) -> Result<Vec<CartLine>, StoreError> {
        let found: Vec<(String, i32)> = sqlx::query_as(
            "SELECT product_id, quantity FROM cart_lines WHERE user_id = $1 AND expires_at > now() \
             ORDER BY added_at, product_id",
        )
        .bind(user.as_str())
        .fetch_all(self.pool().await?)
        .await
        .map_err(store_error)?;
        Ok(found
            .into_iter()
            .filter_map(|(product, quantity)| {
                let line = ProductId::parse(&product)
                    .zip(Quantity::parse(quantity.into(), "quantity").ok())
                    .map(|(product_id, quantity)| CartLine { product_id, quantity });
                if line.is_none() {
                    tracing::error!(product, "stored cart line cannot be read; left out");
                }
                line
            })
            .collect())
    }

    async fn put_cart_line(&self, user: &UserId, line: &CartLine, now: OffsetDateTime) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO cart_lines (user_id, product_id, quantity, added_at, updated_at, expires_at) \
             VALUES ($1, $2, $3, $4, $4, $5) ON CONFLICT (user_id, product_id) DO UPDATE \
             SET quantity = EXCLUDED.quantity, updated_at = EXCLUDED.updated_at, expires_at = EXCLUDED.expires_at",
        )
        .bind(user.as_str())
        .bind(line.product_id.as_str())
        .bind(i32::try_from(line.quantity.get()).unwrap_or(i32::MAX))
        .bind(now)
        .bind(now + CART_IDLE_EXPIRY)
        .execute(self.pool().await?)
        .await
        .map_err(store_error)?;
        Ok(())
    }

    async fn remove_cart_line(&self, user: &UserId, product: &ProductId) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM cart_lines WHERE user_id = $1 AND product_id = $2")
            .bind(user.as_str())
            .bind(product.as_str())
            .execute(self.pool().await?)
            .await
            .map_err(store_error)?;
        Ok(())
    }
}
