//! Orders nobody pays: one shopper holds at most `MAX_UNPAID_ORDERS` of them (the next checkout is refused with
//! `too-many-unpaid-orders` and reserves nothing; paying or cancelling one frees a place), and the sweeper expires a
//! backlog of hundreds across many shoppers within two sweeps of the window, every unit back on the shelf. The
//! race of one shopper's parallel checkouts is in tests/e2e/races.rs.

use std::time::Duration;

use futures::StreamExt;
use reqwest::Method;
use storefront::domain::MAX_UNPAID_ORDERS;
use storefront_tests::*;

async fn product(app: &TestApp, stock: i64) -> String {
    let token = app.artisan("ana").await;
    app.create_product(&token, "Bud vase", "ceramics", 2500, stock).await["product_id"].as_str().expect("id").to_owned()
}

#[tokio::test]
async fn a_shopper_holds_at_most_three_unpaid_orders_and_paying_or_cancelling_one_frees_a_place() {
    let app = spawn_app().await;
    let vase = product(&app, 30).await;
    let alice = app.shopper("alice").await;
    let mut orders = Vec::new();
    for n in 0..MAX_UNPAID_ORDERS {
        orders.push(app.order(&alice, format!("unpaid-{n}"), buy(&vase, 2)).await.ok(201)["order_id"].clone());
    }
    let refused = app.order(&alice, "one-too-many", buy(&vase, 2)).await;
    let problem = refused.problem(409, "too-many-unpaid-orders");
    assert!(problem["detail"].as_str().is_some_and(|d| d.contains("pay or cancel")), "{problem}");
    assert_eq!(app.stock_of(&vase).await, 30 - 2 * MAX_UNPAID_ORDERS as i64, "the refused checkout reserved nothing");
    // A replay of an order already placed is its answer again, not a new order.
    assert_eq!(app.order(&alice, "unpaid-0", buy(&vase, 2)).await.ok(201)["order_id"], orders[0]);
    // Another shopper is not held back.
    let bob = app.shopper("bob").await;
    app.order(&bob, "bobs", buy(&vase, 1)).await.ok(201);

    // Paying one frees a place; so does cancelling one. The refused key is free to use again.
    app.pay("alice", orders[0].as_str().expect("id")).await;
    app.order(&alice, "one-too-many", buy(&vase, 2)).await.ok(201);
    app.order(&alice, "one-more", buy(&vase, 2)).await.problem(409, "too-many-unpaid-orders");
    let cancel = format!("/orders/{}/cancel", orders[1].as_str().expect("id"));
    app.send(Method::POST, &cancel, Some(&alice), None).await.ok(200);
    app.order(&alice, "one-more", buy(&vase, 2)).await.ok(201);
    app.order(&alice, "and-another", buy(&vase, 2)).await.problem(409, "too-many-unpaid-orders");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sweeper_expires_a_backlog_of_five_hundred_unpaid_orders_within_two_sweeps_of_the_window() {
    let window = time::Duration::seconds(8);
    let sweep_every = Duration::from_secs(2);
    let app = spawn_app_with(|o| {
        o.payment_window = window;
        o.sweep_every = sweep_every;
        // Far away: only the sweeper's expiry is watched here.
        o.stuck_after = time::Duration::hours(1);
    })
    .await;
    let products = [product(&app, 1000).await, product(&app, 1000).await];
    let shoppers: Vec<String> = (0..200).map(|n| format!("backlog-shopper-{n}")).collect();
    let tokens = futures::future::join_all(shoppers.iter().map(|s| app.shopper(s))).await;
    // 500 orders: every shopper places two or three (the cap), over both products, as fast as the server takes them.
    let placed_at = std::time::Instant::now();
    let app = &app;
    let checkouts = (0..500).map(|n| {
        let (token, product) = (&tokens[n % shoppers.len()], &products[n % 2]);
        async move { app.order(token, format!("backlog-{n}"), buy(product, 1)).await.status }
    });
    let statuses: Vec<u16> = futures::stream::iter(checkouts).buffer_unordered(16).collect().await;
    let placing = placed_at.elapsed();
    assert!(statuses.iter().all(|s| *s == 201), "every checkout placed: {:?}", statuses.iter().find(|s| **s != 201));
    assert_eq!(app.stock_of(&products[0]).await + app.stock_of(&products[1]).await, 2000 - 500);

    // Within two sweeps of the window after the last order was placed, every order is expired and its unit back
    // (read through the catalog's few seconds of cache).
    let deadline = window.unsigned_abs() + 2 * sweep_every + storefront::app::CATALOG_CACHE_TTL;
    let back = eventually(deadline.as_secs() + 1, || async {
        app.stock_of(&products[0]).await + app.stock_of(&products[1]).await == 2000
    })
    .await;
    let left = 2000 - app.stock_of(&products[0]).await - app.stock_of(&products[1]).await;
    assert!(
        back,
        "{left} units still reserved {deadline:?} after the last of 500 checkouts ({placing:?} placing them)"
    );
    for (n, token) in tokens.iter().enumerate().step_by(37) {
        let listed = app.get_as("/orders?limit=5", token).await.ok(200)["items"].clone();
        let statuses: Vec<&str> =
            listed.as_array().expect("items").iter().filter_map(|o| o["status"].as_str()).collect();
        assert!(statuses.iter().all(|s| *s == "cancelled"), "shopper {n}: {statuses:?}");
    }
}
