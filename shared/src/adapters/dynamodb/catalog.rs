//! `CatalogReads` and `CatalogWrites` on DynamoDB: products, artisan profiles and the per-category counts.

use std::collections::{BTreeMap, HashMap};

use async_trait::async_trait;
use aws_sdk_dynamodb::types::{KeysAndAttributes, Put, TransactWriteItem, Update};
use time::OffsetDateTime;

use super::items::*;
use super::keys::*;
use super::shards::{ShardPage, newest};
use super::write::{Outcome, TRANSACTION_CONFLICT, put_new, stock_move, update};
use super::{DynamoStore, store_error};
use crate::adapters::retention::ADJUSTMENT_MEMORY;
use crate::domain::category::CATEGORIES;
use crate::domain::{Category, Product, ProductId, UserId};
use crate::ports::{
    ArtisanProfile, CatalogReads, CatalogWrites, Page, PageRequest, ProductFilter, StockAdjustment, StockChangeError,
    StoreError,
};

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
        // Without a filter one page is enough; with one, read wider pages to fill the listing.
        let limit = if query.category.is_some() { 100 } else { want };
        let mut products = Vec::new();
        let mut start = None;
        loop {
            let page = self.query_once(query, limit, start).await?;
            products.extend(page.products);
            match page.next {
                Some(key) if products.len() < want => start = Some(key),
                _ => break,
            }
        }
        products.truncate(want);
        Ok(products)
    }

    /// One Query of an index partition, newest first: up to `limit` items from `start` on (the first when `None`).
    async fn query_once(
        &self,
        query: &IndexQuery<'_>,
        limit: usize,
        start: Option<Item>,
    ) -> Result<ShardPage<Item>, StoreError> {
        let mut condition = "#pk = :pk".to_owned();
        let mut request = self
            .client
            .query()
            .table_name(&self.table)
            .index_name(query.index)
            .expression_attribute_names("#pk", query.pk_attr)
            .expression_attribute_values(":pk", s(&query.pk))
            .scan_index_forward(false)
            .limit(limit.clamp(1, 1000) as i32)
            .set_exclusive_start_key(start);
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
        Ok(ShardPage { products: readable(output.items(), product_from_item), next: output.last_evaluated_key })
    }

    /// Strongly consistent batch reads: checkout prices and sells what it reads here.
    async fn batch_get(&self, keys: Vec<Item>) -> Result<Vec<Item>, StoreError> {
        let mut found = Vec::with_capacity(keys.len());
        for chunk in keys.chunks(BATCH_GET_MAX) {
            let mut pending = Some(
                KeysAndAttributes::builder()
                    .set_keys(Some(chunk.to_vec()))
                    .consistent_read(true)
                    .build()
                    .map_err(StoreError::unexpected)?,
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
                update(
                    Update::builder()
                        .table_name(&self.table)
                        .set_key(Some(key))
                        .update_expression("ADD product_count :delta")
                        .expression_attribute_values(":delta", n(delta)),
                )
            })
            .collect()
    }

    /// A product transaction's end: conflicts are worth a retry later (503), other cancellations are `Conflict`.
    fn product_outcome(outcome: Outcome) -> Result<(), StoreError> {
        match outcome {
            Outcome::Written => Ok(()),
            Outcome::Cancelled(codes) if codes.iter().any(|c| c == TRANSACTION_CONFLICT) => {
                Err(StoreError::Unavailable(format!("transaction conflict: {}", codes.join(",")).into()))
            }
            Outcome::Cancelled(codes) => Err(StoreError::Conflict(codes.join(","))),
        }
    }
}

#[async_trait]
impl CatalogReads for DynamoStore {
    async fn ping(&self) -> Result<(), StoreError> {
        super::health::open_connection(&self.client, &self.table).await
    }

    async fn get_product(&self, id: &ProductId) -> Result<Option<Product>, StoreError> {
        self.read(product_key(id)).await?.as_ref().map(product_from_item).transpose()
    }

    async fn get_products(&self, ids: &[ProductId]) -> Result<Vec<Product>, StoreError> {
        let mut unique: Vec<&ProductId> = ids.iter().collect();
        unique.sort();
        unique.dedup();
        let items = self.batch_get(unique.into_iter().map(product_key).collect()).await?;
        Ok(readable(&items, product_from_item))
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
                // Every shard at once, then a merge: newest first across the whole catalog (`shards::newest`).
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
                            index: SHARDED_INDEX,
                            pk_attr: SHARDED_INDEX_PK,
                            sk_attr: SHARDED_INDEX_SK,
                            pk: catalog_shard_key(shard),
                            before,
                            category: None,
                        },
                    })
                    .collect();
                newest(queries.len(), want, |shard, start, limit| self.query_once(&queries[shard], limit, start))
                    .await?
            }
        };
        let more = products.len() > page.limit;
        products.truncate(page.limit);
        let next = if more { products.last().map(|p| p.product_id.to_string()) } else { None };
        Ok(Page { items: products, next })
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

#[async_trait]
impl CatalogWrites for DynamoStore {
    async fn create_product(&self, product: &Product, display_name: &str) -> Result<(), StoreError> {
        // The profile exists from the first listing on; its name is set once and kept.
        let profile = Update::builder()
            .table_name(&self.table)
            .set_key(Some(artisan_key(&product.artisan_id)))
            .update_expression(
                "SET display_name = if_not_exists(display_name, :name), artisan_id = :artisan ADD product_count :one",
            )
            .expression_attribute_values(":name", s(display_name))
            .expression_attribute_values(":artisan", s(product.artisan_id.as_str()))
            .expression_attribute_values(":one", n(1));
        let category = Update::builder()
            .table_name(&self.table)
            .set_key(Some(category_counter_key(product.category.as_str())))
            .update_expression("ADD product_count :one")
            .expression_attribute_values(":one", n(1));
        let items = vec![put_new(&self.table, product_item(product))?, update(profile)?, update(category)?];
        let outcome = self.transact(items, product.created_at).await?;
        // The id is new and random: a product already under it is this very write, landed on an earlier attempt.
        if outcome.failed(0) && self.get_product(&product.product_id).await?.as_ref() == Some(product) {
            return Ok(());
        }
        Self::product_outcome(outcome)
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
        Self::product_outcome(self.transact(items, next.updated_at).await?)
    }

    async fn adjust_stock(
        &self,
        id: &ProductId,
        artisan: &UserId,
        adjustment: &StockAdjustment,
        now: OffsetDateTime,
    ) -> Result<Product, StockChangeError> {
        // Ownership and bounds in the same atomic write as the record of this adjustment: a concurrent checkout is
        // never overwritten, and the same adjustment never lands twice.
        let moved = stock_move(&self.table, id, adjustment.delta, now, "artisan_id = :artisan")
            .expression_attribute_values(":artisan", s(artisan.as_str()));
        let mut record = adjustment_key(id, &adjustment.id);
        record.insert("artisan_id".into(), s(artisan.as_str()));
        record.insert("delta".into(), n(adjustment.delta.get()));
        record.insert("created_at".into(), timestamp(now));
        record.insert(TTL.into(), n((now + ADJUSTMENT_MEMORY).unix_timestamp()));
        let outcome = self.transact(vec![update(moved)?, put_new(&self.table, record)?], now).await?;
        match outcome {
            Outcome::Written => {}
            // Recorded already: this adjustment landed before (a retry), unless the id came with another change.
            _ if outcome.failed(1) => {
                let earlier = self.read(adjustment_key(id, &adjustment.id)).await?.unwrap_or_default();
                let same = get_n::<i64>(&earlier, "delta").ok() == Some(adjustment.delta.get())
                    && get_s(&earlier, "artisan_id").ok() == Some(artisan.as_str());
                if !same {
                    return Err(StockChangeError::IdReused);
                }
            }
            // Not there, not theirs (404, without revealing which) or out of range (409).
            _ if outcome.failed(0) => {
                return match self.get_product(id).await? {
                    Some(product) if &product.artisan_id == artisan => Err(StockChangeError::OutOfRange),
                    _ => Err(StoreError::NotFound.into()),
                };
            }
            other => Self::product_outcome(other)?,
        }
        self.get_product(id).await?.ok_or_else(|| StoreError::NotFound.into())
    }
}
