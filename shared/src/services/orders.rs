//! After checkout: reading orders, cancelling, shipping, confirming (the worker) and re-sending lost messages
//! (the sweeper). Every move is read, decided by the domain (`Order::cancel`, `ship_part`, `confirm`) and written
//! under the condition that the order is still as read; a write that finds it changed reads and decides again.

use time::Duration;

use crate::domain::{Decision, Order, OrderId, OrderStatus, StockDelta, UserId, returnable_units};
use crate::ports::{
    CatalogStore, Clock, Notifier, OrderPlaced, OrderQueue, OrderStore, OrderTransition, Page, PageRequest, Restock,
    TransitionError,
};

use super::ServiceError;
use super::checkout::backoff;

/// Read-decide-write rounds before a move that keeps meeting concurrent changes answers 503.
const TRANSITION_ATTEMPTS: u32 = 5;

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

/// Writes a decided move; `false` when the order (or a product's stock) changed since it was read.
async fn save(orders: &dyn OrderStore, transition: OrderTransition<'_>, attempt: u32) -> Result<bool, ServiceError> {
    match orders.save_transition(&transition).await {
        Ok(()) => Ok(true),
        Err(TransitionError::Stale) => {
            tracing::info!(attempt, order_id = %transition.current.order_id, "order changed while moving; reading again");
            tokio::time::sleep(backoff(attempt)).await;
            Ok(false)
        }
        Err(TransitionError::Store(error)) => Err(error.into()),
    }
}

fn refused(from: OrderStatus, to: OrderStatus) -> ServiceError {
    ServiceError::InvalidTransition { from: from.as_str(), to: to.as_str() }
}

/// What a cancellation puts back on the shelf: each line's units, as far as the stock ceiling allows.
async fn restock_of(catalog: &dyn CatalogStore, order: &Order) -> Result<Vec<Restock>, ServiceError> {
    let ids: Vec<_> = order.items.iter().map(|l| l.product_id.clone()).collect();
    let products = catalog.get_products(&ids).await?;
    let mut restock = Vec::with_capacity(order.items.len());
    for line in &order.items {
        let Some(product) = products.iter().find(|p| p.product_id == line.product_id) else {
            tracing::warn!(product_id = %line.product_id, "a cancelled line's product cannot be read; its units are not returned");
            continue;
        };
        let units = returnable_units(product.stock, line.quantity.get());
        if units < line.quantity.get() {
            tracing::warn!(product_id = %line.product_id, units, "the stock is near its ceiling; returning fewer units");
        }
        if let Ok(delta) = StockDelta::parse(i64::from(units)) {
            restock.push(Restock { product_id: line.product_id.clone(), delta });
        }
    }
    Ok(restock)
}

/// The shopper cancels before anything shipped; the stock returns in the same write. Cancelling a cancelled
/// order answers with it (a retried or repeated cancel is not an error).
pub async fn cancel(
    orders: &dyn OrderStore,
    catalog: &dyn CatalogStore,
    clock: &dyn Clock,
    user: &UserId,
    id: &OrderId,
) -> Result<Order, ServiceError> {
    for attempt in 0..TRANSITION_ATTEMPTS {
        let order = get(orders, user, id).await?;
        let next = match order.cancel(clock.now()) {
            Decision::Move(next) => next,
            Decision::AlreadyDone => return Ok(order),
            Decision::Refused(from) => return Err(refused(from, OrderStatus::Cancelled)),
        };
        let restock = restock_of(catalog, &order).await?;
        let transition = OrderTransition { current: &order, next: &next, restock: &restock, record_notice: false };
        if save(orders, transition, attempt).await? {
            return Ok(next);
        }
    }
    Err(ServiceError::Busy)
}

/// The artisan ships their part of a confirmed order; the answer is their view of it. Shipping a part that
/// shipped answers with it.
pub async fn ship(
    orders: &dyn OrderStore,
    clock: &dyn Clock,
    artisan: &UserId,
    id: &OrderId,
) -> Result<Order, ServiceError> {
    let part = orders.get_artisan_order(artisan, id).await?.ok_or(ServiceError::NotFound("order"))?;
    for attempt in 0..TRANSITION_ATTEMPTS {
        let order = get(orders, &part.user_id, id).await?;
        let next = match order.ship_part(artisan, clock.now()) {
            Decision::Move(next) => next,
            Decision::AlreadyDone => return Ok(order.for_artisan(artisan)),
            Decision::Refused(from) => return Err(refused(from, OrderStatus::Shipped)),
        };
        let transition = OrderTransition { current: &order, next: &next, restock: &[], record_notice: false };
        if save(orders, transition, attempt).await? {
            return Ok(next.for_artisan(artisan));
        }
    }
    Err(ServiceError::Busy)
}

/// What the worker did with one `OrderPlaced`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Confirmation {
    /// Confirmed now; the notice was recorded by this delivery.
    Confirmed(Order),
    /// Already past `placed` (a duplicate delivery, or cancelled first): nothing moved. The order as it is.
    AlreadyHandled(Order),
}

pub async fn confirm(
    orders: &dyn OrderStore,
    clock: &dyn Clock,
    message: &OrderPlaced,
) -> Result<Confirmation, ServiceError> {
    for attempt in 0..TRANSITION_ATTEMPTS {
        let order = get(orders, &message.user_id, &message.order_id).await?;
        let Decision::Move(next) = order.confirm(clock.now()) else {
            return Ok(Confirmation::AlreadyHandled(order));
        };
        let transition = OrderTransition { current: &order, next: &next, restock: &[], record_notice: true };
        if save(orders, transition, attempt).await? {
            return Ok(Confirmation::Confirmed(next));
        }
    }
    Err(ServiceError::Busy)
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
