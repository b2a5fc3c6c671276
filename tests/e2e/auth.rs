//! Tokens and roles: 401 without a valid token, 403 with the wrong role, on every protected route.

use reqwest::Method;
use storefront::api::{Access, Role};
use storefront_registry::FUNCTIONS;
use storefront_tests::*;

const ID: &str = "01HZZZZZZZZZZZZZZZZZZZZZZZ";

/// Every protected route of the route table, its path parameters filled in, with the role it needs.
fn protected_routes() -> Vec<(Method, String, Role)> {
    let routes: Vec<_> = FUNCTIONS
        .iter()
        .filter_map(|f| match f.route.access {
            Access::Role(role) => {
                let path = f.route.path.replace("{product_id}", ID).replace("{order_id}", ID);
                assert!(!path.contains('{'), "a path parameter this test does not fill: {path}");
                Some((Method::from_bytes(f.route.method.as_bytes()).expect("method"), path, role))
            }
            Access::Public => None,
        })
        .collect();
    assert!(routes.len() >= 14, "the route table's protected routes: {routes:?}");
    routes
}

#[tokio::test]
async fn protected_routes_refuse_missing_bad_and_wrong_role_tokens() {
    let app = spawn_app().await;
    let shopper = app.shopper("sam").await;
    let artisan = app.artisan("ana").await;
    let other_server = spawn_app().await;
    let foreign = other_server.artisan("ana").await;
    let tampered = {
        let mut parts: Vec<String> = artisan.split('.').map(str::to_owned).collect();
        parts[1].insert(0, 'e');
        parts.join(".")
    };
    for (method, path, role) in protected_routes() {
        app.send(method.clone(), &path, None, None).await.problem(401, "unauthorized");
        for bad in ["garbage", tampered.as_str(), foreign.as_str()] {
            app.send(method.clone(), &path, Some(bad), None).await.problem(401, "unauthorized");
        }
        app.send_raw(method.clone(), &path, None, "", &[("authorization", "Basic YWxhZGRpbjpvcGVu")])
            .await
            .problem(401, "unauthorized");
        let wrong = if role == Role::Artisan { &shopper } else { &artisan };
        app.send(method.clone(), &path, Some(wrong), None).await.problem(403, "forbidden");
    }
}

#[tokio::test]
async fn dev_tokens_need_a_valid_user_and_role() {
    let app = spawn_app().await;
    for body in [
        json!({"user_id": "alice"}),
        json!({"user_id": "a#b", "role": "shopper"}),
        json!({"user_id": "alice", "role": "admin"}),
        json!({"user_id": "alice", "role": "shopper", "groups": ["admins"]}),
    ] {
        app.send(Method::POST, "/dev/token", None, Some(body)).await.problem(422, "validation");
    }
    app.send_raw(Method::POST, "/dev/token", None, "{", &[]).await.problem(400, "bad-request");
    let health = app.get("/health").await;
    assert_eq!(health.ok(200)["status"], "ok");
}
