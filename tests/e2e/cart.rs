//! The shopper's cart: priced from the catalog, 1..=10 per line, at most 25 lines, private to its owner.

use reqwest::Method;
use storefront_tests::*;

async fn seeded_ids(app: &TestApp, n: usize) -> Vec<String> {
    app.list_all("/products?limit=100")
        .await
        .iter()
        .filter(|p| p["stock"].as_u64().unwrap_or(0) > 0)
        .take(n)
        .map(|p| p["product_id"].as_str().expect("id").to_owned())
        .collect()
}

#[tokio::test]
async fn a_shopper_fills_changes_and_empties_a_priced_cart() {
    let app = spawn_app().await;
    let alice = app.shopper("alice").await;
    assert_eq!(
        app.get_as("/cart", &alice).await.ok(200),
        &json!({"items": [], "total": {"amount": 0, "currency": "USD"}})
    );
    let ids = seeded_ids(&app, 2).await;
    let price = |id: &str| {
        let id = id.to_owned();
        let app = &app;
        async move { app.get(&format!("/products/{id}")).await.ok(200)["price"]["amount"].as_i64().expect("price") }
    };
    let (p0, p1) = (price(&ids[0]).await, price(&ids[1]).await);
    app.send(Method::PUT, &format!("/cart/items/{}", ids[0]), Some(&alice), Some(json!({"quantity": 2}))).await.ok(200);
    let cart = app
        .send(Method::PUT, &format!("/cart/items/{}", ids[1]), Some(&alice), Some(json!({"quantity": 1})))
        .await
        .ok(200)
        .clone();
    assert_eq!(cart["items"].as_array().expect("items").len(), 2);
    assert_eq!(cart["items"][0]["product_id"], ids[0].as_str(), "oldest line first");
    assert_eq!(cart["items"][0]["unit_price"]["amount"], p0);
    assert_eq!(cart["items"][0]["line_total"]["amount"], 2 * p0);
    assert_eq!(cart["total"]["amount"], 2 * p0 + p1);
    assert_eq!(app.get_as("/cart", &alice).await.ok(200), &cart);
    // Setting a quantity replaces it.
    let cart = app
        .send(Method::PUT, &format!("/cart/items/{}", ids[0]), Some(&alice), Some(json!({"quantity": 5})))
        .await
        .ok(200)
        .clone();
    assert_eq!(cart["items"][0]["quantity"], 5);
    assert_eq!(cart["total"]["amount"], 5 * p0 + p1);
    let cart = app.send(Method::DELETE, &format!("/cart/items/{}", ids[0]), Some(&alice), None).await.ok(200).clone();
    assert_eq!(cart["items"].as_array().expect("items").len(), 1);
    assert_eq!(cart["total"]["amount"], p1);
    // Removing what is not there is fine.
    app.send(Method::DELETE, &format!("/cart/items/{}", ids[0]), Some(&alice), None).await.ok(200);
    // Another shopper's cart is their own.
    let bob = app.shopper("bob").await;
    assert_eq!(app.get_as("/cart", &bob).await.ok(200)["items"], json!([]));
}

#[tokio::test]
async fn prices_in_the_cart_follow_the_catalog() {
    let app = spawn_app().await;
    let (ana, alice) = (app.artisan("ana").await, app.shopper("alice").await);
    let product = app.create_product(&ana, "Vase", "glass", 1000, 5).await;
    let id = product["product_id"].as_str().expect("id");
    app.send(Method::PUT, &format!("/cart/items/{id}"), Some(&alice), Some(json!({"quantity": 3}))).await.ok(200);
    app.send(
        Method::PATCH,
        &format!("/products/{id}"),
        Some(&ana),
        Some(json!({"price": {"amount": 1200, "currency": "USD"}})),
    )
    .await
    .ok(200);
    let cart = app.get_as("/cart", &alice).await.ok(200).clone();
    assert_eq!(cart["total"]["amount"], 3600);
    assert_eq!(cart["items"][0]["available"], true);
    app.send(Method::POST, &format!("/products/{id}/stock"), Some(&ana), Some(json!({"delta": -4}))).await.ok(200);
    assert_eq!(app.get_as("/cart", &alice).await.ok(200)["items"][0]["available"], false, "1 left, 3 wanted");
}

#[tokio::test]
async fn bad_cart_input_is_refused_and_changes_nothing() {
    let app = spawn_app().await;
    let (ana, alice) = (app.artisan("ana").await, app.shopper("alice").await);
    let ids = seeded_ids(&app, 1).await;
    let path = format!("/cart/items/{}", ids[0]);
    app.send(Method::PUT, &path, Some(&alice), Some(json!({"quantity": 1}))).await.ok(200);
    let before = app.get_as("/cart", &alice).await.ok(200).clone();
    for (body, status) in [
        (json!({"quantity": 0}), 422),
        (json!({"quantity": 11}), 422),
        (json!({"quantity": -1}), 422),
        (json!({"quantity": 1.5}), 400),
        (json!({"quantity": "2"}), 400),
        (json!({"quantity": 2, "unit_price": 1}), 422),
        (json!({}), 422),
    ] {
        let response = app.send(Method::PUT, &path, Some(&alice), Some(body.clone())).await;
        assert_eq!(response.status, status, "{body}: {}", response.text);
    }
    app.send(Method::PUT, "/cart/items/01HZZZZZZZZZZZZZZZZZZZZZZZ", Some(&alice), Some(json!({"quantity": 1})))
        .await
        .problem(404, "not-found");
    app.send(Method::PUT, "/cart/items/nope", Some(&alice), Some(json!({"quantity": 1})))
        .await
        .problem(404, "not-found");
    let archived = app.create_product(&ana, "Old", "glass", 1000, 5).await;
    let archived_id = archived["product_id"].as_str().expect("id");
    app.send(Method::DELETE, &format!("/products/{archived_id}"), Some(&ana), None).await;
    let unavailable =
        app.send(Method::PUT, &format!("/cart/items/{archived_id}"), Some(&alice), Some(json!({"quantity": 1}))).await;
    assert_eq!(unavailable.problem(409, "product-unavailable")["products"], json!([archived_id]));
    assert_eq!(app.get_as("/cart", &alice).await.ok(200), &before, "nothing changed");
}

#[tokio::test]
async fn a_cart_holds_at_most_twenty_five_products() {
    let app = spawn_app().await;
    let alice = app.shopper("alice").await;
    let ids = seeded_ids(&app, 26).await;
    for id in &ids[..25] {
        app.send(Method::PUT, &format!("/cart/items/{id}"), Some(&alice), Some(json!({"quantity": 1}))).await.ok(200);
    }
    let full =
        app.send(Method::PUT, &format!("/cart/items/{}", ids[25]), Some(&alice), Some(json!({"quantity": 1}))).await;
    assert_eq!(full.problem(422, "validation")["errors"][0]["field"], "product_id");
    // Changing a line already in a full cart still works.
    app.send(Method::PUT, &format!("/cart/items/{}", ids[0]), Some(&alice), Some(json!({"quantity": 3}))).await.ok(200);
    assert_eq!(app.get_as("/cart", &alice).await.ok(200)["items"].as_array().expect("items").len(), 25);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forty_parallel_adds_leave_twenty_five_lines_and_a_removal_makes_room_again() {
    let app = spawn_racing_app().await;
    let alice = app.shopper("alice").await;
    let ids = seeded_ids(&app, 40).await;
    assert_eq!(ids.len(), 40, "the demo shop has 40 products in stock");
    let adds = ids.iter().map(|id| {
        let (app, alice) = (&app, &alice);
        async move {
            let path = format!("/cart/items/{id}");
            app.send(Method::PUT, &path, Some(alice), Some(json!({"quantity": 1}))).await.status
        }
    });
    let statuses = futures::future::join_all(adds).await;
    let added = statuses.iter().filter(|s| **s == 200).count();
    assert!(statuses.iter().all(|s| matches!(s, 200 | 422)), "only lines or full: {statuses:?}");
    let lines = app.get_as("/cart", &alice).await.ok(200)["items"].as_array().expect("items").clone();
    assert_eq!((added, lines.len()), (25, 25), "at most 25 lines, however many adds run at once");
    // A line taken out makes room for exactly one more.
    let first = lines[0]["product_id"].as_str().expect("id");
    app.send(Method::DELETE, &format!("/cart/items/{first}"), Some(&alice), None).await.ok(200);
    let outside: Vec<&String> = ids.iter().filter(|id| !lines.iter().any(|l| l["product_id"] == id.as_str())).collect();
    let put = |id: &String| format!("/cart/items/{id}");
    app.send(Method::PUT, &put(outside[0]), Some(&alice), Some(json!({"quantity": 1}))).await.ok(200);
    app.send(Method::PUT, &put(outside[1]), Some(&alice), Some(json!({"quantity": 1})))
        .await
        .problem(422, "validation");
}

/// Ages `user`'s cart line of `product` past its 30 days, as if idle that long (on DynamoDB its TTL has not
/// deleted it yet: that lags by days; on Postgres the housekeeping has not run).
async fn expire_line(app: &TestApp, user: &str, product: &str) {
    if let Some(database) = app.database() {
        use storefront::adapters::postgres::{admin, sqlx};
        let mut aged = 0;
        // Wherever the shopper's data lives: the one database, or one of the shards.
        for url in std::iter::once(&database.setup_url).chain(database.shards.iter().map(|s| &s.setup_url)) {
            let pool = admin::connect_once(url).await.expect("connected");
            let statement = "UPDATE cart_lines SET expires_at = now() - interval '1 day' \
                             WHERE user_id = $1 AND product_id = $2";
            let updated = sqlx::query(statement).bind(user).bind(product).execute(&pool).await.expect("aged");
            aged += updated.rows_affected();
            pool.close().await;
        }
        assert_eq!(aged, 1, "one line aged");
        return;
    }
    use aws_sdk_dynamodb::types::AttributeValue;
    let sdk = storefront::adapters::aws::local_sdk_config(app.server.dynamodb_endpoint()).await;
    aws_sdk_dynamodb::Client::new(&sdk)
        .update_item()
        .table_name(storefront_local::TABLE_NAME)
        .key("PK", AttributeValue::S(format!("USER#{user}")))
        .key("SK", AttributeValue::S(format!("CART#{product}")))
        .update_expression("SET expires_at = :past")
        .condition_expression("attribute_exists(PK)")
        .expression_attribute_values(":past", AttributeValue::N("1".into()))
        .send()
        .await
        .expect("aged");
}

#[tokio::test]
async fn a_line_that_expired_no_longer_counts_against_a_full_cart() {
    let app = spawn_app().await;
    let alice = app.shopper("alice").await;
    let ids = seeded_ids(&app, 26).await;
    for id in &ids[..25] {
        app.send(Method::PUT, &format!("/cart/items/{id}"), Some(&alice), Some(json!({"quantity": 1}))).await.ok(200);
    }
    expire_line(&app, "alice", &ids[3]).await;
    let path = format!("/cart/items/{}", ids[25]);
    let cart = app.send(Method::PUT, &path, Some(&alice), Some(json!({"quantity": 1}))).await;
    let items = cart.ok(200)["items"].as_array().expect("items").clone();
    assert_eq!(items.len(), 25, "the expired line is gone, the new one in");
    assert!(!items.iter().any(|l| l["product_id"] == ids[3].as_str()));
}
