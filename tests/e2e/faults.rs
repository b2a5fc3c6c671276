//! Faults no emulator makes, injected on the wire (a proxy in front of the engine) and at the queue: checkout
//! retries conflicts, answers 503 + Retry-After past its budget, survives late writes and lost messages, and
//! never double-orders, loses an order or drifts stock. The worker is idempotent and dead-letters poison.

use std::sync::atomic::Ordering;
use std::time::Duration;

use storefront::services::orders::{Confirmation, confirm};
use storefront_local::queue::QueueSettings;
use storefront_tests::*;

async fn setup(app: &TestApp, stock: i64) -> (String, String) {
    let ana = app.artisan("ana").await;
    let product =
        app.create_product(&ana, "Vase", "glass", 5000, stock).await["product_id"].as_str().expect("id").to_owned();
    (app.shopper("alice").await, product)
}

fn delivered(app: &TestApp) -> Vec<String> {
    app.server.outbox.delivered().iter().map(ToString::to_string).collect()
}

async fn order_count(app: &TestApp, token: &str) -> usize {
    app.get_as("/orders", token).await.ok(200)["items"].as_array().expect("items").len()
}

#[tokio::test]
async fn transaction_conflicts_are_retried_into_one_order() {
    only_on!(DynamoDb, "faults injected on DynamoDB's wire by a proxy in front of the engine");
    let app = spawn_app_with(|o| o.fault_injection = true).await;
    let (alice, product) = setup(&app, 5).await;
    let faults = app.server.faults.clone().expect("fault injection on");
    faults.conflict_next_transactions(3);
    app.order(&alice, "conflicted", buy(&product, 2)).await.ok(201);
    assert_eq!(faults.injected.load(Ordering::SeqCst), 3, "three attempts were cancelled");
    assert_eq!(app.stock_of(&product).await, 3);
    assert_eq!(order_count(&app, &alice).await, 1);
}

#[tokio::test]
async fn past_the_retry_budget_checkout_answers_503_and_writes_nothing() {
    only_on!(DynamoDb, "faults injected on DynamoDB's wire by a proxy in front of the engine");
    let app = spawn_app_with(|o| o.fault_injection = true).await;
    let (alice, product) = setup(&app, 5).await;
    let faults = app.server.faults.clone().expect("fault injection on");
    faults.conflict_next_transactions(100);
    let busy = app.order(&alice, "busy", buy(&product, 2)).await;
    busy.problem(503, "unavailable");
    assert!(busy.header("retry-after").is_some());
    assert_eq!(app.stock_of(&product).await, 5);
    assert_eq!(order_count(&app, &alice).await, 0);
    // The key was released: the client's retry with the same key goes through once things calm down.
    faults.conflict_next_transactions(0);
    app.order(&alice, "busy", buy(&product, 2)).await.ok(201);
    assert_eq!((app.stock_of(&product).await, order_count(&app, &alice).await), (3, 1));
}

#[tokio::test]
async fn throttling_is_retried_by_the_sdk_and_then_reported_as_503() {
    only_on!(DynamoDb, "faults injected on DynamoDB's wire by a proxy in front of the engine");
    let app = spawn_app_with(|o| o.fault_injection = true).await;
    let (alice, product) = setup(&app, 5).await;
    let faults = app.server.faults.clone().expect("fault injection on");
    faults.throttle_next_calls(1);
    app.order(&alice, "throttled-once", buy(&product, 1)).await.ok(201);
    faults.throttle_next_calls(1000);
    let refused = app.get(&format!("/products/{product}")).await;
    refused.problem(503, "unavailable");
    faults.throttle_next_calls(0);
    assert_eq!((app.stock_of(&product).await, order_count(&app, &alice).await), (4, 1));
}

#[tokio::test]
async fn a_write_answered_too_late_is_retried_without_a_second_order() {
    only_on!(DynamoDb, "faults injected on DynamoDB's wire by a proxy in front of the engine");
    let app = spawn_app_with(|o| o.fault_injection = true).await;
    let (alice, product) = setup(&app, 5).await;
    let faults = app.server.faults.clone().expect("fault injection on");
    faults.delay_next_transactions(1);
    let placed = app.order(&alice, "late", buy(&product, 1)).await;
    // The write landed; the SDK timed out and retried with the same ClientRequestToken, which DynamoDB treats
    // as the same transaction.
    placed.ok(201);
    assert_eq!(faults.injected.load(Ordering::SeqCst), 1);
    assert_eq!((app.stock_of(&product).await, order_count(&app, &alice).await), (4, 1));
}

#[tokio::test]
async fn an_order_whose_message_was_lost_is_confirmed_by_the_sweeper() {
    only_on!(DynamoDb, "faults injected on DynamoDB's wire by a proxy in front of the engine");
    let app = spawn_app_with(|o| {
        o.sweep_every = Duration::from_millis(200);
        o.stuck_after = time::Duration::milliseconds(500);
    })
    .await;
    let (alice, product) = setup(&app, 5).await;
    let order = app.order(&alice, "lost-message", buy(&product, 1)).await.ok(201).clone();
    let id = order["order_id"].as_str().expect("id").to_owned();
    // The payment worker marks it paid, then its message to the order worker is refused.
    app.server.queue.refuse_next_sends(1);
    app.pay_with("alice", &id, Webhook::Now).await;
    let confirmed =
        eventually(10, || async { app.get_as(&format!("/orders/{id}"), &alice).await.body["status"] == "confirmed" })
            .await;
    assert!(confirmed, "the paid order's confirmation was sent again");
    assert_eq!(app.server.queue.refused(), 1, "the fault fired");
    assert_eq!(order_count(&app, &alice).await, 1);
}

#[tokio::test]
async fn a_duplicate_message_confirms_once_and_a_poison_message_ends_in_the_dead_letters() {
    only_on!(DynamoDb, "faults injected on DynamoDB's wire by a proxy in front of the engine");
    let app = spawn_app_with(|o| {
        o.queue = QueueSettings {
            visibility_timeout: Duration::from_millis(50),
            max_receive_count: storefront::worker::MAX_RECEIVE_COUNT,
            batch_size: 10,
        };
    })
    .await;
    let (alice, product) = setup(&app, 5).await;
    let id = app.paid_order("alice", "dup", buy(&product, 1)).await;
    // A second delivery of the same message changes nothing and sends nothing.
    let message = serde_json::from_value(json!({"order_id": id, "user_id": "alice"})).expect("message");
    let again = confirm(&app.server.app.order_ports(), &message).await.expect("handled");
    assert!(matches!(again, Confirmation::AlreadyHandled(_)), "{again:?}");
    assert_eq!(delivered(&app), vec![id.clone()], "one confirmation");

    // The sample batch: a real paid order's message (the placeholder filled in) and a poison message.
    let text =
        std::fs::read_to_string(repo_root().join("events/sqs/order-worker.batch-with-poison.json")).expect("event");
    let event: aws_lambda_events::event::sqs::SqsEvent =
        serde_json::from_str(&text.replace("{{ORDER_ID}}", &id)).expect("an SQS event");
    let app_state = app.server.app.clone();
    let response = worker("order-worker").batch(&app_state, event).await;
    let failed: Vec<&str> = response.batch_item_failures.iter().map(|f| f.item_identifier.as_str()).collect();
    assert_eq!(failed, ["0b7f2a55-1111-4c3e-9d6a-000000000002"], "only the poison message fails");
    assert_eq!(delivered(&app), vec![id.clone()], "a duplicate delivery sends no second confirmation");

    // Through the queue, the poison message is retried and then dead-lettered. (That its last failure is counted as
    // `DlqSends` is checked on the worker binary's own EMF line, tests/e2e/invocations/: this process's counters
    // are shared by every test running beside this one.)
    app.server.queue.send("not an order".into()).expect("sent");
    assert!(eventually(5, || async { app.server.queue.dead_letters() == ["not an order".to_owned()] }).await);
    assert_eq!(app.get_as(&format!("/orders/{id}"), &alice).await.ok(200)["status"], "confirmed");
}

#[tokio::test]
async fn a_confirmation_that_fails_to_send_is_retried_until_it_is_delivered_once() {
    only_on!(DynamoDb, "faults injected on DynamoDB's wire by a proxy in front of the engine");
    let app = spawn_app_with(|o| {
        o.queue = QueueSettings { visibility_timeout: Duration::from_millis(50), max_receive_count: 5, batch_size: 10 };
    })
    .await;
    let (alice, product) = setup(&app, 5).await;
    app.server.outbox.fail_next_deliveries(2);
    let id =
        app.order(&alice, "flaky-email", buy(&product, 1)).await.ok(201)["order_id"].as_str().expect("id").to_owned();
    app.pay_with("alice", &id, Webhook::Now).await;
    assert!(eventually(5, || async { delivered(&app) == [id.clone()] }).await, "delivered after two failures");
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(delivered(&app), vec![id.clone()], "and only once");
    assert_eq!(app.get_as(&format!("/orders/{id}"), &alice).await.ok(200)["status"], "confirmed");
    assert!(app.server.queue.dead_letters().is_empty());
}

#[tokio::test]
async fn checkout_reads_its_products_strongly_consistent() {
    only_on!(DynamoDb, "faults injected on DynamoDB's wire by a proxy in front of the engine");
    let app = spawn_app_with(|o| o.fault_injection = true).await;
    let (alice, product) = setup(&app, 5).await;
    let faults = app.server.faults.clone().expect("fault injection on");
    faults.record_requests();
    app.order(&alice, "consistent", buy(&product, 1)).await.ok(201);
    let reads: Vec<serde_json::Value> = faults
        .recorded_requests()
        .into_iter()
        .filter(|(operation, _)| operation == "BatchGetItem")
        .map(|(_, body)| body)
        .collect();
    assert!(!reads.is_empty(), "checkout reads its products in a batch");
    for body in reads {
        let tables = body["RequestItems"].as_object().expect("RequestItems");
        assert!(tables.values().all(|t| t["ConsistentRead"] == true), "an eventually consistent read: {body}");
    }
}

#[tokio::test]
async fn a_price_change_during_checkout_is_never_sold_at_the_old_price() {
    only_on!(DynamoDb, "faults injected on DynamoDB's wire by a proxy in front of the engine");
    let app = spawn_app_with(|o| o.fault_injection = true).await;
    let (alice, product) = setup(&app, 5).await;
    let faults = app.server.faults.clone().expect("fault injection on");
    let ana = app.artisan("ana").await;
    // The checkout has read the product at 50.00; its write waits while the artisan reprices to 70.00.
    faults.hold_next_transactions(1);
    let (placed, ()) = tokio::join!(app.order(&alice, "race", buy(&product, 1)), async {
        faults.until_held().await;
        let price = json!({"price": {"amount": 7000, "currency": "USD"}});
        app.send(reqwest::Method::PATCH, &format!("/products/{product}"), Some(&ana), Some(price)).await.ok(200);
        faults.release_held(1);
    });
    let order = placed.ok(201).clone();
    assert_eq!(order["items"][0]["unit_price"]["amount"], 7000, "sold at the price the product had at commit");
    assert_eq!(order["total"]["amount"], 7000);
    assert_eq!(app.stock_of(&product).await, 4);
    assert_eq!(order_count(&app, &alice).await, 1);
}
