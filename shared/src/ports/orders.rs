//! Ports of the ordering side: orders, idempotency records, and the queue that carries paid orders to the worker.

use async_trait::async_trait;
use time::OffsetDateTime;

use super::{Page, PageRequest, StoreError};
use crate::domain::{
    FollowUp, IdempotencyKey, KeyHolder, Order, OrderId, OrderRef, OrderStatus, Payout, ProductId, Retry, StockDelta,
    UserId,
};

/// An order owing a follow-up, with its failed tries so far (read with it from the due list, so work that waits
/// for its next try is passed over without reading the order).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Due {
    pub order: OrderRef,
    pub retry: Option<Retry>,
}

/// The scope of one idempotency key: a user's key for one kind of request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdempotencyScope {
    pub user: UserId,
    pub key: IdempotencyKey,
}

/// What a claim on an idempotency key found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Claim {
    /// The key is ours: run the request.
    Fresh,
    /// Another request holds the key, as stored: the domain decides what this one is told
    /// ([`KeyHolder::verdict`]).
    Held(KeyHolder),
}

#[async_trait]
pub trait IdempotencyStore: Send + Sync {
    /// Claims the key for a request with `fingerprint` (a hash of what was asked). A claim left in progress longer
    /// than its lock (a crashed call) can be taken over; a retried claim recognises itself. The claim is completed
    /// by the write it guards ([`OrderStore::place_order`]).
    async fn claim(
        &self,
        scope: &IdempotencyScope,
        fingerprint: &str,
        now: OffsetDateTime,
    ) -> Result<Claim, StoreError>;

    /// Gives up a claim whose request wrote nothing, so the client may retry with the same key.
    async fn release(&self, scope: &IdempotencyScope) -> Result<(), StoreError>;
}

#[derive(Debug, thiserror::Error)]
pub enum PlaceOrderError {
    /// Stock, status or price of these products changed between the read and the write; nothing was written.
    #[error("products changed since they were read: {0:?}")]
    Changed(Vec<ProductId>),
    /// Another transaction touched the same items (DynamoDB `TransactionConflict`); retrying may succeed.
    #[error("transaction conflict")]
    Conflict,
    /// The idempotency claim was lost (its lock expired and another call took it).
    #[error("idempotency claim lost")]
    ClaimLost,
    /// The shopper has [`crate::domain::MAX_UNPAID_ORDERS`] orders awaiting payment already; nothing was written.
    #[error("too many orders awaiting payment")]
    TooManyUnpaid,
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// One line's units going back on the shelf (a cancellation), already bounded by the stock ceiling.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Restock {
    pub product_id: ProductId,
    pub delta: StockDelta,
}

/// A decided move of an order ([`crate::domain::Decision::Move`]), to be written at once with what goes with it.
#[derive(Debug, Clone, Copy)]
pub struct OrderTransition<'a> {
    /// The order as it was read: the write holds only while it is still so (status and shipped parts).
    pub current: &'a Order,
    pub next: &'a Order,
    /// Stock going back (a cancellation).
    pub restock: &'a [Restock],
    /// Records the confirmation notice, pending delivery (a confirmation).
    pub record_notice: bool,
    /// Payouts the move makes owed (a shipped part's share), each created once.
    pub payouts: &'a [Payout],
}

#[derive(Debug, thiserror::Error)]
pub enum TransitionError {
    /// The order (or a product's stock) changed since it was read; nothing was written. Read again and decide again.
    #[error("the order changed since it was read")]
    Stale,
    #[error(transparent)]
    Store(#[from] StoreError),
}

#[async_trait]
pub trait OrderStore: Send + Sync {
    /// One atomic write: every line's stock decremented if the product is active, still at the order's unit
    /// price, and has enough; the order put (must not exist) while its shopper holds fewer than
    /// [`crate::domain::MAX_UNPAID_ORDERS`] other orders awaiting payment; one entry per artisan; the claim on
    /// `scope` completed with the order; the checked-out cart lines cleared. A retry of a write that landed
    /// succeeds.
    async fn place_order(
        &self,
        order: &Order,
        scope: &IdempotencyScope,
        clear_cart: &[ProductId],
    ) -> Result<(), PlaceOrderError>;

    async fn get_order(&self, user: &UserId, id: &OrderId) -> Result<Option<Order>, StoreError>;

    /// The user's orders, newest first.
    async fn list_orders(&self, user: &UserId, page: &PageRequest) -> Result<Page<Order>, StoreError>;

    /// The orders holding `artisan`'s products, newest first, each as that artisan sees it
    /// ([`Order::for_artisan`]), optionally only those whose part is in `status`.
    async fn list_artisan_orders(
        &self,
        artisan: &UserId,
        status: Option<OrderStatus>,
        page: &PageRequest,
    ) -> Result<Page<Order>, StoreError>;

    /// One order as `artisan` sees it, if it holds their products.
    async fn get_artisan_order(&self, artisan: &UserId, id: &OrderId) -> Result<Option<Order>, StoreError>;

    /// Writes a decided move: the order, each artisan's part whose status changes, and the restock or the notice
    /// that goes with it, all or nothing. A retry of a write that landed succeeds.
    async fn save_transition(&self, transition: &OrderTransition<'_>) -> Result<(), TransitionError>;

    /// Whether the order's confirmation notice is recorded but not yet delivered.
    async fn notice_pending(&self, order: &OrderRef) -> Result<bool, StoreError>;

    /// Marks the confirmation notice delivered (after the notifier accepted it).
    async fn notice_sent(&self, order: &OrderRef, now: OffsetDateTime) -> Result<(), StoreError>;

    /// Orders owing `follow_up` ([`Order::follow_up`]) since before `before`, oldest first, a page at a time (the
    /// caller reads on from `next`, so work it passes over never hides newer work); parked orders are not in it.
    async fn orders_due(
        &self,
        follow_up: FollowUp,
        before: OffsetDateTime,
        page: &PageRequest,
    ) -> Result<Page<Due>, StoreError>;

    /// Orders whose follow-up was parked for an operator (their retry says why), most recently parked first.
    async fn parked_orders(&self, page: &PageRequest) -> Result<Page<Order>, StoreError>;
}

#[derive(Debug, thiserror::Error)]
#[error("the queue refused the message")]
pub struct QueueError(#[source] pub Box<dyn std::error::Error + Send + Sync>);

#[derive(Debug, thiserror::Error)]
#[error("the confirmation could not be delivered")]
pub struct NotifyError(#[source] pub Box<dyn std::error::Error + Send + Sync>);

/// Delivers order confirmations to shoppers (email through SES in AWS; the log locally).
#[async_trait]
pub trait Notifier: Send + Sync {
    async fn order_confirmed(&self, order: &Order) -> Result<(), NotifyError>;
}

/// Carries paid orders to the order worker, which confirms them (its message body is an [`OrderRef`]).
#[async_trait]
pub trait OrderQueue: Send + Sync {
    async fn order_paid(&self, order: &OrderRef) -> Result<(), QueueError>;
}
