//! Ports of the ordering side: orders, idempotency records, and the queue that carries `OrderPlaced`.

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use super::{Page, PageRequest, StoreError};
use crate::domain::{Order, OrderId, OrderStatus, ProductId, UserId};

/// The scope of one idempotency key: a user's key for one kind of request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdempotencyScope {
    pub user: UserId,
    pub key: String,
}

/// What a claim on an idempotency key found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Claim {
    /// The key is ours: run the request.
    Fresh,
    /// The request already ran: answer with what it answered.
    Replay { status: u16, body: String },
    /// The same key is being served right now by another call.
    InProgress,
    /// The key was used for a different request.
    Mismatch,
}

/// The response to record under an idempotency key, written atomically with the work it describes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Completion {
    pub scope: IdempotencyScope,
    pub status: u16,
    pub body: String,
}

#[async_trait]
pub trait IdempotencyStore: Send + Sync {
    /// Claims the key for a request with `fingerprint` (a hash of what was asked). A claim left in progress longer
    /// than its lock (a crashed call) can be taken over.
    async fn claim(
        &self,
        scope: &IdempotencyScope,
        fingerprint: &str,
        now: OffsetDateTime,
    ) -> Result<Claim, StoreError>;

    /// Records the response of a claimed key on its own (for work that is not a single transaction).
    async fn complete(&self, completion: &Completion, now: OffsetDateTime) -> Result<(), StoreError>;

    /// Gives up a claim whose request wrote nothing, so the client may retry with the same key.
    async fn release(&self, scope: &IdempotencyScope) -> Result<(), StoreError>;
}

#[derive(Debug, thiserror::Error)]
pub enum PlaceOrderError {
    /// Stock or status changed between the read and the write; nothing was written.
    #[error("not enough stock for {0:?}")]
    OutOfStock(Vec<ProductId>),
    /// Another transaction touched the same items (DynamoDB `TransactionConflict`); retrying may succeed.
    #[error("transaction conflict")]
    Conflict,
    /// The idempotency claim was lost (its lock expired and another call took it).
    #[error("idempotency claim lost")]
    ClaimLost,
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The result of a conditional status move.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Transition {
    Moved(Order),
    /// The order was not in a status the move starts from; it is in this one.
    Refused(OrderStatus),
}

#[async_trait]
pub trait OrderStore: Send + Sync {
    /// One atomic write: every line's stock decremented if `stock >= quantity` and the product is active, the order
    /// put (must not exist), one entry per artisan, the idempotency completion, the checked-out cart lines cleared.
    /// `request_token` makes a retried write of the same order idempotent.
    async fn place_order(
        &self,
        order: &Order,
        completion: Option<&Completion>,
        clear_cart: &[ProductId],
        request_token: &str,
    ) -> Result<(), PlaceOrderError>;

    async fn get_order(&self, user: &UserId, id: &OrderId) -> Result<Option<Order>, StoreError>;

    /// The user's orders, newest first.
    async fn list_orders(&self, user: &UserId, page: &PageRequest) -> Result<Page<Order>, StoreError>;

    /// The orders holding `artisan`'s products, newest first, each with only their lines and their part's status.
    async fn list_artisan_orders(
        &self,
        artisan: &UserId,
        status: Option<OrderStatus>,
        page: &PageRequest,
    ) -> Result<Page<Order>, StoreError>;

    async fn get_artisan_order(&self, artisan: &UserId, id: &OrderId) -> Result<Option<Order>, StoreError>;

    /// `placed → confirmed`, with the confirmation notice recorded in the same write (so it exists once).
    async fn confirm(&self, user: &UserId, id: &OrderId, now: OffsetDateTime) -> Result<Transition, StoreError>;

    /// `placed | confirmed → cancelled` while nothing has shipped, with every line's stock returned atomically.
    async fn cancel(&self, user: &UserId, id: &OrderId, now: OffsetDateTime) -> Result<Transition, StoreError>;

    /// Marks `artisan`'s part shipped (it must be confirmed); the order becomes `shipped` with its last part.
    async fn ship(&self, artisan: &UserId, id: &OrderId, now: OffsetDateTime) -> Result<Transition, StoreError>;

    /// Whether the order's confirmation notice is recorded but not yet delivered.
    async fn notice_pending(&self, id: &OrderId) -> Result<bool, StoreError>;

    /// Marks the confirmation notice delivered (after the notifier accepted it).
    async fn notice_sent(&self, id: &OrderId, now: OffsetDateTime) -> Result<(), StoreError>;

    /// Orders still `placed` that were created before `before` (their `OrderPlaced` may have been lost).
    async fn placed_before(&self, before: OffsetDateTime, limit: usize) -> Result<Vec<(UserId, OrderId)>, StoreError>;
}

/// The message that sets an order's follow-up going.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OrderPlaced {
    pub order_id: OrderId,
    pub user_id: UserId,
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

#[async_trait]
pub trait OrderQueue: Send + Sync {
    async fn order_placed(&self, message: &OrderPlaced) -> Result<(), QueueError>;
}
