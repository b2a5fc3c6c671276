//! `CartStore` on Postgres: one row per cart line, expiring 30 days after its last change (hidden from then on,
//! deleted by the housekeeping sweep). A line is added with its shopper's row locked, while the cart has room:
//! parallel adds of one shopper take turns, so the count each makes includes the others' lines.

use async_trait::async_trait;

use time::OffsetDateTime;

use super::orders::lock_shopper;
use super::sqlx::{self, Row};
use super::{PgStore, store_error};
use crate::adapters::retention::CART_IDLE_EXPIRY;
use crate::domain::{CartLine, MAX_CART_LINES, ProductId, Quantity, UserId};
use crate::ports::{CartLineError, CartStore, StoreError};

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

    async fn put_cart_line(&self, user: &UserId, line: &CartLine, now: OffsetDateTime) -> Result<(), CartLineError> {
        let mut tx = self.writer().begin().await?;
        let written = async {
            lock_shopper(&mut tx, user).await?;
            // The line is written if it is there already (a quantity change, or a line expired and come back) or
            // the other live lines leave room; an expired line is replaced, never counted.
            let written = sqlx::query(
                "INSERT INTO cart_lines (user_id, product_id, quantity, added_at, updated_at, expires_at) \
                 SELECT $1, $2, $3, $4, $4, $5 \
                 WHERE EXISTS (SELECT 1 FROM cart_lines WHERE user_id = $1 AND product_id = $2) \
                    OR (SELECT count(*) FROM cart_lines WHERE user_id = $1 AND product_id <> $2 \
                          AND expires_at > $4) < $6 \
                 ON CONFLICT (user_id, product_id) DO UPDATE SET quantity = EXCLUDED.quantity, \
                   updated_at = EXCLUDED.updated_at, expires_at = EXCLUDED.expires_at",
            )
            .bind(user.as_str())
            .bind(line.product_id.as_str())
            .bind(i32::try_from(line.quantity.get()).unwrap_or(i32::MAX))
            .bind(now)
            .bind(now + CART_IDLE_EXPIRY)
            .bind(i64::try_from(MAX_CART_LINES).unwrap_or(i64::MAX))
            .execute(&mut *tx)
            .await?;
            Ok::<_, sqlx::Error>(written.rows_affected() == 1)
        }
        .await
        .map_err(store_error)?;
        if !written {
            return Err(CartLineError::Full);
        }
        tx.commit().await.map_err(store_error)?;
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
