//! Use cases: what a request or a message means for the catalog, carts, orders and payments, on top of the ports.
//! No HTTP, no AWS.

pub mod carts;
pub mod catalog;
pub mod checkout;
pub mod images;
pub mod orders;
pub mod payments;
pub mod payouts;
pub mod products;
pub mod reconciler;
pub mod sweeper;

use crate::domain::{ProductId, ValidationErrors};
use crate::ports::{EventError, PaymentError, QueueError, StockChangeError, StoreError};

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
    #[error("unknown products {0:?}")]
    UnknownProducts(Vec<ProductId>),
    #[error("products not for sale {0:?}")]
    ProductsUnavailable(Vec<ProductId>),
    #[error("not enough stock for {0:?}")]
    OutOfStock(Vec<ProductId>),
    #[error("the idempotency key was used for another request")]
    IdempotencyKeyReused,
    #[error("a request with this idempotency key is in progress")]
    RequestInProgress,
    /// The shopper holds the most orders awaiting payment already ([`crate::domain::MAX_UNPAID_ORDERS`]).
    #[error("too many orders awaiting payment")]
    TooManyUnpaidOrders,
    #[error("the order cannot move from {from} to {to}")]
    InvalidTransition { from: &'static str, to: &'static str },
    #[error("too many concurrent changes; retry")]
    Busy,
    #[error(transparent)]
    Notify(#[from] crate::ports::NotifyError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Stock(#[from] StockChangeError),
    #[error(transparent)]
    Payment(#[from] PaymentError),
    /// A payment in flight at the provider: neither cancellable nor settled yet; try again later.
    #[error("the payment is still being processed")]
    PaymentPending,
    /// A webhook delivery that is unsigned, wrongly signed, stale or unreadable.
    #[error("payment event refused: {0}")]
    BadEvent(EventError),
    #[error(transparent)]
    Queue(#[from] QueueError),
}
