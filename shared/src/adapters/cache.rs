//! The in-function read cache of the public catalog (DESIGN §8): product pages, listings, artisans and category
//! counts, kept for a few seconds in front of any `CatalogReads`. A warm Lambda instance answers a hot product
//! page from memory; the cost is that another instance's write shows here up to `ttl` later. Writes made through
//! this process's store drop everything at once (the store's change counter moved), so the local server and a
//! function that just wrote never read their own stale data.
//!
//! Only public reads go through it (`AppState::catalog_reads`): checkout, stock moves and edits read the store
//! directly, strongly consistent.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;

use crate::domain::{Product, ProductId, UserId};
use crate::ports::{ArtisanProfile, CatalogReads, Page, PageRequest, ProductFilter, StoreError};
use crate::telemetry::metrics::{self, Metric};

/// Bounds per shelf, so a crawler paging through everything cannot grow a 256 MB function: past its bound a
/// shelf is emptied (cheaper than tracking age, and the entries live 3 s anyway). A product is ~1 KB; a listing
/// page holds up to 100 of them.
const MAX_PRODUCTS: usize = 10_000;
const MAX_PAGES: usize = 200;
const MAX_ARTISANS: usize = 10_000;

struct Entry<V> {
    value: V,
    expires: Instant,
    /// A reader is fetching a newer value: the others keep answering this one meanwhile.
    refreshing: bool,
}

/// What a shelf holds for a key.
#[derive(Debug, PartialEq)]
enum Lookup<V> {
    Fresh(V),
    /// Expired, and another reader is already fetching it (or it is this reader's turn to: `Miss`).
    Stale(V),
    Miss,
}

struct Shelf<K, V> {
    entries: HashMap<K, Entry<V>>,
    capacity: usize,
}

impl<K: Eq + Hash, V: Clone> Shelf<K, V> {
    fn new(capacity: usize) -> Self {
        Self { entries: HashMap::new(), capacity }
    }

    #[cfg(test)]
    fn get(&self, key: &K, now: Instant) -> Option<V> {
        self.entries.get(key).filter(|e| e.expires > now).map(|e| e.value.clone())
    }

    /// The entry for `key`. When it has expired, the first reader is told to fetch it (`Miss`, and the entry is
    /// marked), and every reader until that fetch lands gets the expired value, for at most one more `ttl`: one
    /// store read per expiry instead of one per concurrent reader (no stampede on a hot listing).
    fn lookup(&mut self, key: &K, now: Instant, ttl: Duration) -> Lookup<V> {
        match self.entries.get_mut(key) {
            Some(entry) if entry.expires > now => Lookup::Fresh(entry.value.clone()),
            Some(entry) if entry.refreshing && now < entry.expires + ttl => Lookup::Stale(entry.value.clone()),
            Some(entry) => {
                entry.refreshing = true;
                Lookup::Miss
            }
            None => Lookup::Miss,
        }
    }

    /// The fetch of `key` failed: the next reader tries again.
    fn refresh_failed(&mut self, key: &K) {
        if let Some(entry) = self.entries.get_mut(key) {
            entry.refreshing = false;
        }
    }

    fn put(&mut self, key: K, value: V, expires: Instant) {
        if self.entries.len() >= self.capacity {
            self.entries.clear();
        }
        self.entries.insert(key, Entry { value, expires, refreshing: false });
    }
}

struct Shelves {
    /// The store's change counter when these entries were read.
    generation: u64,
    products: Shelf<ProductId, Option<Product>>,
    pages: Shelf<(ProductFilter, PageRequest), Page<Product>>,
    artisans: Shelf<UserId, Option<ArtisanProfile>>,
    counts: Shelf<(), HashMap<String, u64>>,
}

impl Shelves {
    fn new(generation: u64) -> Self {
        Self {
            generation,
            products: Shelf::new(MAX_PRODUCTS),
            pages: Shelf::new(MAX_PAGES),
            artisans: Shelf::new(MAX_ARTISANS),
            counts: Shelf::new(1),
        }
    }
}

pub struct CachedCatalog {
    inner: Arc<dyn CatalogReads>,
    changes: Arc<AtomicU64>,
    ttl: Duration,
    shelves: Mutex<Shelves>,
}

impl CachedCatalog {
    /// `changes` is the store's counter of product-changing writes (`DynamoStore::catalog_changes`).
    pub fn new(inner: Arc<dyn CatalogReads>, changes: Arc<AtomicU64>, ttl: Duration) -> Self {
        let generation = changes.load(Ordering::Acquire);
        Self { inner, changes, ttl, shelves: Mutex::new(Shelves::new(generation)) }
    }

    /// The shelves, emptied first if the store wrote since they were filled.
    fn shelves(&self) -> std::sync::MutexGuard<'_, Shelves> {
        let generation = self.changes.load(Ordering::Acquire);
        let mut shelves = self.shelves.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if shelves.generation != generation {
            *shelves = Shelves::new(generation);
        }
        shelves
    }

    /// Looks `key` up on one shelf; on a miss reads through `load` and keeps the answer, unless the store
    /// wrote while it was being read (the answer may predate that write).
    async fn read_through<K, V, F>(
        &self,
        shelf: fn(&mut Shelves) -> &mut Shelf<K, V>,
        key: K,
        load: F,
    ) -> Result<V, StoreError>
    where
        K: Eq + Hash + Clone,
        V: Clone,
        F: std::future::Future<Output = Result<V, StoreError>>,
    {
        let now = Instant::now();
        let generation = {
            let mut shelves = self.shelves();
            match shelf(&mut shelves).lookup(&key, now, self.ttl) {
                Lookup::Fresh(value) | Lookup::Stale(value) => {
                    metrics::count(Metric::CacheHits);
                    return Ok(value);
                }
                Lookup::Miss => shelves.generation,
            }
        };
        metrics::count(Metric::CacheMisses);
        let loaded = load.await;
        let mut shelves = self.shelves();
        match loaded {
            Ok(value) => {
                if shelves.generation == generation {
                    shelf(&mut shelves).put(key, value.clone(), now + self.ttl);
                }
                Ok(value)
            }
            Err(error) => {
                shelf(&mut shelves).refresh_failed(&key);
                Err(error)
            }
        }
    }
}

#[async_trait]
impl CatalogReads for CachedCatalog {
    async fn get_product(&self, id: &ProductId) -> Result<Option<Product>, StoreError> {
        self.read_through(|s| &mut s.products, id.clone(), self.inner.get_product(id)).await
    }

    /// Never cached: checkout reads its products here.
    async fn get_products(&self, ids: &[ProductId]) -> Result<Vec<Product>, StoreError> {
        self.inner.get_products(ids).await
    }

    async fn list_products(&self, filter: &ProductFilter, page: &PageRequest) -> Result<Page<Product>, StoreError> {
        self.read_through(|s| &mut s.pages, (filter.clone(), page.clone()), self.inner.list_products(filter, page))
            .await
    }

    async fn get_artisan(&self, id: &UserId) -> Result<Option<ArtisanProfile>, StoreError> {
        self.read_through(|s| &mut s.artisans, id.clone(), self.inner.get_artisan(id)).await
    }

    async fn category_counts(&self) -> Result<HashMap<String, u64>, StoreError> {
        self.read_through(|s| &mut s.counts, (), self.inner.category_counts()).await
    }

    async fn ping(&self) -> Result<(), StoreError> {
        self.inner.ping().await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_entry_lives_until_it_expires() {
        let now = Instant::now();
        let mut shelf: Shelf<u32, &str> = Shelf::new(10);
        shelf.put(1, "one", now + Duration::from_secs(3));
        assert_eq!(shelf.get(&1, now), Some("one"));
        assert_eq!(shelf.get(&1, now + Duration::from_secs(3)), None);
    }

    #[test]
    fn a_full_shelf_is_emptied_before_it_grows() {
        let now = Instant::now();
        let later = now + Duration::from_secs(3);
        let mut shelf: Shelf<u32, u32> = Shelf::new(2);
        shelf.put(1, 1, later);
        shelf.put(2, 2, later);
        shelf.put(3, 3, later);
        assert_eq!((shelf.get(&1, now), shelf.get(&3, now)), (None, Some(3)));
        assert_eq!(shelf.entries.len(), 1);
    }

    #[test]
    fn an_expired_entry_is_fetched_by_one_reader_while_the_others_get_it_as_it_was() {
        let ttl = Duration::from_secs(3);
        let now = Instant::now();
        let mut shelf: Shelf<u32, &str> = Shelf::new(10);
        shelf.put(1, "old", now + ttl);
        let expired = now + ttl;
        assert_eq!(shelf.lookup(&1, now, ttl), Lookup::Fresh("old"));
        assert_eq!(shelf.lookup(&1, expired, ttl), Lookup::Miss, "the first reader after expiry fetches");
        assert_eq!(shelf.lookup(&1, expired, ttl), Lookup::Stale("old"), "the others do not");
        assert_eq!(shelf.lookup(&1, expired + ttl, ttl), Lookup::Miss, "never older than one more ttl");
        shelf.refresh_failed(&1);
        assert_eq!(shelf.lookup(&1, expired, ttl), Lookup::Miss, "a failed fetch leaves the next reader to try");
        shelf.put(1, "new", expired + ttl);
        assert_eq!(shelf.lookup(&1, expired, ttl), Lookup::Fresh("new"));
        assert_eq!(shelf.lookup(&2, expired, ttl), Lookup::Miss, "nothing to serve meanwhile: every reader fetches");
    }
}
