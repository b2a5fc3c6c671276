//! AWS-wire conformance: the DynamoDB adapter's contract (catalog, checkout races, idempotency, status moves), the
//! SQS and S3 adapters, against moto server, the same suites the embedded engine passes. `scripts/with-moto.sh`
//! (which `make test` and `make e2e` use) starts moto single-threaded and sets MOTO_ENDPOINT; without it these tests
//! fail, naming the way to run them, rather than pass having tested nothing.

use std::sync::Arc;

use storefront::AppState;
use storefront::adapters::dynamodb::schema;
use storefront::adapters::s3::S3BlobStore;
use storefront::config::Config;
use storefront::domain::{
    IdempotencyKey, NewProduct, OrderId, ProductId, Purchase, RequestToken, StockDelta, UploadId, UserId,
};
use storefront::ports::{PageRequest, ProductFilter, StockAdjustment, StockChangeError};
use storefront::services::checkout::{Buyer, CheckoutOutcome, checkout};
use storefront::services::orders::{Confirmation, confirm};
use storefront::services::{ServiceError, orders, products};
use storefront_local::queue::{LocalQueue, QueueSettings};
use time::OffsetDateTime;

fn moto_endpoint() -> String {
    std::env::var("MOTO_ENDPOINT")
        .ok()
        .filter(|endpoint| !endpoint.trim().is_empty())
        .expect("MOTO_ENDPOINT is not set: run the suites through scripts/with-moto.sh (make test, make e2e)")
}

async fn moto_state() -> AppState {
    let endpoint = moto_endpoint();
    let sdk = storefront::adapters::aws::local_sdk_config(&endpoint).await;
    let client = aws_sdk_dynamodb::Client::new(&sdk);
    // A table per test: the suites run in parallel against one moto.
    let table = format!("conformance-{}", RequestToken::generate(OffsetDateTime::now_utc()).as_str().to_lowercase());
    schema::ensure_table(&client, &table).await.expect("table on moto");
    let config = Config {
        table_name: table.clone(),
        cursor_secret: vec![7; 32],
        order_queue_url: "local://conformance".into(),
        confirmation_sender: None,
        media_bucket: table,
        cdn_base_url: "https://cdn.example".into(),
        s3_force_path_style: true,
        warm_up: false,
        uploads_listable: false,
        stuck_after: storefront::config::DEFAULT_STUCK_AFTER,
    };
    let queue = Arc::new(LocalQueue::new("conformance", QueueSettings::default()));
    let blobs = S3BlobStore::new(S3BlobStore::local_client(&sdk), config.media_bucket.clone());
    blobs.ensure_bucket().await.expect("bucket on moto");
    AppState::with_dynamodb(client, queue, Arc::new(blobs), &config)
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
    let state = moto_state().await;
    // Moto serves one call at a time: sixteen buyers at once still contend, without queueing past the SDK's timeout.
    crate::races::all(crate::races::Race { state, label: "moto", in_flight: 16 }).await;
}

#[tokio::test]
async fn idempotency_and_status_moves_hold_on_moto() {
    let state = moto_state().await;
    let id = product(&state, "ana", 5).await;
    let Ok(CheckoutOutcome::Placed(order)) = buy(&state, "alice", "k1", &id, 2).await else { panic!("placed") };
    assert!(
        matches!(buy(&state, "alice", "k1", &id, 2).await, Ok(CheckoutOutcome::Replayed(replayed)) if replayed == order)
    );
    assert!(matches!(buy(&state, "alice", "k1", &id, 3).await, Err(ServiceError::IdempotencyKeyReused)));
    let message = storefront::ports::OrderPlaced { order_id: order.order_id.clone(), user_id: user("alice") };
    let clock = state.clock.as_ref();
    assert!(matches!(confirm(state.orders.as_ref(), clock, &message).await, Ok(Confirmation::Confirmed(_))));
    assert!(matches!(confirm(state.orders.as_ref(), clock, &message).await, Ok(Confirmation::AlreadyHandled(_))));
    let catalog = state.catalog.as_ref();
    let cancelled = orders::cancel(state.orders.as_ref(), catalog, clock, &user("alice"), &order.order_id)
        .await
        .expect("cancelled");
    assert_eq!(cancelled.status.as_str(), "cancelled");
    assert_eq!(state.catalog.get_product(&id).await.expect("read").expect("product").stock, 5, "stock returned");
    let again = orders::cancel(state.orders.as_ref(), catalog, clock, &user("alice"), &order.order_id).await;
    assert_eq!(again.expect("a repeated cancel answers the order"), cancelled);
    assert_eq!(state.catalog.get_product(&id).await.expect("read").expect("product").stock, 5, "returned once");
}

#[tokio::test]
async fn the_sqs_adapter_delivers_order_placed_on_moto() {
    let endpoint = moto_endpoint();
    use storefront::ports::{OrderPlaced, OrderQueue};
    let sdk = storefront::adapters::aws::local_sdk_config(&endpoint).await;
    let sqs = aws_sdk_sqs::Client::new(&sdk);
    let now = OffsetDateTime::now_utc();
    let name = format!("orders-{}", RequestToken::generate(now).as_str().to_lowercase());
    let url = sqs.create_queue().queue_name(name).send().await.expect("queue").queue_url.expect("url");
    let queue = storefront::adapters::sqs::SqsOrderQueue::new(sqs.clone(), url.clone());
    let message = OrderPlaced { order_id: OrderId::generate(now), user_id: user("alice") };
    queue.order_placed(&message).await.expect("sent");
    let received = sqs.receive_message().queue_url(url).max_number_of_messages(10).send().await.expect("received");
    let bodies: Vec<OrderPlaced> = received
        .messages()
        .iter()
        .map(|m| serde_json::from_str(m.body().expect("body")).expect("OrderPlaced"))
        .collect();
    assert_eq!(bodies, vec![message]);
}

#[tokio::test]
async fn the_s3_adapter_presigns_stores_and_deletes_on_moto() {
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
