//! After checkout: reading orders, cancelling, shipping, confirming (the worker) and re-sending lost messages
//! (the sweeper). Every status move is a conditional write in the store.

use time::Duration;

use crate::domain::{Order, OrderId, OrderStatus, UserId};
use crate::ports::{Clock, Notifier, OrderPlaced, OrderQueue, OrderStore, Page, PageRequest, StoreError, Transition};

use super::ServiceError;

pub async fn get(orders: &dyn OrderStore, user: &UserId, id: &OrderId) -> Result<Order, ServiceError> {
    orders.get_order(user, id).await?.ok_or(ServiceError::NotFound("order"))
}

pub async fn list(orders: &dyn OrderStore, user: &UserId, page: &PageRequest) -> Result<Page<Order>, ServiceError> {
    Ok(orders.list_orders(user, page).await?)
}

pub async fn list_for_artisan(
    orders: &dyn OrderStore,
    artisan: &UserId,
    status: Option<OrderStatus>,
    page: &PageRequest,
) -> Result<Page<Order>, ServiceError> {
    Ok(orders.list_artisan_orders(artisan, status, page).await?)
}

fn moved(transition: Transition, to: OrderStatus) -> Result<Order, ServiceError> {
    match transition {
        Transition::Moved(order) => Ok(order),
        Transition::Refused(from) => Err(ServiceError::InvalidTransition { from: from.as_str(), to: to.as_str() }),
    }
}

fn not_found(error: StoreError) -> ServiceError {
    match error {
        StoreError::NotFound => ServiceError::NotFound("order"),
        other => other.into(),
    }
}

/// The shopper cancels before anything shipped; the stock returns in the same write.
pub async fn cancel(
    orders: &dyn OrderStore,
    clock: &dyn Clock,
    user: &UserId,
    id: &OrderId,
) -> Result<Order, ServiceError> {
    let transition = orders.cancel(user, id, clock.now()).await.map_err(not_found)?;
    moved(transition, OrderStatus::Cancelled)
}

/// The artisan ships their part of a confirmed order.
pub async fn ship(
    orders: &dyn OrderStore,
    clock: &dyn Clock,
    artisan: &UserId,
    id: &OrderId,
) -> Result<Order, ServiceError> {
    let transition = orders.ship(artisan, id, clock.now()).await.map_err(not_found)?;
    moved(transition, OrderStatus::Shipped)
}

/// What the worker did with one `OrderPlaced`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Confirmation {
    /// Confirmed now; the notice was recorded by this delivery.
    Confirmed(Order),
    /// Already past `placed` (a duplicate delivery, or cancelled first): nothing to do.
    AlreadyHandled(OrderStatus),
}

pub async fn confirm(
    orders: &dyn OrderStore,
    clock: &dyn Clock,
    message: &OrderPlaced,
) -> Result<Confirmation, ServiceError> {
    match orders.confirm(&message.user_id, &message.order_id, clock.now()).await.map_err(not_found)? {
        Transition::Moved(order) => Ok(Confirmation::Confirmed(order)),
        Transition::Refused(status) => Ok(Confirmation::AlreadyHandled(status)),
    }
}

/// Delivers the order's confirmation if its notice is still pending, then marks it delivered: at least once per
/// order (a failed delivery fails the message, which comes back), and not again once delivered.
pub async fn deliver_confirmation(
    orders: &dyn OrderStore,
    notifier: &dyn Notifier,
    clock: &dyn Clock,
    order: &Order,
) -> Result<bool, ServiceError> {
    if !orders.notice_pending(&order.order_id).await? {
        return Ok(false);
    }
    notifier.order_confirmed(order).await?;
    orders.notice_sent(&order.order_id, clock.now()).await?;
    Ok(true)
}

/// Orders placed this long ago and still `placed` have lost their message (or it is stuck in the DLQ).
pub const STUCK_AFTER: Duration = Duration::minutes(2);

/// Re-sends `OrderPlaced` for orders stuck in `placed`; returns how many were re-sent.
pub async fn sweep(
    orders: &dyn OrderStore,
    queue: &dyn OrderQueue,
    clock: &dyn Clock,
    stuck_after: Duration,
) -> Result<usize, ServiceError> {
    let stuck = orders.placed_before(clock.now() - stuck_after, 100).await?;
    let mut sent = 0;
    for (user_id, order_id) in stuck {
        let message = OrderPlaced { order_id, user_id };
        match queue.order_placed(&message).await {
            Ok(()) => sent += 1,
            Err(error) => tracing::warn!(order_id = %message.order_id, %error, "re-send failed; next sweep retries"),
        }
    }
    Ok(sent)
}
