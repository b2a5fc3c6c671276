//! Checkout: one idempotent, atomic order from buy-now lines or the cart. Prices come from the catalog, stock is
//! decremented under a condition, and a transaction conflict is retried before the client is asked to retry.

use std::time::Duration;

use sha2::{Digest, Sha256};

use crate::domain::{CheckoutLines, Order, OrderId, PlaceError, ProductId, UserId, ValidationErrors};
use crate::ports::{
    CartStore, CatalogStore, Claim, Clock, Completion, IdempotencyScope, IdempotencyStore, OrderPlaced, OrderQueue,
    OrderStore, PlaceOrderError, StoreError,
};

use super::ServiceError;
use crate::telemetry::metrics::{self, Metric};

/// Attempts of the order transaction when DynamoDB cancels it for a conflict with another transaction.
pub const CONFLICT_ATTEMPTS: u32 = 5;
/// How long a duplicate request waits for the first one to finish before answering 409 request-in-progress.
pub const DUPLICATE_WAIT: Duration = Duration::from_millis(1500);

pub const MAX_KEY_CHARS: usize = 64;

/// Validates an `Idempotency-Key`: 1..=64 visible ASCII characters.
pub fn idempotency_key(raw: &str) -> Result<String, ValidationErrors> {
    if raw.is_empty() || raw.len() > MAX_KEY_CHARS || !raw.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(ValidationErrors::single(
            "Idempotency-Key",
            format!("must be 1 to {MAX_KEY_CHARS} visible ASCII characters"),
        ));
    }
    Ok(raw.to_owned())
}

/// A stable hash of what was asked, so a reused key with a different body is recognised.
pub fn fingerprint(parts: &[&str]) -> String {
    let mut hash = Sha256::new();
    for part in parts {
        hash.update(part.as_bytes());
        hash.update([0]);
    }
    hash.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

pub struct CheckoutPorts<'a> {
    pub catalog: &'a dyn CatalogStore,
    pub carts: &'a dyn CartStore,
    pub orders: &'a dyn OrderStore,
    pub idempotency: &'a dyn IdempotencyStore,
    pub queue: &'a dyn OrderQueue,
    pub clock: &'a dyn Clock,
}

/// Who is buying: the user, and where their confirmation goes.
pub struct Buyer {
    pub user: UserId,
    pub contact_email: Option<String>,
}

/// What the checkout answered: a new order, or the recorded answer to an earlier identical request.
pub enum CheckoutOutcome {
    Placed(Order),
    Replayed { status: u16, body: String },
}

/// What to buy: explicit lines, or `None` for the whole cart.
pub async fn checkout(
    ports: &CheckoutPorts<'_>,
    buyer: &Buyer,
    key: String,
    fingerprint: &str,
    buy_now: Option<CheckoutLines>,
) -> Result<CheckoutOutcome, ServiceError> {
    let user = &buyer.user;
    let scope = IdempotencyScope { user: user.clone(), key };
    let waited_until = std::time::Instant::now() + DUPLICATE_WAIT;
    loop {
        match ports.idempotency.claim(&scope, fingerprint, ports.clock.now()).await? {
            Claim::Fresh => break,
            Claim::Replay { status, body } => {
                metrics::count(Metric::IdempotentReplays);
                return Ok(CheckoutOutcome::Replayed { status, body });
            }
            Claim::Mismatch => return Err(ServiceError::IdempotencyKeyReused),
            Claim::InProgress if std::time::Instant::now() < waited_until => {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            Claim::InProgress => return Err(ServiceError::RequestInProgress),
        }
    }
    let result = place(ports, buyer, &scope, buy_now).await;
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
    // After the commit, best effort: if this send is lost the sweeper re-sends orders stuck in `placed`.
    let message = OrderPlaced { order_id: order.order_id.clone(), user_id: order.user_id.clone() };
    if let Err(error) = ports.queue.order_placed(&message).await {
        tracing::warn!(order_id = %order.order_id, error = %error, "OrderPlaced not sent; the sweeper will re-send it");
    }
    Ok(CheckoutOutcome::Placed(order))
}

async fn place(
    ports: &CheckoutPorts<'_>,
    buyer: &Buyer,
    scope: &IdempotencyScope,
    buy_now: Option<CheckoutLines>,
) -> Result<Order, ServiceError> {
    let user = &buyer.user;
    let (lines, clear_cart) = match buy_now {
        Some(lines) => (lines, Vec::new()),
        None => {
            let cart = ports.carts.cart_lines(user).await?;
            if cart.is_empty() {
                return Err(ValidationErrors::single("items", "the cart is empty; add products or send items").into());
            }
            let raw: Vec<(String, i64)> =
                cart.iter().map(|l| (l.product_id.to_string(), i64::from(l.quantity.get()))).collect();
            let ids: Vec<ProductId> = cart.iter().map(|l| l.product_id.clone()).collect();
            (CheckoutLines::parse(&raw)?, ids)
        }
    };
    let now = ports.clock.now();
    let order_id = OrderId::generate(u64::try_from(now.unix_timestamp_nanos() / 1_000_000).unwrap_or_default());
    let ids: Vec<ProductId> = lines.lines().iter().map(|(id, _)| id.clone()).collect();
    for attempt in 0..CONFLICT_ATTEMPTS {
        // Re-read on every attempt: a conflict means the products just changed.
        let products = ports.catalog.get_products(&ids).await?;
        let mut order =
            Order::place(order_id.clone(), user.clone(), &lines, &products, now).map_err(|error| match error {
                PlaceError::Unknown(ids) => ServiceError::UnknownProducts(ids),
                PlaceError::Unavailable(ids) => ServiceError::ProductsUnavailable(ids),
                PlaceError::OutOfStock(ids) => ServiceError::OutOfStock(ids),
            })?;
        order.contact_email = buyer.contact_email.clone();
        // The body a replay answers with: the order as `201 Created` sends it.
        let body = serde_json::to_string(&order).map_err(|e| ServiceError::Store(StoreError::unexpected(e)))?;
        let completion = Completion { scope: scope.clone(), status: 201, body };
        // The same token on every attempt: a retry of a write that did land is a no-op, never a second order.
        match ports.orders.place_order(&order, Some(&completion), &clear_cart, order.order_id.as_str()).await {
            Ok(()) => return Ok(order),
            Err(PlaceOrderError::OutOfStock(ids)) => return Err(ServiceError::OutOfStock(ids)),
            Err(PlaceOrderError::ClaimLost) => return Err(ServiceError::RequestInProgress),
            Err(PlaceOrderError::Store(error)) => return Err(error.into()),
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
fn backoff(attempt: u32) -> Duration {
    let cap = (25u64 << attempt.min(4)).min(400);
    let mut byte = [0u8; 2];
    let _ = getrandom::fill(&mut byte);
    Duration::from_millis(u64::from(u16::from_le_bytes(byte)) % (cap + 1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_short_visible_ascii() {
        assert!(idempotency_key("order-2026-11-27-0001").is_ok());
        assert!(idempotency_key("").is_err());
        assert!(idempotency_key(&"k".repeat(65)).is_err());
        assert!(idempotency_key("has space").is_err());
        assert!(idempotency_key("ключ").is_err());
    }

    #[test]
    fn fingerprints_tell_requests_apart() {
        assert_eq!(fingerprint(&["POST /orders", "{}"]), fingerprint(&["POST /orders", "{}"]));
        assert_ne!(fingerprint(&["POST /orders", "{}"]), fingerprint(&["POST /orders", "{\"items\":[]}"]));
        assert_ne!(fingerprint(&["ab", "c"]), fingerprint(&["a", "bc"]));
    }

    #[test]
    fn backoff_stays_under_its_cap() {
        for attempt in 0..10 {
            assert!(backoff(attempt) <= Duration::from_millis(400));
        }
    }
}
