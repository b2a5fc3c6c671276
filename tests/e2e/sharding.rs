//! Customer data sharded over Postgres databases (docs/sharding.md): a checkout spans the catalog database and
//! the shopper's shard, and after every fault (a failed catalog commit, the shard stopped between the steps, a
//! commit slower than the client, the process stopping between each pair of steps) and one sweep, the invariants
//! hold (`ShardedStore::audit`) and each shopper sees exactly the orders they were told about. These run in
//! `make test`'s Postgres runs; the whole end-to-end suite also runs on a sharded store there (`SHARDS=4`).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use reqwest::Method;
use storefront::adapters::postgres::sharded::{Fault, FaultHook, FaultPoint, RESERVATION_BOUND, Slot, SlotMap};
use storefront::adapters::postgres::{admin, sqlx};
use storefront::domain::{ProductId, UserId};
use storefront::ports::{CatalogReads, OrderStore};
use storefront_tests::*;

const SHARDS: usize = 2;

/// What the hook does when the checkout reaches its point, once.
enum Action {
    Fault(Fault),
    Delay(Duration),
    /// The shard's database refuses connections and its sessions end (then the step fails).
    StopShard {
        setup_url: String,
    },
}

/// A fault armed at one point, fired once.
#[derive(Clone, Default)]
struct Faults(Arc<Mutex<Option<(FaultPoint, Action)>>>);

impl Faults {
    fn arm(&self, point: FaultPoint, action: Action) {
        *self.0.lock().expect("faults") = Some((point, action));
    }

    fn armed(&self) -> bool {
        self.0.lock().expect("faults").is_some()
    }

    fn hook(&self) -> FaultHook {
        let armed = self.0.clone();
        Arc::new(move |point| {
            let action = {
                let mut slot = armed.lock().expect("faults");
                let fires = matches!(slot.as_ref(), Some((at, _)) if *at == point);
                if fires { slot.take().map(|(_, action)| action) } else { None }
            };
            Box::pin(async move {
                match action? {
                    Action::Fault(fault) => Some(fault),
                    Action::Delay(delay) => {
                        tokio::time::sleep(delay).await;
                        None
                    }
                    Action::StopShard { setup_url } => {
                        allow_connections(&setup_url, false).await;
                        None
                    }
                }
            })
        })
    }
}

/// Lets the database `setup_url` names take connections, or stops it (refusing new ones, ending the open ones).
async fn allow_connections(setup_url: &str, allow: bool) {
    let name = admin::database_name(setup_url).expect("name");
    let server = admin::connect_once(&admin::with_database(setup_url, "postgres").expect("URL")).await.expect("server");
    sqlx::query(&format!("ALTER DATABASE \"{name}\" ALLOW_CONNECTIONS {allow}")).execute(&server).await.expect("alter");
    if !allow {
        sqlx::query("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1")
            .bind(&name)
            .execute(&server)
            .await
            .expect("sessions ended");
    }
    server.close().await;
}

/// A shopper whose data lands in `shard` of an even map over [`SHARDS`].
fn shopper_in(shard: usize, name: &str) -> String {
    let map = SlotMap::even(SHARDS);
    (0..)
        .map(|n| format!("{name}-{n}"))
        .find(|user| map.shard_of(Slot::of(&UserId::parse(user).expect("id"))) == shard)
        .expect("some user lands there")
}

struct Rig {
    app: TestApp,
    faults: Faults,
    artisan: String,
    product: String,
    stock: i64,
}

async fn rig(stock: i64) -> Rig {
    let faults = Faults::default();
    let hook = faults.hook();
    let app = spawn_sharded_app_with(SHARDS, |options| options.sharding.store.faults = Some(hook)).await;
    let artisan = app.artisan("ana").await;
    let product =
        app.create_product(&artisan, "Vase", "ceramics", 2400, stock).await["product_id"].as_str().expect("id").into();
    Rig { app, faults, artisan, product, stock }
}

impl Rig {
    fn buy(&self, quantity: i64) -> serde_json::Value {
        json!({"items": [{"product_id": self.product, "quantity": quantity}]})
    }

    /// One sweep as the order sweeper runs it, late enough that every reservation is past its bound.
    async fn sweep(&self) {
        let later = time::OffsetDateTime::now_utc() + RESERVATION_BOUND + time::Duration::seconds(5);
        self.app.sharded_store().sweep(later).await.expect("swept");
    }

    /// The invariants after the scenario, and each shopper's orders as the shards hold them.
    async fn assert_invariants(&self) -> std::collections::BTreeMap<UserId, Vec<storefront::domain::OrderId>> {
        let audit = self.app.sharded_store().audit(time::OffsetDateTime::now_utc()).await.expect("audited");
        assert_eq!(audit.problems, Vec::<String>::new(), "the invariants hold");
        let ledger = audit.stock[&ProductId::parse(&self.product).expect("id")];
        assert_eq!(ledger.total(), self.stock, "initial stock = on shelf + reserved + sold: {ledger:?}");
        assert_eq!(ledger.on_shelf, self.shelf().await, "the audit reads the shelf as the checkout does");
        audit.orders
    }

    /// The product's stock as checkout reads it (strongly consistent; the product page may be cached up to 3 s,
    /// and the sweeper writes from another process, as in Lambda).
    async fn shelf(&self) -> i64 {
        let id = ProductId::parse(&self.product).expect("id");
        let product = self.app.sharded_store().catalog().get_product(&id).await.expect("read").expect("the product");
        i64::from(product.stock)
    }

    /// The order ids `token`'s shopper sees in their list.
    async fn listed(&self, token: &str) -> Vec<String> {
        let listed = self.app.get_as("/orders", token).await;
        listed.ok(200)["items"]
            .as_array()
            .expect("items")
            .iter()
            .map(|o| o["order_id"].as_str().expect("id").into())
            .collect()
    }
}

#[tokio::test]
async fn shoppers_orders_live_in_their_own_shard_and_the_artisan_sees_them_all() {
    only_on!(Postgres, "the sharded store's own two-shard stores and faults, on the server directly");
    let rig = rig(10).await;
    let app = &rig.app;
    let (first, second) = (shopper_in(0, "alice"), shopper_in(1, "bob"));
    let (alice, bob) = (app.shopper(&first).await, app.shopper(&second).await);
    let kept = app.order(&alice, "a", rig.buy(2)).await.ok(201)["order_id"].as_str().expect("id").to_owned();
    let cancelled = app.order(&bob, "b", rig.buy(3)).await.ok(201)["order_id"].as_str().expect("id").to_owned();
    assert_eq!(rig.shelf().await, 5);
    // A replay finds the order in the shopper's shard; nothing is taken twice.
    app.order(&alice, "a", rig.buy(2)).await.ok(201);
    assert_eq!(rig.shelf().await, 5);

    let orders = rig.assert_invariants().await;
    let store = app.sharded_store();
    for (user, ids) in &orders {
        let shard = store.slot_map().await.expect("map").shard_of_user(user);
        assert_eq!(ids.len(), 1, "{user}: one order each");
        assert!(store.shards()[shard].get_order(user, &ids[0]).await.expect("read").is_some(), "in its shard");
    }
    assert_eq!(orders.len(), 2);

    // The artisan's list comes from the catalog database's copies, which follow every move.
    let artisan_orders = || async {
        let listed = app.get_as("/artisan/orders", &rig.artisan).await;
        let items = listed.ok(200)["items"].as_array().expect("items").clone();
        items.iter().map(|o| (o["order_id"].as_str().expect("id").to_owned(), o["status"].clone())).collect::<Vec<_>>()
    };
    assert_eq!(artisan_orders().await.len(), 2);
    app.send(Method::POST, &format!("/orders/{cancelled}/cancel"), Some(&bob), None).await.ok(200);
    assert_eq!(rig.shelf().await, 8, "the cancelled order's units are back");
    assert!(artisan_orders().await.contains(&(cancelled.clone(), json!("cancelled"))), "{:?}", artisan_orders().await);
    app.pay(&first, &kept).await;
    app.send(Method::POST, &format!("/artisan/orders/{kept}/ship"), Some(&rig.artisan), None).await.ok(200);
    assert!(artisan_orders().await.contains(&(kept.clone(), json!("shipped"))), "{:?}", artisan_orders().await);
    assert_eq!(rig.listed(&alice).await, vec![kept]);
    assert_eq!(rig.listed(&bob).await, vec![cancelled]);
    rig.assert_invariants().await;
}

#[tokio::test]
async fn a_failed_catalog_commit_takes_nothing() {
    only_on!(Postgres, "the sharded store's own two-shard stores and faults, on the server directly");
    let rig = rig(4).await;
    let alice = rig.app.shopper(&shopper_in(0, "alice")).await;
    rig.faults.arm(FaultPoint::ReserveCommit, Action::Fault(Fault::Fail));
    rig.app.order(&alice, "k", rig.buy(1)).await.problem(503, "unavailable");
    assert!(!rig.faults.armed(), "the fault fired");
    assert_eq!(rig.shelf().await, 4);
    assert_eq!(rig.listed(&alice).await, Vec::<String>::new());
    rig.assert_invariants().await;
    // The key was given back: the same request goes through now.
    rig.app.order(&alice, "k", rig.buy(1)).await.ok(201);
    rig.assert_invariants().await;
}

#[tokio::test]
async fn the_shoppers_shard_stopping_between_the_steps_leaves_the_stock_to_the_sweeper() {
    only_on!(Postgres, "the sharded store's own two-shard stores and faults, on the server directly");
    let rig = rig(4).await;
    let user = shopper_in(1, "alice");
    let alice = rig.app.shopper(&user).await;
    let shard = rig.app.database().expect("postgres").shards[1].setup_url.clone();
    rig.faults.arm(FaultPoint::Reserved, Action::StopShard { setup_url: shard.clone() });
    rig.app.order(&alice, "k", rig.buy(3)).await.problem(503, "unavailable");
    assert!(!rig.faults.armed(), "the fault fired");
    // Reserved, and the shard was not there to decide: the units wait for the sweeper.
    assert_eq!(rig.shelf().await, 1);
    allow_connections(&shard, true).await;
    rig.sweep().await;
    assert_eq!(rig.shelf().await, 4, "released: the order can never exist now");
    let orders = rig.assert_invariants().await;
    assert!(orders.is_empty(), "{orders:?}");
    assert_eq!(rig.listed(&alice).await, Vec::<String>::new());
    rig.app.order(&alice, "k2", rig.buy(3)).await.ok(201);
    rig.assert_invariants().await;
}

#[tokio::test]
async fn a_commit_slower_than_the_client_lands_once_and_the_retry_finds_it() {
    only_on!(Postgres, "the sharded store's own two-shard stores and faults, on the server directly");
    let rig = rig(4).await;
    let alice = rig.app.shopper(&shopper_in(0, "alice")).await;
    rig.faults.arm(FaultPoint::PlaceCommit, Action::Delay(Duration::from_millis(1500)));
    let impatient = rig
        .app
        .client
        .post(rig.app.url("/orders"))
        .bearer_auth(&alice)
        .header("idempotency-key", "slow")
        .header("content-type", "application/json")
        .body(rig.buy(2).to_string())
        .timeout(Duration::from_millis(300))
        .send()
        .await;
    assert!(impatient.is_err_and(|e| e.is_timeout()), "the client gave up first");
    tokio::time::sleep(Duration::from_millis(2000)).await;
    let retried = rig.app.order(&alice, "slow", rig.buy(2)).await;
    let id = retried.ok(201)["order_id"].as_str().expect("id").to_owned();
    assert_eq!(rig.listed(&alice).await, vec![id], "one order, the one the retry was told about");
    assert_eq!(rig.shelf().await, 2);
    rig.sweep().await;
    rig.assert_invariants().await;
}

#[tokio::test]
async fn the_process_stopping_between_any_two_steps_is_finished_by_one_sweep() {
    only_on!(Postgres, "the sharded store's own two-shard stores and faults, on the server directly");
    // Where it stops, and whether the order exists after (the shopper's retry with the same key then finds it).
    let cases = [
        (FaultPoint::ReserveCommit, false),
        (FaultPoint::Reserved, false),
        (FaultPoint::PlaceCommit, false),
        (FaultPoint::Placed, true),
    ];
    let rig = rig(20).await;
    for (n, (point, placed)) in cases.into_iter().enumerate() {
        let user = shopper_in(n % SHARDS, &format!("shopper{n}"));
        let token = rig.app.shopper(&user).await;
        rig.faults.arm(point, Action::Fault(Fault::Crash));
        rig.app.order(&token, "k", rig.buy(1)).await.problem(503, "unavailable");
        assert!(!rig.faults.armed(), "{point:?}: the fault fired");
        rig.sweep().await;
        let orders = rig.assert_invariants().await;
        let user = UserId::parse(&user).expect("id");
        assert_eq!(orders.contains_key(&user), placed, "{point:?}: {orders:?}");
        // The shopper was told nothing; their retry is told, and sees that one order.
        let retried = rig.app.order(&token, "k", rig.buy(1)).await;
        let id = retried.ok(201)["order_id"].as_str().expect("id").to_owned();
        if placed {
            assert_eq!(orders[&user][0].to_string(), id, "{point:?}: the retry found the order the crash left");
        }
        assert_eq!(rig.listed(&token).await, vec![id], "{point:?}");
        rig.assert_invariants().await;
    }

    // An order's move: committed in the shard, the catalog not yet told when the process stops.
    let user = shopper_in(0, "canceller");
    let token = rig.app.shopper(&user).await;
    let id = rig.app.order(&token, "c", rig.buy(2)).await.ok(201)["order_id"].as_str().expect("id").to_owned();
    let before = rig.shelf().await;
    rig.faults.arm(FaultPoint::Moved, Action::Fault(Fault::Crash));
    rig.app.send(Method::POST, &format!("/orders/{id}/cancel"), Some(&token), None).await;
    assert!(!rig.faults.armed(), "the fault fired");
    assert_eq!(rig.app.status_of(&user, &id).await, "cancelled", "the move itself is durable");
    assert_eq!(rig.shelf().await, before, "the units are not back yet");
    rig.sweep().await;
    assert_eq!(rig.shelf().await, before + 2, "the sweeper gave them back");
    rig.assert_invariants().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slots_move_to_a_new_shard_under_live_checkouts_and_nothing_is_lost() {
    only_on!(Postgres, "the sharded store's own two-shard stores and faults, on the server directly");
    // Three shard databases, the stored map on the first two: the third is the shard being added.
    let lease = Duration::from_millis(100);
    let app = spawn_sharded_app_with(3, |options| {
        options.sharding.store.map_lease = lease;
        options.sharding.initial_map = Some(SlotMap::even(2));
    })
    .await;
    let store =
        app.sharded_store().tuned(storefront::adapters::postgres::sharded::Tuning { map_lease: lease, faults: None });
    let artisan = app.artisan("ana").await;
    let stock = 1000;
    let product: String =
        app.create_product(&artisan, "Cup", "ceramics", 900, stock).await["product_id"].as_str().expect("id").into();
    let shoppers: Vec<String> = (0..4).map(|n| shopper_in(n % 2, &format!("moving{n}"))).collect();
    for user in &shoppers {
        let token = app.shopper(user).await;
        app.send(Method::PUT, &format!("/cart/items/{product}"), Some(&token), Some(json!({"quantity": 1})))
            .await
            .ok(200);
    }

    // Each shopper checks out again and again, retrying a refused attempt with the same key as a client does,
    // while their slots move to the new shard.
    let app = Arc::new(app);
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut traffic = Vec::new();
    for user in shoppers.clone() {
        let (app, stop, product) = (app.clone(), stop.clone(), product.clone());
        traffic.push(tokio::spawn(async move {
            let token = app.shopper(&user).await;
            let (mut told, mut refused) = (Vec::new(), 0);
            for n in 0.. {
                if stop.load(std::sync::atomic::Ordering::Relaxed) {
                    break;
                }
                let body = json!({"items": [{"product_id": product, "quantity": 1}]});
                loop {
                    let placed = app.order(&token, format!("order-{n}"), body.clone()).await;
                    match placed.status {
                        201 => {
                            let id = placed.body["order_id"].as_str().expect("id").to_owned();
                            // Cancelled at once, retried while its slot is fenced: a shopper holds at most three
                            // orders awaiting payment, and the cancel's move crosses the slot's move too.
                            loop {
                                let cancel = format!("/orders/{id}/cancel");
                                match app.send(Method::POST, &cancel, Some(&token), None).await {
                                    done if done.status == 200 => break,
                                    fenced if fenced.status == 503 => {
                                        refused += 1;
                                        tokio::time::sleep(Duration::from_millis(50)).await;
                                    }
                                    other => panic!("{user}: cancelling {id}: {}: {}", other.status, other.text),
                                }
                            }
                            told.push(id);
                            break;
                        }
                        503 => {
                            refused += 1;
                            tokio::time::sleep(Duration::from_millis(50)).await;
                        }
                        409 if placed.body["type"] == "request-in-progress" => {
                            refused += 1;
                            tokio::time::sleep(Duration::from_millis(50)).await;
                        }
                        other => panic!("{user}: unexpected {other}: {}", placed.text),
                    }
                }
            }
            (user, token, told, refused)
        }));
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let slots: std::collections::BTreeSet<Slot> =
        shoppers.iter().map(|user| Slot::of(&UserId::parse(user).expect("id"))).collect();
    for slot in &slots {
        let moved = store.move_slot(*slot, 2, lease * 4).await.expect("moved").expect("a move");
        assert_eq!(moved.to, 2);
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    stop.store(true, std::sync::atomic::Ordering::Relaxed);

    let map = store.slot_map().await.expect("map");
    let mut refusals = 0;
    for handle in traffic {
        let (user, token, told, refused) = handle.await.expect("traffic");
        refusals += refused;
        assert!(!told.is_empty(), "{user} checked out during the move");
        assert_eq!(map.shard_of_user(&UserId::parse(&user).expect("id")), 2, "{user}'s slot is on the new shard");
        let mut listed = Vec::new();
        let mut next = Some("/orders?limit=100".to_owned());
        while let Some(page) = next {
            let body = app.get_as(&page, &token).await.ok(200).clone();
            listed.extend(
                body["items"].as_array().expect("items").iter().map(|o| o["order_id"].as_str().expect("id").to_owned()),
            );
            next = body["next_cursor"].as_str().map(|cursor| format!("/orders?limit=100&cursor={cursor}"));
        }
        listed.sort();
        let mut told = told;
        told.sort();
        assert_eq!(listed, told, "{user} sees exactly the orders they were told about");
        let cart = app.get_as("/cart", &token).await.ok(200).clone();
        assert_eq!(cart["items"].as_array().map(Vec::len), Some(1), "{user}'s cart moved with them: {cart}");
    }
    eprintln!("writes refused while their slot was fenced, then retried: {refusals}");
    // A cancel that committed just before its slot was fenced finds the slot fenced when it brings the catalog up
    // to date: its move is durable in the shard, and the sweeper applies it (as after any fault here).
    let later = time::OffsetDateTime::now_utc() + RESERVATION_BOUND + time::Duration::seconds(5);
    store.sweep(later).await.expect("swept");
    let audit = store.audit(time::OffsetDateTime::now_utc()).await.expect("audited");
    assert_eq!(audit.problems, Vec::<String>::new());
    let ledger = audit.stock[&ProductId::parse(&product).expect("id")];
    assert_eq!(ledger.total(), stock, "{ledger:?}");
    // The sources kept nothing of the moved slots.
    for shard in &store.shards()[..2] {
        for user in &shoppers {
            let user = UserId::parse(user).expect("id");
            let left = shard.list_orders(&user, &storefront::ports::PageRequest { limit: 10, after: None }).await;
            assert!(left.expect("read").items.is_empty(), "{user}'s orders were deleted from the source");
        }
    }
}

#[tokio::test]
async fn a_slots_move_copies_every_column() {
    only_on!(Postgres, "the sharded store's own two-shard stores and faults, on the server directly");
    use storefront::adapters::postgres::sharded::reshard::SLOT_TABLES;
    let app = spawn_sharded_app_with(SHARDS, |_| {}).await;
    let shard = &app.database().expect("a Postgres database").shards[0];
    let pool = admin::connect_once(&shard.setup_url).await.expect("the shard");
    for (table, copied) in SLOT_TABLES {
        let columns: Vec<String> = sqlx::query_scalar(
            "SELECT column_name::text FROM information_schema.columns WHERE table_name = $1 ORDER BY ordinal_position",
        )
        .bind(table)
        .fetch_all(&pool)
        .await
        .expect("the columns");
        let copied: Vec<&str> = copied.split(',').map(str::trim).collect();
        // `order_sync`'s sequence number is each database's own.
        let own = |column: &str| *table == "order_sync" && column == "seq";
        let left_behind: Vec<&String> = columns.iter().filter(|c| !(copied.contains(&c.as_str()) || own(c))).collect();
        assert!(!columns.is_empty(), "{table} exists in the shard");
        assert!(left_behind.is_empty(), "a slot's move leaves {table}'s {left_behind:?} behind");
    }
}
