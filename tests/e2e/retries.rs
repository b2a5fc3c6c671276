//! A retried write never applies twice and never reports failure for a success. The SDK gives up on an attempt
//! after 2 s and sends it again, even when the first one landed; the fault proxy makes exactly that happen (the
//! write is applied, its answer comes 3 s late), once per test, and the stored state and the answer must be those
//! of a single success.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use reqwest::Method;
use storefront_local::faults::Faults;
use storefront_tests::*;

async fn app_with_faults() -> (TestApp, Arc<Faults>) {
    let app = spawn_app_with(|o| o.fault_injection = true).await;
    let faults = app.server.faults.clone().expect("fault injection on");
    (app, faults)
}

fn fired(faults: &Faults) -> u32 {
    faults.injected.load(Ordering::SeqCst)
}

async fn confirmed_order(app: &TestApp, alice: &str, product: &str, quantity: i64, key: &str) -> String {
    let id = app.order(alice, key, buy(product, quantity)).await.ok(201)["order_id"].as_str().expect("id").to_owned();
    app.pay("alice", &id).await;
    id
}

#[tokio::test]
async fn a_stock_adjustment_answered_too_late_lands_once() {
    only_on!(DynamoDb, "the SDK's retries of DynamoDB writes that landed, driven by the fault proxy");
    let (app, faults) = app_with_faults().await;
    let ana = app.artisan("ana").await;
    let product = app.create_product(&ana, "Bowl", "ceramics", 2000, 3).await;
    let id = product["product_id"].as_str().expect("id");
    faults.delay_next_writes(1);
    let moved = app.send(Method::POST, &format!("/products/{id}/stock"), Some(&ana), Some(json!({"delta": 5}))).await;
    assert_eq!(fired(&faults), 1, "the write was answered late");
    let moved = moved.ok(200).clone();
    assert_eq!((moved["stock"].as_i64(), moved["version"].as_i64()), (Some(8), Some(2)), "{moved}");
    assert_eq!(public_view(&moved), app.get(&format!("/products/{id}")).await.ok(200).clone());
}

#[tokio::test]
async fn a_client_retrying_an_adjustment_with_its_key_applies_it_once() {
    only_on!(DynamoDb, "the SDK's retries of DynamoDB writes that landed, driven by the fault proxy");
    let app = spawn_app().await;
    let ana = app.artisan("ana").await;
    let id = app.create_product(&ana, "Bowl", "ceramics", 2000, 3).await["product_id"].as_str().expect("id").to_owned();
    let path = format!("/products/{id}/stock");
    let send = |delta: i64, key: &'static str| {
        let (app, path, ana) = (&app, path.clone(), ana.clone());
        async move {
            let headers = [("idempotency-key", key), ("content-type", "application/json")];
            app.send_raw(Method::POST, &path, Some(&ana), json!({"delta": delta}).to_string(), &headers).await
        }
    };
    assert_eq!(send(-2, "restock-7").await.ok(200)["stock"], 1);
    assert_eq!(send(-2, "restock-7").await.ok(200)["stock"], 1, "the same key again changes nothing");
    send(-1, "restock-7").await.problem(422, "idempotency-key-reused");
    assert_eq!(send(-1, "restock-8").await.ok(200)["stock"], 0, "a new key is a new adjustment");
    assert_eq!(app.stock_of(&id).await, 0);
}

#[tokio::test]
async fn a_product_created_with_a_late_answer_exists_once() {
    only_on!(DynamoDb, "the SDK's retries of DynamoDB writes that landed, driven by the fault proxy");
    let (app, faults) = app_with_faults().await;
    let ana = app.artisan("ana").await;
    let before = app.get("/categories").await.ok(200).clone();
    faults.delay_next_writes(1);
    let body = json!({"title": "Late lamp", "description": "", "category": "woodwork",
        "price": {"amount": 5000, "currency": "USD"}, "stock": 2});
    let created = app.send(Method::POST, "/products", Some(&ana), Some(body)).await;
    assert_eq!(fired(&faults), 1, "the write was answered late");
    let created = created.ok(201).clone();
    let listed = app.list_all("/products?artisan_id=ana").await;
    assert_eq!(listed, vec![public_view(&created)], "one product");
    assert_eq!(app.get("/artisans/ana").await.ok(200)["product_count"], 1, "counted once");
    let count = |body: &serde_json::Value| {
        body["items"].as_array().expect("items").iter().find(|c| c["slug"] == "woodwork").expect("woodwork")
            ["product_count"]
            .as_i64()
            .expect("count")
    };
    assert_eq!(count(app.get("/categories").await.ok(200)), count(&before) + 1);
}

#[tokio::test]
async fn an_edit_answered_too_late_is_one_version_later() {
    only_on!(DynamoDb, "the SDK's retries of DynamoDB writes that landed, driven by the fault proxy");
    let (app, faults) = app_with_faults().await;
    let ana = app.artisan("ana").await;
    let id = app.create_product(&ana, "Bowl", "ceramics", 2000, 3).await["product_id"].as_str().expect("id").to_owned();
    faults.delay_next_writes(1);
    let path = format!("/products/{id}");
    let headers = [("if-match", "\"1\""), ("content-type", "application/json")];
    let edited = app.send_raw(Method::PATCH, &path, Some(&ana), json!({"title": "Cup"}).to_string(), &headers).await;
    assert_eq!(fired(&faults), 1, "the write was answered late");
    let edited = edited.ok(200).clone();
    assert_eq!((edited["title"].as_str(), edited["version"].as_i64()), (Some("Cup"), Some(2)), "{edited}");
    assert_eq!(app.get(&path).await.ok(200), &public_view(&edited));
}

#[tokio::test]
async fn a_checkout_whose_claim_was_answered_too_late_places_one_order() {
    only_on!(DynamoDb, "the SDK's retries of DynamoDB writes that landed, driven by the fault proxy");
    let (app, faults) = app_with_faults().await;
    let (ana, alice) = (app.artisan("ana").await, app.shopper("alice").await);
    let id = app.create_product(&ana, "Bowl", "ceramics", 2000, 3).await["product_id"].as_str().expect("id").to_owned();
    // The checkout's first write is its claim on the key.
    faults.delay_next_writes(1);
    let placed = app.order(&alice, "late-claim", buy(&id, 1)).await;
    assert_eq!(fired(&faults), 1, "the claim was answered late");
    let placed = placed.ok(201).clone();
    assert_eq!(app.get_as("/orders", &alice).await.ok(200)["items"].as_array().map(Vec::len), Some(1));
    assert_eq!(app.stock_of(&id).await, 2);
    let replayed = app.order(&alice, "late-claim", buy(&id, 1)).await;
    assert_eq!(replayed.ok(201), &placed, "the key answers the same order");
}

#[tokio::test]
async fn a_cancel_answered_too_late_returns_the_stock_once_and_answers_200() {
    only_on!(DynamoDb, "the SDK's retries of DynamoDB writes that landed, driven by the fault proxy");
    let (app, faults) = app_with_faults().await;
    let (ana, alice) = (app.artisan("ana").await, app.shopper("alice").await);
    let product =
        app.create_product(&ana, "Bowl", "ceramics", 2000, 5).await["product_id"].as_str().expect("id").to_owned();
    let order = confirmed_order(&app, &alice, &product, 2, "to-cancel").await;
    assert_eq!(app.stock_of(&product).await, 3);
    faults.delay_next_writes(1);
    let cancelled = app.send(Method::POST, &format!("/orders/{order}/cancel"), Some(&alice), None).await;
    assert_eq!(fired(&faults), 1, "the write was answered late");
    let cancelled = cancelled.ok(200).clone();
    assert_eq!(cancelled["status"], "cancelled");
    assert_eq!(app.stock_of(&product).await, 5, "the stock came back once");
    assert_eq!(app.get_as(&format!("/orders/{order}"), &alice).await.ok(200), &cancelled);
}

#[tokio::test]
async fn a_shipment_answered_too_late_ships_once() {
    only_on!(DynamoDb, "the SDK's retries of DynamoDB writes that landed, driven by the fault proxy");
    let (app, faults) = app_with_faults().await;
    let (ana, bo, alice) = (app.artisan("ana").await, app.artisan("bo").await, app.shopper("alice").await);
    let a = app.create_product(&ana, "Bowl", "ceramics", 2000, 5).await["product_id"].as_str().expect("id").to_owned();
    let b = app.create_product(&bo, "Cup", "ceramics", 900, 5).await["product_id"].as_str().expect("id").to_owned();
    let body = json!({"items": [{"product_id": a, "quantity": 1}, {"product_id": b, "quantity": 1}]});
    let order = app.order(&alice, "two-parts", body).await.ok(201)["order_id"].as_str().expect("id").to_owned();
    app.pay("alice", &order).await;
    faults.delay_next_writes(1);
    let shipped = app.send(Method::POST, &format!("/artisan/orders/{order}/ship"), Some(&ana), None).await;
    assert_eq!(fired(&faults), 1, "the write was answered late");
    assert_eq!(shipped.ok(200)["status"], "shipped", "ana's part");
    let seen = app.get_as(&format!("/orders/{order}"), &alice).await.ok(200).clone();
    assert_eq!(seen["status"], "confirmed", "bo's part is still to ship");
    assert_eq!(seen["shipped_artisans"], json!(["ana"]), "ana's part counted once");
    app.send(Method::POST, &format!("/artisan/orders/{order}/ship"), Some(&bo), None).await.ok(200);
    assert_eq!(app.get_as(&format!("/orders/{order}"), &alice).await.ok(200)["status"], "shipped");
}
