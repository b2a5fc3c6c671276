//! Checkout: one idempotent, atomic order from buy-now lines or the cart, then its payment. Prices come from the
//! catalog (read strongly consistent), the write holds only while stock, status and price are still what was
//! read, and a conflict or a change is re-read and retried before the client is asked to retry. The order is
//! placed awaiting payment; the provider's intent for its total is made after (named by the order, so a retry or
//! a replay never makes two) and attached to it.

use std::time::Duration;

use futures::future::join;
use sha2::{Digest, Sha256};

use crate::domain::{
    CheckoutLines, Decision, FeeRate, IdempotencyKey, KeyVerdict, Order, OrderId, OrderStatus, PlaceError, Product,
    ProductId, Purchase, UserId, ValidationErrors,
};
use crate::ports::{
    CartStore, CatalogStore, Claim, Clock, IdempotencyScope, IdempotencyStore, OrderStore, OrderTransition,
    PaymentProvider, PlaceOrderError, TransitionError,
};

use super::ServiceError;
use crate::telemetry::metrics::{self, Metric};

/// Attempts of the order transaction when it meets a conflicting transaction or products that changed.
pub const CONFLICT_ATTEMPTS: u32 = 5;
/// How long a duplicate request waits for the first one to finish before answering 409 request-in-progress.
pub const DUPLICATE_WAIT: Duration = Duration::from_millis(1500);
/// A stable hash of what was asked (the cart, or these lines in this order), so a reused key with a different
/// request is recognised whatever the body's spelling.
pub fn fingerprint(purchase: &Purchase) -> String {
    let mut hash = Sha256::new();
    match purchase {
        Purchase::Cart => hash.update(b"cart"),
        Purchase::Lines(lines) => {
            for (product, quantity) in lines.lines() {
                hash.update(format!("{product}:{};", quantity.get()).as_bytes());
            }
        }
    }
    hash.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

pub struct CheckoutPorts<'a> {
    pub catalog: &'a dyn CatalogStore,
    pub carts: &'a dyn CartStore,
    pub orders: &'a dyn OrderStore,
    pub idempotency: &'a dyn IdempotencyStore,
    pub payments: &'a dyn PaymentProvider,
    pub clock: &'a dyn Clock,
    /// The marketplace's cut, fixed into the order's shares.
    pub fee: FeeRate,
}

/// Who is buying: the user, and where their confirmation goes.
pub struct Buyer {
    pub user: UserId,
    pub contact_email: Option<String>,
}

/// What the checkout answered: a new order, or the order an earlier identical request placed (as it is now),
/// each with its payment attached while it awaits one.
#[derive(Debug)]
pub enum CheckoutOutcome {
    Placed(Order),
    Replayed(Order),
}

pub async fn checkout(
    ports: &CheckoutPorts<'_>,
    buyer: &Buyer,
    key: IdempotencyKey,
    purchase: Purchase,
) -> Result<CheckoutOutcome, ServiceError> {
    let scope = IdempotencyScope { user: buyer.user.clone(), key };
    let fingerprint = fingerprint(&purchase);
    // The claim and the reads the order is made from go out together: a round trip fewer (two from a cart). A
    // request the claim turns away (a replay, a reused key, one still in progress) has read for nothing.
    let (claimed, basket) = join(claim(ports, &scope, &fingerprint), basket(ports, &buyer.user, purchase)).await;
    if let Some(order_id) = claimed? {
        metrics::count(Metric::IdempotentReplays);
        let order = ports.orders.get_order(&buyer.user, &order_id).await?.ok_or(ServiceError::NotFound("order"))?;
        return Ok(CheckoutOutcome::Replayed(with_payment(ports, order).await?));
    }
    let result = match basket {
        Ok(basket) => place(ports, buyer, &scope, basket).await,
        Err(error) => Err(error),
    };
    if result.is_err() {
        // Nothing was written: free the key so the client can retry it.
        if let Err(error) = ports.idempotency.release(&scope).await {
            tracing::warn!(%error, "could not release an idempotency claim; it expires with its lock");
        }
    }
    let order = result.inspect_err(|error| {
        if matches!(error, ServiceError::OutOfStock(_)) {
            metrics::count(Metric::OutOfStock);
        }
    })?;
    metrics::count(Metric::OrdersPlaced);
    // The stock is reserved and the key completed: if the provider fails now, the client's retry with the same key
    // is a replay, which makes (or finds) the intent; an order never paid expires after the payment window.
    Ok(CheckoutOutcome::Placed(with_payment(ports, order).await?))
}

/// Claims the idempotency key for this request: `None` when it is ours to place, else the order an earlier
/// identical request placed. A claim still in progress is waited on for up to `DUPLICATE_WAIT`.
async fn claim(
    ports: &CheckoutPorts<'_>,
    scope: &IdempotencyScope,
    fingerprint: &str,
) -> Result<Option<OrderId>, ServiceError> {
    let waited_until = std::time::Instant::now() + DUPLICATE_WAIT;
    loop {
        match ports.idempotency.claim(scope, fingerprint, ports.clock.now()).await? {
            Claim::Fresh => return Ok(None),
            Claim::Held(holder) => match holder.verdict(fingerprint) {
                KeyVerdict::Replay(order_id) => return Ok(Some(order_id)),
                KeyVerdict::Mismatch => return Err(ServiceError::IdempotencyKeyReused),
                KeyVerdict::InProgress if std::time::Instant::now() < waited_until => {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                KeyVerdict::InProgress => return Err(ServiceError::RequestInProgress),
            },
        }
    }
}

/// The order with its intent: made (or found again, by the order's name at the provider) and attached, while it
/// awaits payment and has none yet. Any other order is answered as it is.
pub async fn with_payment(ports: &CheckoutPorts<'_>, mut order: Order) -> Result<Order, ServiceError> {
    if order.status != OrderStatus::AwaitingPayment || order.payment.is_some() {
        return Ok(order);
    }
    let intent = ports.payments.create_intent(&order).await?;
    for attempt in 0..CONFLICT_ATTEMPTS {
        let next = match order.attach_payment(&intent.intent_id, &intent.client_secret, ports.clock.now()) {
            Decision::Move(next) => next,
            // Attached by a concurrent replay, or paid, expired or cancelled meanwhile: answer as it is.
            Decision::AlreadyDone | Decision::Refused(_) => return Ok(order),
        };
        let transition =
            OrderTransition { current: &order, next: &next, restock: &[], record_notice: false, payouts: &[] };
        match ports.orders.save_transition(&transition).await {
            Ok(()) => return Ok(next),
            Err(TransitionError::Stale) => {
                tokio::time::sleep(backoff(attempt)).await;
                order = ports
                    .orders
                    .get_order(&order.user_id, &order.order_id)
                    .await?
                    .ok_or(ServiceError::NotFound("order"))?;
                if order.status != OrderStatus::AwaitingPayment || order.payment.is_some() {
                    return Ok(order);
                }
            }
            Err(TransitionError::Store(error)) => return Err(error.into()),
        }
    }
    Err(ServiceError::Busy)
}

/// What an order is made of: the lines to buy, the cart lines it clears, and their products as last read.
struct Basket {
    lines: CheckoutLines,
    clear_cart: Vec<ProductId>,
    products: Vec<Product>,
}

/// The lines to buy (from the request, or the cart) and their products, read strongly consistent.
async fn basket(ports: &CheckoutPorts<'_>, user: &UserId, purchase: Purchase) -> Result<Basket, ServiceError> {
    let (lines, clear_cart) = match purchase {
        Purchase::Lines(lines) => (lines, Vec::new()),
        Purchase::Cart => {
            let cart = ports.carts.cart_lines(user).await?;
            if cart.is_empty() {
                return Err(ValidationErrors::single("items", "the cart is empty; add products or send items").into());
            }
            let raw: Vec<(String, i64)> =
                cart.iter().map(|l| (l.product_id.to_string(), i64::from(l.quantity.get()))).collect();
            let ids = cart.iter().map(|l| l.product_id.clone()).collect();
            (CheckoutLines::parse(&raw)?, ids)
        }
    };
    let products = ports.catalog.get_products(&ids_of(&lines)).await?;
    Ok(Basket { lines, clear_cart, products })
}

fn ids_of(lines: &CheckoutLines) -> Vec<ProductId> {
    lines.lines().iter().map(|(id, _)| id.clone()).collect()
}

async fn place(
    ports: &CheckoutPorts<'_>,
    buyer: &Buyer,
    scope: &IdempotencyScope,
    basket: Basket,
) -> Result<Order, ServiceError> {
    let user = &buyer.user;
    let Basket { lines, clear_cart, mut products } = basket;
    let now = ports.clock.now();
    let order_id = OrderId::generate(now);
    for attempt in 0..CONFLICT_ATTEMPTS {
        // Re-read on every attempt after the first: a conflict or a failed condition means the products just changed.
        if attempt > 0 {
            products = ports.catalog.get_products(&ids_of(&lines)).await?;
        }
        let placed = Order::place(order_id.clone(), user.clone(), &lines, &products, ports.fee, now);
        let mut order = placed.map_err(|error| match error {
            PlaceError::Unknown(ids) => ServiceError::UnknownProducts(ids),
            PlaceError::Unavailable(ids) => ServiceError::ProductsUnavailable(ids),
            PlaceError::OutOfStock(ids) => ServiceError::OutOfStock(ids),
            PlaceError::MixedCurrencies(ids) => {
                let names: Vec<String> = ids.iter().map(ToString::to_string).collect();
                ValidationErrors::single(
                    "items",
                    format!("one order is one currency; these are priced in another: {}", names.join(", ")),
                )
                .into()
            }
            PlaceError::TotalOutOfRange => ValidationErrors::single("items", "the order's total is too large").into(),
            PlaceError::BelowMinimumCharge(total) => ValidationErrors::single(
                "items",
                format!(
                    "the order total ({} minor units) is under the smallest charge of {} {}",
                    total.amount,
                    crate::domain::payment::MIN_CHARGE_MINOR,
                    total.currency.code()
                ),
            )
            .into(),
        })?;
        order.contact_email = buyer.contact_email.clone();
        match ports.orders.place_order(&order, scope, &clear_cart).await {
            Ok(()) => return Ok(order),
            Err(PlaceOrderError::ClaimLost) => return Err(ServiceError::RequestInProgress),
            Err(PlaceOrderError::TooManyUnpaid) => return Err(ServiceError::TooManyUnpaidOrders),
            Err(PlaceOrderError::Store(error)) => return Err(error.into()),
            // Sold, archived or repriced since the read: the next read decides (out of stock, or the new price).
            Err(PlaceOrderError::Changed(changed)) => {
                tracing::info!(attempt, order_id = %order.order_id, ?changed, "products changed under the checkout");
            }
            Err(PlaceOrderError::Conflict) => {
                tracing::info!(attempt, order_id = %order.order_id, "transaction conflict; retrying");
                metrics::count(Metric::ConflictsRetried);
                tokio::time::sleep(backoff(attempt)).await;
            }
        }
    }
    Err(ServiceError::Busy)
}

/// Full-jitter exponential backoff: 0..=25 ms, 0..=50 ms, … capped at 400 ms.
pub(crate) fn backoff(attempt: u32) -> Duration {
    let cap = (25u64 << attempt.min(4)).min(400);
    let mut byte = [0u8; 2];
    let _ = getrandom::fill(&mut byte);
    Duration::from_millis(u64::from(u16::from_le_bytes(byte)) % (cap + 1))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(raw: &[(&str, i64)]) -> Purchase {
        let raw: Vec<(String, i64)> = raw.iter().map(|(id, q)| ((*id).to_owned(), *q)).collect();
        Purchase::parse(Some(&raw)).expect("valid")
    }

    #[test]
    fn fingerprints_tell_requests_apart() {
        let (a, b) = (ProductId::from_parts(1, 1).to_string(), ProductId::from_parts(1, 2).to_string());
        assert_eq!(fingerprint(&Purchase::Cart), fingerprint(&Purchase::parse(None).expect("cart")));
        assert_eq!(fingerprint(&lines(&[(&a, 1)])), fingerprint(&lines(&[(&a, 1)])));
        assert_ne!(fingerprint(&lines(&[(&a, 1)])), fingerprint(&lines(&[(&a, 2)])));
        assert_ne!(fingerprint(&lines(&[(&a, 1)])), fingerprint(&lines(&[(&b, 1)])));
        assert_ne!(fingerprint(&lines(&[(&a, 1)])), fingerprint(&Purchase::Cart));
    }

    #[test]
    fn backoff_stays_under_its_cap() {
        for attempt in 0..10 {
            assert!(backoff(attempt) <= Duration::from_millis(400));
        }
    }
}
