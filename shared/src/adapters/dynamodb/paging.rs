//! One partition's items, newest first, a page at a time: a shopper's or an artisan's orders, an artisan's payouts.

use std::collections::HashMap;

use super::items::*;
use super::keys::{Item, PK, SK};
use super::{DynamoStore, store_error};
use crate::ports::{Page, PageRequest, StoreError};

/// Query calls one filtered listing makes at most: a filter that leaves most items out answers a short page (even an
/// empty one) with a cursor to read on from, never a read of a whole partition in one request.
const MAX_FILTERED_READS: usize = 5;

/// Which items of a partition a page lists, and how they are read.
pub(super) struct Listing<'a, T> {
    pub pk: &'a str,
    /// Their sort keys' prefix; a cursor is the rest of the sort key.
    pub prefix: &'a str,
    /// Only those whose `status` attribute is this.
    pub status: Option<&'a str>,
    pub read: fn(&Item) -> Result<T, StoreError>,
    /// The cursor that reads on after an item.
    pub cursor: fn(&T) -> String,
}

/// The position a read stopped at, from its last evaluated key (`<prefix><id>`).
fn stopped_at(key: &Item, prefix: &str) -> Option<String> {
    key.get(SK).and_then(|v| v.as_s().ok()).and_then(|sk| sk.strip_prefix(prefix)).map(str::to_owned)
}

impl DynamoStore {
    /// A newest-first page of the listing's items (at most [`MAX_FILTERED_READS`] reads when filtered: a short page
    /// and a cursor when the filter leaves most out). An item that cannot be read is logged and left out.
    pub(super) async fn partition_page<T>(
        &self,
        listing: Listing<'_, T>,
        page: &PageRequest,
    ) -> Result<Page<T>, StoreError> {
        let Listing { pk, prefix, status, read, cursor } = listing;
        let want = page.limit + 1;
        let mut start_key = page
            .after
            .as_ref()
            .map(|after| HashMap::from([(PK.to_owned(), s(pk)), (SK.to_owned(), s(format!("{prefix}{after}")))]));
        let mut items = Vec::new();
        let mut stopped = None;
        for _ in 0..MAX_FILTERED_READS {
            let mut query = self
                .client
                .query()
                .table_name(&self.table)
                .key_condition_expression("PK = :pk AND begins_with(SK, :prefix)")
                .expression_attribute_values(":pk", s(pk))
                .expression_attribute_values(":prefix", s(prefix))
                .scan_index_forward(false)
                .limit(if status.is_some() { 100 } else { want.clamp(1, 1000) as i32 })
                .set_exclusive_start_key(start_key.take());
            if let Some(status) = status {
                query = query
                    .filter_expression("#status = :status")
                    .expression_attribute_names("#status", "status")
                    .expression_attribute_values(":status", s(status));
            }
            let output = query.send().await.map_err(store_error)?;
            items.extend(readable(output.items(), read));
            stopped = output.last_evaluated_key.as_ref().and_then(|key| stopped_at(key, prefix));
            match output.last_evaluated_key {
                Some(key) if items.len() < want => start_key = Some(key),
                _ => break,
            }
        }
        let more = items.len() > page.limit;
        items.truncate(page.limit);
        let next = match (more, start_key) {
            (true, _) => items.last().map(cursor),
            // The reads ran out with the partition not done: on from where they stopped.
            (false, Some(_)) => stopped,
            (false, None) => None,
        };
        Ok(Page { items, next })
    }
}
