//! Artisans list, edit, archive and restock their own products; nobody else can, and bad input changes nothing.

use reqwest::Method;
use storefront_tests::*;

#[tokio::test]
async fn an_artisan_lists_a_product_owned_by_the_caller() {
    let app = spawn_app().await;
    let ana = app.artisan("ana").await;
    let body = |title: &str| {
        json!({
            "title": title, "description": "Tan", "category": "leather",
            "price": {"amount": 4500, "currency": "USD"}, "stock": 3
        })
    };
    // A title is taken as sent or refused, never silently changed.
    let padded = app.send(Method::POST, "/products", Some(&ana), Some(body(" Leather wallet "))).await;
    assert_eq!(padded.problem(422, "validation")["errors"][0]["field"], "title");
    let created = app.send(Method::POST, "/products", Some(&ana), Some(body("Leather wallet"))).await;
    let product = created.ok(201).clone();
    assert_eq!(product["artisan_id"], "ana");
    assert_eq!(product["title"], "Leather wallet");
    assert_eq!(product["status"], "active");
    assert_eq!(product["version"], 1);
    assert_eq!(product["images"], json!([]));
    let id = product["product_id"].as_str().expect("id");
    assert_eq!(created.header("location"), Some(format!("/products/{id}").as_str()));
    assert_eq!(app.get(&format!("/products/{id}")).await.ok(200), &public_view(&product));
    assert_eq!(app.list_all("/products?category=leather").await, vec![public_view(&product)]);
    assert_eq!(app.get("/artisans/ana").await.ok(200)["product_count"], 1);
    assert_eq!(app.list_all("/products?limit=100").await[0], public_view(&product), "newest first");
}

#[tokio::test]
async fn ownership_status_and_version_are_never_taken_from_a_body() {
    let app = spawn_app().await;
    let ana = app.artisan("ana").await;
    for field in [
        ("artisan_id", json!("mallory")),
        ("version", json!(7)),
        ("status", json!("archived")),
        ("product_id", json!("01HZZZZZZZZZZZZZZZZZZZZZZZ")),
    ] {
        let mut body =
            json!({"title": "Mug", "category": "ceramics", "price": {"amount": 100, "currency": "USD"}, "stock": 1});
        body[field.0] = field.1;
        let problem =
            app.send(Method::POST, "/products", Some(&ana), Some(body)).await.problem(422, "validation").clone();
        assert_eq!(problem["errors"][0]["field"], field.0);
    }
    let product = app.create_product(&ana, "Mug", "ceramics", 100, 1).await;
    let id = product["product_id"].as_str().expect("id");
    for body in
        [json!({"artisan_id": "mallory"}), json!({"stock": 99}), json!({"status": "active"}), json!({"version": 9})]
    {
        app.send(Method::PATCH, &format!("/products/{id}"), Some(&ana), Some(body)).await.problem(422, "validation");
    }
    assert_eq!(app.get(&format!("/products/{id}")).await.ok(200), &public_view(&product), "nothing changed");
    assert_eq!(app.get("/artisans/ana").await.ok(200)["product_count"], 1);
}

#[tokio::test]
async fn invalid_products_are_refused_with_every_field_named() {
    let app = spawn_app().await;
    let ana = app.artisan("ana").await;
    let body = json!({"title": "", "category": "weapons", "price": {"amount": 0, "currency": "EUR"}, "stock": -1});
    let problem = app.send(Method::POST, "/products", Some(&ana), Some(body)).await.problem(422, "validation").clone();
    let fields: Vec<&str> =
        problem["errors"].as_array().expect("errors").iter().map(|e| e["field"].as_str().expect("field")).collect();
    assert_eq!(fields, ["title", "category", "price.currency", "price.amount", "stock"]);
    let missing = app
        .send(Method::POST, "/products", Some(&ana), Some(json!({"title": "Mug"})))
        .await
        .problem(422, "validation")
        .clone();
    assert!(missing["errors"][0]["message"].as_str().expect("message").contains("required"));
    for (raw, status, kind) in [
        ("{\"title\": ", 400, "bad-request"),
        ("[]", 400, "bad-request"),
        ("", 400, "bad-request"),
        (
            "{\"title\": 5, \"category\": \"glass\", \"price\": {\"amount\": 1, \"currency\": \"USD\"}, \"stock\": 1}",
            400,
            "bad-request",
        ),
        (
            "{\"title\": \"a\", \"category\": \"glass\", \"price\": {\"amount\": 1.5, \"currency\": \"USD\"}, \"stock\": 1}",
            400,
            "bad-request",
        ),
        (
            "{\"title\": \"a\", \"category\": \"glass\", \"price\": {\"amount\": 1, \"currency\": \"USD\"}, \"stock\": 100000000000000000000}",
            400,
            "bad-request",
        ),
        (
            "{\"title\": \"a\", \"category\": \"glass\", \"price\": {\"amount\": 1, \"currency\": \"USD\"}, \"stock\": 100001}",
            422,
            "validation",
        ),
    ] {
        app.send_raw(Method::POST, "/products", Some(&ana), raw.to_owned(), &[("content-type", "application/json")])
            .await
            .problem(status, kind);
    }
    let huge = format!("{{\"title\": \"a\", \"description\": \"{}\"}}", "x".repeat(70 * 1024));
    app.send_raw(Method::POST, "/products", Some(&ana), huge, &[]).await.problem(413, "payload-too-large");
    let bigger = "x".repeat(2 * 1024 * 1024);
    app.send_raw(Method::POST, "/products", Some(&ana), bigger, &[]).await.problem(413, "payload-too-large");
    assert_eq!(app.list_all("/products?limit=100").await.len(), 42, "nothing was created");
    app.get("/artisans/ana").await.problem(404, "not-found");
}

#[tokio::test]
async fn an_edit_changes_only_what_it_names_and_if_match_guards_lost_updates() {
    let app = spawn_app().await;
    let ana = app.artisan("ana").await;
    let product = app.create_product(&ana, "Mug", "ceramics", 1500, 4).await;
    let path = format!("/products/{}", product["product_id"].as_str().expect("id"));
    let edited = app
        .send_raw(
            Method::PATCH,
            &path,
            Some(&ana),
            json!({"price": {"amount": 1800, "currency": "USD"}, "category": "glass"}).to_string(),
            &[("if-match", "\"1\"")],
        )
        .await;
    let edited_body = edited.ok(200).clone();
    assert_eq!(edited.header("etag"), Some("\"2\""));
    assert_eq!(edited_body["price"]["amount"], 1800);
    assert_eq!(edited_body["title"], "Mug");
    assert_eq!(edited_body["stock"], 4);
    assert_eq!(edited_body["version"], 2);
    assert_eq!(
        app.list_all("/products?category=glass&limit=50")
            .await
            .iter()
            .filter(|p| p["product_id"] == product["product_id"])
            .count(),
        1
    );
    assert!(
        app.list_all("/products?category=ceramics&limit=50")
            .await
            .iter()
            .all(|p| p["product_id"] != product["product_id"])
    );
    let stale =
        app.send_raw(Method::PATCH, &path, Some(&ana), json!({"title": "Cup"}).to_string(), &[("if-match", "1")]).await;
    stale.problem(412, "precondition-failed");
    app.send_raw(Method::PATCH, &path, Some(&ana), json!({"title": "Cup"}).to_string(), &[("if-match", "banana")])
        .await
        .problem(400, "bad-request");
    app.send(Method::PATCH, &path, Some(&ana), Some(json!({}))).await.problem(422, "validation");
    assert_eq!(app.get(&path).await.ok(200), &public_view(&edited_body), "refused edits changed nothing");
    let categories = app.get("/categories").await.ok(200)["items"].clone();
    let count = |slug: &str| {
        categories.as_array().expect("items").iter().find(|c| c["slug"] == slug).expect("category")["product_count"]
            .clone()
    };
    assert_eq!((count("ceramics"), count("glass")), (json!(8), json!(7)), "the count moved with the category");
}

#[tokio::test]
async fn another_artisans_product_is_not_found_for_every_write() {
    let app = spawn_app().await;
    let (ana, bob) = (app.artisan("ana").await, app.artisan("bob").await);
    let product = app.create_product(&ana, "Mug", "ceramics", 1500, 4).await;
    let id = product["product_id"].as_str().expect("id");
    app.send(Method::PATCH, &format!("/products/{id}"), Some(&bob), Some(json!({"title": "Mine"})))
        .await
        .problem(404, "not-found");
    app.send(Method::DELETE, &format!("/products/{id}"), Some(&bob), None).await.problem(404, "not-found");
    app.send(Method::POST, &format!("/products/{id}/stock"), Some(&bob), Some(json!({"delta": 5})))
        .await
        .problem(404, "not-found");
    app.send(Method::POST, &format!("/products/{id}/stock"), Some(&bob), Some(json!({"delta": -100})))
        .await
        .problem(404, "not-found");
    assert_eq!(app.get(&format!("/products/{id}")).await.ok(200), &public_view(&product));
}

#[tokio::test]
async fn stock_moves_by_deltas_and_never_below_zero() {
    let app = spawn_app().await;
    let ana = app.artisan("ana").await;
    let product = app.create_product(&ana, "Mug", "ceramics", 1500, 2).await;
    let path = format!("/products/{}/stock", product["product_id"].as_str().expect("id"));
    let after = app.send(Method::POST, &path, Some(&ana), Some(json!({"delta": 5}))).await.ok(200).clone();
    assert_eq!((after["stock"].clone(), after["version"].clone()), (json!(7), json!(2)));
    app.send(Method::POST, &path, Some(&ana), Some(json!({"delta": -8}))).await.problem(409, "out-of-stock");
    assert_eq!(app.send(Method::POST, &path, Some(&ana), Some(json!({"delta": -7}))).await.ok(200)["stock"], 0);
    for bad in [
        json!({"delta": 0}),
        json!({"delta": 100001}),
        json!({"delta": "5"}),
        json!({"delta": 1, "stock": 9}),
        json!({}),
    ] {
        let response = app.send(Method::POST, &path, Some(&ana), Some(bad.clone())).await;
        assert!(matches!(response.status, 400 | 422), "{bad} gave {}", response.status);
    }
    app.send(Method::POST, "/products/01HZZZZZZZZZZZZZZZZZZZZZZZ/stock", Some(&ana), Some(json!({"delta": 1})))
        .await
        .problem(404, "not-found");
    assert_eq!(
        app.get(&format!("/products/{}", product["product_id"].as_str().expect("id"))).await.ok(200)["stock"],
        0
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_restocks_and_sales_of_stock_never_lose_a_unit() {
    let app = spawn_racing_app().await;
    let ana = app.artisan("ana").await;
    let product = app.create_product(&ana, "Mug", "ceramics", 1500, 0).await;
    let path = format!("/products/{}/stock", product["product_id"].as_str().expect("id"));
    let calls = (0..30).map(|_| app.send(Method::POST, &path, Some(&ana), Some(json!({"delta": 1}))));
    let statuses: Vec<u16> = futures::future::join_all(calls).await.iter().map(|r| r.status).collect();
    assert!(statuses.iter().all(|s| *s == 200), "{statuses:?}");
    let now = app.get(&format!("/products/{}", product["product_id"].as_str().expect("id"))).await.ok(200).clone();
    assert_eq!((now["stock"].clone(), now["version"].clone()), (json!(30), json!(31)));
}

#[tokio::test]
async fn an_archived_product_leaves_the_listings_but_stays_readable() {
    let app = spawn_app().await;
    let ana = app.artisan("ana").await;
    let product = app.create_product(&ana, "Wallet", "leather", 4500, 3).await;
    let id = product["product_id"].as_str().expect("id");
    let deleted = app.send(Method::DELETE, &format!("/products/{id}"), Some(&ana), None).await;
    assert_eq!(deleted.status, 204);
    assert!(deleted.text.is_empty());
    let archived = app.get(&format!("/products/{id}")).await.ok(200).clone();
    assert_eq!(archived["status"], "archived");
    assert!(app.list_all("/products?category=leather").await.is_empty());
    assert!(app.list_all("/products?artisan_id=ana").await.is_empty());
    assert_eq!(app.list_all("/products?limit=100").await.len(), 42);
    assert_eq!(app.get("/artisans/ana").await.ok(200)["product_count"], 0);
    // Archiving twice is fine and changes nothing more.
    assert_eq!(app.send(Method::DELETE, &format!("/products/{id}"), Some(&ana), None).await.status, 204);
    assert_eq!(app.get(&format!("/products/{id}")).await.ok(200), &archived);
}
