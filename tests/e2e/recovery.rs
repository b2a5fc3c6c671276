//! Every retry and recovery path, made to happen and checked: an abandoned claim taken over, a claim whose release
//! fails, unprocessed keys from a batch read, transaction conflicts while confirming, cancelling and shipping, two
//! artisans shipping one order at the same instant, a confirmation whose "sent" mark fails after the email went out,
//! and the sweeper's own re-send failing. Each test also checks that its fault fired.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use reqwest::Method;
use storefront::domain::{
    IdempotencyKey, OrderId, OrderRef, PaymentEvent, PaymentOutcome, ProviderRef, Purchase, UserId,
};
use storefront::ports::{Claim, Clock, IdempotencyScope};
use storefront::services::checkout::{Buyer, CheckoutOutcome, checkout, fingerprint};
use storefront_local::faults::Faults;
use storefront_local::queue::QueueSettings;
use storefront_tests::*;
use time::OffsetDateTime;

/// A clock this far from now: past a claim's lock, or back when an order was placed.
struct Shifted(time::Duration);

impl Clock for Shifted {
    fn now(&self) -> OffsetDateTime {
        OffsetDateTime::now_utc() + self.0
    }
}

fn fired(faults: &Faults) -> u32 {
    faults.injected.load(Ordering::SeqCst)
}

async fn faulty_app(in_process_workers: bool) -> (TestApp, Arc<Faults>) {
    let app = spawn_app_with(|o| {
        o.fault_injection = true;
        o.in_process_workers = in_process_workers;
        o.queue = QueueSettings { visibility_timeout: Duration::from_millis(50), max_receive_count: 5, batch_size: 10 };
    })
    .await;
    let faults = app.server.faults.clone().expect("fault injection on");
    (app, faults)
}

async fn product(app: &TestApp, artisan: &str, stock: i64) -> String {
    let token = app.artisan(artisan).await;
    app.create_product(&token, "Jug", "ceramics", 3000, stock).await["product_id"].as_str().expect("id").to_owned()
}

fn purchase(product: &str, quantity: i64) -> Purchase {
    Purchase::parse(Some(&[(product.to_owned(), quantity)])).expect("lines")
}

async fn status(app: &TestApp, token: &str, id: &str) -> String {
    app.get_as(&format!("/orders/{id}"), token).await.ok(200)["status"].as_str().expect("status").to_owned()
}

#[tokio::test]
async fn an_abandoned_claim_is_taken_over_once_its_lock_runs_out() {
    only_on!(DynamoDb, "the DynamoDB adapter's retry and recovery paths, driven by its fault hooks");
    let app = spawn_app().await;
    let (alice, jug) = (app.shopper("alice").await, product(&app, "ana", 5).await);
    let state = app.server.app.clone();
    // A call claimed the key and crashed before it wrote anything (its claim is all that is left).
    let scope = IdempotencyScope {
        user: UserId::parse("alice").expect("user"),
        key: IdempotencyKey::parse("crashed").expect("key"),
    };
    let claimed = state.idempotency.claim(&scope, &fingerprint(&purchase(&jug, 1)), state.clock.now()).await;
    assert_eq!(claimed.expect("claimed"), Claim::Fresh, "the crashed call's claim is in place");
    // While its lock holds, the same request is told to retry shortly…
    app.order(&alice, "crashed", buy(&jug, 1)).await.problem(409, "request-in-progress");
    // …and once it has run out, the retry takes the claim over and places the order, once.
    let mut later = state.clone();
    later.clock = Arc::new(Shifted(time::Duration::seconds(31)));
    let buyer = Buyer { user: scope.user.clone(), contact_email: None };
    let outcome = checkout(&later.checkout_ports(), &buyer, scope.key.clone(), purchase(&jug, 1)).await;
    assert!(matches!(outcome, Ok(CheckoutOutcome::Placed(_))), "{outcome:?}");
    assert_eq!(app.stock_of(&jug).await, 4);
    let replay = app.order(&alice, "crashed", buy(&jug, 1)).await;
    assert_eq!(replay.ok(201)["status"], "awaiting_payment", "the key now answers the order it placed");
    assert_eq!(replay.header("idempotent-replayed"), Some("true"));
}

#[tokio::test]
async fn a_claim_whose_release_fails_keeps_its_key_until_the_lock_runs_out_and_no_answer_changes() {
    only_on!(DynamoDb, "the DynamoDB adapter's retry and recovery paths, driven by its fault hooks");
    let (app, faults) = faulty_app(true).await;
    let (alice, jug) = (app.shopper("alice").await, product(&app, "ana", 1).await);
    // Out of stock, and giving the key back fails: the client still gets the true answer.
    faults.fail_next("DeleteItem", 1);
    app.order(&alice, "too-many", buy(&jug, 2)).await.problem(409, "out-of-stock");
    assert_eq!(fired(&faults), 1, "the release failed");
    // The key stays claimed for its lock's 30 s: a retry is told the request is still running…
    app.order(&alice, "too-many", buy(&jug, 2)).await.problem(409, "request-in-progress");
    // …and after it, the same key works again.
    let mut later = app.server.app.clone();
    later.clock = Arc::new(Shifted(time::Duration::seconds(31)));
    let buyer = Buyer { user: UserId::parse("alice").expect("user"), contact_email: None };
    let key = IdempotencyKey::parse("too-many").expect("key");
    let outcome = checkout(&later.checkout_ports(), &buyer, key, purchase(&jug, 1)).await;
    assert!(matches!(outcome, Err(storefront::services::ServiceError::IdempotencyKeyReused)), "{outcome:?}");
    let outcome =
        checkout(&later.checkout_ports(), &buyer, IdempotencyKey::parse("too-many").expect("key"), purchase(&jug, 2))
            .await;
    assert!(
        matches!(outcome, Err(storefront::services::ServiceError::OutOfStock(_))),
        "the same request, answered again: {outcome:?}"
    );
    assert_eq!(app.stock_of(&jug).await, 1, "nothing was written");
}

#[tokio::test]
async fn unprocessed_keys_of_a_batch_read_are_read_again_and_past_the_budget_answer_503() {
    only_on!(DynamoDb, "the DynamoDB adapter's retry and recovery paths, driven by its fault hooks");
    let (app, faults) = faulty_app(true).await;
    let (alice, jug) = (app.shopper("alice").await, product(&app, "ana", 3).await);
    faults.unprocess_next_batch_reads(2);
    app.order(&alice, "partial-read", buy(&jug, 1)).await.ok(201);
    assert_eq!(fired(&faults), 2, "two reads came back unprocessed");
    assert_eq!(app.stock_of(&jug).await, 2);
    faults.unprocess_next_batch_reads(100);
    let refused = app.order(&alice, "never-read", buy(&jug, 1)).await;
    refused.problem(503, "unavailable");
    assert!(refused.header("retry-after").is_some());
    faults.unprocess_next_batch_reads(0);
    assert_eq!(app.stock_of(&jug).await, 2, "nothing was written");
}

#[tokio::test]
async fn conflicts_while_confirming_cancelling_and_shipping_are_retried_into_one_move() {
    only_on!(DynamoDb, "the DynamoDB adapter's retry and recovery paths, driven by its fault hooks");
    let (app, faults) = faulty_app(false).await;
    let (alice, ana) = (app.shopper("alice").await, app.artisan("ana").await);
    let jug = product(&app, "ana", 5).await;
    let state = app.server.app.clone();
    let placed = |key: &'static str| {
        let (app, alice, jug) = (&app, alice.clone(), jug.clone());
        async move { app.order(&alice, key, buy(&jug, 1)).await.ok(201)["order_id"].as_str().expect("id").to_owned() }
    };
    let paid = |id: &str| OrderRef {
        order_id: OrderId::parse(id).expect("id"),
        user_id: UserId::parse("alice").expect("user"),
    };
    // No workers run here: the payment's event is applied as the payment worker would, then confirmed directly.
    let pay = |id: String| {
        let (app, state) = (&app, state.clone());
        async move {
            let intent_id = ProviderRef::parse(&app.intent_of("alice", &id).await).expect("intent");
            let event_id = ProviderRef::parse(&format!("evt_{id}")).expect("event id");
            let order = Some(paid(&id));
            let event =
                PaymentEvent { event_id, intent_id, outcome: PaymentOutcome::Succeeded, order, charge_id: None };
            storefront::services::payments::apply_event(&state.payment_ports(), &event).await.expect("paid");
        }
    };
    let confirm = |id: String| {
        let state = state.clone();
        async move { storefront::services::orders::confirm(&state.order_ports(), &paid(&id)).await }
    };
    // Confirming (the worker) meets two conflicts.
    let shipped = placed("to-ship").await;
    pay(shipped.clone()).await;
    faults.conflict_next_transactions(2);
    let confirmed = confirm(shipped.clone()).await.expect("confirmed");
    assert!(matches!(confirmed, storefront::services::orders::Confirmation::Confirmed(_)), "{confirmed:?}");
    assert_eq!(fired(&faults), 2);
    // Shipping meets one.
    faults.conflict_next_transactions(1);
    app.send(Method::POST, &format!("/artisan/orders/{shipped}/ship"), Some(&ana), None).await.ok(200);
    assert_eq!(fired(&faults), 3);
    assert_eq!(status(&app, &alice, &shipped).await, "shipped");
    // Cancelling meets two, and the stock comes back once.
    let cancelled = placed("to-cancel").await;
    assert_eq!(app.stock_of(&jug).await, 3);
    faults.conflict_next_transactions(2);
    app.send(Method::POST, &format!("/orders/{cancelled}/cancel"), Some(&alice), None).await.ok(200);
    assert_eq!(fired(&faults), 5);
    assert_eq!(app.stock_of(&jug).await, 4);
    assert_eq!(status(&app, &alice, &cancelled).await, "cancelled");
}

#[tokio::test]
async fn two_artisans_shipping_one_order_at_the_same_instant_both_ship_it() {
    only_on!(DynamoDb, "the DynamoDB adapter's retry and recovery paths, driven by its fault hooks");
    let (app, faults) = faulty_app(true).await;
    let (alice, ana, bo) = (app.shopper("alice").await, app.artisan("ana").await, app.artisan("bo").await);
    let (jug, cup) = (product(&app, "ana", 5).await, product(&app, "bo", 5).await);
    let body = json!({"items": [{"product_id": jug, "quantity": 1}, {"product_id": cup, "quantity": 1}]});
    let id = app.order(&alice, "two-parts", body).await.ok(201)["order_id"].as_str().expect("id").to_owned();
    app.pay("alice", &id).await;
    // Ana's shipment has read the order; its write waits while Bo ships his part.
    faults.hold_next_transactions(1);
    let path = format!("/artisan/orders/{id}/ship");
    let (ana_ship, ()) = tokio::join!(app.send(Method::POST, &path, Some(&ana), None), async {
        faults.until_held().await;
        assert_eq!(app.send(Method::POST, &path, Some(&bo), None).await.ok(200)["status"], "shipped", "Bo's part");
        faults.release_held(1);
    });
    assert_eq!(ana_ship.ok(200)["status"], "shipped", "Ana's part, after reading the order again");
    let order = app.get_as(&format!("/orders/{id}"), &alice).await.ok(200).clone();
    assert_eq!(order["status"], "shipped", "the last part ships the order");
    assert_eq!(order["shipped_artisans"], json!(["bo", "ana"]), "each part counted once");
}

#[tokio::test]
async fn a_confirmation_whose_sent_mark_fails_is_delivered_again_once() {
    only_on!(DynamoDb, "the DynamoDB adapter's retry and recovery paths, driven by its fault hooks");
    let (app, faults) = faulty_app(true).await;
    let (alice, jug) = (app.shopper("alice").await, product(&app, "ana", 5).await);
    // The email goes out, then marking it sent fails: the message comes back and the still-pending notice is
    // delivered again. At least once, and here exactly twice (docs/operations.md, "Confirmations").
    let id = app.order(&alice, "mark-fails", buy(&jug, 1)).await.ok(201)["order_id"].as_str().expect("id").to_owned();
    faults.fail_next("UpdateItem", 1);
    app.pay_with("alice", &id, Webhook::Now).await;
    let delivered = || app.server.outbox.delivered().iter().filter(|o| o.as_str() == id).count();
    assert!(eventually(5, || async { delivered() == 2 }).await, "delivered {} times", delivered());
    assert_eq!(fired(&faults), 1, "the mark failed once");
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(delivered(), 2, "and no more once it is marked");
    assert_eq!(status(&app, &alice, &id).await, "confirmed");
    assert!(app.server.queue.dead_letters().is_empty());
}

#[tokio::test]
async fn the_sweepers_own_resend_failing_is_retried_by_the_next_sweep() {
    only_on!(DynamoDb, "the DynamoDB adapter's retry and recovery paths, driven by its fault hooks");
    let app = spawn_app_with(|o| {
        o.sweep_every = Duration::from_millis(200);
        o.stuck_after = time::Duration::milliseconds(300);
    })
    .await;
    let (alice, jug) = (app.shopper("alice").await, product(&app, "ana", 5).await);
    // The payment worker's send is lost, and so is the sweeper's first re-send.
    let id = app.order(&alice, "lost-twice", buy(&jug, 1)).await.ok(201)["order_id"].as_str().expect("id").to_owned();
    app.server.queue.refuse_next_sends(2);
    app.pay_with("alice", &id, Webhook::Now).await;
    assert!(eventually(10, || async { status(&app, &alice, &id).await == "confirmed" }).await, "confirmed at last");
    assert_eq!(app.server.queue.refused(), 2, "both sends were refused");
    assert_eq!(app.server.outbox.delivered().iter().filter(|o| o.as_str() == id).count(), 1, "confirmed once");
}
