//! Ports: the narrow, per-aggregate traits the services need, in the domain's terms (no HTTP status, header or body
//! crosses them). Adapters implement them; the services and handlers only ever hold `Arc<dyn …>`.

use std::collections::HashMap;

use async_trait::async_trait;
use time::OffsetDateTime;

use crate::domain::{CartLine, Category, Product, ProductId, StockDelta, UserId};

mod blobs;
mod orders;
mod payments;
pub use blobs::*;
pub use orders::*;
pub use payments::*;

/// Store failures, independent of the backend.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The item does not exist, or belongs to someone else (callers never learn which).
    #[error("not found")]
    NotFound,
    /// A condition on the write did not hold (stale version, concurrent change).
    #[error("conflict: {0}")]
    Conflict(String),
    /// The backend is throttling or unreachable; worth retrying later.
    #[error("store unavailable")]
    Unavailable(#[source] Box<dyn std::error::Error + Send + Sync>),
    #[error("unexpected store error")]
    Unexpected(#[source] Box<dyn std::error::Error + Send + Sync>),
}

impl StoreError {
    pub fn unexpected(error: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> Self {
        StoreError::Unexpected(error.into())
    }
}

/// Which products a listing wants.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct ProductFilter {
    pub category: Option<Category>,
    pub artisan_id: Option<UserId>,
}

/// A page request: how many, and where the previous page ended (an adapter-defined position, signed by the
/// HTTP layer before it reaches a client).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PageRequest {
    pub limit: usize,
    pub after: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page<T> {
    pub items: Vec<T>,
    /// Where the next page starts, when there is one.
    pub next: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArtisanProfile {
    pub artisan_id: UserId,
    pub display_name: String,
    /// Active (listed) products.
    pub product_count: u64,
}

/// One stock change by an artisan, named so that a retry of it is recognised and applied once: by the client's
/// `Idempotency-Key` when it sent one, else by an id made for this request (which covers the SDK's own retries).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StockAdjustment {
    pub id: String,
    pub delta: StockDelta,
}

/// Why a stock change was refused.
#[derive(Debug, thiserror::Error)]
pub enum StockChangeError {
    #[error("the stock change would leave the allowed range")]
    OutOfRange,
    /// The adjustment's id was used before for a different change.
    #[error("the adjustment id was used for another change")]
    IdReused,
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// What one request of a route asks of its store at once, in the route's terms. The store adapter knows what that
/// takes on its backend: on DynamoDB a connection per call in flight, opened early by a cold start
/// (`adapters::dynamodb::connections_for`); a Postgres pool needs nothing more.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoreWork {
    /// One call at a time (most routes).
    OneCall,
    /// A catalog listing: every part of the catalog's listing read at once.
    Listing,
    /// A read beside a write: a cart change (the cart beside the catalog), a checkout (the key's claim beside the
    /// reads of the cart or the products).
    ReadBesideWrite,
}

/// The catalog's reads. On a store they are strongly consistent; behind `AppState::catalog_reads` (the read cache,
/// the Postgres reader endpoint) they may be a few seconds old, which is why only public reads go there.
#[async_trait]
pub trait CatalogReads: Send + Sync {
    /// One product (archived ones included).
    async fn get_product(&self, id: &ProductId) -> Result<Option<Product>, StoreError>;

    /// Several products by id, in any order; missing ids are simply absent, and so is a stored product that cannot
    /// be read (logged), so one bad item never fails every cart holding it.
    async fn get_products(&self, ids: &[ProductId]) -> Result<Vec<Product>, StoreError>;

    /// Active products, newest first; a stored product that cannot be read is logged and left out.
    async fn list_products(&self, filter: &ProductFilter, page: &PageRequest) -> Result<Page<Product>, StoreError>;

    async fn get_artisan(&self, id: &UserId) -> Result<Option<ArtisanProfile>, StoreError>;

    /// Active products per category slug; categories with none may be absent.
    async fn category_counts(&self) -> Result<HashMap<String, u64>, StoreError>;

    /// Opens the store's connection and checks it answers, reading no data and calling no API that needs a grant.
    async fn ping(&self) -> Result<(), StoreError>;
}

/// The catalog's writes, on the store itself (never a cache or a replica).
#[async_trait]
pub trait CatalogWrites: Send + Sync {
    /// Stores a new product and counts it for its artisan (whose profile is created on first listing, named
    /// `display_name`) and its category, all at once. A retry of a write that landed succeeds; `Conflict` if
    /// another product holds the id.
    async fn create_product(&self, product: &Product, display_name: &str) -> Result<(), StoreError>;

    /// Replaces `previous` with `next` if the stored version is still `previous.version`, moving the listing
    /// counts when the category or the status changed. `Conflict` if it was changed meanwhile.
    async fn replace_product(&self, previous: &Product, next: &Product) -> Result<(), StoreError>;

    /// Adds the adjustment's delta to the stock of `artisan`'s product atomically, recording the adjustment's id
    /// in the same write, and returns the product after it; the same id again changes nothing and returns the
    /// product as it is. `NotFound` if it does not exist or is not theirs.
    async fn adjust_stock(
        &self,
        id: &ProductId,
        artisan: &UserId,
        adjustment: &StockAdjustment,
        now: OffsetDateTime,
    ) -> Result<Product, StockChangeError>;
}

/// The catalog on its store: strongly consistent reads and the writes. What writes, and what must not read a stale
/// product (checkout, carts, orders), takes this; a cache or a replica cannot be one.
pub trait CatalogStore: CatalogReads + CatalogWrites {}

impl<T: CatalogReads + CatalogWrites + ?Sized> CatalogStore for T {}

/// Why a cart line was not written.
#[derive(Debug, thiserror::Error)]
pub enum CartLineError {
    /// The cart holds [`crate::domain::MAX_CART_LINES`] other products already.
    #[error("the cart is full")]
    Full,
    #[error(transparent)]
    Store(#[from] StoreError),
}

#[async_trait]
pub trait CartStore: Send + Sync {
    /// The user's cart lines, oldest first.
    async fn cart_lines(&self, user: &UserId) -> Result<Vec<CartLine>, StoreError>;

    /// Sets the quantity of one line (creating it), and pushes the cart's idle expiry out; a new line only while the
    /// cart holds fewer than [`crate::domain::MAX_CART_LINES`] other products, held by the write itself (so
    /// parallel adds cannot pass the limit together).
    async fn put_cart_line(&self, user: &UserId, line: &CartLine, now: OffsetDateTime) -> Result<(), CartLineError>;

    /// Removes one line; removing a line that is not there is not an error.
    async fn remove_cart_line(&self, user: &UserId, product: &ProductId) -> Result<(), StoreError>;
}

/// Forgets what has expired: idempotency keys, idle cart lines, provider event ids, stock adjustment ids
/// (`adapters::retention`). DynamoDB's TTL does this by itself; a Postgres store is swept by the order sweeper.
#[async_trait]
pub trait Housekeeping: Send + Sync {
    /// Deletes a bounded batch of what expired before `now`; how many rows went.
    async fn forget_expired(&self, now: OffsetDateTime) -> Result<u64, StoreError>;
}

/// Time, injectable so tests can pin it.
pub trait Clock: Send + Sync {
    fn now(&self) -> OffsetDateTime;
}

/// The system's time, to the microsecond: the precision both stores keep (Postgres' `timestamptz` holds no more),
/// so a value read back equals the one written, whichever backend holds it.
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> OffsetDateTime {
        OffsetDateTime::now_utc().truncate_to_microsecond()
    }
}
