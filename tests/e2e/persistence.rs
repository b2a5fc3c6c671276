//! Data lives in the data dir: a restart finds it, and the demo seed is written once.

use reqwest::Method;
use storefront_tests::*;

#[tokio::test]
async fn products_and_carts_survive_a_restart_and_the_seed_is_not_repeated() {
    let app = spawn_app().await;
    assert_eq!(app.server.seeded, 42);
    let ana = app.artisan("ana").await;
    let alice = app.shopper("alice").await;
    let product = app.create_product(&ana, "Kept", "prints", 999, 2).await;
    let id = product["product_id"].as_str().expect("id").to_owned();
    app.send(Method::PUT, &format!("/cart/items/{id}"), Some(&alice), Some(json!({"quantity": 2}))).await.ok(200);
    let cursor = app.get("/products?limit=5").await.ok(200)["next_cursor"].as_str().expect("cursor").to_owned();

    let app = app.restart().await;
    assert_eq!(app.server.seeded, 0);
    assert_eq!(app.get(&format!("/products/{id}")).await.ok(200), &public_view(&product));
    assert_eq!(app.list_all("/products?limit=100").await.len(), 43);
    // Tokens and cursors issued before the restart still work: the keys live in the data dir.
    assert_eq!(app.get_as("/cart", &alice).await.ok(200)["items"][0]["quantity"], 2);
    app.get(&format!("/products?limit=5&cursor={cursor}")).await.ok(200);
}
