//! Bad numbers never corrupt data: every numeric field, header and query parameter of every route, sent at the
//! integer edges (i64 and u32 limits, one past them, 20 digits, -1, 0), as fractions, strings, null, booleans, arrays
//! and objects, gets a problem+json 4xx, never a 5xx, and changes nothing. (The webhook's signature time is fuzzed in
//! tests/e2e/webhook.rs.) (An integral number spelled `2.0` or `2e3` is the integer it names.) A stored item no read can map is left out of lists instead of failing them.

use reqwest::Method;
use storefront_tests::*;

/// Every value no numeric field accepts, as JSON text.
const NEVER_VALID: &[&str] = &[
    "-9223372036854775808",
    "-9223372036854775809",
    "9223372036854775807",
    "9223372036854775808",
    "18446744073709551615",
    "18446744073709551616",
    "4294967295",
    "4294967296",
    "-4294967296",
    "12345678901234567890",
    "99999999999999999999",
    "1.5",
    "-0.5",
    "1e-3",
    "1e19",
    "1e400",
    "\"5\"",
    "null",
    "true",
    "[]",
    "{}",
];

/// Every `limit` no listing accepts (1 to 100 are).
const LIMITS: &[&str] = &[
    "-9223372036854775808",
    "9223372036854775807",
    "18446744073709551616",
    "99999999999999999999",
    "4294967296",
    "-1",
    "0",
    "101",
    "1.5",
    "1e2",
    "abc",
    "",
];

/// The JSON bodies to try: `template` with `FIELD` replaced by each bad value (and the field's own extras).
fn bodies(template: &str, extras: &[&str]) -> Vec<String> {
    NEVER_VALID.iter().chain(extras).map(|value| template.replace("FIELD", value)).collect()
}

#[track_caller]
fn assert_refused(response: &TestResponse, what: &str) {
    assert!((400..500).contains(&response.status), "{what} gave {}: {}", response.status, response.text);
    assert_eq!(response.header("content-type"), Some("application/problem+json"), "{what}: {}", response.text);
}

#[tokio::test]
async fn numbers_at_every_edge_are_refused_and_change_nothing() {
    let app = spawn_app().await;
    let (ana, alice) = (app.artisan("ana").await, app.shopper("alice").await);
    let product = app.create_product(&ana, "Bowl", "ceramics", 2000, 3).await;
    let id = product["product_id"].as_str().expect("id").to_owned();
    app.send(Method::PUT, &format!("/cart/items/{id}"), Some(&alice), Some(json!({"quantity": 1}))).await.ok(200);
    let before = (app.get(&format!("/products/{id}")).await.ok(200).clone(), app.get_as("/cart", &alice).await.text);
    let categories = app.get("/categories").await.text;
    let json = [("content-type", "application/json")];
    let with_key = [("content-type", "application/json"), ("idempotency-key", "edge")];

    // (method, path, caller, bodies, headers)
    type Case<'a> = (Method, String, &'a str, Vec<String>, &'a [(&'a str, &'a str)]);
    let cases: Vec<Case> = vec![
        (
            Method::POST,
            "/products".into(),
            &ana,
            bodies(
                r#"{"title":"T","description":"","category":"ceramics","price":{"amount":FIELD,"currency":"USD"},"stock":1}"#,
                &["0", "-1", "100000001"],
            ),
            &json,
        ),
        (
            Method::POST,
            "/products".into(),
            &ana,
            bodies(
                r#"{"title":"T","description":"","category":"ceramics","price":{"amount":100,"currency":"USD"},"stock":FIELD}"#,
                &["-1", "100001"],
            ),
            &json,
        ),
        (
            Method::PATCH,
            format!("/products/{id}"),
            &ana,
            bodies(r#"{"price":{"amount":FIELD,"currency":"USD"}}"#, &["0", "-1", "100000001"]),
            &json,
        ),
        (
            Method::POST,
            format!("/products/{id}/stock"),
            &ana,
            bodies(r#"{"delta":FIELD}"#, &["0", "-4", "100001", "-100001"]),
            &json,
        ),
        (Method::PUT, format!("/cart/items/{id}"), &alice, bodies(r#"{"quantity":FIELD}"#, &["0", "-1", "11"]), &json),
        (
            Method::POST,
            "/orders".into(),
            &alice,
            bodies(r#"{"items":[{"product_id":"ID","quantity":FIELD}]}"#, &["0", "-1", "11"])
                .into_iter()
                .map(|body| body.replace("ID", &id))
                .collect(),
            &with_key,
        ),
    ];
    let mut tried = 0;
    for (method, path, token, bodies, headers) in cases {
        for body in bodies {
            let response = app.send_raw(method.clone(), &path, Some(token), body.clone(), headers).await;
            assert_refused(&response, &format!("{method} {path} {body}"));
            tried += 1;
        }
    }
    for path in ["/products", "/orders", "/artisan/orders", "/artisan/products", "/artisan/payouts"] {
        let token = if path.starts_with("/artisan") { &ana } else { &alice };
        for limit in LIMITS {
            let response = app.get_as(&format!("{path}?limit={limit}"), token).await;
            assert_refused(&response, &format!("GET {path}?limit={limit}"));
            tried += 1;
        }
    }
    assert_eq!(tried, 6 * NEVER_VALID.len() + 3 + 2 + 3 + 4 + 3 + 3 + 5 * LIMITS.len(), "the whole corpus ran");
    let after = (app.get(&format!("/products/{id}")).await.ok(200).clone(), app.get_as("/cart", &alice).await.text);
    assert_eq!(after, before, "nothing changed");
    assert_eq!(app.get("/categories").await.text, categories, "no product was created");
    assert_eq!(app.get_as("/orders", &alice).await.ok(200)["items"], json!([]), "no order was placed");
}

#[tokio::test]
async fn a_stored_product_no_read_can_map_is_left_out_of_lists_and_carts() {
    let app = spawn_app().await;
    let (ana, alice) = (app.artisan("ana").await, app.shopper("alice").await);
    let bad =
        app.create_product(&ana, "Corrupt", "ceramics", 2000, 3).await["product_id"].as_str().expect("id").to_owned();
    let good =
        app.create_product(&ana, "Fine", "ceramics", 900, 3).await["product_id"].as_str().expect("id").to_owned();
    for id in [&bad, &good] {
        app.send(Method::PUT, &format!("/cart/items/{id}"), Some(&alice), Some(json!({"quantity": 1}))).await.ok(200);
    }
    corrupt(&app, &bad).await;
    for path in ["/products?category=ceramics&limit=100", "/products?artisan_id=ana"] {
        let listed = app.list_all(path).await;
        let ids: Vec<&str> = listed.iter().filter_map(|p| p["product_id"].as_str()).collect();
        assert!(ids.contains(&good.as_str()) && !ids.contains(&bad.as_str()), "{path}: {ids:?}");
    }
    let cart = app.get_as("/cart", &alice).await.ok(200).clone();
    assert_eq!(cart["items"].as_array().map(Vec::len), Some(1), "the readable line stays: {cart}");
    assert_eq!(cart["items"][0]["product_id"], good.as_str());
    // The corrupt product itself is a server-side fault (logged, alarmed), never a panic or a leak.
    app.get(&format!("/products/{bad}")).await.problem(500, "internal");
}

/// Stores what no read can map for product `id`: on DynamoDB a stock the old unchecked `abs()` let through, on
/// Postgres (whose column checks refuse such a stock) photos that are not a list.
async fn corrupt(app: &TestApp, id: &str) {
    if let Some(database) = app.database() {
        use storefront::adapters::postgres::{admin, sqlx};
        let pool = admin::connect_once(&database.setup_url).await.expect("connected");
        let updated = sqlx::query("UPDATE products SET images = '{\"broken\": true}' WHERE product_id = $1")
            .bind(id)
            .execute(&pool)
            .await
            .expect("corrupted");
        assert_eq!(updated.rows_affected(), 1);
        return;
    }
    let sdk = storefront::adapters::aws::local_sdk_config(app.server.dynamodb_endpoint()).await;
    aws_sdk_dynamodb::Client::new(&sdk)
        .update_item()
        .table_name(storefront_local::TABLE_NAME)
        .key("PK", aws_sdk_dynamodb::types::AttributeValue::S(format!("PRODUCT#{id}")))
        .key("SK", aws_sdk_dynamodb::types::AttributeValue::S("PRODUCT".into()))
        .update_expression("SET stock = :bad")
        .expression_attribute_values(":bad", aws_sdk_dynamodb::types::AttributeValue::N("-9223372036854775808".into()))
        .send()
        .await
        .expect("corrupted");
}

/// The numbers a request carries outside its JSON body: If-Match's version and the local payment page's delay.
#[tokio::test]
async fn numbers_in_headers_and_forms_at_every_edge_are_refused_and_change_nothing() {
    let app = spawn_app().await;
    let (ana, alice) = (app.artisan("ana").await, app.shopper("alice").await);
    let product = app.create_product(&ana, "Jug", "ceramics", 2000, 3).await;
    let id = product["product_id"].as_str().expect("id").to_owned();
    let before = app.get(&format!("/products/{id}")).await.ok(200).clone();
    let path = format!("/products/{id}");
    let edit = r#"{"title":"Edited"}"#;
    // A version no product is at (well formed: 412), or not a version at all (400).
    for (if_match, status) in [
        ("9223372036854775807", 412),
        ("\"9223372036854775807\"", 412),
        ("W/\"9999999999999999999\"", 412),
        ("0", 412),
        ("\"0\"", 412),
        ("-9223372036854775808", 400),
        ("\"-1\"", 400),
        ("-1", 400),
        ("18446744073709551616", 400),
        ("99999999999999999999", 400),
        ("\"12345678901234567890\"", 400),
        ("1.5", 400),
        ("1e3", 400),
        ("", 400),
    ] {
        let headers = [("content-type", "application/json"), ("if-match", if_match)];
        let response = app.send_raw(Method::PATCH, &path, Some(&ana), edit, &headers).await;
        assert_eq!(response.status, status, "If-Match: {if_match}: {}", response.text);
        assert_refused(&response, &format!("If-Match: {if_match}"));
    }
    assert_eq!(app.get(&path).await.ok(200), &before, "no edit went through");

    let order = app.order(&alice, "edge-pay", buy(&id, 1)).await.ok(201)["order_id"].as_str().expect("id").to_owned();
    let intent = app.intent_of("alice", &order).await;
    let form = [("content-type", "application/x-www-form-urlencoded")];
    for delay in [
        "-9223372036854775808",
        "9223372036854775807",
        "18446744073709551616",
        "99999999999999999999",
        "-1",
        "0",
        "3601",
        "1.5",
        "x",
    ] {
        let body = format!("outcome=succeed&webhook=late&delay_seconds={delay}");
        let response = app.send_raw(Method::POST, &format!("/dev/pay/{intent}"), None, body, &form).await;
        assert_refused(&response, &format!("delay_seconds={delay}"));
    }
    assert_eq!(app.status_of("alice", &order).await, "awaiting_payment", "no payment was taken");
    assert_eq!(app.stock_of(&id).await, 2, "the order's one reserved, nothing else moved");
}
