//! The queue workers and the scheduled jobs, each binary on its real path against a local stack.

use super::*;

/// What each test here starts from: the tools, the Runtime API harness, a stack whose queues and schedules are left
/// to the worker binaries (no in-process workers), its state and a folder for the events.
struct Stage {
    tools: Tools,
    api: RuntimeApi,
    app: TestApp,
    state: storefront::AppState,
    dir: tempfile::TempDir,
}

async fn stage() -> Stage {
    let tools = tools();
    let api = RuntimeApi::start().await.expect("runtime API starts");
    let app = spawn_app_with(|options| options.in_process_workers = false).await;
    let state = app.server.app.clone();
    Stage { tools, api, app, state, dir: tempfile::tempdir().expect("temp dir") }
}

/// A clock stopped in the past: what is done with it looks overdue to the sweeper and the reconciler.
struct Past(time::OffsetDateTime);

impl storefront::ports::Clock for Past {
    fn now(&self) -> time::OffsetDateTime {
        self.0
    }
}

/// The state with its clock `minutes` in the past.
fn minutes_ago(state: &storefront::AppState, minutes: i64) -> storefront::AppState {
    let mut past = state.clone();
    past.clock = std::sync::Arc::new(Past(time::OffsetDateTime::now_utc() - time::Duration::minutes(minutes)));
    past
}

fn first_page() -> storefront::ports::PageRequest {
    storefront::ports::PageRequest { limit: 100, after: None }
}

/// A checkout of one `product` by `buyer` made in-process (not by a binary), with a confirmation address, at the
/// state's clock's time; the order awaits payment with its intent.
async fn placed(state: &storefront::AppState, buyer: &str, product: &str, key: &str) -> Order {
    use storefront::domain::{IdempotencyKey, Purchase, UserId};
    use storefront::services::checkout::{Buyer, CheckoutOutcome, checkout};
    let buyer =
        Buyer { user: UserId::parse(buyer).expect("user"), contact_email: Some(format!("{buyer}@example.com")) };
    let purchase = Purchase::parse(Some(&[(product.to_owned(), 1)])).expect("lines");
    match checkout(&state.checkout_ports(), &buyer, IdempotencyKey::parse(key).expect("key"), purchase).await {
        Ok(CheckoutOutcome::Placed(order)) => order,
        other => panic!("not placed: {other:?}"),
    }
}

fn intent_of(order: &Order) -> storefront::domain::ProviderRef {
    order.payment.as_ref().expect("the order has its intent").intent_id.clone()
}

fn reference(order: &Order) -> storefront::domain::OrderRef {
    storefront::domain::OrderRef { user_id: order.user_id.clone(), order_id: order.order_id.clone() }
}

/// Paid at the provider (no webhook) and recorded paid at the state's clock's time, sending nothing.
async fn paid(app: &TestApp, state: &storefront::AppState, order: &Order) -> Order {
    app.server.payments().succeed(intent_of(order).as_str(), Webhook::Never).expect("an open intent");
    let intent = intent_of(order);
    let moved =
        storefront::services::orders::move_order(&state.order_ports(), &order.user_id, &order.order_id, |o, now| {
            o.payment_succeeded(&intent, None, now)
        })
        .await
        .expect("paid");
    moved.order().clone()
}

/// Paid, confirmed and `artisan`'s part shipped, at the state's clock's time: their payout is owed since then.
async fn shipped(app: &TestApp, state: &storefront::AppState, order: &Order, artisan: &str) {
    paid(app, state, order).await;
    storefront::services::orders::confirm(&state.order_ports(), &reference(order)).await.expect("confirmed");
    let artisan = storefront::domain::UserId::parse(artisan).expect("artisan");
    storefront::services::orders::ship(&state.order_ports(), &artisan, &order.order_id).await.expect("shipped");
}

/// A product of `artisan` (a new one), in stock.
async fn product_of(state: &storefront::AppState, artisan: &str) -> String {
    let new = storefront::domain::NewProduct::parse("Stool", "", "woodwork", 6000, "USD", 20).expect("valid");
    let artisan_id = storefront::domain::UserId::parse(artisan).expect("artisan");
    let product =
        storefront::services::products::create(state.catalog.as_ref(), state.clock.as_ref(), &artisan_id, artisan, new)
            .await
            .expect("created");
    product.product_id.to_string()
}

/// An S3 `ObjectCreated` notification for `key`, delivered by SQS, as the image queue receives it.
fn object_created_batch(key: &str) -> Value {
    let notification = serde_json::json!({"Records": [{
        "eventVersion": "2.1", "eventSource": "aws:s3", "awsRegion": "us-east-1",
        "eventTime": "2026-11-28T10:00:00.000Z", "eventName": "ObjectCreated:Put",
        "s3": {"s3SchemaVersion": "1.0", "bucket": {"name": storefront_local::MEDIA_BUCKET}, "object": {"key": key, "size": 1}},
    }]});
    serde_json::json!({"Records": [{
        "messageId": "5d0c8f4e-2222-4c3e-9d6a-000000000001", "receiptHandle": "r1", "body": notification.to_string(),
        "attributes": {"ApproximateReceiveCount": "1", "SentTimestamp": "1795813200000", "SenderId": "s3",
            "ApproximateFirstReceiveTimestamp": "1795813200000"},
        "messageAttributes": {}, "md5OfBody": "", "eventSource": "aws:sqs",
        "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:storefront-images", "awsRegion": "us-east-1",
    }]})
}

/// An SQS batch of `bodies`, as the event source mapping delivers it.
fn sqs_batch(bodies: &[String]) -> Value {
    let records: Vec<Value> = bodies
        .iter()
        .enumerate()
        .map(|(n, body)| {
            serde_json::json!({
                "messageId": format!("9a7e0c11-4444-4c3e-9d6a-{n:012}"), "receiptHandle": format!("r{n}"),
                "body": body, "attributes": {"ApproximateReceiveCount": "1", "SentTimestamp": "1795813200000",
                "SenderId": "AROAEXAMPLE:payment-webhook", "ApproximateFirstReceiveTimestamp": "1795813200000"},
                "messageAttributes": {}, "md5OfBody": "", "eventSource": "aws:sqs",
                "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:storefront-payments", "awsRegion": "us-east-1",
            })
        })
        .collect();
    serde_json::json!({ "Records": records })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_payment_and_order_workers_run_on_their_real_paths() {
    use storefront::domain::{OrderStatus, PaymentStatus, ProductId, UserId};
    use storefront::ports::PaymentMessage;
    let Stage { tools, api, app, state, dir } = stage().await;
    let seeded = crate::events::ORDERED_PRODUCT;
    let stock = |id: &str| {
        let state = state.clone();
        let id = ProductId::parse(id).expect("id");
        async move { state.catalog.get_product(&id).await.expect("read").expect("product").stock }
    };

    // The payment worker, its key from Secrets Manager, on one batch of every kind of payment work: a payment
    // that succeeded, one that failed (the order cancelled, the stock back, the intent cancelled), a paid order
    // cancelled (refunded), a payout for an artisan without an account (kept accrued, waiting for one), the payouts
    // that waited for an artisan who just connected one (transferred), an artisan who connected one with none
    // waiting (their marker gone), and a dispute won (the payout it held released, and sent to be paid).
    let succeeded = placed(&state, "alice", seeded, "succeeds").await;
    app.server.payments().succeed(intent_of(&succeeded).as_str(), Webhook::Never).expect("paid");
    let failed = placed(&state, "bob", seeded, "fails").await;
    app.server.payments().decline(intent_of(&failed).as_str(), Webhook::Never).expect("declined");
    let refunded = placed(&state, "cora", seeded, "refunds").await;
    paid(&app, &state, &refunded).await;
    storefront::services::orders::cancel(&state.order_ports(), &refunded.user_id, &refunded.order_id)
        .await
        .expect("cancelled");
    let (ivo, pia) = (product_of(&state, "ivo").await, product_of(&state, "pia").await);
    let unconnected = placed(&state, "dan", &ivo, "ivo-ships").await;
    shipped(&app, &state, &unconnected, "ivo").await;
    let connected = placed(&state, "dan", &pia, "pia-ships").await;
    shipped(&app, &state, &connected, "pia").await;
    let pia_id = UserId::parse("pia").expect("id");
    let waits = storefront::services::payouts::pay_out(&state.payment_ports(), &pia_id, &connected.order_id).await;
    assert!(matches!(waits, Ok(storefront::services::payouts::PayoutOutcome::AwaitingAccount(_))), "{waits:?}");
    let account = |id: &str| storefront::domain::PayoutAccount {
        account_id: storefront::domain::ProviderRef::parse(id).expect("id"),
        connected_at: state.clock.now(),
    };
    state.payment_records.connect_payout_account(&pia_id, &account("acct_pia")).await.expect("connected");
    let uma = UserId::parse("uma").expect("id");
    state.payment_records.connect_payout_account(&uma, &account("acct_uma")).await.expect("connected");
    let vic = product_of(&state, "vic").await;
    let disputed = placed(&state, "eve", &vic, "vic-ships").await;
    shipped(&app, &state, &disputed, "vic").await;
    let opened = storefront::domain::PaymentEvent {
        event_id: storefront::domain::ProviderRef::parse("evt_dispute_opened").expect("id"),
        intent_id: intent_of(&disputed),
        outcome: storefront::domain::PaymentOutcome::Dispute(storefront::domain::DisputeStage::Opened),
        order: Some(reference(&disputed)),
        charge_id: None,
    };
    storefront::services::payments::apply_event(&state.payment_ports(), &opened).await.expect("disputed");
    let vic_id = UserId::parse("vic").expect("id");
    let held = state.payment_records.get_payout(&vic_id, &disputed.order_id).await.expect("read").expect("payout");
    assert_eq!(held.status.as_str(), "held", "an open dispute holds the unsent payout");
    let stock_before = stock(seeded).await;
    let event = |order: &Order, outcome| {
        PaymentMessage::Event(storefront::domain::PaymentEvent {
            event_id: storefront::domain::ProviderRef::parse(&format!("evt_{}", order.order_id)).expect("id"),
            intent_id: intent_of(order),
            outcome,
            order: Some(reference(order)),
            charge_id: None,
        })
    };
    let messages = [
        event(&succeeded, storefront::domain::PaymentOutcome::Succeeded),
        event(&failed, storefront::domain::PaymentOutcome::Ended(storefront::domain::PaymentEnd::Failed)),
        PaymentMessage::Settle(reference(&refunded)),
        PaymentMessage::Payout {
            artisan_id: UserId::parse("ivo").expect("id"),
            order_id: unconnected.order_id.clone(),
        },
        PaymentMessage::PayoutsFor { artisan_id: pia_id.clone() },
        PaymentMessage::PayoutsFor { artisan_id: uma.clone() },
        PaymentMessage::Event(storefront::domain::PaymentEvent {
            event_id: storefront::domain::ProviderRef::parse("evt_dispute_won").expect("id"),
            outcome: storefront::domain::PaymentOutcome::Dispute(storefront::domain::DisputeStage::Won),
            ..opened.clone()
        }),
    ];
    let bodies: Vec<String> = messages.iter().map(|m| serde_json::to_string(m).expect("JSON")).collect();
    let batch_file = dir.path().join("payments.json");
    std::fs::write(&batch_file, sqs_batch(&bodies).to_string()).expect("write event");
    let (answer, _, uses) = run_binary(&api, &tools, &app, "payment-worker", &batch_file).await;
    assert_eq!(answer["batchItemFailures"], serde_json::json!([]), "{answer}");
    assert_grants_match_use("payment-worker", &uses);
    let stored = |order: &Order| {
        let state = state.clone();
        let (user, id) = (order.user_id.clone(), order.order_id.clone());
        async move { state.orders.get_order(&user, &id).await.expect("read").expect("order") }
    };
    assert_eq!(stored(&succeeded).await.status, OrderStatus::Paid);
    assert!(
        app.server.queue.pending().iter().any(|m| m.contains(succeeded.order_id.as_str())),
        "sent to the order worker"
    );
    let cancelled = stored(&failed).await;
    assert_eq!(
        (cancelled.status, cancelled.payment.map(|p| p.status)),
        (OrderStatus::Cancelled, Some(PaymentStatus::Canceled))
    );
    assert_eq!(stock(seeded).await, stock_before + 1, "the failed order's unit is back");
    assert_eq!(app.server.payments().intent(intent_of(&failed).as_str()).expect("intent")["status"], "canceled");
    assert_eq!(stored(&refunded).await.payment.map(|p| p.status), Some(PaymentStatus::Refunded));
    assert_eq!(app.server.payments().refunds().len(), 1, "one refund");
    let ivo_payout = state.payment_records.get_payout(&UserId::parse("ivo").expect("id"), &unconnected.order_id).await;
    assert_eq!(ivo_payout.expect("read").expect("payout").status.as_str(), "accrued");
    let transfers = app.server.payments().transfers();
    assert_eq!(transfers.len(), 1, "{transfers:?}");
    assert_eq!((transfers[0]["destination"].as_str(), transfers[0]["amount"].as_i64()), (Some("acct_pia"), Some(5400)));
    assert_eq!(transfers[0]["transfer_group"], connected.order_id.as_str(), "the charge's group: the order's");
    let charge = app.server.payments().intent(intent_of(&connected).as_str()).expect("intent")["latest_charge"].clone();
    assert_eq!(transfers[0]["source_transaction"], charge, "funded from the order's own charge");
    assert!(state.payment_records.artisans_to_pay(&first_page()).await.expect("read").items.is_empty(), "none waits");
    let released = state.payment_records.get_payout(&vic_id, &disputed.order_id).await.expect("read").expect("payout");
    assert_eq!(released.status.as_str(), "accrued", "the dispute won releases it");
    assert!(
        app.server
            .payment_queue
            .pending()
            .iter()
            .any(|m| m.contains("payout") && m.contains(disputed.order_id.as_str())),
        "and sends it to be paid"
    );

    // The order worker: the paid order is confirmed and emailed through SES; the poison message alone is reported
    // as failed.
    let template =
        std::fs::read_to_string(repo_root().join("events/sqs/order-worker.batch-with-poison.json")).expect("event");
    let batch_file = dir.path().join("batch.json");
    let mut batch: Value =
        serde_json::from_str(&template.replace("{{ORDER_ID}}", succeeded.order_id.as_str())).expect("JSON");
    // The poison message on its last receive: failing it sends it to the dead-letter queue, which is counted.
    batch["Records"][1]["attributes"]["ApproximateReceiveCount"] =
        storefront::worker::MAX_RECEIVE_COUNT.to_string().into();
    std::fs::write(&batch_file, batch.to_string()).expect("write event");
    let poison_id = batch["Records"][1]["messageId"].clone();
    let (answer, stdout, uses) = run_binary(&api, &tools, &app, "order-worker", &batch_file).await;
    let emf: Value = stdout
        .lines()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .find(|doc| doc.get("_aws").is_some())
        .unwrap_or_else(|| panic!("no EMF line in the order worker's stdout:\n{stdout}"));
    assert_eq!(emf["DlqSends"], 1, "the worker binary counts the message it sends to the dead letters: {emf}");
    assert_grants_match_use("order-worker", &uses);
    assert_eq!(answer["batchItemFailures"], serde_json::json!([{ "itemIdentifier": poison_id }]), "{answer}");
    assert_eq!(stored(&succeeded).await.status, OrderStatus::Confirmed);
    let emails = app.server.lambda_emails();
    assert_eq!(emails.len(), 1, "{emails:?}");
    assert_eq!(emails[0].from, storefront_local::LAMBDA_CONFIRMATION_SENDER);
    assert_eq!(emails[0].to, ["alice@example.com"]);
    assert!(emails[0].subject.contains(succeeded.order_id.as_str()), "{emails:?}");
    app.server.stop().await;
    api.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_image_worker_runs_on_its_real_path() {
    use storefront::domain::ProductId;
    let Stage { tools, api, app, state, dir } = stage().await;
    let seeded = crate::events::ORDERED_PRODUCT;
    // A real upload becomes variants on the product; an upload already handled (gone) and S3's test event both
    // succeed.
    let product = ProductId::parse(seeded).expect("id");
    let upload = format!("uploads/marta-clay/{seeded}/01KDVDQ4K00000000001FET0A1");
    state.blobs.put(&upload, photo(), "image/jpeg", "no-store").await.expect("uploaded");
    let real_file = dir.path().join("upload.json");
    std::fs::write(&real_file, object_created_batch(&upload).to_string()).expect("write event");
    let env = app.server.lambda_environment();
    app.server.lambda_calls.take_uses();
    let images = start(&api, &tools, "image-worker", "image-worker", &env).await;
    let real = cargo_lambda_invoke(&api, &tools, "image-worker", &real_file).await;
    let sample = repo_root().join("events/sqs/image-worker.object-created.json");
    let gone = cargo_lambda_invoke(&api, &tools, "image-worker", &sample).await;
    images.stop().await;
    assert_grants_match_use("image-worker", &app.server.lambda_calls.take_uses());
    assert_eq!(
        (real["batchItemFailures"].clone(), gone["batchItemFailures"].clone()),
        (serde_json::json!([]), serde_json::json!([]))
    );
    let photographed = state.catalog.get_product(&product).await.expect("read").expect("product");
    assert_eq!(photographed.images.len(), 1, "the photo was attached");
    assert!(state.blobs.list("uploads/").await.expect("list").is_empty(), "the upload was removed");
    app.server.stop().await;
    api.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sweeper_and_the_reconciler_run_on_their_real_paths() {
    use storefront::domain::{OrderStatus, PaymentStatus, UserId};
    let Stage { tools, api, app, state, .. } = stage().await;
    let seeded = crate::events::ORDERED_PRODUCT;
    let (ten_minutes_ago, twenty_minutes_ago) = (minutes_ago(&state, 10), minutes_ago(&state, 20));
    let stored = |order: &Order| {
        let state = state.clone();
        let (user, id) = (order.user_id.clone(), order.order_id.clone());
        async move { state.orders.get_order(&user, &id).await.expect("read").expect("order") }
    };

    // The sweeper: an order unpaid for twenty minutes expires (its intent cancelled at the provider first); an order
    // paid ten minutes ago whose message to the order worker was lost is sent again.
    let unpaid = placed(&twenty_minutes_ago, "alice", seeded, "unpaid").await;
    let stuck = placed(&ten_minutes_ago, "alice", seeded, "stuck").await;
    paid(&app, &ten_minutes_ago, &stuck).await;
    let schedule = repo_root().join("events/scheduled/order-sweeper.json");
    let (answer, _, uses) = run_binary(&api, &tools, &app, "order-sweeper", &schedule).await;
    assert_grants_match_use("order-sweeper", &uses);
    assert_eq!(
        answer,
        serde_json::json!({
            "expired": 1, "failed": 0, "backlog_left": false, "forgotten": 0, "paid_late": 0, "resent": 1,
        })
    );
    let expired = stored(&unpaid).await;
    assert_eq!(
        (expired.status, expired.payment.map(|p| p.status)),
        (OrderStatus::Cancelled, Some(PaymentStatus::Canceled))
    );
    assert_eq!(app.server.payments().intent(intent_of(&unpaid).as_str()).expect("intent")["status"], "canceled");
    assert!(app.server.queue.pending().iter().any(|body| body.contains(stuck.order_id.as_str())), "re-sent");

    // The reconciler: a paid order cancelled ten minutes ago whose refund was never made (refunded), a payment
    // whose webhook was lost (made paid, sent to the order worker), an intent cancelled at the provider (the
    // order cancelled, its stock back), and two shipped parts' payouts, one artisan without an account (kept
    // accrued), one with (transferred).
    let to_refund = placed(&ten_minutes_ago, "bob", seeded, "to-refund").await;
    paid(&app, &ten_minutes_ago, &to_refund).await;
    storefront::services::orders::move_order(
        &ten_minutes_ago.order_ports(),
        &to_refund.user_id,
        &to_refund.order_id,
        |o, now| o.cancel(now),
    )
    .await
    .expect("cancelled, its settlement never queued");
    let lost_webhook = placed(&ten_minutes_ago, "cora", seeded, "lost-webhook").await;
    app.server.payments().succeed(intent_of(&lost_webhook).as_str(), Webhook::Never).expect("paid");
    let cancelled_at_provider = placed(&ten_minutes_ago, "dan", seeded, "cancelled-at-provider").await;
    state.payments.cancel_intent(&intent_of(&cancelled_at_provider)).await.expect("cancelled at the provider");
    let (ivo, pia) = (product_of(&state, "ivo").await, product_of(&state, "pia").await);
    let unconnected = placed(&ten_minutes_ago, "erin", &ivo, "ivo-ships").await;
    shipped(&app, &ten_minutes_ago, &unconnected, "ivo").await;
    let connected = placed(&ten_minutes_ago, "erin", &pia, "pia-ships").await;
    shipped(&app, &ten_minutes_ago, &connected, "pia").await;
    let pia_account = storefront::domain::PayoutAccount {
        account_id: storefront::domain::ProviderRef::parse("acct_pia").expect("id"),
        connected_at: state.clock.now(),
    };
    state
        .payment_records
        .connect_payout_account(&UserId::parse("pia").expect("id"), &pia_account)
        .await
        .expect("connected");
    let schedule = repo_root().join("events/scheduled/payment-reconciler.json");
    let (answer, _, uses) = run_binary(&api, &tools, &app, "payment-reconciler", &schedule).await;
    assert_grants_match_use("payment-reconciler", &uses);
    assert_eq!(answer["fixed"], 4, "refund, lost webhook, cancelled intent, one transfer: {answer}");
    let found: BTreeSet<&str> =
        answer["disagreements"].as_array().expect("listed").iter().filter_map(|d| d["order_id"].as_str()).collect();
    let expected: BTreeSet<&str> =
        [&to_refund, &lost_webhook, &cancelled_at_provider].iter().map(|o| o.order_id.as_str()).collect();
    assert_eq!(found, expected, "{answer}");
    assert_eq!(stored(&to_refund).await.payment.map(|p| p.status), Some(PaymentStatus::Refunded));
    assert_eq!(stored(&lost_webhook).await.status, OrderStatus::Paid);
    assert!(app.server.queue.pending().iter().any(|body| body.contains(lost_webhook.order_id.as_str())));
    assert_eq!(stored(&cancelled_at_provider).await.status, OrderStatus::Cancelled);
    assert_eq!(app.server.payments().transfers().len(), 1);
    let ivo_payout = state.payment_records.get_payout(&UserId::parse("ivo").expect("id"), &unconnected.order_id).await;
    assert_eq!(ivo_payout.expect("read").expect("payout").status.as_str(), "accrued");
    app.server.stop().await;
    api.stop().await;
}
