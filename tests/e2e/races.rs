//! The races checkout must win, defined once and run on every backend: the local store here (the embedded engine,
//! or Postgres directly and through pgbouncer in `make test`'s other runs; the service
//! layer on a multi-threaded runtime, every buyer a task of its own) and moto in tests/e2e/conformance.rs, the same
//! races at the same sizes. Each asserts conservation (initial stock = what is left + what was sold) and that every
//! refusal is the one it should be. The HTTP versions, through the local server on threads of its own, are in
//! tests/e2e/orders.rs.
//!
//! `Race::in_flight` bounds how many buyers call at once: all of them on the embedded engine; on moto, which serves
//! one request at a time, a few dozen, or its queue outlasts the SDK's 2 s attempt timeout and the race measures
//! timeouts instead of contention.

use std::collections::BTreeSet;
use std::sync::Arc;

use storefront::AppState;
use storefront::domain::{IdempotencyKey, NewProduct, OrderId, ProductId, Purchase, StockDelta, UserId};
use storefront::ports::{PageRequest, StockAdjustment};
use storefront::services::ServiceError;
use storefront::services::checkout::{Buyer, CheckoutOutcome, checkout};
use storefront::services::products;
use tokio::sync::Semaphore;

/// Where a race runs.
#[derive(Clone)]
pub(crate) struct Race {
    pub state: AppState,
    pub label: &'static str,
    /// Buyers calling at the same moment (the others wait for a turn).
    pub in_flight: usize,
}

impl Race {
    fn named(&self, label: &'static str) -> Race {
        Race { label, ..self.clone() }
    }

    fn turns(&self) -> Arc<Semaphore> {
        Arc::new(Semaphore::new(self.in_flight))
    }
}

type Outcome = Result<CheckoutOutcome, ServiceError>;

fn user(id: &str) -> UserId {
    UserId::parse(id).expect("user id")
}

async fn product(state: &AppState, artisan: &str, stock: i64) -> ProductId {
    let new = NewProduct::parse("Bowl", "", "ceramics", 1200, "USD", stock).expect("valid");
    products::create(state.catalog.as_ref(), state.clock.as_ref(), &user(artisan), artisan, new)
        .await
        .expect("created")
        .product_id
}

async fn stock(state: &AppState, id: &ProductId) -> i64 {
    i64::from(state.catalog.get_product(id).await.expect("read").expect("product").stock)
}

/// One checkout of `lines` by `buyer` under `key`, on a task of its own, once `turns` lets it call.
fn buy(
    state: &AppState,
    turns: &Arc<Semaphore>,
    buyer: &str,
    key: &str,
    lines: &[(&ProductId, i64)],
) -> tokio::task::JoinHandle<Outcome> {
    let raw: Vec<(String, i64)> = lines.iter().map(|(id, q)| (id.to_string(), *q)).collect();
    let (state, buyer, key) = (state.clone(), user(buyer), IdempotencyKey::parse(key).expect("key"));
    let turns = turns.clone();
    tokio::spawn(async move {
        let _turn = turns.acquire_owned().await.expect("the turns are never closed");
        let purchase = Purchase::parse(Some(&raw)).expect("lines");
        checkout(&state.checkout_ports(), &Buyer { user: buyer, contact_email: None }, key, purchase).await
    })
}

async fn outcomes(tasks: Vec<tokio::task::JoinHandle<Outcome>>) -> Vec<Outcome> {
    futures::future::join_all(tasks).await.into_iter().map(|joined| joined.expect("the buyer's task")).collect()
}

fn placed(results: &[Outcome]) -> Vec<OrderId> {
    results
        .iter()
        .filter_map(|r| match r {
            Ok(CheckoutOutcome::Placed(order)) => Some(order.order_id.clone()),
            _ => None,
        })
        .collect()
}

#[track_caller]
fn only_sales_or_out_of_stock(label: &str, results: &[Outcome]) {
    let other: Vec<String> = results
        .iter()
        .filter(|r| !matches!(r, Ok(CheckoutOutcome::Placed(_)) | Err(ServiceError::OutOfStock(_))))
        .map(|r| format!("{r:?}"))
        .collect();
    assert!(
        other.is_empty(),
        "{label}: only sales or out-of-stock; {} others, the first {:?}",
        other.len(),
        other.first()
    );
}

/// `buyers` shoppers for `initial` units, one each: exactly `min(initial, buyers)` orders, the rest out of stock.
pub(crate) async fn rush(race: &Race, initial: i64, buyers: usize) {
    let (state, label, turns) = (&race.state, race.label, race.turns());
    let id = product(state, "ana", initial).await;
    // Shoppers of this rush only: each holds one unpaid order at most, whatever the races before it sold.
    let tasks = (0..buyers)
        .map(|n| buy(state, &turns, &format!("rush{initial}-{n}"), &format!("rush-{id}-{n}"), &[(&id, 1)]))
        .collect();
    let results = outcomes(tasks).await;
    only_sales_or_out_of_stock(label, &results);
    let sold = placed(&results).len() as i64;
    assert_eq!(sold, initial.min(buyers as i64), "{label}: orders placed");
    assert_eq!(initial, stock(state, &id).await + sold, "{label}: initial = on shelf + sold");
}

/// Two-line orders whose second line has one unit: one order, no half orders, both products conserved.
pub(crate) async fn multi_line(race: &Race) {
    let (state, label, turns) = (&race.state, race.label, race.turns());
    let (plenty, scarce) = (product(state, "ana", 50).await, product(state, "bo", 1).await);
    let lines = [(&plenty, 2), (&scarce, 1)];
    let tasks = (0..30).map(|n| buy(state, &turns, &format!("pair{n}"), &format!("pair-{n}"), &lines)).collect();
    let results = outcomes(tasks).await;
    only_sales_or_out_of_stock(label, &results);
    let sold = placed(&results).len() as i64;
    assert_eq!(sold, 1, "{label}: one order takes the last unit");
    assert_eq!(50, stock(state, &plenty).await + 2 * sold, "{label}: the plentiful line is conserved");
    assert_eq!(1, stock(state, &scarce).await + sold, "{label}: the scarce line is conserved");
}

/// One shopper's double click, twenty times at once: one order; the others answer it again or say it is running.
pub(crate) async fn duplicate_key(race: &Race) {
    let (state, label, turns) = (&race.state, race.label, race.turns());
    let id = product(state, "ana", 50).await;
    let tasks = (0..20).map(|_| buy(state, &turns, "alice", "double-click", &[(&id, 1)])).collect();
    let results = outcomes(tasks).await;
    let orders: BTreeSet<OrderId> = results
        .iter()
        .filter_map(|r| match r {
            Ok(CheckoutOutcome::Placed(order) | CheckoutOutcome::Replayed(order)) => Some(order.order_id.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(orders.len(), 1, "{label}: one order for one key");
    assert_eq!(placed(&results).len(), 1, "{label}: placed once");
    let other: Vec<String> = results
        .iter()
        .filter(|r| !matches!(r, Ok(_) | Err(ServiceError::RequestInProgress)))
        .map(|r| format!("{r:?}"))
        .collect();
    assert!(other.is_empty(), "{label}: only the order or request-in-progress, got {other:?}");
    assert_eq!(stock(state, &id).await, 49, "{label}: one unit sold");
    let listed = state.orders.list_orders(&user("alice"), &PageRequest { limit: 10, after: None }).await;
    assert_eq!(listed.expect("orders").items.len(), 1, "{label}: one order in the shopper's list");
}

/// One shopper's checkouts, each with a key of its own, all at once: at most `MAX_UNPAID_ORDERS` orders await
/// payment, the rest are refused, and only the placed orders took stock.
pub(crate) async fn unpaid_cap(race: &Race) {
    use storefront::domain::MAX_UNPAID_ORDERS;
    let (state, label, turns) = (&race.state, race.label, race.turns());
    // Stock for every attempt: a sharded store reserves before the shopper's shard refuses (and voids the
    // reservation at once), so refused attempts hold units for a moment.
    let id = product(state, "ana", 60).await;
    let tasks = (0..12).map(|n| buy(state, &turns, "hoarder", &format!("hoard-{n}"), &[(&id, 5)])).collect();
    let results = outcomes(tasks).await;
    let other: Vec<String> = results
        .iter()
        .filter(|r| !matches!(r, Ok(CheckoutOutcome::Placed(_)) | Err(ServiceError::TooManyUnpaidOrders)))
        .map(|r| format!("{r:?}"))
        .collect();
    assert!(other.is_empty(), "{label}: only orders or too-many-unpaid, got {other:?}");
    let sold = placed(&results).len();
    assert_eq!(sold, MAX_UNPAID_ORDERS, "{label}: orders awaiting payment for one shopper");
    assert_eq!(stock(state, &id).await, 60 - 5 * sold as i64, "{label}: only the placed orders hold stock");
}

/// Restocks and sales of one product at the same time: no unit lost or made up.
pub(crate) async fn restocks_against_sales(race: &Race) {
    let (state, label, turns) = (&race.state, race.label, race.turns());
    let id = product(state, "ana", 10).await;
    let restocks: Vec<_> = (0..30)
        .map(|n| {
            let (state, id, turns) = (state.clone(), id.clone(), turns.clone());
            tokio::spawn(async move {
                let _turn = turns.acquire_owned().await.expect("the turns are never closed");
                let delta = StockDelta::parse(1).expect("delta");
                let adjustment = StockAdjustment { id: format!("restock-{n}"), delta };
                state.catalog.adjust_stock(&id, &user("ana"), &adjustment, state.clock.now()).await
            })
        })
        .collect();
    let sales = (0..20)
        .map(|n| buy(state, &turns, &format!("restock-buyer{n}"), &format!("sale-{id}-{n}"), &[(&id, 1)]))
        .collect();
    let (restocked, results) = tokio::join!(futures::future::join_all(restocks), outcomes(sales));
    let restocked = restocked.into_iter().filter(|r| matches!(r, Ok(Ok(_)))).count() as i64;
    assert_eq!(restocked, 30, "{label}: every restock applied");
    only_sales_or_out_of_stock(label, &results);
    let sold = placed(&results).len() as i64;
    assert!(sold >= 10, "{label}: at least the ten units on the shelf were sold ({sold})");
    assert_eq!(10 + 30, stock(state, &id).await + sold, "{label}: initial + restocked = on shelf + sold");
}

/// Every race, in turn, on one backend.
pub(crate) async fn all(race: Race) {
    rush(&race.named("the last item"), 1, 100).await;
    rush(&race.named("ten items"), 10, 120).await;
    multi_line(&race.named("multi-line")).await;
    duplicate_key(&race.named("duplicate key")).await;
    unpaid_cap(&race.named("unpaid cap")).await;
    restocks_against_sales(&race.named("restocks against sales")).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn checkout_races_hold_on_the_local_store() {
    // The embedded engine, or Postgres when the test command runs the suites there (`STORE=postgres`).
    let app = storefront_tests::spawn_racing_app().await;
    let label = storefront_tests::backend().name();
    all(Race { state: app.server.app.clone(), label, in_flight: Semaphore::MAX_PERMITS }).await;
}
