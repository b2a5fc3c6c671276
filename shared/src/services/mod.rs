//! Use cases: what a request means for the catalog and the cart, on top of the ports. No HTTP, no AWS.

pub mod carts;
pub mod catalog;
pub mod products;

use crate::domain::{ProductId, ValidationErrors};
use crate::ports::{StockChangeError, StoreError};

#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    #[error("{0} not found")]
    NotFound(&'static str),
    #[error(transparent)]
    Validation(#[from] ValidationErrors),
    #[error("version {expected} is stale; the product is at version {current}")]
    StaleVersion { expected: u64, current: u64 },
    #[error("product {0} is not available")]
    ProductUnavailable(ProductId),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Stock(#[from] StockChangeError),
}
