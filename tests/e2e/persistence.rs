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

#[tokio::test]
async fn a_new_data_dir_starts_on_what_the_store_holds_and_never_seeds_over_it() {
    let app = spawn_app().await;
    let marta = app.artisan("marta-clay").await;
    let mug = crate::events::ORDERED_PRODUCT;
    let restock = format!("/products/{mug}/stock");
    let restocked = app.send(Method::POST, &restock, Some(&marta), Some(json!({"delta": 7}))).await;
    let stock = restocked.ok(200)["stock"].as_i64().expect("stock");
    let ana = app.artisan("ana").await;
    let kept = app.create_product(&ana, "Kept", "prints", 999, 2).await["product_id"].as_str().expect("id").to_owned();

    let app = app.restart_with_a_new_data_dir().await;
    let listed = app.list_all("/products?limit=100").await;
    match backend() {
        // The folder held the database: a new demo shop.
        Backend::DynamoDb => {
            assert_eq!((app.server.seeded, listed.len()), (42, 42));
            assert_eq!(app.stock_of(mug).await, stock - 7);
        }
        // The database outlives the folder: its products as they were, the seed not written over them.
        Backend::Postgres { .. } => {
            assert_eq!((app.server.seeded, listed.len()), (0, 43));
            assert_eq!(app.stock_of(mug).await, stock, "the restock is kept");
            app.get(&format!("/products/{kept}")).await.ok(200);
        }
    }
}
