//! Payments end to end, on the local stack with the payment provider stand-in over HTTP: the webhook's signature
//! edge cases, duplicate, reordered and unknown events, payment failures, expiry (and expiry racing a late
//! success), refunds after cancellation, payouts exactly once under redelivery, the reconciler finding a lost
//! webhook, the test-card page, and checkout racing with payment in the loop.

use std::time::Duration;

use reqwest::Method;
use serde_json::Value;
use storefront_tests::*;

const WEBHOOK: &str = "/webhooks/payments";

/// A stack whose sweeper and reconciler run every 200 ms, with a payment window of `window` and follow-ups owed
/// after `stuck_after`.
async fn quick_app(window: time::Duration, stuck_after: time::Duration) -> TestApp {
    spawn_app_with(|o| {
        o.sweep_every = Duration::from_millis(200);
        o.stuck_after = stuck_after;
        o.payment_window = window;
    })
    .await
}

async fn product(app: &TestApp, artisan: &str, price: i64, stock: i64) -> String {
    let token = app.artisan(artisan).await;
    app.create_product(&token, "Pitcher", "ceramics", price, stock).await["product_id"].as_str().expect("id").to_owned()
}

async fn place(app: &TestApp, user: &str, key: &str, body: Value) -> String {
    let token = app.shopper(user).await;
    app.order(&token, key, body).await.ok(201)["order_id"].as_str().expect("id").to_owned()
}

/// A Stripe event about `user`'s order's intent.
async fn event(app: &TestApp, id: &str, kind: &str, user: &str, order: &str) -> String {
    let intent = app.intent_of(user, order).await;
    json!({
        "id": id, "object": "event", "type": kind, "created": 1_795_813_200,
        "data": {"object": {"id": intent, "object": "payment_intent", "metadata": {"order_id": order, "user_id": user}}},
    })
    .to_string()
}

pub(crate) fn now() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

pub(crate) fn sign(secret: &str, at: i64, body: &str) -> String {
    storefront::adapters::stripe::webhook::sign(secret, at, body.as_bytes())
}

pub(crate) async fn deliver(app: &TestApp, body: &str, signature: Option<&str>) -> TestResponse {
    let mut headers = vec![("content-type", "application/json")];
    if let Some(signature) = signature {
        headers.push(("stripe-signature", signature));
    }
    app.send_raw(Method::POST, WEBHOOK, None, body.to_owned(), &headers).await
}

#[tokio::test]
async fn only_a_fresh_signature_over_the_exact_body_with_our_secret_is_accepted() {
    let app = spawn_app_with(|o| o.in_process_workers = false).await;
    let jug = product(&app, "ana", 3000, 5).await;
    let order = place(&app, "alice", "signed", buy(&jug, 1)).await;
    let body = event(&app, "evt_sig", "payment_intent.succeeded", "alice", &order).await;
    let secret = app.server.payments().secrets().webhook_secret.clone();
    let unsigned = deliver(&app, &body, None).await;
    assert!(unsigned.problem(400, "bad-request")["detail"].as_str().is_some_and(|d| d.contains("no signature")));
    deliver(&app, &body, Some(&sign("whsec_someone_else", now(), &body))).await.problem(400, "bad-request");
    let old = deliver(&app, &body, Some(&sign(&secret, now() - 301, &body))).await;
    assert!(old.problem(400, "bad-request")["detail"].as_str().is_some_and(|d| d.contains("too old")), "{}", old.text);
    deliver(&app, &body, Some(&sign(&secret, now() + 301, &body))).await.problem(400, "bad-request");
    let mut tampered = body.clone().into_bytes();
    let at = tampered.iter().position(|b| *b == b'1').expect("a digit to change");
    tampered[at] = b'2';
    let tampered = String::from_utf8(tampered).expect("utf-8");
    deliver(&app, &tampered, Some(&sign(&secret, now(), &body))).await.problem(400, "bad-request");
    deliver(&app, &body, Some("t=abc,v1=00")).await.problem(400, "bad-request");
    assert_eq!(app.server.payment_queue.depth(), 0, "nothing refused was queued");
    assert_eq!(app.status_of("alice", &order).await, "awaiting_payment");
    // Two signatures, the old secret's and ours (Stripe signs with both while a secret is rolled): accepted.
    let at = now();
    let ours = sign(&secret, at, &body);
    let theirs = sign("whsec_rolled_out", at, &body);
    let digest = |header: &str| header.split_once(",v1=").map(|(_, d)| d.to_owned()).expect("digest");
    let both = format!("t={at},v1={},v1={}", digest(&theirs), digest(&ours));
    let accepted = deliver(&app, &body, Some(&both)).await;
    assert_eq!(accepted.ok(200)["event_id"], "evt_sig");
    assert_eq!(app.server.payment_queue.depth(), 1, "queued for the payment worker");
    // The same event again (the provider's retry): acknowledged as a duplicate, not queued twice.
    let again = deliver(&app, &body, Some(&sign(&secret, now(), &body))).await;
    assert_eq!(again.ok(200)["duplicate"], true);
    assert_eq!(app.server.payment_queue.depth(), 1, "queued once");
    // Signed, but not an event we can read: refused as malformed; a type we do not act on: acknowledged.
    let junk = "{\"id\": 7}";
    deliver(&app, junk, Some(&sign(&secret, now(), junk))).await.problem(400, "bad-request");
    let other = json!({"id": "evt_other", "type": "customer.created", "data": {"object": {}}}).to_string();
    assert_eq!(deliver(&app, &other, Some(&sign(&secret, now(), &other))).await.ok(200)["ignored"], "customer.created");
    assert_eq!(app.server.payment_queue.depth(), 1);
    let huge = format!("{{\"pad\": \"{}\"}}", "x".repeat(300 * 1024));
    deliver(&app, &huge, Some(&sign(&secret, now(), &huge))).await.problem(413, "payload-too-large");
}

#[tokio::test]
async fn a_payment_makes_the_order_paid_then_confirmed_once_whatever_the_deliveries() {
    let app = spawn_app().await;
    let jug = product(&app, "ana", 3000, 5).await;
    let order = place(&app, "alice", "pay-once", buy(&jug, 2)).await;
    app.pay("alice", &order).await;
    let intent = app.intent_of("alice", &order).await;
    let succeeded = app.server.payments().events_about(&intent, "payment_intent.succeeded");
    assert_eq!(succeeded.len(), 1);
    // The provider delivers the same event again (its retries), twice: acknowledged, changing nothing.
    app.server.payments().redeliver(&succeeded[0]);
    app.server.payments().redeliver(&succeeded[0]);
    let answered = || {
        app.server
            .payments()
            .deliveries()
            .iter()
            .filter(|d| d.event_id == succeeded[0])
            .map(|d| d.statuses.len())
            .sum::<usize>()
    };
    assert!(eventually(5, || async { answered() == 3 }).await, "three deliveries answered");
    assert!(app.server.payments().deliveries().iter().all(|d| d.statuses.iter().all(|s| *s == 200)));
    // A failure that happened before the success arrives after it (out of order): nothing moves.
    let secret = app.server.payments().secrets().webhook_secret.clone();
    let failed = event(&app, "evt_stale_failure", "payment_intent.payment_failed", "alice", &order).await;
    deliver(&app, &failed, Some(&sign(&secret, now(), &failed))).await.ok(200);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let stored = app.stored_order("alice", &order).await;
    assert_eq!(stored.status.as_str(), "confirmed");
    assert_eq!(app.stock_of(&jug).await, 3, "the units stay sold");
    assert_eq!(app.server.outbox.delivered().iter().filter(|o| o.as_str() == order).count(), 1, "one confirmation");
    assert!(app.server.payment_queue.dead_letters().is_empty());
    // About an order that does not exist, or an intent that is no order's: acknowledged, nothing changes.
    let ghost = json!({"id": "evt_ghost", "type": "payment_intent.succeeded", "data": {"object": {"id": "pi_ghost",
        "metadata": {"order_id": "01KDVDQ4K00000000001FET0ZZ", "user_id": "alice"}}}})
    .to_string();
    deliver(&app, &ghost, Some(&sign(&secret, now(), &ghost))).await.ok(200);
    let stray = json!({"id": "evt_stray", "type": "payment_intent.succeeded", "data": {"object": {"id": "pi_stray"}}})
        .to_string();
    deliver(&app, &stray, Some(&sign(&secret, now(), &stray))).await.ok(200);
    assert!(eventually(5, || async { app.server.payment_queue.depth() == 0 }).await, "handled, not retried");
    assert!(app.server.payment_queue.dead_letters().is_empty());
}

#[tokio::test]
async fn a_declined_payment_cancels_the_order_returns_the_stock_and_closes_the_intent() {
    let app = spawn_app().await;
    let jug = product(&app, "ana", 3000, 5).await;
    let order = place(&app, "alice", "declined", buy(&jug, 2)).await;
    assert_eq!(app.stock_of(&jug).await, 3);
    let intent = app.intent_of("alice", &order).await;
    app.server.payments().decline(&intent, Webhook::Now).expect("declined");
    let closed =
        || async { app.stored_order("alice", &order).await.payment.map(|p| p.status.as_str()) == Some("canceled") };
    assert!(eventually(5, closed).await, "{:?}", app.stored_order("alice", &order).await);
    assert_eq!(app.status_of("alice", &order).await, "cancelled");
    assert_eq!(app.stock_settles_at(&jug, 5).await, 5, "the stock is back");
    assert_eq!(app.server.payments().intent(&intent).expect("intent")["status"], "canceled", "no retry can pay it");
}

#[tokio::test]
async fn an_unpaid_order_expires_after_the_window_and_its_stock_comes_back() {
    let app = quick_app(time::Duration::seconds(1), time::Duration::milliseconds(300)).await;
    let jug = product(&app, "ana", 3000, 5).await;
    let order = place(&app, "alice", "never-paid", buy(&jug, 3)).await;
    assert_eq!(app.stock_of(&jug).await, 2);
    assert!(eventually(10, || async { app.status_of("alice", &order).await == "cancelled" }).await, "expired");
    assert_eq!(app.stock_settles_at(&jug, 5).await, 5);
    let intent = app.intent_of("alice", &order).await;
    assert_eq!(app.server.payments().intent(&intent).expect("intent")["status"], "canceled");
    assert!(app.server.payments().refunds().is_empty());
    let paid_meanwhile = place(&app, "bob", "paid-in-time", buy(&jug, 1)).await;
    app.pay("bob", &paid_meanwhile).await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(app.status_of("bob", &paid_meanwhile).await, "confirmed", "a paid order never expires");
}

#[tokio::test]
async fn a_payment_that_wins_the_race_with_expiry_keeps_its_order() {
    let app = quick_app(time::Duration::seconds(1), time::Duration::milliseconds(300)).await;
    let jug = product(&app, "ana", 3000, 5).await;
    // Paid at the provider just before the window closed, its webhook late: the sweeper, cancelling the intent,
    // finds it paid and keeps the order; the webhook changes nothing when it comes.
    let won = place(&app, "alice", "won-the-race", buy(&jug, 1)).await;
    app.pay_with("alice", &won, Webhook::After(Duration::from_secs(3))).await;
    assert!(eventually(10, || async { app.status_of("alice", &won).await == "confirmed" }).await);
    let intent = app.intent_of("alice", &won).await;
    let late = || {
        app.server
            .payments()
            .deliveries()
            .iter()
            .any(|d| d.kind == "payment_intent.succeeded" && !d.statuses.is_empty())
    };
    assert!(eventually(10, || async { late() }).await, "the late webhook arrived");
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(app.status_of("alice", &won).await, "confirmed");
    assert_eq!(app.stock_of(&jug).await, 4, "sold once, never returned");
    assert!(app.server.payments().refunds().is_empty(), "nothing refunded");
    assert_eq!(app.server.payments().intent(&intent).expect("intent")["status"], "succeeded");
    assert_eq!(app.server.outbox.delivered().iter().filter(|o| o.as_str() == won).count(), 1, "one confirmation");
}

#[tokio::test]
async fn a_payment_that_lands_after_expiry_is_refunded_on_its_own() {
    // The reconciler waits a minute before settling, so the shopper's late payment is what happens here.
    let app = quick_app(time::Duration::seconds(1), time::Duration::minutes(1)).await;
    let jug = product(&app, "ana", 3000, 5).await;
    // The provider unreachable when the window closes: the order expires anyway (the stock must come back) with
    // its intent still open; the shopper pays it afterwards; the money goes back without anyone asking.
    let lost = place(&app, "bob", "lost-the-race", buy(&jug, 2)).await;
    assert_eq!(app.stock_of(&jug).await, 3);
    app.server.payments().fail_next_calls(1000);
    assert!(eventually(10, || async { app.status_of("bob", &lost).await == "cancelled" }).await, "expired");
    app.server.payments().fail_next_calls(0);
    assert_eq!(app.stock_settles_at(&jug, 5).await, 5, "the stock came back");
    let intent = app.intent_of("bob", &lost).await;
    app.server.payments().succeed(&intent, Webhook::Now).expect("the intent was still open");
    let refunded =
        || async { app.stored_order("bob", &lost).await.payment.map(|p| p.status.as_str()) == Some("refunded") };
    assert!(eventually(10, refunded).await, "{:?}", app.stored_order("bob", &lost).await);
    let refunds = app.server.payments().refunds();
    assert_eq!(refunds.len(), 1, "{refunds:?}");
    assert_eq!(
        (refunds[0]["payment_intent"].as_str(), refunds[0]["amount"].as_i64()),
        (Some(intent.as_str()), Some(6000))
    );
    assert_eq!(app.status_of("bob", &lost).await, "cancelled");
    assert_eq!(app.stock_of(&jug).await, 5, "the stock came back once");
}

#[tokio::test]
async fn cancelling_a_paid_order_refunds_it_once_and_returns_the_stock() {
    let app = spawn_app().await;
    let alice = app.shopper("alice").await;
    let jug = product(&app, "ana", 2500, 5).await;
    let order = place(&app, "alice", "to-refund", buy(&jug, 2)).await;
    app.pay("alice", &order).await;
    let cancelled =
        app.send(Method::POST, &format!("/orders/{order}/cancel"), Some(&alice), None).await.ok(200).clone();
    assert_eq!(
        (cancelled["status"].as_str(), cancelled["payment"]["status"].as_str()),
        (Some("cancelled"), Some("succeeded"))
    );
    assert_eq!(app.stock_of(&jug).await, 5);
    let refunded =
        || async { app.get_as(&format!("/orders/{order}"), &alice).await.body["payment"]["status"] == "refunded" };
    assert!(eventually(5, refunded).await);
    let shown = app.get_as(&format!("/orders/{order}"), &alice).await.ok(200).clone();
    let refund = &shown["payment"]["refunded"];
    assert_eq!(refund["amount"], json!({"amount": 5000, "currency": "USD"}));
    assert!(refund["refund_id"].as_str().is_some_and(|id| id.starts_with("re_")), "{shown}");
    // Cancelled again, and the settlement asked again (a redelivered message): still one refund.
    app.send(Method::POST, &format!("/orders/{order}/cancel"), Some(&alice), None).await.ok(200);
    let settle = json!({"settle": {"user_id": "alice", "order_id": order}}).to_string();
    app.server.payment_queue.send(settle.clone()).expect("sent");
    app.server.payment_queue.send(settle).expect("sent");
    assert!(eventually(5, || async { app.server.payment_queue.depth() == 0 }).await);
    assert_eq!(app.server.payments().refunds().len(), 1, "refunded once");
    assert_eq!(app.server.payments().calls("POST /v1/refunds"), 1, "and the provider asked once: the order says so");
    assert_eq!(app.stock_of(&jug).await, 5, "returned once");
}

#[tokio::test]
async fn each_artisan_is_paid_their_share_once_when_they_ship_or_when_they_connect() {
    let app = spawn_app().await;
    let (ana, bo) = (app.artisan("ana").await, app.artisan("bo").await);
    let (jug, cup) = (product(&app, "ana", 3000, 5).await, product(&app, "bo", 1005, 5).await);
    app.send(Method::PUT, "/artisan/payout-account", Some(&ana), Some(json!({"account_id": "acct_ana"}))).await.ok(200);
    let body = json!({"items": [{"product_id": jug, "quantity": 2}, {"product_id": cup, "quantity": 1}]});
    let order = place(&app, "alice", "two-artisans", body).await;
    app.pay("alice", &order).await;
    assert_eq!(app.get_as("/artisan/payouts", &ana).await.ok(200)["items"], json!([]), "nothing owed before shipping");
    app.send(Method::POST, &format!("/artisan/orders/{order}/ship"), Some(&ana), None).await.ok(200);
    let transferred = || app.server.payments().transfers();
    assert!(eventually(5, || async { transferred().len() == 1 }).await);
    let transfer = &transferred()[0];
    // 6000 less the 10 % fee, to ana's account, grouped with the order's charge.
    assert_eq!((transfer["amount"].as_i64(), transfer["destination"].as_str()), (Some(5400), Some("acct_ana")));
    assert_eq!(transfer["transfer_group"], order.as_str());
    // The worker records the transfer just after the provider made it.
    let recorded = || async { app.get_as("/artisan/payouts", &ana).await.body["items"][0]["status"] == "transferred" };
    assert!(eventually(5, recorded).await, "the payout is recorded as transferred");
    let ledger = app.get_as("/artisan/payouts", &ana).await.ok(200).clone();
    let entry = &ledger["items"][0];
    assert_eq!((entry["status"].as_str(), entry["transfer_id"].clone()), (Some("transferred"), transfer["id"].clone()));
    // Redelivered payout messages (the shipment's, twice more): no second transfer.
    let payout = json!({"payout": {"artisan_id": "ana", "order_id": order}}).to_string();
    app.server.payment_queue.send(payout.clone()).expect("sent");
    app.server.payment_queue.send(payout).expect("sent");
    assert!(eventually(5, || async { app.server.payment_queue.depth() == 0 }).await);
    assert_eq!(transferred().len(), 1, "paid once");
    assert_eq!(app.server.payments().calls("POST /v1/transfers"), 1, "and the provider asked once: the payout says so");
    // Bo has no account: his share accrues, then is paid when he connects one.
    app.send(Method::POST, &format!("/artisan/orders/{order}/ship"), Some(&bo), None).await.ok(200);
    let accrued = || async {
        app.get_as("/artisan/payouts?status=accrued", &bo).await.body["items"].as_array().map(Vec::len) == Some(1)
    };
    assert!(eventually(5, accrued).await);
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(transferred().len(), 1, "nothing to transfer to yet");
    let entry = app.get_as("/artisan/payouts", &bo).await.ok(200)["items"][0].clone();
    assert_eq!(
        (entry["amount"]["amount"].as_i64(), entry["status"].as_str()),
        (Some(905), Some("accrued")),
        "1005 less 100"
    );
    app.send(Method::PUT, "/artisan/payout-account", Some(&bo), Some(json!({"account_id": "acct_bo"}))).await.ok(200);
    assert!(eventually(5, || async { transferred().len() == 2 }).await);
    assert_eq!(transferred()[1]["destination"], "acct_bo");
    assert_eq!(
        app.get_as("/artisan/payouts?status=transferred", &bo).await.ok(200)["items"].as_array().map(Vec::len),
        Some(1)
    );
    // Connecting again changes nothing that was paid.
    app.send(Method::PUT, "/artisan/payout-account", Some(&bo), Some(json!({"account_id": "acct_bo"}))).await.ok(200);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(transferred().len(), 2);
    // Bad input is refused; a shopper has no ledger.
    let alice = app.shopper("alice").await;
    app.get_as("/artisan/payouts", &alice).await.problem(403, "forbidden");
    app.get_as("/artisan/payouts?status=pending", &bo).await.problem(422, "validation");
    app.send(Method::PUT, "/artisan/payout-account", Some(&bo), Some(json!({"account_id": "acct/../x"})))
        .await
        .problem(422, "validation");
    app.send(Method::PUT, "/artisan/payout-account", Some(&bo), Some(json!({"account_id": "acct_x", "extra": 1})))
        .await
        .problem(422, "validation");
}

#[tokio::test]
async fn the_reconciler_finds_a_payment_whose_webhook_was_lost() {
    let app = quick_app(time::Duration::minutes(15), time::Duration::milliseconds(300)).await;
    let jug = product(&app, "ana", 3000, 5).await;
    let order = place(&app, "alice", "lost-webhook", buy(&jug, 1)).await;
    app.pay_with("alice", &order, Webhook::Never).await;
    assert!(eventually(10, || async { app.status_of("alice", &order).await == "confirmed" }).await, "reconciled");
    assert!(app.server.payments().deliveries().is_empty(), "no webhook was ever delivered");
}

#[tokio::test]
async fn the_test_card_page_pays_or_declines_and_says_what_it_cannot() {
    let app = spawn_app().await;
    let jug = product(&app, "ana", 4250, 5).await;
    let order = place(&app, "alice", "by-page", buy(&jug, 1)).await;
    let intent = app.intent_of("alice", &order).await;
    let page = app.client.get(app.url(&format!("/dev/pay/{intent}"))).send().await.expect("page");
    assert_eq!(page.status(), 200);
    assert!(page.headers()["content-type"].to_str().is_ok_and(|t| t.starts_with("text/html")));
    let html = page.text().await.expect("html");
    assert!(html.contains("42.50 USD") && html.contains(&order) && html.contains("<form"), "{html}");
    let form = |body: &str| {
        app.client
            .post(app.url(&format!("/dev/pay/{intent}")))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body.to_owned())
    };
    assert_eq!(form("outcome=maybe").send().await.expect("sent").status(), 400);
    let paid = form("outcome=succeed&webhook=now").send().await.expect("sent");
    assert_eq!(paid.status(), 200);
    assert_eq!(paid.json::<Value>().await.expect("json")["status"], "succeeded");
    assert!(eventually(5, || async { app.status_of("alice", &order).await == "confirmed" }).await);
    assert_eq!(form("outcome=decline").send().await.expect("sent").status(), 409, "no longer open");
    let unknown = app.client.get(app.url("/dev/pay/pi_nope")).send().await.expect("sent");
    assert_eq!(unknown.status(), 404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn with_payment_in_the_loop_nothing_is_oversold_and_every_cancelled_payment_is_refunded_once() {
    let app = spawn_racing_app().await;
    let jug = product(&app, "ana", 3000, 10).await;
    let buyers: Vec<String> = (0..30).map(|n| format!("racer{n}")).collect();
    let tokens = futures::future::join_all(buyers.iter().map(|b| app.shopper(b))).await;
    let orders = futures::future::join_all(
        tokens.iter().enumerate().map(|(n, token)| app.order(token, format!("race-{n}"), buy(&jug, 1))),
    )
    .await;
    let placed: Vec<(String, String)> = orders
        .iter()
        .zip(&buyers)
        .filter(|(r, _)| r.status == 201)
        .map(|(r, buyer)| (buyer.clone(), r.body["order_id"].as_str().expect("id").to_owned()))
        .collect();
    for refused in orders.iter().filter(|r| r.status != 201) {
        refused.problem(409, "out-of-stock");
    }
    assert_eq!(placed.len(), 10, "exactly the ten units");
    // Everyone pays at once; every other buyer cancels while their payment's webhook is on its way.
    let settle = placed.iter().enumerate().map(|(n, (buyer, order))| {
        let app = &app;
        async move {
            if n % 2 == 0 {
                let token = app.shopper(buyer).await;
                app.pay_with(buyer, order, Webhook::After(Duration::from_millis(10 * n as u64))).await;
                let cancelled = app.send(Method::POST, &format!("/orders/{order}/cancel"), Some(&token), None).await;
                assert_eq!(cancelled.ok(200)["status"], "cancelled");
            } else {
                app.pay_with(buyer, order, Webhook::Now).await;
            }
        }
    });
    futures::future::join_all(settle).await;
    let done = || async {
        let mut all = true;
        for (n, (buyer, order)) in placed.iter().enumerate() {
            let stored = app.stored_order(buyer, order).await;
            let payment = stored.payment.map(|p| p.status.as_str());
            all &= if n % 2 == 0 { payment == Some("refunded") } else { stored.status.as_str() == "confirmed" };
        }
        all
    };
    assert!(eventually(15, done).await, "every cancelled payment refunded, every other order confirmed");
    assert_eq!(app.stock_of(&jug).await, 5, "ten sold, five returned");
    let refunds = app.server.payments().refunds();
    assert_eq!(refunds.len(), 5, "one refund per cancelled paid order: {refunds:?}");
    let intents: std::collections::BTreeSet<&str> =
        refunds.iter().filter_map(|r| r["payment_intent"].as_str()).collect();
    assert_eq!(intents.len(), 5);
}
