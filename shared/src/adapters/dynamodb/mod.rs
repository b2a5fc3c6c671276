//! The DynamoDB adapter: one table, generic keys, sparse indexes (DESIGN §3). No Scan anywhere.

mod carts;
mod catalog;
mod health;
pub use health::{connections_for, endpoint};
mod idempotency;
pub mod items;
pub mod keys;
mod orders;
mod paging;
mod payments;
pub mod schema;
mod shards;
mod write;

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};

use crate::adapters::aws::LazyClient;
use crate::ports::StoreError;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

#[derive(Clone, Debug)]
pub struct DynamoStore {
    /// Built at the first call in Lambda: on a cold start that is while the server answers the connection's
    /// handshake, opened at the end of init (`HttpsClient::open_early`), and no longer before the first poll.
    client: LazyClient<Client>,
    table: String,
    /// Bumped after every write that can change a product (stock, listing, status): the read cache of this
    /// process drops what it holds (`adapters::cache`).
    catalog_changes: Arc<AtomicU64>,
}

impl DynamoStore {
    pub fn new(client: impl Into<LazyClient<Client>>, table: impl Into<String>) -> Self {
        Self { client: client.into(), table: table.into(), catalog_changes: Arc::default() }
    }

    /// The counter of product-changing writes made through this store.
    pub fn catalog_changes(&self) -> Arc<AtomicU64> {
        self.catalog_changes.clone()
    }

    /// Called after a product-changing write was attempted (a timed-out write may still have landed).
    fn catalog_changed(&self) {
        self.catalog_changes.fetch_add(1, Ordering::Release);
    }

    pub fn client(&self) -> &Client {
        &self.client
    }

    pub fn table(&self) -> &str {
        &self.table
    }
}

/// Error codes that mean "slow down and retry", not "this request is wrong".
const THROTTLING_CODES: &[&str] = &[
    "ProvisionedThroughputExceededException",
    "RequestLimitExceeded",
    "ThrottlingException",
    "LimitExceededException",
    "InternalServerError",
    "ServiceUnavailable",
    // A retried transaction whose first attempt (same ClientRequestToken) is still running.
    "TransactionInProgressException",
];

/// Maps an SDK failure to a store error: throttling, timeouts and connection failures are `Unavailable` (the
/// client gets 503 + Retry-After), everything else `Unexpected`.
pub(crate) fn store_error<E, R>(error: SdkError<E, R>) -> StoreError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug + Send + Sync + 'static,
{
    let retryable = match &error {
        SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) => true,
        SdkError::ServiceError(service) => service.err().code().is_some_and(|code| THROTTLING_CODES.contains(&code)),
        _ => false,
    };
    let source = aws_sdk_dynamodb::error::DisplayErrorContext(error).to_string();
    if retryable { StoreError::Unavailable(source.into()) } else { StoreError::unexpected(source) }
}

#[async_trait::async_trait]
impl crate::ports::Housekeeping for DynamoStore {
    /// DynamoDB's TTL deletes expired items by itself (reads already treat them as gone).
    async fn forget_expired(&self, _now: time::OffsetDateTime) -> Result<u64, StoreError> {
        Ok(0)
    }
}
