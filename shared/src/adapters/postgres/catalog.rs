//! `CatalogReads` and `CatalogWrites` on Postgres: products (listed ones in partial indexes, newest first), stock
//! adjustments, artisan profiles and the per-category counts, which move in the same transaction as the product.

use std::collections::{BTreeMap, HashMap};

use super::sqlx::{self, Postgres, Row, Transaction};
use async_trait::async_trait;
use time::OffsetDateTime;

use super::rows::{self, PRODUCT_COLUMNS, readable, to_json};
use super::{Endpoint, PgCatalogReader, PgStore, is_unique_violation, store_error};
use crate::domain::{Product, ProductId, StockDelta, UserId};
use crate::ports::{
    ArtisanProfile, CatalogReads, CatalogWrites, Page, PageRequest, ProductFilter, StockAdjustment, StockChangeError,
    StoreError,
};

/// Moves a product's stock by `delta` if the result stays in bounds (and, for a sale, the product is still for
/// sale at `price`): one row, one statement, re-checked by Postgres against the newest row version when another
/// transaction held it. Whether it moved.
pub(super) async fn move_stock(
    tx: &mut Transaction<'_, Postgres>,
    product: &ProductId,
    delta: StockDelta,
    now: OffsetDateTime,
    sale_at: Option<(i64, &str)>,
) -> Result<bool, sqlx::Error> {
    let allowed = delta.allowed_before();
    let mut sql = "UPDATE products SET stock = stock + $2, version = version + 1, updated_at = $3 \
                   WHERE product_id = $1 AND stock BETWEEN $4 AND $5"
        .to_owned();
    if sale_at.is_some() {
        sql.push_str(" AND status = 'active' AND price_amount = $6 AND currency = $7");
    }
    let mut query =
        sqlx::query(&sql).bind(product.as_str()).bind(delta.get()).bind(now).bind(allowed.start()).bind(allowed.end());
    if let Some((price, currency)) = sale_at {
        query = query.bind(price).bind(currency);
    }
    Ok(query.execute(&mut **tx).await?.rows_affected() == 1)
}

/// The counter moves a change of listing makes: -1 where `previous` was listed, +1 where `next` is, applied in
/// key order (two edits never wait on each other's counters in turn).
async fn move_counters(
    tx: &mut Transaction<'_, Postgres>,
    previous: Option<&Product>,
    next: &Product,
) -> Result<(), sqlx::Error> {
    let mut artisans: BTreeMap<&str, i64> = BTreeMap::new();
    let mut categories: BTreeMap<&str, i64> = BTreeMap::new();
    for (product, sign) in previous.map(|p| (p, -1)).into_iter().chain([(next, 1)]) {
        if product.is_active() {
            *artisans.entry(product.artisan_id.as_str()).or_default() += sign;
            *categories.entry(product.category.as_str()).or_default() += sign;
        }
    }
    for (artisan, delta) in artisans.into_iter().filter(|(_, d)| *d != 0) {
        sqlx::query("UPDATE artisans SET product_count = product_count + $2 WHERE artisan_id = $1")
            .bind(artisan)
            .bind(delta)
            .execute(&mut **tx)
            .await?;
    }
    for (slug, delta) in categories.into_iter().filter(|(_, d)| *d != 0) {
        sqlx::query(
            "INSERT INTO category_counts (slug, product_count) VALUES ($1, $2) \
             ON CONFLICT (slug) DO UPDATE SET product_count = category_counts.product_count + $2",
        )
        .bind(slug)
        .bind(delta)
        .execute(&mut **tx)
        .await?;
    }
    Ok(())
}

/// The catalog's reads, on whichever endpoint is given (the writer for strong reads, the reader for public ones).
pub(super) mod reads {
    use super::*;

    pub async fn get_product(endpoint: &Endpoint, id: &ProductId) -> Result<Option<Product>, StoreError> {
        let sql = format!("SELECT {PRODUCT_COLUMNS} FROM products WHERE product_id = $1");
        let row = endpoint.fetch_optional(sqlx::query(&sql).bind(id.as_str())).await?;
        row.as_ref().map(rows::product).transpose()
    }

    pub async fn get_products(endpoint: &Endpoint, ids: &[ProductId]) -> Result<Vec<Product>, StoreError> {
        let ids: Vec<&str> = ids.iter().map(ProductId::as_str).collect();
        let sql = format!("SELECT {PRODUCT_COLUMNS} FROM products WHERE product_id = ANY($1)");
        let found = endpoint.fetch_all(sqlx::query(&sql).bind(&ids)).await?;
        Ok(readable(&found, rows::product))
    }

    /// Keyset pagination on the partial indexes: below the last id of the previous page, newest first.
    pub async fn list_products(
        endpoint: &Endpoint,
        filter: &ProductFilter,
        page: &PageRequest,
    ) -> Result<Page<Product>, StoreError> {
        let sql = format!(
            "SELECT {PRODUCT_COLUMNS} FROM products WHERE status = 'active' \
             AND ($1::text IS NULL OR category = $1) AND ($2::text IS NULL OR artisan_id = $2) \
             AND ($3::text IS NULL OR product_id < $3) ORDER BY product_id DESC LIMIT $4"
        );
        let statement = sqlx::query(&sql)
            .bind(filter.category.as_ref().map(|c| c.as_str()))
            .bind(filter.artisan_id.as_ref().map(UserId::as_str))
            .bind(page.after.as_deref())
            .bind(i64::try_from(page.limit + 1).unwrap_or(i64::MAX));
        let found = endpoint.fetch_all(statement).await?;
        let more = found.len() > page.limit;
        let shown = &found[..found.len().min(page.limit)];
        let next = if more { shown.last().and_then(|row| row.try_get("product_id").ok()) } else { None };
        let products = readable(shown, rows::product);
        Ok(Page { items: products, next })
    }

    pub async fn get_artisan(endpoint: &Endpoint, id: &UserId) -> Result<Option<ArtisanProfile>, StoreError> {
        let statement =
            sqlx::query("SELECT artisan_id, display_name, product_count FROM artisans WHERE artisan_id = $1")
                .bind(id.as_str());
        let row = endpoint.fetch_optional(statement).await?;
        row.as_ref().map(rows::artisan).transpose()
    }

    pub async fn category_counts(endpoint: &Endpoint) -> Result<HashMap<String, u64>, StoreError> {
        let found = endpoint.fetch_all(sqlx::query("SELECT slug, product_count FROM category_counts")).await?;
        found
            .iter()
            .map(|row| {
                let slug: String = row.try_get("slug").map_err(store_error)?;
                let count: i64 = row.try_get("product_count").map_err(store_error)?;
                Ok((slug, count.max(0).unsigned_abs()))
            })
            .collect()
    }

    /// Opens a connection (the warm-up) and checks the server answers.
    pub async fn ping(endpoint: &Endpoint) -> Result<(), StoreError> {
        endpoint.execute(sqlx::query("SELECT 1")).await?;
        Ok(())
    }
}

/// The product, its artisan's profile (made on the first listing, its name set once and kept) and the counts,
/// in one transaction.
async fn insert_product(
    mut tx: Transaction<'static, Postgres>,
    product: &Product,
    display_name: &str,
) -> Result<(), sqlx::Error> {
    let sql = format!(
        "INSERT INTO products ({PRODUCT_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)"
    );
    bind_product(sqlx::query(&sql), product).execute(&mut *tx).await?;
    sqlx::query(
        "INSERT INTO artisans (artisan_id, display_name, product_count) VALUES ($1, $2, 0) \
             ON CONFLICT (artisan_id) DO NOTHING",
    )
    .bind(product.artisan_id.as_str())
    .bind(display_name)
    .execute(&mut *tx)
    .await?;
    move_counters(&mut tx, None, product).await?;
    tx.commit().await
}

fn bind_product<'q>(
    query: sqlx::Query<'q, Postgres, sqlx::PgArguments>,
    product: &'q Product,
) -> sqlx::Query<'q, Postgres, sqlx::PgArguments> {
    query
        .bind(product.product_id.as_str())
        .bind(product.artisan_id.as_str())
        .bind(&product.title)
        .bind(&product.description)
        .bind(product.category.as_str())
        .bind(product.price.amount)
        .bind(product.price.currency.code())
        .bind(i64::from(product.stock))
        .bind(product.status.as_str())
        .bind(to_json(&product.images))
        .bind(to_json(&product.image_errors))
        .bind(i64::try_from(product.version).unwrap_or(i64::MAX))
        .bind(product.created_at)
        .bind(product.updated_at)
}

#[async_trait]
impl CatalogReads for PgStore {
    async fn get_product(&self, id: &ProductId) -> Result<Option<Product>, StoreError> {
        reads::get_product(&self.writer, id).await
    }

    async fn get_products(&self, ids: &[ProductId]) -> Result<Vec<Product>, StoreError> {
        reads::get_products(&self.writer, ids).await
    }

    async fn list_products(&self, filter: &ProductFilter, page: &PageRequest) -> Result<Page<Product>, StoreError> {
        reads::list_products(&self.writer, filter, page).await
    }

    async fn get_artisan(&self, id: &UserId) -> Result<Option<ArtisanProfile>, StoreError> {
        reads::get_artisan(&self.writer, id).await
    }

    async fn category_counts(&self) -> Result<HashMap<String, u64>, StoreError> {
        reads::category_counts(&self.writer).await
    }

    async fn ping(&self) -> Result<(), StoreError> {
        reads::ping(&self.writer).await
    }
}

#[async_trait]
impl CatalogWrites for PgStore {
    async fn create_product(&self, product: &Product, display_name: &str) -> Result<(), StoreError> {
        let inserted = insert_product(self.writer.begin().await?, product, display_name).await;
        self.catalog_changed();
        match inserted {
            Ok(()) => Ok(()),
            // The id is new and random: a product already under it is this very write, landed on an earlier
            // attempt whose answer was lost.
            Err(error) if is_unique_violation(&error) => {
                if self.get_product(&product.product_id).await?.as_ref() == Some(product) {
                    Ok(())
                } else {
                    Err(StoreError::Conflict("another product holds the id".into()))
                }
            }
            Err(error) => Err(store_error(error)),
        }
    }

    async fn replace_product(&self, previous: &Product, next: &Product) -> Result<(), StoreError> {
        let replaced = async {
            let mut tx = self.writer.begin().await?;
            let sql = format!(
                "UPDATE products SET ({PRODUCT_COLUMNS}) = ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14) \
                 WHERE product_id = $1 AND version = $15"
            );
            let updated = bind_product(sqlx::query(&sql), next)
                .bind(i64::try_from(previous.version).unwrap_or(i64::MAX))
                .execute(&mut *tx)
                .await
                .map_err(store_error)?;
            if updated.rows_affected() == 0 {
                return Err(StoreError::Conflict("the product changed since it was read".into()));
            }
            move_counters(&mut tx, Some(previous), next).await.map_err(store_error)?;
            tx.commit().await.map_err(store_error)
        }
        .await;
        self.catalog_changed();
        replaced
    }

    async fn adjust_stock(
        &self,
        id: &ProductId,
        artisan: &UserId,
        adjustment: &StockAdjustment,
        now: OffsetDateTime,
    ) -> Result<Product, StockChangeError> {
        let mut tx = self.writer.begin().await?;
        // The record first: the same adjustment never lands twice (a retry finds it and changes nothing).
        let recorded = sqlx::query(
            "INSERT INTO stock_adjustments (product_id, adjustment_id, artisan_id, delta, created_at) \
             SELECT product_id, $2, $3, $4, $5 FROM products WHERE product_id = $1 AND artisan_id = $3 \
             ON CONFLICT (product_id, adjustment_id) DO NOTHING",
        )
        .bind(id.as_str())
        .bind(&adjustment.id)
        .bind(artisan.as_str())
        .bind(adjustment.delta.get())
        .bind(now)
        .execute(&mut *tx)
        .await
        .map_err(store_error)?;
        if recorded.rows_affected() == 0 {
            drop(tx);
            // Recorded already (a retry, unless the id came with another change), or not theirs (404, without
            // revealing which).
            let statement = sqlx::query(
                "SELECT artisan_id, delta FROM stock_adjustments WHERE product_id = $1 AND adjustment_id = $2",
            )
            .bind(id.as_str())
            .bind(&adjustment.id);
            let earlier = match self.writer.fetch_optional(statement).await? {
                Some(row) => Some((
                    row.try_get::<String, _>("artisan_id").map_err(store_error)?,
                    row.try_get::<i64, _>("delta").map_err(store_error)?,
                )),
                None => None,
            };
            return match earlier {
                Some((owner, delta)) if owner == artisan.as_str() && delta == adjustment.delta.get() => {
                    self.get_product(id).await?.ok_or_else(|| StoreError::NotFound.into())
                }
                Some((owner, _)) if owner == artisan.as_str() => Err(StockChangeError::IdReused),
                _ => Err(StoreError::NotFound.into()),
            };
        }
        let moved = move_stock(&mut tx, id, adjustment.delta, now, None).await.map_err(store_error)?;
        if !moved {
            return Err(StockChangeError::OutOfRange);
        }
        let sql = format!("SELECT {PRODUCT_COLUMNS} FROM products WHERE product_id = $1");
        let row = sqlx::query(&sql).bind(id.as_str()).fetch_one(&mut *tx).await.map_err(store_error)?;
        let product = rows::product(&row)?;
        tx.commit().await.map_err(store_error)?;
        self.catalog_changed();
        Ok(product)
    }
}

/// Public reads on the reader (checkout's strong reads and every write stay on the writer, `PgStore`).
#[async_trait]
impl CatalogReads for PgCatalogReader {
    async fn get_product(&self, id: &ProductId) -> Result<Option<Product>, StoreError> {
        reads::get_product(&self.reader, id).await
    }

    async fn get_products(&self, ids: &[ProductId]) -> Result<Vec<Product>, StoreError> {
        reads::get_products(&self.reader, ids).await
    }

    async fn list_products(&self, filter: &ProductFilter, page: &PageRequest) -> Result<Page<Product>, StoreError> {
        reads::list_products(&self.reader, filter, page).await
    }

    async fn get_artisan(&self, id: &UserId) -> Result<Option<ArtisanProfile>, StoreError> {
        reads::get_artisan(&self.reader, id).await
    }

    async fn category_counts(&self) -> Result<HashMap<String, u64>, StoreError> {
        reads::category_counts(&self.reader).await
    }

    async fn ping(&self) -> Result<(), StoreError> {
        reads::ping(&self.reader).await
    }
}
