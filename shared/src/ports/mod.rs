//! Ports: the narrow, per-aggregate traits the services need. Adapters implement them (DynamoDB today, Postgres
//! behind the same traits later); the services and handlers only ever hold `Arc<dyn …>`.

use std::collections::HashMap;

use async_trait::async_trait;
use time::OffsetDateTime;

use crate::domain::{CartLine, Category, Product, ProductId, StockDelta, UserId};

mod blobs;
mod orders;
pub use blobs::*;
pub use orders::*;

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

/// Why a stock change was refused.
#[derive(Debug, thiserror::Error)]
pub enum StockChangeError {
    #[error("the stock change would leave the allowed range")]
    OutOfRange,
    #[error(transparent)]
    Store(#[from] StoreError),
}

#[async_trait]
pub trait CatalogStore: Send + Sync {
    /// A strongly consistent read of one product (archived ones included).
    async fn get_product(&self, id: &ProductId) -> Result<Option<Product>, StoreError>;

    /// Several products by id, in any order; missing ids are simply absent.
    async fn get_products(&self, ids: &[ProductId]) -> Result<Vec<Product>, StoreError>;

    /// Active products, newest first.
    async fn list_products(&self, filter: &ProductFilter, page: &PageRequest) -> Result<Page<Product>, StoreError>;

    /// Stores a new product and counts it for its artisan (whose profile is created on first listing, named
    /// `display_name`) and its category, all at once. `Conflict` if the id exists.
    async fn create_product(&self, product: &Product, display_name: &str) -> Result<(), StoreError>;

    /// Replaces `previous` with `next` if the stored version is still `previous.version`, moving the listing
    /// counts when the category or the status changed. `Conflict` if it was changed meanwhile.
    async fn replace_product(&self, previous: &Product, next: &Product) -> Result<(), StoreError>;

    /// Adds `delta` to the stock of `artisan`'s product atomically and returns the product after it.
    /// `NotFound` if it does not exist or is not theirs.
    async fn adjust_stock(
        &self,
        id: &ProductId,
        artisan: &UserId,
        delta: StockDelta,
        now: OffsetDateTime,
    ) -> Result<Product, StockChangeError>;

    async fn get_artisan(&self, id: &UserId) -> Result<Option<ArtisanProfile>, StoreError>;

    /// Active products per category slug; categories with none may be absent.
    async fn category_counts(&self) -> Result<HashMap<String, u64>, StoreError>;

    /// Checks the store answers (a metadata call that reads no data), opening its connection.
    async fn ping(&self) -> Result<(), StoreError>;
}

#[async_trait]
pub trait CartStore: Send + Sync {
    /// The user's cart lines, oldest first.
    async fn cart_lines(&self, user: &UserId) -> Result<Vec<CartLine>, StoreError>;

    /// Sets the quantity of one line (creating it), and pushes the cart's idle expiry out.
    async fn put_cart_line(&self, user: &UserId, line: &CartLine, now: OffsetDateTime) -> Result<(), StoreError>;

    /// Removes one line; removing a line that is not there is not an error.
    async fn remove_cart_line(&self, user: &UserId, product: &ProductId) -> Result<(), StoreError>;
}

/// Time, injectable so tests can pin it.
pub trait Clock: Send + Sync {
    fn now(&self) -> OffsetDateTime;
}

pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> OffsetDateTime {
        OffsetDateTime::now_utc()
    }
}
