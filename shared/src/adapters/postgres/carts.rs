//! `CartStore` on Postgres: one row per cart line, expiring 30 days after its last change (hidden from then on,
//! deleted by the housekeeping sweep).

use async_trait::async_trait;

use time::OffsetDateTime;

use super::PgStore;
use super::sqlx::{self, Row};
use crate::adapters::retention::CART_IDLE_EXPIRY;
use crate::domain::{CartLine, ProductId, Quantity, UserId};
use crate::ports::{CartStore, StoreError};

#[async_trait]
impl CartStore for PgStore {
    async fn cart_lines(&self, user: &UserId) -> Result<Vec<CartLine>, StoreError> {
        let found = self
            .writer()
            .fetch_all(
                sqlx::query(
                    "SELECT product_id, quantity FROM cart_lines WHERE user_id = $1 AND expires_at > now() \
                     ORDER BY added_at, product_id",
                )
                .bind(user.as_str()),
            )
            .await?;
        Ok(found
            .iter()
            .filter_map(|row| {
                let product: String = row.try_get("product_id").unwrap_or_default();
                let quantity: i32 = row.try_get("quantity").unwrap_or_default();
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
        let statement = sqlx::query(
            "INSERT INTO cart_lines (user_id, product_id, quantity, added_at, updated_at, expires_at) \
             VALUES ($1, $2, $3, $4, $4, $5) ON CONFLICT (user_id, product_id) DO UPDATE \
             SET quantity = EXCLUDED.quantity, updated_at = EXCLUDED.updated_at, expires_at = EXCLUDED.expires_at",
        )
        .bind(user.as_str())
        .bind(line.product_id.as_str())
        .bind(i32::try_from(line.quantity.get()).unwrap_or(i32::MAX))
        .bind(now)
        .bind(now + CART_IDLE_EXPIRY);
        self.writer().execute(statement).await?;
        Ok(())
    }

    async fn remove_cart_line(&self, user: &UserId, product: &ProductId) -> Result<(), StoreError> {
        let statement = sqlx::query("DELETE FROM cart_lines WHERE user_id = $1 AND product_id = $2")
            .bind(user.as_str())
            .bind(product.as_str());
        self.writer().execute(statement).await?;
        Ok(())
    }
}
