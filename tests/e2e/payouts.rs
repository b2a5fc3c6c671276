//! The artisans' payouts when things go wrong: payouts that waited for an account are paid once one is connected,
//! whatever became of the message (each on its own); a transfer the provider refuses is parked for an operator and
//! never keeps the reconciler from newer work; the account of the first attempt is the only one a payout is ever
//! sent to (an idempotency key never travels with another destination); every transfer is funded from its order's
//! charge; and a refund or a dispute made at the provider moves the order and its payouts (cancelled, held,
//! released, reversed), through the real webhook.

use std::sync::Arc;
use std::time::Duration;

use reqwest::Method;
use storefront::AppState;
use storefront::domain::{OrderId, PayoutStatus, UserId};
use storefront::ports::PageRequest;
use storefront::services::orders;
use storefront::services::payouts::{self, PayoutOutcome};
use storefront::services::reconciler::{ReconcileBudget, reconcile};
use storefront_tests::*;

fn user(id: &str) -> UserId {
    UserId::parse(id).expect("user id")
}

fn order_id(id: &str) -> OrderId {
    OrderId::parse(id).expect("order id")
}

/// A clock `offset` from now: the reconciler looks at what is owed as it would then.
struct Shifted(time::Duration);

impl storefront::ports::Clock for Shifted {
    fn now(&self) -> time::OffsetDateTime {
        time::OffsetDateTime::now_utc() + self.0
    }
}

fn shifted(state: &AppState, offset: time::Duration) -> AppState {
    let mut shifted = state.clone();
    shifted.clock = Arc::new(Shifted(offset));
    shifted
}

async fn product(app: &TestApp, artisan: &str, price: i64, stock: i64) -> String {
    let token = app.artisan(artisan).await;
    app.create_product(&token, "Tray", "woodwork", price, stock).await["product_id"].as_str().expect("id").to_owned()
}

/// Bought by `buyer`, paid and confirmed (in-process: the provider holds it paid, with its charge), and shipped by
/// `artisans` (in-process): their payouts are owed. Answers the order's id.
async fn shipped(app: &TestApp, buyer: &str, key: &str, body: serde_json::Value, artisans: &[&str]) -> String {
    let token = app.shopper(buyer).await;
    let id = app.order(&token, key, body).await.ok(201)["order_id"].as_str().expect("id").to_owned();
    app.pay_in_process(buyer, &id).await;
    for artisan in artisans {
        orders::ship(&app.server.app.order_ports(), &user(artisan), &order_id(&id)).await.expect("shipped");
    }
    id
}

async fn payout_status(app: &TestApp, artisan: &str, order: &str) -> PayoutStatus {
    let payout = app.server.app.payment_records.get_payout(&user(artisan), &order_id(order)).await.expect("read");
    payout.expect("the payout").status
}

async fn parked_payouts(state: &AppState) -> usize {
    let mut page = PageRequest { limit: 50, after: None };
    let mut count = 0;
    loop {
        let parked = state.payment_records.parked_payouts(&page).await.expect("parked");
        count += parked.items.len();
        match parked.next {
            Some(next) => page.after = Some(next),
            None => return count,
        }
    }
}

#[tokio::test]
async fn payouts_that_waited_for_an_account_are_paid_once_it_is_connected_whatever_became_of_the_message() {
    // No workers: the message connecting the account sends sits in the queue, as a lost one would.
    let app = spawn_app_with(|o| o.in_process_workers = false).await;
    let state = app.server.app.clone();
    let tray = product(&app, "ines", 2000, 20).await;
    let mut shipped_orders = Vec::new();
    for n in 0..3 {
        let order = shipped(&app, &format!("buyer{n}"), &format!("tray-{n}"), buy(&tray, 1), &["ines"]).await;
        // The payment worker's answer to the shipment: no account yet, so the payout waits for one.
        let waits = payouts::pay_out(&state.payment_ports(), &user("ines"), &order_id(&order)).await.expect("handled");
        assert!(matches!(waits, PayoutOutcome::AwaitingAccount(_)), "{waits:?}");
        shipped_orders.push(order);
    }
    let ines = app.artisan("ines").await;
    app.send(Method::PUT, "/artisan/payout-account", Some(&ines), Some(json!({"account_id": "acct_ines"})))
        .await
        .ok(200);
    let pending = app.server.payment_queue.pending();
    assert!(pending.iter().any(|m| m.contains("payouts_for")), "the message is queued, and nobody takes it");

    // The reconciler finds them all (connecting made them due, in the same write), each on its own: one transfer
    // fails at the provider (both its tries) and waits for its next try, the other two go.
    app.server.payments().fail_transfers_for(&shipped_orders[1], 2);
    let report = reconcile(&state.payment_ports(), time::Duration::ZERO, ReconcileBudget::DEFAULT).await.expect("ran");
    assert_eq!(app.server.payments().transfers().len(), 2, "{report:?}");
    let statuses = futures::future::join_all(shipped_orders.iter().map(|o| payout_status(&app, "ines", o))).await;
    assert_eq!(statuses.iter().filter(|s| **s == PayoutStatus::Transferred).count(), 2, "{statuses:?}");
    assert_eq!(statuses[1], PayoutStatus::Accrued, "{statuses:?}");
    let retry = state.payment_records.get_payout(&user("ines"), &order_id(&shipped_orders[1])).await.expect("read");
    let retry = retry.expect("payout").retry.expect("its failure recorded");
    assert_eq!((retry.attempts, retry.parked), (1, false), "{retry:?}");

    // Not tried again before its next try is due; then it goes, once.
    reconcile(&state.payment_ports(), time::Duration::ZERO, ReconcileBudget::DEFAULT).await.expect("ran");
    assert_eq!(app.server.payments().transfers().len(), 2, "backed off");
    let later = shifted(&state, time::Duration::minutes(2));
    reconcile(&later.payment_ports(), time::Duration::ZERO, ReconcileBudget::DEFAULT).await.expect("ran");
    assert_eq!(app.server.payments().transfers().len(), 3);
    for order in &shipped_orders {
        assert_eq!(payout_status(&app, "ines", order).await, PayoutStatus::Transferred);
    }
    reconcile(&later.payment_ports(), time::Duration::ZERO, ReconcileBudget::DEFAULT).await.expect("ran");
    assert_eq!(app.server.payments().transfers().len(), 3, "each once");
}

#[tokio::test]
async fn transfers_the_provider_refuses_are_parked_and_never_keep_the_reconciler_from_newer_payouts() {
    let app = spawn_app_with(|o| o.in_process_workers = false).await;
    let state = app.server.app.clone();
    let ports = state.payment_ports();
    // olga's account is closed at the provider: every transfer to it is refused, 101 of them (more than a page).
    let account = |id: &str| storefront::domain::PayoutAccount {
        account_id: storefront::domain::ProviderRef::parse(id).expect("id"),
        connected_at: state.clock.now(),
    };
    state.payment_records.connect_payout_account(&user("olga"), &account("acct_olga")).await.expect("connected");
    app.server.payments().close_account("acct_olga");
    let stool = product(&app, "olga", 1500, 200).await;
    for n in 0..101 {
        shipped(&app, &format!("olga-buyer{}", n % 40), &format!("olga-{n}"), buy(&stool, 1), &["olga"]).await;
    }
    // The newest payout of all, to an account that works.
    state.payment_records.connect_payout_account(&user("pete"), &account("acct_pete")).await.expect("connected");
    let mug = product(&app, "pete", 2500, 5).await;
    let petes = shipped(&app, "pete-buyer", "pete-1", buy(&mug, 1), &["pete"]).await;

    let report = reconcile(&ports, time::Duration::ZERO, ReconcileBudget::DEFAULT).await.expect("ran");
    assert_eq!(payout_status(&app, "pete", &petes).await, PayoutStatus::Transferred, "reached past 101: {report:?}");
    assert_eq!((report.parked, parked_payouts(&state).await), (101, 101));
    let parked = state.payment_records.parked_payouts(&PageRequest { limit: 1, after: None }).await.expect("parked");
    let retry = parked.items[0].retry.clone().expect("why");
    assert!(retry.parked && retry.last_error.contains("account_invalid"), "{retry:?}");
    let metrics = app.get("/metrics").await.text;
    let counted = metrics.lines().find_map(|l| l.strip_prefix("storefront_follow_ups_parked_total "));
    assert!(counted.and_then(|n| n.parse::<u64>().ok()).is_some_and(|n| n >= 101), "{counted:?}");

    // Parked work is not tried again, however often the reconciler runs.
    let calls = app.server.payments().calls("POST /v1/transfers");
    let later = shifted(&state, time::Duration::days(2));
    let again = reconcile(&later.payment_ports(), time::Duration::ZERO, ReconcileBudget::DEFAULT).await.expect("ran");
    assert_eq!((app.server.payments().calls("POST /v1/transfers"), again.parked), (calls, 0));
}

#[tokio::test]
async fn a_payout_only_ever_goes_to_the_account_its_first_attempt_named() {
    let app = spawn_app_with(|o| o.in_process_workers = false).await;
    let state = app.server.app.clone();
    let ports = state.payment_ports();
    let rita = app.artisan("rita").await;
    let vase = product(&app, "rita", 4000, 5).await;
    let order = shipped(&app, "sam", "vase", buy(&vase, 1), &["rita"]).await;
    let connect = |account: &'static str| {
        let (app, rita) = (&app, &rita);
        async move {
            let body = json!({"account_id": account});
            app.send(Method::PUT, "/artisan/payout-account", Some(rita), Some(body)).await.ok(200);
        }
    };
    connect("acct_rita_a").await;
    // The first attempt names acct_rita_a, then the provider fails; meanwhile rita switches to acct_rita_b.
    app.server.payments().fail_transfers_for(&order, 2);
    let failed = payouts::pay_out(&ports, &user("rita"), &order_id(&order)).await;
    assert!(failed.is_err(), "{failed:?}");
    connect("acct_rita_b").await;
    let paid = payouts::pay_out(&ports, &user("rita"), &order_id(&order)).await.expect("paid");
    assert!(matches!(paid, PayoutOutcome::Transferred(_)), "{paid:?}");
    let transfers = app.server.payments().transfers();
    assert_eq!(transfers.len(), 1);
    assert_eq!(transfers[0]["destination"], "acct_rita_a", "where the first attempt went, never a second transfer");
    let charge =
        app.server.payments().intent(&app.intent_of("sam", &order).await).expect("intent")["latest_charge"].clone();
    assert_eq!(transfers[0]["source_transaction"], charge, "funded from the order's charge");
    // And no transfer goes out unfunded: the platform's balance holds nothing yet (the stand-in, as Stripe would).
    assert!(app.server.payments().refused_keys() == 0);
}

/// Waits until `artisan`'s payout of `order` is in `status` (the webhook's events are the workers' to apply).
async fn payout_becomes(app: &TestApp, artisan: &str, order: &str, status: PayoutStatus) -> bool {
    eventually(10, || async { payout_status(app, artisan, order).await == status }).await
}

#[tokio::test]
async fn a_refund_or_a_dispute_at_the_provider_moves_the_order_and_its_payouts() {
    use storefront_tests::Webhook;
    let app = spawn_app().await;
    let state = app.server.app.clone();
    let (ana, bo) = (app.artisan("ana").await, app.artisan("bo").await);
    app.send(Method::PUT, "/artisan/payout-account", Some(&ana), Some(json!({"account_id": "acct_ana"}))).await.ok(200);
    let (jug, cup) = (product(&app, "ana", 3000, 10).await, product(&app, "bo", 2000, 10).await);
    let two = json!({"items": [{"product_id": jug, "quantity": 1}, {"product_id": cup, "quantity": 1}]});

    // Refunded in full from the dashboard before anything shipped: cancelled, its stock back, nothing owed.
    let alice = app.shopper("alice").await;
    let early =
        app.order(&alice, "refunded-early", buy(&jug, 2)).await.ok(201)["order_id"].as_str().expect("id").to_owned();
    app.pay("alice", &early).await;
    let intent = app.intent_of("alice", &early).await;
    app.server.payments().refund_outside(&intent, 6000, Webhook::Now).expect("refunded");
    assert!(eventually(10, || async { app.status_of("alice", &early).await == "cancelled" }).await);
    assert_eq!(app.stock_settles_at(&jug, 10).await, 10, "both units back");
    let order = app.stored_order("alice", &early).await;
    assert_eq!(order.payment.map(|p| p.status.as_str()), Some("refunded"));

    // Shipped by both: ana's share transferred, bo's waiting for an account. Refunded in full: ana's transfer is
    // reversed, bo's share will never be sent. The order stays shipped.
    let both = shipped(&app, "bea", "refunded-late", two.clone(), &["ana", "bo"]).await;
    for message in [("ana", &both), ("bo", &both)] {
        payouts::pay_out(&state.payment_ports(), &user(message.0), &order_id(message.1)).await.expect("handled");
    }
    assert_eq!(payout_status(&app, "ana", &both).await, PayoutStatus::Transferred);
    let intent = app.intent_of("bea", &both).await;
    app.server.payments().refund_outside(&intent, 5000, Webhook::Now).expect("refunded");
    assert!(payout_becomes(&app, "ana", &both, PayoutStatus::Reversed).await);
    assert!(payout_becomes(&app, "bo", &both, PayoutStatus::Cancelled).await);
    let reversals = app.server.payments().reversals();
    assert_eq!((reversals.len(), reversals[0]["amount"].as_i64()), (1, Some(2700)), "ana's 2700 taken back, once");
    assert_eq!(app.status_of("bea", &both).await, "shipped");
    let ledger = app.get_as("/artisan/payouts", &bo).await.ok(200)["items"][0].clone();
    assert_eq!(ledger["status"], "cancelled");
    assert!(ledger["reason"].as_str().is_some_and(|r| r.contains("refunded")), "{ledger}");
    assert!(ledger.get("charge_id").is_none() && ledger.get("retry").is_none(), "not how it is funded: {ledger}");

    // Partly refunded after shipping: bo's unsent share is held for an operator.
    let partly = shipped(&app, "cal", "partly", buy(&cup, 1), &["bo"]).await;
    let intent = app.intent_of("cal", &partly).await;
    app.server.payments().refund_outside(&intent, 500, Webhook::Now).expect("refunded");
    assert!(payout_becomes(&app, "bo", &partly, PayoutStatus::Held).await);
    let order = app.stored_order("cal", &partly).await;
    let payment = order.payment.expect("payment");
    assert_eq!((payment.status.as_str(), payment.refunded_amount()), ("partially_refunded", 500));

    // Disputed: bo's unsent share held; the dispute won, owed again; another lost, ana's transfer reversed.
    let disputed = shipped(&app, "dee", "disputed", two.clone(), &["ana", "bo"]).await;
    payouts::pay_out(&state.payment_ports(), &user("ana"), &order_id(&disputed)).await.expect("handled");
    let intent = app.intent_of("dee", &disputed).await;
    let dispute = app.server.payments().dispute(&intent, Webhook::Now).expect("disputed");
    assert!(payout_becomes(&app, "bo", &disputed, PayoutStatus::Held).await);
    assert_eq!(payout_status(&app, "ana", &disputed).await, PayoutStatus::Transferred, "sent money stays meanwhile");
    app.server.payments().close_dispute(&dispute, true, Webhook::Now).expect("closed");
    assert!(payout_becomes(&app, "bo", &disputed, PayoutStatus::Accrued).await, "won: owed again");
    let lost = shipped(&app, "eli", "lost", buy(&jug, 1), &["ana"]).await;
    payouts::pay_out(&state.payment_ports(), &user("ana"), &order_id(&lost)).await.expect("handled");
    let intent = app.intent_of("eli", &lost).await;
    let dispute = app.server.payments().dispute(&intent, Webhook::Now).expect("disputed");
    app.server.payments().close_dispute(&dispute, false, Webhook::Now).expect("closed");
    assert!(payout_becomes(&app, "ana", &lost, PayoutStatus::Reversed).await, "lost: taken back");
    let order = app.stored_order("eli", &lost).await;
    assert_eq!(order.payment.map(|p| p.status.as_str()), Some("dispute_lost"));

    // Every event applied once, however often delivered: no second reversal.
    let reversed = app.server.payments().reversals().len();
    for event in app.server.payments().events_about(&dispute, "charge.dispute.closed") {
        app.server.payments().redeliver(&event);
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(app.server.payments().reversals().len(), reversed);
}

/// Payouts a release before the waiting lists stranded on DynamoDB (waiting for an account, their index keys removed,
/// never brought back when one was connected) are in no list the reconciler reads; `storefront-admin
/// reindex-payouts` writes them back into the due list, once, and the reconciler pays them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn payouts_an_earlier_release_stranded_are_put_back_by_an_operator_and_paid() {
    let app = spawn_app_with(|o| o.in_process_workers = false).await;
    if app.database().is_some() {
        let told = crate::parked::admin(&app, &["reindex-payouts"]);
        assert!(told.contains("nothing to reindex"), "{told}");
        return;
    }
    let state = app.server.app.clone();
    let tray = product(&app, "ivo", 2000, 5).await;
    let order = shipped(&app, "bea", "stranded", buy(&tray, 1), &["ivo"]).await;
    // As that release left it: accrued, no version, in no list.
    let sdk = storefront::adapters::aws::local_sdk_config(app.server.dynamodb_endpoint()).await;
    aws_sdk_dynamodb::Client::new(&sdk)
        .update_item()
        .table_name(storefront_local::TABLE_NAME)
        .set_key(Some(storefront::adapters::dynamodb::keys::payout_key(&user("ivo"), &order_id(&order))))
        .update_expression("REMOVE GSI1PK, GSI1SK, version")
        .condition_expression("attribute_exists(GSI1PK)")
        .send()
        .await
        .expect("stranded");
    let ivo = app.artisan("ivo").await;
    app.send(Method::PUT, "/artisan/payout-account", Some(&ivo), Some(json!({"account_id": "acct_ivo"}))).await.ok(200);
    reconcile(&state.payment_ports(), time::Duration::ZERO, ReconcileBudget::DEFAULT).await.expect("ran");
    assert_eq!(payout_status(&app, "ivo", &order).await, PayoutStatus::Accrued, "no list holds it");

    let told = crate::parked::admin(&app, &["reindex-payouts"]);
    assert!(told.contains("1 stranded payout(s) back in the due list"), "{told}");
    assert!(crate::parked::admin(&app, &["reindex-payouts"]).contains("0 stranded payout(s)"), "once");
    reconcile(&state.payment_ports(), time::Duration::ZERO, ReconcileBudget::DEFAULT).await.expect("ran");
    assert_eq!(payout_status(&app, "ivo", &order).await, PayoutStatus::Transferred);
    assert_eq!(app.server.payments().transfers().len(), 1);
}
