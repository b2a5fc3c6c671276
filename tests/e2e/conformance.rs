//! AWS-wire conformance: the DynamoDB adapter's contract (catalog, checkout races, idempotency, status moves,
//! payment records), the SQS and S3 adapters, against moto server, the same suites the embedded engine passes. `scripts/with-moto.sh`
//! (which `make test` and `make e2e` use) starts moto single-threaded and sets MOTO_ENDPOINT; without it these tests
//! fail, naming the way to run them, rather than pass having tested nothing.

use std::sync::Arc;

use storefront::adapters::dynamodb::schema;
use storefront::adapters::s3::S3BlobStore;
use storefront::adapters::stripe::{ProviderSecrets, StripeProvider};
use storefront::config::Config;
use storefront::domain::{FollowUp, OrderRef, PaymentEnd, PaymentEvent, PaymentOutcome, PayoutAccount, ProviderRef};
use storefront::domain::{
    IdempotencyKey, NewProduct, OrderId, ProductId, Purchase, RequestToken, StockDelta, UploadId, UserId,
};
use storefront::ports::{OrderQueue, ParkError};
use storefront::ports::{PageRequest, ProductFilter, StockAdjustment, StockChangeError};
use storefront::services::checkout::{Buyer, CheckoutOutcome, checkout};
use storefront::services::orders::{Confirmation, confirm};
use storefront::services::payments;
use storefront::services::{ServiceError, orders, products};
use storefront::{AppState, OtherPorts};
use storefront_local::queue::{LocalQueue, QueueSettings};
use storefront_tests::only_on;
use time::OffsetDateTime;

fn moto_endpoint() -> String {
    std::env::var("MOTO_ENDPOINT")
        .ok()
        .filter(|endpoint| !endpoint.trim().is_empty())
        .expect("MOTO_ENDPOINT is not set: run the suites through scripts/with-moto.sh (make test, make e2e)")
}

/// A payment provider stand-in of the test's own, reached over HTTP by the production adapter.
async fn provider() -> (StripeProvider, storefront_local::payments::PaymentControls) {
    let secrets = ProviderSecrets {
        api_key: "sk_test_conformance_0123456789abcdef".into(),
        webhook_secret: "whsec_conformance_0123456789abcdef0123".into(),
    };
    let stand_in = storefront_local::payments::start(secrets.clone(), storefront_local::options::FREE_LOOPBACK_PORT)
        .await
        .expect("provider stand-in");
    (StripeProvider::with_secrets(&stand_in.endpoint, secrets), stand_in.controls.clone())
}

async fn moto_state() -> AppState {
    moto_state_and_provider().await.0
}

/// A state on moto, and the controls of its payment provider stand-in.
async fn moto_state_and_provider() -> (AppState, storefront_local::payments::PaymentControls) {
    let endpoint = moto_endpoint();
    let sdk = storefront::adapters::aws::local_sdk_config(&endpoint).await;
    let client = aws_sdk_dynamodb::Client::new(&sdk);
    // A table per test: the suites run in parallel against one moto.
    let table = format!("conformance-{}", RequestToken::generate(OffsetDateTime::now_utc()).as_str().to_lowercase());
    schema::ensure_table(&client, &table).await.expect("table on moto");
    let table_copy = table.clone();
    let config = Config {
        media_bucket: table.clone(),
        cdn_base_url: "https://cdn.example".into(),
        ..Config::local(storefront::config::StoreConfig::DynamoDb { table_name: table }, vec![7; 32])
    };
    let blobs = S3BlobStore::new(S3BlobStore::local_client(&sdk), config.media_bucket.clone());
    blobs.ensure_bucket().await.expect("bucket on moto");
    let (provider, controls) = provider().await;
    let others = OtherPorts {
        order_queue: Arc::new(LocalQueue::new("conformance", QueueSettings::default())),
        payment_queue: Arc::new(LocalQueue::new("conformance-payments", QueueSettings::default())),
        blobs: Arc::new(blobs),
        payments: Arc::new(provider),
    };
    let stores = storefront::app::Stores::dynamodb(client, &table_copy);
    (AppState::with_stores(stores, others, &config), controls)
}

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

async fn buy(
    state: &AppState,
    buyer: &str,
    key: &str,
    product: &ProductId,
    quantity: i64,
) -> Result<CheckoutOutcome, ServiceError> {
    let purchase = Purchase::parse(Some(&[(product.to_string(), quantity)])).expect("lines");
    let buyer = Buyer { user: user(buyer), contact_email: None };
    checkout(&state.checkout_ports(), &buyer, IdempotencyKey::parse(key).expect("key"), purchase).await
}

#[tokio::test]
async fn catalog_listing_counts_and_stock_rules_hold_on_moto() {
    only_on!(DynamoDb, "moto: the DynamoDB, SQS and S3 adapters on AWS's own wire");
    let state = moto_state().await;
    let mut ids = Vec::new();
    for _ in 0..7 {
        ids.push(product(&state, "ana", 3).await);
    }
    let page = state
        .catalog
        .list_products(&ProductFilter::default(), &PageRequest { limit: 5, after: None })
        .await
        .expect("page");
    assert_eq!(page.items.len(), 5);
    let rest = state
        .catalog
        .list_products(&ProductFilter::default(), &PageRequest { limit: 5, after: page.next.clone() })
        .await
        .expect("page");
    assert_eq!(rest.items.len(), 2);
    assert!(rest.next.is_none());
    let mut listed: Vec<ProductId> = page.items.iter().chain(&rest.items).map(|p| p.product_id.clone()).collect();
    listed.reverse();
    assert_eq!(listed, ids, "newest first across shards");
    assert_eq!(state.catalog.get_artisan(&user("ana")).await.expect("read").expect("profile").product_count, 7);
    assert_eq!(state.catalog.get_products(&ids).await.expect("batch").len(), 7);
    let now = state.clock.now();
    let adjustment =
        |id: &str, delta: i64| StockAdjustment { id: id.into(), delta: StockDelta::parse(delta).expect("delta") };
    assert!(matches!(
        state.catalog.adjust_stock(&ids[0], &user("ana"), &adjustment("a1", -4), now).await,
        Err(StockChangeError::OutOfRange)
    ));
    assert!(matches!(
        state.catalog.adjust_stock(&ids[0], &user("bo"), &adjustment("a2", 2), now).await,
        Err(StockChangeError::Store(_))
    ));
    let restock = adjustment("a3", 2);
    assert_eq!(state.catalog.adjust_stock(&ids[0], &user("ana"), &restock, now).await.expect("restocked").stock, 5);
    // The same adjustment again (a retry) changes nothing; its id with another change is refused.
    assert_eq!(state.catalog.adjust_stock(&ids[0], &user("ana"), &restock, now).await.expect("replayed").stock, 5);
    assert!(matches!(
        state.catalog.adjust_stock(&ids[0], &user("ana"), &adjustment("a3", 3), now).await,
        Err(StockChangeError::IdReused)
    ));
}

/// The races of tests/e2e/races.rs, the same ones at the same sizes as on the embedded engine.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn checkout_races_hold_on_moto() {
    only_on!(DynamoDb, "moto: the DynamoDB, SQS and S3 adapters on AWS's own wire");
    let state = moto_state().await;
    // Moto serves one call at a time: sixteen buyers at once still contend, without queueing past the SDK's timeout.
    crate::races::all(crate::races::Race { state, label: "moto", in_flight: 16 }).await;
}

#[tokio::test]
async fn a_cart_holds_at_most_its_limit_of_products_on_moto() {
    only_on!(DynamoDb, "moto: the DynamoDB, SQS and S3 adapters on AWS's own wire");
    use storefront::domain::{CartLine, MAX_CART_LINES, Quantity};
    use storefront::ports::CartLineError;
    let state = moto_state().await;
    let (alice, now) = (user("alice"), state.clock.now());
    let line = |n: usize| CartLine {
        product_id: ProductId::from_parts(1_700_000_000_000, n as u128),
        quantity: Quantity::parse(1, "quantity").expect("one"),
    };
    for n in 0..MAX_CART_LINES {
        state.carts.put_cart_line(&alice, &line(n), now).await.expect("room");
    }
    let full = state.carts.put_cart_line(&alice, &line(MAX_CART_LINES), now).await;
    assert!(matches!(full, Err(CartLineError::Full)), "{full:?}");
    state.carts.put_cart_line(&alice, &line(0), now).await.expect("a line already there changes");
    state.carts.remove_cart_line(&alice, &line(0).product_id).await.expect("removed");
    state.carts.put_cart_line(&alice, &line(MAX_CART_LINES), now).await.expect("room again");
    assert_eq!(state.carts.cart_lines(&alice).await.expect("read").len(), MAX_CART_LINES);
}

/// Every order owing `follow_up` a second from now, read a page of two at a time (paging is part of the contract).
async fn due(state: &AppState, follow_up: FollowUp) -> Vec<OrderRef> {
    let before = state.clock.now() + time::Duration::seconds(1);
    let mut page = PageRequest { limit: 2, after: None };
    let mut found = Vec::new();
    loop {
        let due = state.orders.orders_due(follow_up, before, &page).await.expect("due");
        found.extend(due.items.into_iter().map(|d| d.order));
        match due.next {
            Some(next) => page.after = Some(next),
            None => return found,
        }
    }
}

#[tokio::test]
async fn idempotency_and_status_moves_hold_on_moto() {
    only_on!(DynamoDb, "moto: the DynamoDB, SQS and S3 adapters on AWS's own wire");
    let (state, provider) = moto_state_and_provider().await;
    let id = product(&state, "ana", 5).await;
    let Ok(CheckoutOutcome::Placed(order)) = buy(&state, "alice", "k1", &id, 2).await else { panic!("placed") };
    assert!(
        matches!(buy(&state, "alice", "k1", &id, 2).await, Ok(CheckoutOutcome::Replayed(replayed)) if replayed == order)
    );
    assert!(matches!(buy(&state, "alice", "k1", &id, 3).await, Err(ServiceError::IdempotencyKeyReused)));
    let paid = OrderRef { order_id: order.order_id.clone(), user_id: user("alice") };
    let ports = state.order_ports();
    assert!(matches!(confirm(&ports, &paid).await, Ok(Confirmation::AlreadyHandled(_))), "not before payment");
    let intent = order.payment.as_ref().expect("intent attached").intent_id.clone();
    provider.succeed(intent.as_str(), storefront_local::payments::Webhook::Never).expect("paid at the provider");
    let event = |id: &str, outcome| PaymentEvent {
        event_id: ProviderRef::parse(id).expect("id"),
        intent_id: intent.clone(),
        outcome,
        order: Some(paid.clone()),
        charge_id: None,
    };
    let applied = payments::apply_event(&state.payment_ports(), &event("evt_1", PaymentOutcome::Succeeded)).await;
    assert!(matches!(applied, Ok(Some(ref o)) if o.status.as_str() == "paid"), "{applied:?}");
    assert_eq!(due(&state, FollowUp::Confirmation).await, std::slice::from_ref(&paid));
    assert!(matches!(confirm(&ports, &paid).await, Ok(Confirmation::Confirmed(_))));
    assert!(matches!(confirm(&ports, &paid).await, Ok(Confirmation::AlreadyHandled(_))));
    let late_failure = event("evt_2", PaymentOutcome::Ended(PaymentEnd::Failed));
    payments::apply_event(&state.payment_ports(), &late_failure).await.expect("a stale failure changes nothing");
    let cancelled = orders::cancel(&ports, &user("alice"), &order.order_id).await.expect("cancelled");
    assert_eq!(cancelled.status.as_str(), "cancelled");
    assert_eq!(state.catalog.get_product(&id).await.expect("read").expect("product").stock, 5, "stock returned");
    let again = orders::cancel(&ports, &user("alice"), &order.order_id).await;
    assert_eq!(again.expect("a repeated cancel answers the order"), cancelled);
    assert_eq!(state.catalog.get_product(&id).await.expect("read").expect("product").stock, 5, "returned once");
    assert_eq!(due(&state, FollowUp::Settlement).await, std::slice::from_ref(&paid), "owed a refund");
    let settled = payments::settle(&state.payment_ports(), &paid).await.expect("refunded");
    assert_eq!(settled.payment.map(|p| p.status.as_str()), Some("refunded"));
    assert_eq!(due(&state, FollowUp::Settlement).await, [], "settled");
}

#[tokio::test]
async fn payment_records_and_payouts_hold_on_moto() {
    only_on!(DynamoDb, "moto: the DynamoDB, SQS and S3 adapters on AWS's own wire");
    let (state, provider) = moto_state_and_provider().await;
    let records = state.payment_records.as_ref();
    let (ana, now) = (user("ana"), state.clock.now());
    let event = ProviderRef::parse("evt_moto").expect("id");
    assert!(!records.event_seen(&event).await.expect("read"));
    records.remember_event(&event, now).await.expect("remembered");
    assert!(records.event_seen(&event).await.expect("read"));
    // A shipped part makes its payout, in the shipment's own transaction.
    let id = product(&state, "ana", 5).await;
    let Ok(CheckoutOutcome::Placed(order)) = buy(&state, "alice", "k1", &id, 1).await else { panic!("placed") };
    let paid = OrderRef { order_id: order.order_id.clone(), user_id: user("alice") };
    let intent_id = order.payment.as_ref().expect("intent").intent_id.clone();
    provider.succeed(intent_id.as_str(), storefront_local::payments::Webhook::Never).expect("paid at the provider");
    let succeeded = PaymentEvent {
        event_id: event.clone(),
        intent_id,
        outcome: PaymentOutcome::Succeeded,
        order: Some(paid.clone()),
        charge_id: None,
    };
    payments::apply_event(&state.payment_ports(), &succeeded).await.expect("paid");
    confirm(&state.order_ports(), &paid).await.expect("confirmed");
    orders::ship(&state.order_ports(), &ana, &order.order_id).await.expect("shipped");
    let payout = records.get_payout(&ana, &order.order_id).await.expect("read").expect("the share is owed");
    assert_eq!((payout.amount.amount, payout.status.as_str()), (1080, "accrued"), "1200 less the 10 % fee");
    // Due until it waits for an account, then due again the moment the artisan connects one (the same write), and
    // transferred once.
    let later = now + time::Duration::minutes(1);
    let first = PageRequest { limit: 10, after: None };
    let due_now = |page: storefront::ports::Page<storefront::domain::Payout>| -> Vec<_> {
        page.items.into_iter().map(|p| (p.artisan_id, p.order_id)).collect()
    };
    let owed = [(ana.clone(), order.order_id.clone())];
    assert_eq!(due_now(records.payouts_due(later, &first).await.expect("due")), owed);
    records.await_account(&payout).await.expect("waits: no account");
    assert_eq!(due_now(records.payouts_due(later, &first).await.expect("due")), []);
    assert_eq!(records.payouts_awaiting_account(&ana, 10).await.expect("waiting").len(), 1);
    assert_eq!(records.artisans_to_pay(&first).await.expect("artisans").items, [], "no account yet");
    let account = PayoutAccount { account_id: ProviderRef::parse("acct_moto").expect("id"), connected_at: now };
    records.connect_payout_account(&ana, &account).await.expect("connected");
    assert!(matches!(records.await_account(&payout).await, Err(ParkError::AccountConnected)), "the condition check");
    assert_eq!(
        records.artisans_to_pay(&first).await.expect("artisans").items,
        std::slice::from_ref(&ana),
        "due with the account"
    );
    // A failed transfer is recorded on it; parked, it leaves the due lists for the parked one.
    let retry = storefront::domain::Retry::after(None, storefront::domain::Failure::Permanent, "account closed", now);
    let parked = payout.with_retry(retry, now);
    records.save_payout(&payout, &parked).await.expect("parked");
    assert!(records.save_payout(&payout, &parked).await.is_err(), "only from the version read");
    assert_eq!(records.parked_payouts(&first).await.expect("parked").items, std::slice::from_ref(&parked));
    assert_eq!(records.payouts_awaiting_account(&ana, 10).await.expect("waiting"), []);
    assert_eq!(records.artisans_to_pay(&first).await.expect("artisans").items, [], "none waits any more");
    let put_back = parked.unparked(None, now);
    records.save_payout(&parked, &put_back).await.expect("put back");
    assert_eq!(due_now(records.payouts_due(later, &first).await.expect("due")), owed);
    let next = put_back.transferred(ProviderRef::parse("tr_1").expect("id"), now);
    records.save_payout(&put_back, &next).await.expect("transferred");
    assert!(records.save_payout(&put_back, &next).await.is_err(), "once");
    let page = records.list_payouts(&ana, None, &first).await.expect("ledger");
    assert_eq!(page.items, [next]);
    assert_eq!(records.parked_payouts(&first).await.expect("parked").items, []);
}

#[tokio::test]
async fn the_sqs_adapter_delivers_paid_orders_and_payment_work_on_moto() {
    only_on!(DynamoDb, "moto: the DynamoDB, SQS and S3 adapters on AWS's own wire");
    use storefront::ports::{PaymentMessage, PaymentQueue};
    let endpoint = moto_endpoint();
    let sdk = storefront::adapters::aws::local_sdk_config(&endpoint).await;
    let sqs = aws_sdk_sqs::Client::new(&sdk);
    let now = OffsetDateTime::now_utc();
    let name = format!("orders-{}", RequestToken::generate(now).as_str().to_lowercase());
    let url = sqs.create_queue().queue_name(name).send().await.expect("queue").queue_url.expect("url");
    let queue = storefront::adapters::sqs::SqsQueue::new(sqs.clone(), url.clone());
    let paid = OrderRef { order_id: OrderId::generate(now), user_id: user("alice") };
    queue.order_paid(&paid).await.expect("sent");
    let settle = PaymentMessage::Settle(paid.clone());
    PaymentQueue::send(&queue, &settle).await.expect("sent");
    let received = sqs.receive_message().queue_url(url).max_number_of_messages(10).send().await.expect("received");
    let bodies: Vec<&str> = received.messages().iter().map(|m| m.body().expect("body")).collect();
    assert_eq!(bodies.len(), 2);
    assert!(bodies.iter().any(|b| serde_json::from_str::<OrderRef>(b).ok().as_ref() == Some(&paid)));
    assert!(bodies.iter().any(|b| serde_json::from_str::<PaymentMessage>(b).ok().as_ref() == Some(&settle)));
}

#[tokio::test]
async fn the_s3_adapter_presigns_stores_and_deletes_on_moto() {
    only_on!(DynamoDb, "moto: the DynamoDB, SQS and S3 adapters on AWS's own wire");
    let state = moto_state().await;
    let blobs = state.blobs.as_ref();
    let now = OffsetDateTime::now_utc();
    let key = format!("uploads/ana/{}/{}", ProductId::generate(now), UploadId::generate(now));
    let lifetime = std::time::Duration::from_secs(300);
    let ticket = blobs.presign_put(&key, "image/png", lifetime, state.clock.now()).await.expect("presigned");
    assert!(ticket.url.contains("X-Amz-Signature"), "{}", ticket.url);
    let client = reqwest::Client::builder().no_proxy().build().expect("client");
    let body = b"\x89PNG\r\n\x1a\nrest".to_vec();
    let put = client.put(&ticket.url).header("content-type", "image/png").body(body).send().await.expect("put");
    assert!(put.status().is_success(), "{}", put.status());
    let info = blobs.head(&key).await.expect("head").expect("stored");
    assert_eq!((info.size, info.content_type.as_deref()), (12, Some("image/png")));
    let (bytes, _) = blobs.get(&key, 1024).await.expect("get").expect("stored");
    assert_eq!(bytes.len(), 12, "whole, under the limit");
    let (cut, _) = blobs.get(&key, 4).await.expect("get").expect("stored");
    assert_eq!(cut, b"\x89PNG\r", "never more than the limit and one byte");
    assert!(bytes.starts_with(b"\x89PNG"));
    let cache = "public, max-age=31536000, immutable";
    blobs.put("images/x/abc-320w.jpg", vec![1, 2, 3], "image/jpeg", cache).await.expect("put");
    assert_eq!(blobs.list("images/").await.expect("list"), ["images/x/abc-320w.jpg"]);
    blobs.delete(&key).await.expect("delete");
    assert_eq!(blobs.head(&key).await.expect("head"), None);
    assert_eq!(blobs.get(&key, 1024).await.expect("get"), None);
}
