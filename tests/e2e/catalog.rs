//! The public catalog: listings, pagination, filters, one product, artisans, categories.

use std::collections::HashSet;

use storefront_tests::*;

#[tokio::test]
async fn the_seeded_catalog_lists_every_product_once_newest_first() {
    let app = spawn_app().await;
    let items = app.list_all("/products?limit=7").await;
    assert_eq!(items.len(), 42);
    let ids: Vec<&str> = items.iter().map(|p| p["product_id"].as_str().expect("id")).collect();
    assert_eq!(ids.iter().collect::<HashSet<_>>().len(), 42, "a product appeared twice across pages");
    let mut sorted = ids.clone();
    sorted.sort_by(|a, b| b.cmp(a));
    assert_eq!(ids, sorted, "listing is not newest first");
    let first = &items[0];
    for field in [
        "product_id",
        "artisan_id",
        "title",
        "description",
        "category",
        "price",
        "stock",
        "status",
        "images",
        "version",
        "created_at",
        "updated_at",
    ] {
        assert!(!first[field].is_null(), "product lacks {field}: {first}");
    }
    assert_eq!(first["price"]["currency"], "USD");
}

#[tokio::test]
async fn the_default_page_is_twenty_and_the_limit_is_bounded() {
    let app = spawn_app().await;
    let page = app.get("/products").await;
    assert_eq!(page.ok(200)["items"].as_array().expect("items").len(), 20);
    assert!(page.body["next_cursor"].is_string());
    assert!(page.header("cache-control").is_some_and(|v| v.contains("public")));
    assert_eq!(app.get("/products?limit=100").await.ok(200)["items"].as_array().expect("items").len(), 42);
    for bad in ["0", "101", "-1", "ten", "1.5"] {
        let body = app.get(&format!("/products?limit={bad}")).await.problem(422, "validation").clone();
        assert_eq!(body["errors"][0]["field"], "limit");
    }
}

#[tokio::test]
async fn category_and_artisan_filters_return_only_matching_products() {
    let app = spawn_app().await;
    let ceramics = app.list_all("/products?category=ceramics&limit=3").await;
    assert_eq!(ceramics.len(), 8);
    assert!(ceramics.iter().all(|p| p["category"] == "ceramics"));
    let marta = app.list_all("/products?artisan_id=marta-clay&limit=5").await;
    assert_eq!(marta.len(), 14, "ceramics and glass");
    assert!(marta.iter().all(|p| p["artisan_id"] == "marta-clay"));
    let marta_glass = app.list_all("/products?artisan_id=marta-clay&category=glass&limit=2").await;
    assert_eq!(marta_glass.len(), 6);
    assert!(marta_glass.iter().all(|p| p["category"] == "glass" && p["artisan_id"] == "marta-clay"));
    assert_eq!(app.list_all("/products?artisan_id=nobody").await.len(), 0);
    app.get("/products?category=weapons").await.problem(422, "validation");
    app.get("/products?artisan_id=a%23b").await.problem(422, "validation");
}

#[tokio::test]
async fn forged_tampered_or_foreign_cursors_are_bad_requests() {
    let app = spawn_app().await;
    let cursor = app.get("/products?limit=5").await.ok(200)["next_cursor"].as_str().expect("cursor").to_owned();
    app.get(&format!("/products?limit=5&cursor={cursor}")).await.ok(200);
    let (payload, tag) = cursor.split_once('.').expect("two parts");
    let mut forged_payload = payload.to_owned();
    forged_payload.replace_range(0..2, if payload.starts_with("AA") { "BB" } else { "AA" });
    for bad in [
        format!("{forged_payload}.{tag}"),
        format!("{payload}.AAAAAAAAAAAAAAAAAAAAAA"),
        "not-a-cursor".to_owned(),
        String::new(),
    ] {
        app.get(&format!("/products?cursor={bad}")).await.problem(400, "bad-request");
    }
    // A cursor of the whole catalog is not valid on a category listing.
    app.get(&format!("/products?category=glass&cursor={cursor}")).await.problem(400, "bad-request");
}

#[tokio::test]
async fn one_product_comes_with_an_etag_that_answers_not_modified() {
    let app = spawn_app().await;
    let listed = app.get("/products?limit=1").await.ok(200)["items"][0].clone();
    let id = listed["product_id"].as_str().expect("id");
    let product = app.get(&format!("/products/{id}")).await;
    assert_eq!(product.ok(200), &listed);
    let etag = product.header("etag").expect("etag").to_owned();
    assert_eq!(etag, format!("\"{}\"", listed["version"]));
    let again =
        app.send_raw(reqwest::Method::GET, &format!("/products/{id}"), None, "", &[("if-none-match", &etag)]).await;
    assert_eq!(again.status, 304);
    assert!(again.text.is_empty());
    let stale =
        app.send_raw(reqwest::Method::GET, &format!("/products/{id}"), None, "", &[("if-none-match", "\"999\"")]).await;
    assert_eq!(stale.status, 200);
}

#[tokio::test]
async fn unknown_or_malformed_product_ids_are_not_found() {
    let app = spawn_app().await;
    app.get("/products/01HZZZZZZZZZZZZZZZZZZZZZZZ").await.problem(404, "not-found");
    app.get("/products/not-an-id").await.problem(404, "not-found");
    app.get("/no/such/route").await.problem(404, "not-found");
    app.send(reqwest::Method::PUT, "/products", None, None).await.problem(405, "method-not-allowed");
}

#[tokio::test]
async fn artisans_and_categories_report_their_listed_products() {
    let app = spawn_app().await;
    let marta = app.get("/artisans/marta-clay").await;
    assert_eq!(
        marta.ok(200),
        &json!({"artisan_id": "marta-clay", "display_name": "Marta Oliveira", "product_count": 14})
    );
    app.get("/artisans/nobody").await.problem(404, "not-found");
    let categories = app.get("/categories").await.ok(200)["items"].clone();
    let counts: Vec<(String, u64)> = categories
        .as_array()
        .expect("items")
        .iter()
        .map(|c| (c["slug"].as_str().expect("slug").to_owned(), c["product_count"].as_u64().expect("count")))
        .collect();
    assert_eq!(counts.iter().map(|(_, n)| n).sum::<u64>(), 42);
    assert!(counts.contains(&("ceramics".to_owned(), 8)));
    assert!(counts.contains(&("leather".to_owned(), 0)));
    assert!(categories[0]["name"].is_string());
}
