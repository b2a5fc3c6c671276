//! `CatalogStore` on DynamoDB: products, artisan profiles and the per-category counts.

use std::collections::{BTreeMap, HashMap};

use async_trait::async_trait;
use aws_sdk_dynamodb::types::{KeysAndAttributes, Put, ReturnValue, TransactWriteItem, Update};
use futures::future::try_join_all;
use time::OffsetDateTime;

use super::items::*;
use super::keys::*;
use super::{DynamoStore, store_error};
use crate::domain::category::CATEGORIES;
use crate::domain::product::MAX_STOCK;
use crate::domain::{Category, Product, ProductId, StockDelta, UserId};
use crate::ports::{ArtisanProfile, CatalogStore, Page, PageRequest, ProductFilter, StockChangeError, StoreError};

/// BatchGetItem takes at most 100 keys per call.
const BATCH_GET_MAX: usize = 100;
/// Unprocessed keys (throttling) are retried this many times before the read counts as unavailable.
const BATCH_GET_ATTEMPTS: u32 = 5;

/// One index query: the partition to read, newest first, below an optional position.
struct IndexQuery<'a> {
    index: &'static str,
    pk_attr: &'static str,
    sk_attr: &'static str,
    pk: String,
    before: Option<&'a str>,
    category: Option<&'a Category>,
}

impl DynamoStore {
    /// Up to `want` products of one index partition, following pages while a filter thins them out.
    async fn query_index(&self, query: &IndexQuery<'_>, want: usize) -> Result<Vec<Product>, StoreError> {
        let mut products = Vec::new();
        let mut start_key = None;
        loop {
            let mut condition = "#pk = :pk".to_owned();
            let mut request = self
                .client
                .query()
                .table_name(&self.table)
                .index_name(query.index)
                .expression_attribute_names("#pk", query.pk_attr)
                .expression_attribute_values(":pk", s(&query.pk))
                .scan_index_forward(false)
                // Without a filter one page is enough; with one, read wider pages to fill the listing.
                .limit(if query.category.is_some() { 100 } else { want.min(1000) as i32 })
                .set_exclusive_start_key(start_key.take());
            if let Some(before) = query.before {
                condition.push_str(" AND #sk < :before");
                request = request
                    .expression_attribute_names("#sk", query.sk_attr)
                    .expression_attribute_values(":before", s(before));
            }
            if let Some(category) = query.category {
                request = request
                    .filter_expression("#category = :category")
                    .expression_attribute_names("#category", "category")
                    .expression_attribute_values(":category", s(category.as_str()));
            }
            let output = request.key_condition_expression(condition).send().await.map_err(store_error)?;
            for item in output.items() {
                products.push(product_from_item(item)?);
            }
            match output.last_evaluated_key {
                Some(key) if products.len() < want => start_key = Some(key),
                _ => break,
            }
        }
        products.truncate(want);
        Ok(products)
    }

    async fn batch_get(&self, keys: Vec<Item>) -> Result<Vec<Item>, StoreError> {
        let mut found = Vec::with_capacity(keys.len());
        for chunk in keys.chunks(BATCH_GET_MAX) {
            let mut pending = Some(
                KeysAndAttributes::builder().set_keys(Some(chunk.to_vec())).build().map_err(StoreError::unexpected)?,
            );
            let mut attempt = 0;
            while let Some(request) = pending.take() {
                if attempt == BATCH_GET_ATTEMPTS {
                    return Err(StoreError::Unavailable("batch read still throttled after retries".into()));
                }
                if attempt > 0 {
                    tokio::time::sleep(std::time::Duration::from_millis(20 << attempt)).await;
                }
                attempt += 1;
                let output = self
                    .client
                    .batch_get_item()
                    .request_items(&self.table, request)
                    .send()
                    .await
                    .map_err(store_error)?;
                if let Some(mut responses) = output.responses {
                    found.extend(responses.remove(&self.table).unwrap_or_default());
                }
                pending = output
                    .unprocessed_keys
                    .and_then(|mut unprocessed| unprocessed.remove(&self.table))
                    .filter(|rest| !rest.keys().is_empty());
            }
        }
        Ok(found)
    }

    /// The counter moves a change of listing makes: -1 where `previous` was listed, +1 where `next` is.
    fn counter_updates(
        &self,
        previous: Option<&Product>,
        next: &Product,
    ) -> Result<Vec<TransactWriteItem>, StoreError> {
        // Keyed by partition key: the artisan profile and the category counter of each side.
        let mut deltas: BTreeMap<String, (Item, i64)> = BTreeMap::new();
        for (product, sign) in previous.map(|p| (p, -1)).into_iter().chain([(next, 1)]) {
            if product.is_active() {
                for key in [artisan_key(&product.artisan_id), category_counter_key(product.category.as_str())] {
                    let pk = key.get(PK).and_then(|v| v.as_s().ok()).cloned().unwrap_or_default();
                    deltas.entry(pk).or_insert((key, 0)).1 += sign;
                }
            }
        }
        deltas
            .into_values()
            .filter(|(_, delta)| *delta != 0)
            .map(|(key, delta)| {
                let update = Update::builder()
                    .table_name(&self.table)
                    .set_key(Some(key))
                    .update_expression("ADD product_count :delta")
                    .expression_attribute_values(":delta", n(delta))
                    .build()
                    .map_err(StoreError::unexpected)?;
                Ok(TransactWriteItem::builder().update(update).build())
            })
            .collect()
    }

    async fn transact(&self, items: Vec<TransactWriteItem>) -> Result<(), StoreError> {
        let result = self.client.transact_write_items().set_transact_items(Some(items)).send().await;
        self.catalog_changed();
        result.map_err(|error| {
            let cancelled = error
                .as_service_error()
                .and_then(|e| match e {
                    aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError::TransactionCanceledException(c) => {
                        Some(c.cancellation_reasons().iter().filter_map(|r| r.code()).collect::<Vec<_>>().join(","))
                    }
                    _ => None,
                });
            match cancelled {
                Some(reasons) if reasons.contains("ConditionalCheckFailed") => StoreError::Conflict(reasons),
                Some(reasons) if reasons.contains("TransactionConflict") => {
                    StoreError::Unavailable(format!("transaction conflict: {reasons}").into())
                }
                _ => store_error(error),
            }
        })?;
        Ok(())
    }
}

#[async_trait]
impl CatalogStore for DynamoStore {
    async fn ping(&self) -> Result<(), StoreError> {
        self.client.describe_table().table_name(&self.table).send().await.map_err(store_error)?;
        Ok(())
    }

    async fn get_product(&self, id: &ProductId) -> Result<Option<Product>, StoreError> {
        let output = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(product_key(id)))
            .consistent_read(true)
            .send()
            .await
            .map_err(store_error)?;
        output.item.as_ref().map(product_from_item).transpose()
    }

    async fn get_products(&self, ids: &[ProductId]) -> Result<Vec<Product>, StoreError> {
        let mut unique: Vec<&ProductId> = ids.iter().collect();
        unique.sort();
        unique.dedup();
        let items = self.batch_get(unique.into_iter().map(product_key).collect()).await?;
        items.iter().map(product_from_item).collect()
    }

    async fn list_products(&self, filter: &ProductFilter, page: &PageRequest) -> Result<Page<Product>, StoreError> {
        let want = page.limit + 1;
        let before = page.after.as_deref();
        let mut products = match (&filter.artisan_id, &filter.category) {
            (Some(artisan), category) => {
                let query = IndexQuery {
                    index: ARTISAN_INDEX,
                    pk_attr: ARTISAN_INDEX_PK,
                    sk_attr: ARTISAN_INDEX_SK,
                    pk: artisan_pk(artisan),
                    before,
                    category: category.as_ref(),
                };
                self.query_index(&query, want).await?
            }
            (None, category) => {
                // Every shard in parallel, then a merge: newest first across the whole catalog.
                let queries: Vec<IndexQuery> = (0..CATALOG_SHARDS)
                    .map(|shard| match category {
                        Some(category) => IndexQuery {
                            index: CATEGORY_INDEX,
                            pk_attr: CATEGORY_INDEX_PK,
                            sk_attr: CATEGORY_INDEX_SK,
                            pk: category_shard_key(category, shard),
                            before,
                            category: None,
                        },
                        None => IndexQuery {
                            index: CATALOG_INDEX,
                            pk_attr: CATALOG_INDEX_PK,
                            sk_attr: CATALOG_INDEX_SK,
                            pk: catalog_shard_key(shard),
                            before,
                            category: None,
                        },
                    })
                    .collect();
                let shards = try_join_all(queries.iter().map(|q| self.query_index(q, want))).await?;
                let mut merged: Vec<Product> = shards.into_iter().flatten().collect();
                merged.sort_by(|a, b| b.product_id.cmp(&a.product_id));
                merged
            }
        };
        let more = products.len() > page.limit;
        products.truncate(page.limit);
        let next = if more { products.last().map(|p| p.product_id.to_string()) } else { None };
        Ok(Page { items: products, next })
    }

    async fn create_product(&self, product: &Product, display_name: &str) -> Result<(), StoreError> {
        let put = Put::builder()
            .table_name(&self.table)
            .set_item(Some(product_item(product)))
            .condition_expression("attribute_not_exists(PK)")
            .build()
            .map_err(StoreError::unexpected)?;
        // The profile exists from the first listing on; its name is set once and kept.
        let profile = Update::builder()
            .table_name(&self.table)
            .set_key(Some(artisan_key(&product.artisan_id)))
            .update_expression(
                "SET display_name = if_not_exists(display_name, :name), artisan_id = :artisan ADD product_count :one",
            )
            .expression_attribute_values(":name", s(display_name))
            .expression_attribute_values(":artisan", s(product.artisan_id.as_str()))
            .expression_attribute_values(":one", n(1))
            .build()
            .map_err(StoreError::unexpected)?;
        let category = Update::builder()
            .table_name(&self.table)
            .set_key(Some(category_counter_key(product.category.as_str())))
            .update_expression("ADD product_count :one")
            .expression_attribute_values(":one", n(1))
            .build()
            .map_err(StoreError::unexpected)?;
        self.transact(vec![
            TransactWriteItem::builder().put(put).build(),
            TransactWriteItem::builder().update(profile).build(),
            TransactWriteItem::builder().update(category).build(),
        ])
        .await
    }

    async fn replace_product(&self, previous: &Product, next: &Product) -> Result<(), StoreError> {
        let put = Put::builder()
            .table_name(&self.table)
            .set_item(Some(product_item(next)))
            .condition_expression("#version = :expected")
            .expression_attribute_names("#version", "version")
            .expression_attribute_values(":expected", n(previous.version))
            .build()
            .map_err(StoreError::unexpected)?;
        let mut items = vec![TransactWriteItem::builder().put(put).build()];
        items.extend(self.counter_updates(Some(previous), next)?);
        self.transact(items).await
    }

    async fn adjust_stock(
        &self,
        id: &ProductId,
        artisan: &UserId,
        delta: StockDelta,
        now: OffsetDateTime,
    ) -> Result<Product, StockChangeError> {
        let delta = delta.get();
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(product_key(id)))
            .update_expression("SET stock = stock + :delta, #version = #version + :one, updated_at = :now")
            // Ownership and bounds in the same atomic write: a concurrent checkout can never be overwritten.
            .condition_expression("attribute_exists(PK) AND artisan_id = :artisan AND stock >= :min AND stock <= :max")
            .expression_attribute_names("#version", "version")
            .expression_attribute_values(":delta", n(delta))
            .expression_attribute_values(":one", n(1))
            .expression_attribute_values(":now", timestamp(now))
            .expression_attribute_values(":artisan", s(artisan.as_str()))
            .expression_attribute_values(":min", n((-delta).max(0)))
            .expression_attribute_values(":max", n(MAX_STOCK - delta.max(0)))
            .return_values(ReturnValue::AllNew)
            .send()
            .await;
        self.catalog_changed();
        match result {
            Ok(output) => {
                let item = output.attributes.ok_or_else(|| StoreError::unexpected("update returned no item"))?;
                Ok(product_from_item(&item)?)
            }
            Err(error) if error.as_service_error().is_some_and(|e| e.is_conditional_check_failed_exception()) => {
                // Tell "not yours / not there" (404) from "out of range" (409) without revealing which product exists.
                match self.get_product(id).await? {
                    Some(product) if &product.artisan_id == artisan => Err(StockChangeError::OutOfRange),
                    _ => Err(StoreError::NotFound.into()),
                }
            }
            Err(error) => Err(store_error(error).into()),
        }
    }

    async fn get_artisan(&self, id: &UserId) -> Result<Option<ArtisanProfile>, StoreError> {
        let output = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(artisan_key(id)))
            .send()
            .await
            .map_err(store_error)?;
        output.item.as_ref().map(|item| artisan_from_item(id, item)).transpose()
    }

    async fn category_counts(&self) -> Result<HashMap<String, u64>, StoreError> {
        let keys = CATEGORIES.iter().map(|c| category_counter_key(c.slug)).collect();
        Ok(self.batch_get(keys).await?.iter().filter_map(category_count_from_item).collect())
    }
}
