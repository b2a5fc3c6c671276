//! The payment webhook against misconfiguration and attack: a signing secret never filled in refuses every event
//! (503, never a forged payment) until an operator sets it, and the set secret takes effect without a restart; no
//! call reaches the provider with an empty API key; and 10,000 random and edge deliveries (headers, times, bodies)
//! answer only 200, 400 or 503, with the server still up.

use std::time::Duration;

use futures::StreamExt;
use serde_json::Value;
use storefront_tests::*;

use crate::payments::{deliver, now, sign};

/// The payment secret as Secrets Manager holds it.
fn served(api_key: &str, webhook_secret: &str) -> String {
    json!({"api_key": api_key, "webhook_secret": webhook_secret}).to_string()
}

/// A stack whose payment adapters read their secret every 200 ms, with no workers (what is queued stays queued).
async fn rotating_app() -> TestApp {
    spawn_app_with(|o| {
        o.in_process_workers = false;
        o.secret_ttl = Duration::from_millis(200);
    })
    .await
}

/// A `payment_intent.succeeded` for `user`'s order, as anyone who saw its intent id could write it.
async fn succeeded_event(app: &TestApp, id: &str, user: &str, order: &str) -> String {
    let intent = app.intent_of(user, order).await;
    json!({
        "id": id, "object": "event", "type": "payment_intent.succeeded",
        "data": {"object": {"id": intent, "object": "payment_intent", "metadata": {"order_id": order, "user_id": user}}},
    })
    .to_string()
}

async fn placed_order(app: &TestApp, user: &str, key: &str) -> String {
    let artisan = app.artisan("ana").await;
    let jug =
        app.create_product(&artisan, "Jug", "ceramics", 3000, 5).await["product_id"].as_str().expect("id").to_owned();
    let shopper = app.shopper(user).await;
    app.order(&shopper, key, buy(&jug, 1)).await.ok(201)["order_id"].as_str().expect("id").to_owned()
}

#[tokio::test]
async fn a_webhook_secret_never_filled_in_refuses_every_event_until_an_operator_sets_it() {
    let app = rotating_app().await;
    let real = app.server.payments().secrets().clone();
    // As template.yaml created it, with only the API key filled in.
    app.server.put_payment_secret(served(&real.api_key, ""));
    tokio::time::sleep(Duration::from_millis(300)).await;
    let order = placed_order(&app, "alice", "unsigned-world").await;
    let forged = succeeded_event(&app, "evt_forged", "alice", &order).await;
    for key in ["", &real.webhook_secret] {
        let refused = deliver(&app, &forged, Some(&sign(key, now(), &forged))).await;
        refused.problem(503, "unavailable");
        assert!(refused.header("retry-after").is_some_and(|s| s.parse::<u32>().is_ok()), "{:?}", refused.headers);
    }
    assert_eq!(app.server.payment_queue.depth(), 0, "nothing refused was queued");
    assert_eq!(app.status_of("alice", &order).await, "awaiting_payment", "no payment from a forgery");
    let metrics = app.get("/metrics").await.text;
    let misconfigured = metrics.lines().find_map(|l| l.strip_prefix("storefront_payments_misconfigured_total "));
    assert!(misconfigured.and_then(|n| n.parse::<u64>().ok()).is_some_and(|n| n >= 2), "counted: {misconfigured:?}");

    // The operator sets the secret: within the adapters' TTL, with no restart, a real delivery is accepted ...
    app.server.put_payment_secret(served(&real.api_key, &real.webhook_secret));
    let signed = succeeded_event(&app, "evt_real", "alice", &order).await;
    let accepted = eventually(5, || async {
        deliver(&app, &signed, Some(&sign(&real.webhook_secret, now(), &signed))).await.status == 200
    })
    .await;
    assert!(accepted, "the secret set in Secrets Manager is used without a restart");
    assert_eq!(app.server.payment_queue.depth(), 1);
    // ... and one signed with the empty key is what it is: not our signature.
    deliver(&app, &forged, Some(&sign("", now(), &forged))).await.problem(400, "bad-request");
}

#[tokio::test]
async fn no_call_reaches_the_provider_with_an_api_key_never_filled_in() {
    let app = rotating_app().await;
    let real = app.server.payments().secrets().clone();
    app.server.put_payment_secret(served("", &real.webhook_secret));
    tokio::time::sleep(Duration::from_millis(300)).await;
    let artisan = app.artisan("ana").await;
    let jug =
        app.create_product(&artisan, "Jug", "ceramics", 3000, 5).await["product_id"].as_str().expect("id").to_owned();
    let shopper = app.shopper("alice").await;
    let refused = app.order(&shopper, "no-key", buy(&jug, 1)).await;
    refused.problem(503, "unavailable");
    assert!(refused.header("retry-after").is_some());
    assert_eq!(app.server.payments().refused_keys(), 0, "no call went out with an empty key");
    assert_eq!(app.server.payments().calls("POST /v1/payment_intents"), 0);
    // Filled in: the same checkout again is answered with its order, now with its intent.
    app.server.put_payment_secret(served(&real.api_key, &real.webhook_secret));
    tokio::time::sleep(Duration::from_millis(300)).await;
    let replayed = app.order(&shopper, "no-key", buy(&jug, 1)).await;
    assert!(replayed.ok(201)["payment"]["client_secret"].is_string(), "{}", replayed.text);
    assert_eq!(app.server.payments().refused_keys(), 0);
}

/// xorshift64*: a repeatable stream of cases from a printed seed.
struct Cases(u64);

impl Cases {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len() as u64) as usize]
    }

    fn text(&mut self, max: u64, alphabet: &[u8]) -> String {
        (0..self.below(max + 1)).map(|_| char::from(*self.pick(alphabet))).collect()
    }
}

const EDGE_TIMES: &[&str] = &[
    "-9223372036854775808",
    "9223372036854775807",
    "-9223372036854775809",
    "9223372036854775808",
    "99999999999999999999",
    "-1",
    "0",
    "-0",
    "+0",
    "1e3",
    "",
    " ",
    "0x10",
    "١٢٣",
];

/// A `Stripe-Signature` header: well formed or not, its time an edge, now, or random, signed by our secret, another,
/// or nothing that is a signature.
fn signature(cases: &mut Cases, secret: &str, body: &str) -> Option<String> {
    let now = now();
    match cases.below(8) {
        0 => None,
        1 => Some(cases.text(64, b"t=v1,0123456789abcdef ;-+")),
        2 => Some(format!("t={},v1={}", cases.pick(EDGE_TIMES), cases.text(64, b"0123456789abcdef"))),
        3 => {
            let at = now + cases.below(2000) as i64 - 1000;
            Some(sign(secret, at, body))
        }
        4 => Some(sign("whsec_not_the_storefronts_secret_at_all", now, body)),
        5 => Some(format!("{},v1={}", sign(secret, now, body), cases.text(64, b"0123456789abcdefXYZ"))),
        6 => Some(format!("t={now},v1=,v0={},t={}", cases.text(8, b"xyz"), cases.pick(EDGE_TIMES))),
        _ => Some(sign(secret, now, body)),
    }
}

/// A body: random bytes, JSON of a random shape, or an event of a known or unknown type with ids valid or not.
fn body(cases: &mut Cases, order: &str, intent: &str) -> String {
    let kinds = [
        "payment_intent.succeeded",
        "payment_intent.payment_failed",
        "payment_intent.canceled",
        "charge.refunded",
        "charge.dispute.created",
        "charge.dispute.closed",
        "account.updated",
        "",
    ];
    let ids = ["evt_1", "", "evt/../x", "evt 1", "evt_\u{0}", "évt", "9223372036854775807"];
    match cases.below(6) {
        0 => cases.text(200, b"{}[]\":,0123456789.eE+-truefalsnul \\\n\t\x01\xff"),
        1 => {
            let number =
                cases.pick(&[json!(i64::MIN), json!(u64::MAX), json!(1e308), json!(-0.0), json!(null)]).clone();
            json!({"id": number, "type": number, "data": {"object": number}}).to_string()
        }
        2 => json!([cases.text(20, b"abc"), {"id": "evt"}]).to_string(),
        _ => {
            let id = format!("{}{}", cases.pick(&ids), cases.below(1_000_000));
            let metadata: Value = match cases.below(4) {
                0 => json!({"order_id": order, "user_id": "alice"}),
                1 => json!({"order_id": cases.text(30, b"0123456789ABCDEFGHJKMNPQRSTVWXYZ"), "user_id": "alice"}),
                2 => json!({"user_id": 7}),
                _ => json!(null),
            };
            let object_id = if cases.below(2) == 0 { json!(intent) } else { json!(cases.text(40, b"pi_/#. 0123")) };
            json!({
                "id": id, "object": "event", "type": cases.pick(&kinds),
                "created": cases.pick(&[json!(i64::MIN), json!(0), json!(now()), json!("x")]).clone(),
                "data": {"object": {"id": object_id, "object": "payment_intent", "metadata": metadata,
                                    "amount": cases.pick(&[json!(i64::MAX), json!(-1), json!(3000)]).clone()}},
            })
            .to_string()
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_thousand_random_and_edge_deliveries_answer_only_200_400_or_503() {
    let app = spawn_app_with(|o| o.in_process_workers = false).await;
    let secret = app.server.payments().secrets().webhook_secret.clone();
    let order = placed_order(&app, "alice", "fuzzed").await;
    let intent = app.intent_of("alice", &order).await;
    let seed = std::env::var("WEBHOOK_FUZZ_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| u64::try_from(now()).unwrap_or(1) | 1);
    println!("webhook fuzz seed {seed} (WEBHOOK_FUZZ_SEED={seed} replays it)");
    let mut cases = Cases(seed);
    let deliveries: Vec<(String, Option<String>)> = (0..10_000)
        .map(|_| {
            let body = body(&mut cases, &order, &intent);
            let signature = signature(&mut cases, &secret, &body);
            (body, signature)
        })
        .collect();
    let answered: Vec<(u16, usize)> = futures::stream::iter(deliveries.iter().enumerate())
        .map(|(n, (body, signature))| {
            let app = &app;
            async move { (deliver(app, body, signature.as_deref()).await.status, n) }
        })
        .buffer_unordered(8)
        .collect()
        .await;
    for (status, n) in &answered {
        let (body, signature) = &deliveries[*n];
        assert!(matches!(status, 200 | 400 | 503), "case {n} answered {status}: {signature:?} {body}");
    }
    let accepted = answered.iter().filter(|(s, _)| *s == 200).count();
    let refused = answered.iter().filter(|(s, _)| *s == 400).count();
    assert!(accepted > 200 && refused > 5_000, "both sides were reached: {accepted} accepted, {refused} refused");
    app.get("/health").await.ok(200);
    assert_eq!(app.status_of("alice", &order).await, "awaiting_payment", "the workers did not run");
}
