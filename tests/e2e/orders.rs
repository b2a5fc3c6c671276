//! Checkout and orders: atomic, idempotent, never oversold, never lost; the lifecycle moves only forward.

use reqwest::Method;
use storefront_tests::*;

async fn product_with_stock(app: &TestApp, artisan: &str, price: i64, stock: i64) -> String {
    let token = app.artisan(artisan).await;
    app.create_product(&token, "Test mug", "ceramics", price, stock).await["product_id"]
        .as_str()
        .expect("id")
        .to_owned()
}

async fn order_status(app: &TestApp, token: &str, id: &str) -> String {
    app.get_as(&format!("/orders/{id}"), token).await.ok(200)["status"].as_str().expect("status").to_owned()
}

#[tokio::test]
async fn checking_out_the_cart_places_one_order_awaiting_payment_that_payment_confirms() {
    let app = spawn_app().await;
    let alice = app.shopper("alice").await;
    let (a, b) = (product_with_stock(&app, "ana", 1500, 5).await, product_with_stock(&app, "bo", 250, 9).await);
    app.send(Method::PUT, &format!("/cart/items/{a}"), Some(&alice), Some(json!({"quantity": 2}))).await.ok(200);
    app.send(Method::PUT, &format!("/cart/items/{b}"), Some(&alice), Some(json!({"quantity": 4}))).await.ok(200);
    let placed = app.order(&alice, "cart-1", json!({})).await;
    let order = placed.ok(201).clone();
    assert_eq!(order["status"], "awaiting_payment");
    assert_eq!(order["payment"]["status"], "requires_payment");
    assert!(order["payment"]["client_secret"].as_str().is_some_and(|s| s.contains("_secret_")), "{order}");
    assert!(order.get("shares").is_none(), "the marketplace's split is not the shopper's business");
    assert_eq!(order["user_id"], "alice");
    assert_eq!(order["total"], json!({"amount": 2 * 1500 + 4 * 250, "currency": "USD"}));
    assert_eq!(order["items"][0]["unit_price"]["amount"], 1500);
    assert_eq!(order["items"][1]["artisan_id"], "bo");
    let id = order["order_id"].as_str().expect("id").to_owned();
    assert_eq!(placed.header("location"), Some(format!("/orders/{id}").as_str()));
    assert_eq!((app.stock_of(&a).await, app.stock_of(&b).await), (3, 5));
    assert_eq!(app.get_as("/cart", &alice).await.ok(200)["items"], json!([]));
    app.pay("alice", &id).await;
    let paid = app.get_as(&format!("/orders/{id}"), &alice).await.ok(200).clone();
    assert_eq!((paid["status"].as_str(), paid["payment"]["status"].as_str()), (Some("confirmed"), Some("succeeded")));
    assert!(paid["payment"].get("client_secret").is_none(), "the secret goes once paid: {paid}");
    let listed = app.get_as("/orders", &alice).await.ok(200).clone();
    assert_eq!(listed["items"].as_array().expect("items").len(), 1);
    assert_eq!(listed["items"][0]["order_id"], id.as_str());
    // Prices were captured: a later change does not touch the order.
    let ana = app.artisan("ana").await;
    app.send(
        Method::PATCH,
        &format!("/products/{a}"),
        Some(&ana),
        Some(json!({"price": {"amount": 9999, "currency": "USD"}})),
    )
    .await
    .ok(200);
    assert_eq!(app.get_as(&format!("/orders/{id}"), &alice).await.ok(200)["items"][0]["unit_price"]["amount"], 1500);
}

#[tokio::test]
async fn orders_are_listed_newest_first_with_cursors_and_private_to_their_owner() {
    let app = spawn_app().await;
    let (alice, bob) = (app.shopper("alice").await, app.shopper("bob").await);
    let product = product_with_stock(&app, "ana", 100, 50).await;
    let mut ids = Vec::new();
    for n in 0..5 {
        let id = app.order(&alice, format!("k{n}"), buy(&product, 1)).await.ok(201)["order_id"]
            .as_str()
            .expect("id")
            .to_owned();
        // Cancelled at once: a shopper holds only a few orders awaiting payment, and five are listed here.
        app.send(Method::POST, &format!("/orders/{id}/cancel"), Some(&alice), None).await.ok(200);
        ids.push(id);
    }
    let first = app.get_as("/orders?limit=2", &alice).await.ok(200).clone();
    let cursor = first["next_cursor"].as_str().expect("more pages");
    let second = app.get_as(&format!("/orders?limit=10&cursor={cursor}"), &alice).await.ok(200).clone();
    let listed: Vec<&str> = first["items"]
        .as_array()
        .into_iter()
        .chain(second["items"].as_array())
        .flatten()
        .map(|o| o["order_id"].as_str().expect("id"))
        .collect();
    let mut newest_first = ids.clone();
    newest_first.reverse();
    assert_eq!(listed, newest_first);
    app.get_as(&format!("/orders/{}", ids[0]), &bob).await.problem(404, "not-found");
    app.send(Method::POST, &format!("/orders/{}/cancel", ids[0]), Some(&bob), None).await.problem(404, "not-found");
    app.get_as(&format!("/orders?cursor={cursor}"), &bob).await.problem(400, "bad-request");
    assert_eq!(app.get_as("/orders", &bob).await.ok(200)["items"], json!([]));
}

#[tokio::test]
async fn the_same_key_and_body_answer_the_same_order_once() {
    let app = spawn_app().await;
    let alice = app.shopper("alice").await;
    let product = product_with_stock(&app, "ana", 700, 10).await;
    let first = app.order(&alice, "same-key", buy(&product, 2)).await;
    let again = app.order(&alice, "same-key", buy(&product, 2)).await;
    assert_eq!(again.ok(201), first.ok(201));
    assert_eq!(again.header("idempotent-replayed"), Some("true"));
    assert_eq!(app.stock_of(&product).await, 8, "one decrement");
    let other = app.order(&alice, "same-key", buy(&product, 3)).await;
    other.problem(422, "idempotency-key-reused");
    // Keys are per user.
    let bob = app.shopper("bob").await;
    app.order(&bob, "same-key", buy(&product, 1)).await.ok(201);
    assert_eq!(app.get_as("/orders", &alice).await.ok(200)["items"].as_array().expect("items").len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_duplicates_make_one_order() {
    let app = spawn_racing_app().await;
    let alice = app.shopper("alice").await;
    let product = product_with_stock(&app, "ana", 700, 50).await;
    let calls = (0..20).map(|_| app.order(&alice, "double-click", buy(&product, 1)));
    let responses = futures::future::join_all(calls).await;
    let ids: std::collections::BTreeSet<String> = responses
        .iter()
        .filter(|r| r.status == 201)
        .map(|r| r.body["order_id"].as_str().expect("id").to_owned())
        .collect();
    assert_eq!(ids.len(), 1, "{:?}", responses.iter().map(|r| r.status).collect::<Vec<_>>());
    for response in responses.iter().filter(|r| r.status != 201) {
        response.problem(409, "request-in-progress");
    }
    assert_eq!(app.stock_of(&product).await, 49);
    assert_eq!(app.get_as("/orders", &alice).await.ok(200)["items"].as_array().expect("items").len(), 1);
}

#[tokio::test]
async fn bad_checkouts_are_refused_and_write_nothing() {
    let app = spawn_app().await;
    let (alice, ana) = (app.shopper("alice").await, app.artisan("ana").await);
    let product = product_with_stock(&app, "ana", 700, 3).await;
    let archived = product_with_stock(&app, "ana", 700, 3).await;
    app.send(Method::DELETE, &format!("/products/{archived}"), Some(&ana), None).await;
    let body = buy(&product, 1).to_string();
    app.send_raw(Method::POST, "/orders", Some(&alice), body.clone(), &[])
        .await
        .problem(428, "idempotency-key-required");
    app.send_raw(Method::POST, "/orders", Some(&alice), body.clone(), &[("idempotency-key", &"k".repeat(65))])
        .await
        .problem(400, "bad-request");
    for (items, status) in [
        (json!([{"product_id": product, "quantity": 0}]), 422),
        (json!([{"product_id": product, "quantity": 11}]), 422),
        (json!([{"product_id": product, "quantity": -1}]), 422),
        (json!([{"product_id": product, "quantity": 1.5}]), 400),
        (json!([{"product_id": product, "quantity": 1}, {"product_id": product, "quantity": 1}]), 422),
        (json!([{"product_id": "01HZZZZZZZZZZZZZZZZZZZZZZZ", "quantity": 1}]), 422),
        (json!([{"product_id": "nope", "quantity": 1}]), 422),
        (json!([]), 422),
        (
            json!(
                (0..26)
                    .map(|n| json!({"product_id": format!("01HZZZZZZZZZZZZZZZZZZZZZ{:02}", n), "quantity": 1}))
                    .collect::<Vec<_>>()
            ),
            422,
        ),
    ] {
        let response = app.order(&alice, "bad", json!({"items": items})).await;
        assert_eq!(response.status, status, "{items}: {}", response.text);
    }
    app.order(&alice, "unknown-field", json!({"items": [{"product_id": product, "quantity": 1}], "total": 1}))
        .await
        .problem(422, "validation");
    let unavailable = app.order(&alice, "archived", buy(&archived, 1)).await;
    assert_eq!(unavailable.problem(409, "product-unavailable")["products"], json!([archived]));
    let short = app.order(&alice, "short", json!({"items": [{"product_id": product, "quantity": 4}]})).await;
    assert_eq!(short.problem(409, "out-of-stock")["products"], json!([product]));
    // Under the provider's smallest charge: refused before any stock is reserved.
    let cheap = product_with_stock(&app, "ana", 49, 3).await;
    let tiny = app.order(&alice, "tiny", buy(&cheap, 1)).await;
    assert!(
        tiny.problem(422, "validation")["errors"][0]["message"].as_str().is_some_and(|m| m.contains("smallest charge"))
    );
    assert_eq!(app.stock_of(&cheap).await, 3);
    app.order(&alice, "empty-cart", json!({})).await.problem(422, "validation");
    assert_eq!(app.stock_of(&product).await, 3);
    assert_eq!(app.get_as("/orders", &alice).await.ok(200)["items"], json!([]));
    // A refused checkout frees its key.
    app.order(&alice, "short", json!({"items": [{"product_id": product, "quantity": 3}]})).await.ok(201);
}

#[tokio::test]
async fn cancelling_returns_the_stock_once_and_only_before_shipping() {
    let app = spawn_app().await;
    let (alice, ana) = (app.shopper("alice").await, app.artisan("ana").await);
    let product = product_with_stock(&app, "ana", 700, 5).await;
    let order = app.order(&alice, "to-cancel", buy(&product, 2)).await.ok(201).clone();
    let id = order["order_id"].as_str().expect("id");
    assert_eq!(app.stock_of(&product).await, 3);
    let cancelled = app.send(Method::POST, &format!("/orders/{id}/cancel"), Some(&alice), None).await.ok(200).clone();
    assert_eq!(cancelled["status"], "cancelled");
    assert_eq!(app.stock_of(&product).await, 5);
    // Its intent is cancelled at the provider right after (the payment worker), so it can no longer be paid.
    let intent = cancelled["payment"]["intent_id"].as_str().expect("intent").to_owned();
    let settled =
        || async { app.get_as(&format!("/orders/{id}"), &alice).await.body["payment"]["status"] == "canceled" };
    assert!(eventually(5, settled).await, "the open payment was settled");
    assert_eq!(app.server.payments().intent(&intent).expect("intent")["status"], "canceled");
    // A repeated cancel (a client's retry) answers the cancelled order, and returns nothing twice.
    let again = app.send(Method::POST, &format!("/orders/{id}/cancel"), Some(&alice), None).await.ok(200).clone();
    assert_eq!(again, app.get_as(&format!("/orders/{id}"), &alice).await.ok(200).clone());
    assert_eq!(again["status"], "cancelled");
    assert_eq!(app.stock_of(&product).await, 5, "stock returned once");
    // Shipped orders cannot be cancelled.
    let shipped = app.paid_order("alice", "to-ship", buy(&product, 1)).await;
    app.send(Method::POST, &format!("/artisan/orders/{shipped}/ship"), Some(&ana), None).await.ok(200);
    assert_eq!(order_status(&app, &alice, &shipped).await, "shipped");
    app.send(Method::POST, &format!("/orders/{shipped}/cancel"), Some(&alice), None)
        .await
        .problem(409, "invalid-transition");
    assert_eq!(app.stock_of(&product).await, 4);
}

#[tokio::test]
async fn a_cancel_never_lifts_the_stock_past_its_ceiling() {
    let app = spawn_app().await;
    let (alice, ana) = (app.shopper("alice").await, app.artisan("ana").await);
    let ceiling = 100_000;
    let product = product_with_stock(&app, "ana", 700, ceiling).await;
    let order = app.order(&alice, "near-the-ceiling", buy(&product, 1)).await.ok(201)["order_id"]
        .as_str()
        .expect("id")
        .to_owned();
    let stock = format!("/products/{product}/stock");
    app.send(Method::POST, &stock, Some(&ana), Some(json!({"delta": 1}))).await.ok(200);
    assert_eq!(app.stock_of(&product).await, ceiling);
    app.send(Method::POST, &format!("/orders/{order}/cancel"), Some(&alice), None).await.ok(200);
    assert_eq!(app.stock_of(&product).await, ceiling, "the stock stays within its bound");
    // And every later movement is still accepted.
    assert_eq!(
        app.send(Method::POST, &stock, Some(&ana), Some(json!({"delta": -1}))).await.ok(200)["stock"],
        ceiling - 1
    );
}

#[tokio::test]
async fn artisans_see_and_ship_only_their_part() {
    let app = spawn_app().await;
    let (alice, ana, bo) = (app.shopper("alice").await, app.artisan("ana").await, app.artisan("bo").await);
    let (a, b) = (product_with_stock(&app, "ana", 1000, 5).await, product_with_stock(&app, "bo", 300, 5).await);
    let body = json!({"items": [{"product_id": a, "quantity": 1}, {"product_id": b, "quantity": 2}]});
    let id = app.order(&alice, "two-artisans", body).await.ok(201)["order_id"].as_str().expect("id").to_owned();
    // Shipping needs payment and confirmation.
    app.send(Method::POST, &format!("/artisan/orders/{id}/ship"), Some(&ana), None)
        .await
        .problem(409, "invalid-transition");
    app.pay("alice", &id).await;
    let ana_orders = app.get_as("/artisan/orders", &ana).await.ok(200).clone();
    assert_eq!(ana_orders["items"].as_array().expect("items").len(), 1);
    assert_eq!(ana_orders["items"][0]["items"].as_array().expect("lines").len(), 1, "only ana's line");
    assert_eq!(ana_orders["items"][0]["total"]["amount"], 1000);
    assert_eq!(app.get_as("/artisan/orders?status=shipped", &ana).await.ok(200)["items"], json!([]));
    app.get_as("/artisan/orders?status=lost", &ana).await.problem(422, "validation");
    let stranger = app.artisan("cy").await;
    app.send(Method::POST, &format!("/artisan/orders/{id}/ship"), Some(&stranger), None)
        .await
        .problem(404, "not-found");
    let shipped = app.send(Method::POST, &format!("/artisan/orders/{id}/ship"), Some(&ana), None).await.ok(200).clone();
    assert_eq!((shipped["status"].as_str(), shipped["items"].as_array().map(Vec::len)), (Some("shipped"), Some(1)));
    // Shipping again (a retry) answers the shipped part and moves nothing.
    let again = app.send(Method::POST, &format!("/artisan/orders/{id}/ship"), Some(&ana), None).await.ok(200).clone();
    assert_eq!(again, shipped);
    assert_eq!(order_status(&app, &alice, &id).await, "confirmed", "bo has not shipped yet");
    app.send(Method::POST, &format!("/orders/{id}/cancel"), Some(&alice), None)
        .await
        .problem(409, "invalid-transition");
    app.send(Method::POST, &format!("/artisan/orders/{id}/ship"), Some(&bo), None).await.ok(200);
    assert_eq!(order_status(&app, &alice, &id).await, "shipped");
    assert_eq!(
        app.get_as("/artisan/orders?status=shipped", &bo).await.ok(200)["items"].as_array().expect("items").len(),
        1
    );
}

async fn rush(app: &TestApp, product: &str, stock: i64, buyers: usize) {
    let tokens: Vec<String> =
        futures::future::join_all((0..buyers).map(|n| app.shopper_owned(format!("buyer{n}")))).await;
    let calls = tokens.iter().enumerate().map(|(n, token)| app.order(token, format!("rush-{n}"), buy(product, 1)));
    let responses = futures::future::join_all(calls).await;
    let sold = responses.iter().filter(|r| r.status == 201).count() as i64;
    for response in responses.iter().filter(|r| r.status != 201) {
        response.problem(409, "out-of-stock");
    }
    let remaining = app.stock_of(product).await;
    assert_eq!(sold, stock.min(buyers as i64), "orders placed");
    assert!(remaining >= 0);
    assert_eq!(stock, remaining + sold, "initial = remaining + sold");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_hundred_buyers_for_the_last_item_make_exactly_one_order() {
    let app = spawn_racing_app().await;
    let product = product_with_stock(&app, "ana", 4200, 1).await;
    rush(&app, &product, 1, 100).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_hundred_and_twenty_buyers_for_ten_items_make_exactly_ten_orders() {
    let app = spawn_racing_app().await;
    let product = product_with_stock(&app, "ana", 4200, 10).await;
    rush(&app, &product, 10, 120).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn multi_line_orders_are_all_or_nothing_under_contention() {
    let app = spawn_racing_app().await;
    let (plenty, scarce) =
        (product_with_stock(&app, "ana", 100, 50).await, product_with_stock(&app, "bo", 100, 1).await);
    let tokens: Vec<String> = futures::future::join_all((0..30).map(|n| app.shopper_owned(format!("pair{n}")))).await;
    let body = json!({"items": [{"product_id": plenty, "quantity": 2}, {"product_id": scarce, "quantity": 1}]});
    let calls = tokens.iter().enumerate().map(|(n, token)| app.order(token, format!("pair-{n}"), body.clone()));
    let responses = futures::future::join_all(calls).await;
    let placed = responses.iter().filter(|r| r.status == 201).count() as i64;
    for refused in responses.iter().filter(|r| r.status != 201) {
        assert_eq!(refused.problem(409, "out-of-stock")["products"], json!([scarce.clone()]), "only the scarce line");
    }
    assert_eq!(placed, 1);
    let (plenty_left, scarce_left) = (app.stock_of(&plenty).await, app.stock_of(&scarce).await);
    assert_eq!((50, 1), (plenty_left + 2 * placed, scarce_left + placed), "no half orders: both lines conserved");
}

#[tokio::test]
async fn the_confirmation_address_is_the_shoppers_and_never_shown_to_artisans() {
    let app = spawn_app().await;
    let body = json!({"user_id": "erin", "role": "shopper", "email": "erin@example.com"});
    let erin = app.send(Method::POST, "/dev/token", None, Some(body)).await.ok(200)["token"]
        .as_str()
        .expect("token")
        .to_owned();
    let product = product_with_stock(&app, "ana", 100, 5).await;
    let order = app.order(&erin, "with-email", buy(&product, 1)).await.ok(201).clone();
    assert_eq!(order["contact_email"], "erin@example.com");
    let ana = app.artisan("ana").await;
    let part = app.get_as("/artisan/orders", &ana).await.ok(200)["items"][0].clone();
    assert_eq!(part["order_id"], order["order_id"]);
    assert!(part.get("contact_email").is_none(), "{part}");
    // An address the identity provider has not verified is never written to.
    let body = json!({"user_id": "finn", "role": "shopper", "email": "finn@example.com", "email_verified": false});
    let finn = app.send(Method::POST, "/dev/token", None, Some(body)).await.ok(200)["token"]
        .as_str()
        .expect("token")
        .to_owned();
    let unverified = app.order(&finn, "unverified-email", buy(&product, 1)).await.ok(201).clone();
    assert!(unverified.get("contact_email").is_none(), "{unverified}");
}
