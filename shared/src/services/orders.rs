//! After checkout: reading orders, cancelling, shipping and confirming (the worker). Every move goes through
//! [`move_order`]: read, decided by the domain (`Order::cancel`, `ship_part`, `confirm`, the payment moves),
//! written under the condition that the order is still as read, with what goes with it; a write that finds the
//! order changed reads and decides again.

use time::OffsetDateTime;

use crate::domain::{Decision, Order, OrderId, OrderRef, OrderStatus, StockDelta, UserId, returnable_units};
use crate::ports::{
    CatalogStore, Clock, Notifier, OrderQueue, OrderStore, OrderTransition, Page, PageRequest, PaymentMessage,
    PaymentQueue, Restock, StoreError, TransitionError,
};

use super::ServiceError;
use super::checkout::backoff;

/// Read-decide-write rounds before a move that keeps meeting concurrent changes answers 503.
const TRANSITION_ATTEMPTS: u32 = 5;

/// What moving orders needs.
pub struct OrderPorts<'a> {
    pub orders: &'a dyn OrderStore,
    /// Strongly consistent: the stock a cancellation returns is bounded by it.
    pub catalog: &'a dyn CatalogStore,
    pub clock: &'a dyn Clock,
    /// Paid orders, to the order worker.
    pub order_queue: &'a dyn OrderQueue,
    /// Settlements and payouts, to the payment worker.
    pub payment_queue: &'a dyn PaymentQueue,
}

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

/// How a move ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Moved {
    /// Written: the order after the move.
    Done(Order),
    /// Already where the move leads (a retry, a duplicate, a late event): the order as it is.
    Already(Order),
    /// Not allowed from where the order is (in this status).
    Refused(Order, OrderStatus),
}

impl Moved {
    /// The order as it is after the call, whichever way it ended.
    pub fn order(&self) -> &Order {
        match self {
            Moved::Done(order) | Moved::Already(order) | Moved::Refused(order, _) => order,
        }
    }
}

/// Reads the order, lets `decide` decide, and writes the move with what goes with it (the stock back for a move
/// into `cancelled`, the confirmation notice for a confirmation, the payouts a shipment makes owed), under the
/// condition that the order is still as read; a changed order is read and decided again.
pub async fn move_order(
    ports: &OrderPorts<'_>,
    user: &UserId,
    id: &OrderId,
    decide: impl Fn(&Order, OffsetDateTime) -> Decision,
) -> Result<Moved, ServiceError> {
    for attempt in 0..TRANSITION_ATTEMPTS {
        let order = get(ports.orders, user, id).await?;
        let next = match decide(&order, ports.clock.now()) {
            Decision::Move(next) => next,
            Decision::AlreadyDone => return Ok(Moved::Already(order)),
            Decision::Refused(from) => return Ok(Moved::Refused(order, from)),
        };
        let restock = if order.returns_stock(&next) { restock_of(ports.catalog, &order).await? } else { Vec::new() };
        let payouts = order.payouts_owed(&next);
        let transition = OrderTransition {
            current: &order,
            next: &next,
            restock: &restock,
            record_notice: order.confirms(&next),
            payouts: &payouts,
        };
        match ports.orders.save_transition(&transition).await {
            Ok(()) => return Ok(Moved::Done(next)),
            Err(TransitionError::Stale) => {
                tracing::info!(attempt, order_id = %id, "order changed while moving; reading again");
                tokio::time::sleep(backoff(attempt)).await;
            }
            Err(TransitionError::Store(error)) => return Err(error.into()),
        }
    }
    Err(ServiceError::Busy)
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

/// Hands a cancelled order's open payment to the payment worker (its intent cancelled, or its money refunded).
/// Best effort: the reconciler settles what is still open after a while.
async fn settle_later(queue: &dyn PaymentQueue, order: &Order) {
    if order.settlement().is_none() {
        return;
    }
    let message = PaymentMessage::Settle(OrderRef { user_id: order.user_id.clone(), order_id: order.order_id.clone() });
    if let Err(error) = queue.send(&message).await {
        tracing::warn!(order_id = %order.order_id, %error, "settlement not queued; the reconciler will settle it");
    }
}

/// The shopper cancels before anything shipped; the stock returns in the same write, and a payment already made
/// is refunded (by the payment worker). Cancelling a cancelled order answers with it.
pub async fn cancel(ports: &OrderPorts<'_>, user: &UserId, id: &OrderId) -> Result<Order, ServiceError> {
    match move_order(ports, user, id, |order, now| order.cancel(now)).await? {
        Moved::Done(order) => {
            settle_later(ports.payment_queue, &order).await;
            Ok(order)
        }
        Moved::Already(order) => Ok(order),
        Moved::Refused(_, from) => Err(refused(from, OrderStatus::Cancelled)),
    }
}

/// The artisan ships their part of a confirmed order; the answer is their view of it. Their share becomes owed
/// with the same write and goes to the payment worker. Shipping a part that shipped answers with it.
pub async fn ship(ports: &OrderPorts<'_>, artisan: &UserId, id: &OrderId) -> Result<Order, ServiceError> {
    let part = ports.orders.get_artisan_order(artisan, id).await?.ok_or(ServiceError::NotFound("order"))?;
    match move_order(ports, &part.user_id, id, |order, now| order.ship_part(artisan, now)).await? {
        Moved::Done(order) => {
            let message = PaymentMessage::Payout { artisan_id: artisan.clone(), order_id: id.clone() };
            if let Err(error) = ports.payment_queue.send(&message).await {
                tracing::warn!(order_id = %id, %error, "payout not queued; the reconciler will pay it");
            }
            Ok(order.for_artisan(artisan).map_err(StoreError::unexpected)?)
        }
        Moved::Already(order) => Ok(order.for_artisan(artisan).map_err(StoreError::unexpected)?),
        Moved::Refused(_, from) => Err(refused(from, OrderStatus::Shipped)),
    }
}

/// What the worker did with one paid order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Confirmation {
    /// Confirmed now; the notice was recorded by this delivery.
    Confirmed(Order),
    /// Not `paid` (a duplicate delivery, or cancelled first): nothing moved. The order as it is.
    AlreadyHandled(Order),
}

pub async fn confirm(ports: &OrderPorts<'_>, paid: &OrderRef) -> Result<Confirmation, ServiceError> {
    Ok(match move_order(ports, &paid.user_id, &paid.order_id, |order, now| order.confirm(now)).await? {
        Moved::Done(order) => Confirmation::Confirmed(order),
        Moved::Already(order) | Moved::Refused(order, _) => Confirmation::AlreadyHandled(order),
    })
}

/// Delivers the order's confirmation if its notice is still pending, then marks it delivered: at least once per
/// order (a failed delivery fails the message, which comes back), and not again once delivered.
pub async fn deliver_confirmation(
    orders: &dyn OrderStore,
    notifier: &dyn Notifier,
    clock: &dyn Clock,
    order: &Order,
) -> Result<bool, ServiceError> {
    let notice = OrderRef { user_id: order.user_id.clone(), order_id: order.order_id.clone() };
    if !orders.notice_pending(&notice).await? {
        return Ok(false);
    }
    notifier.order_confirmed(order).await?;
    orders.notice_sent(&notice, clock.now()).await?;
    Ok(true)
}
