//! Work parked for an operator: a refund the provider refuses is tried once, parked with its reason (never tried
//! again by the reconciler, never in its way), listed by `storefront-admin parked`, and put back by
//! `storefront-admin unpark`, after which it is tried again.

use std::path::PathBuf;
use std::process::Command;

use reqwest::Method;
use storefront::services::reconciler::{ReconcileBudget, reconcile};
use storefront_tests::*;

/// `storefront-admin`, as `make test` builds it.
fn admin_binary() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR").map(PathBuf::from).unwrap_or_else(|| repo_root().join("target"));
    let binary = target.join("debug/storefront-admin");
    assert!(binary.exists(), "{} is missing: run `cargo build --workspace --bins` (make test does)", binary.display());
    binary
}

/// Runs `storefront-admin` on the app's store, as an operator would (the variables `make dev` reads).
pub(crate) fn admin(app: &TestApp, args: &[&str]) -> String {
    let mut command = Command::new(admin_binary());
    command.args(args).env_remove("STORE").env_remove("SHARDS").env_remove("SHARD_URLS");
    match app.database() {
        Some(database) => {
            let shards: Vec<&str> = database.shards.iter().map(|shard| shard.url.as_str()).collect();
            command.env("STORE", "postgres").env("DATABASE_URL", &database.url);
            if !shards.is_empty() {
                command.env("SHARD_URLS", shards.join(","));
            }
        }
        None => {
            command
                .env("AWS_ENDPOINT_URL_DYNAMODB", app.server.dynamodb_endpoint())
                .env("TABLE_NAME", storefront_local::TABLE_NAME)
                .env("AWS_ACCESS_KEY_ID", "local")
                .env("AWS_SECRET_ACCESS_KEY", "local")
                .env("AWS_REGION", "us-east-1");
        }
    }
    let output = command.output().expect("storefront-admin runs");
    let (stdout, stderr) = (String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    assert!(output.status.success(), "storefront-admin {args:?} failed:\n{stdout}\n{stderr}");
    stdout.into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refund_the_provider_refuses_is_parked_listed_and_put_back_by_an_operator() {
    // No workers: the settlement is the reconciler's to make.
    let app = spawn_app_with(|o| o.in_process_workers = false).await;
    let state = app.server.app.clone();
    let artisan = app.artisan("ana").await;
    let vase =
        app.create_product(&artisan, "Vase", "ceramics", 3000, 5).await["product_id"].as_str().expect("id").to_owned();
    let alice = app.shopper("alice").await;
    let order = app.order(&alice, "refused", buy(&vase, 1)).await.ok(201)["order_id"].as_str().expect("id").to_owned();
    app.pay_in_process("alice", &order).await;
    let intent = app.intent_of("alice", &order).await;
    app.server.payments().refuse_refunds(&intent);
    app.send(Method::POST, &format!("/orders/{order}/cancel"), Some(&alice), None).await.ok(200);

    let report = reconcile(&state.payment_ports(), time::Duration::ZERO, ReconcileBudget::DEFAULT).await.expect("ran");
    assert_eq!(report.parked, 1, "{report:?}");
    let parked = app.stored_order("alice", &order).await;
    assert!(parked.parked() && parked.retry.as_ref().is_some_and(|r| r.last_error.contains("charge_not_refundable")));
    // Not tried again, however often the reconciler runs, and not in anyone's way.
    let refunds = app.server.payments().calls("POST /v1/refunds");
    reconcile(&state.payment_ports(), time::Duration::ZERO, ReconcileBudget::DEFAULT).await.expect("ran");
    assert_eq!(app.server.payments().calls("POST /v1/refunds"), refunds);

    let listed = admin(&app, &["parked"]);
    assert!(listed.contains(&format!("settlement  order {order} of alice  1 tries")), "{listed}");
    assert!(listed.contains("charge_not_refundable") && listed.contains("1 parked"), "{listed}");
    // The charge is refundable again (support sorted it out): the operator puts the settlement back.
    app.server.payments().allow_refunds(&intent);
    let put_back = admin(&app, &["unpark", "order", "alice", &order]);
    assert!(put_back.contains("due again"), "{put_back}");
    let report = reconcile(&state.payment_ports(), time::Duration::ZERO, ReconcileBudget::DEFAULT).await.expect("ran");
    assert_eq!(report.fixed, 1, "{report:?}");
    let refunded = app.stored_order("alice", &order).await;
    assert_eq!(refunded.payment.map(|p| p.status.as_str()), Some("refunded"));
    assert!(admin(&app, &["parked"]).contains("0 parked"));
}
