//! Test support: `spawn_app()` starts `storefront-local` in-process on a free port with a fresh data dir and
//! returns a client with typed helpers, so each test reads like what a client does.

pub mod browser;

use std::path::{Path, PathBuf};

use reqwest::Method;
use serde_json::Value;
use storefront_local::{LocalServer, LocalShard, LocalStore, Options};

pub use serde_json::json;
use storefront::domain::{OrderId, UserId};
pub use storefront_local::payments::Webhook;

pub struct TestApp {
    pub server: LocalServer,
    pub client: reqwest::Client,
    /// Kept alive for the test's length; the data dir is deleted with it.
    _dir: Option<tempfile::TempDir>,
    /// The runtime the server runs on when it has threads of its own ([`spawn_racing_app`]).
    _server_runtime: ServerRuntime,
    /// The backend it runs on, kept for [`TestApp::restart`].
    store: LocalStore,
    /// The test's own Postgres database, dropped after the server (the last field).
    database: Option<TestDatabase>,
}

/// The backend the suites run on, as the test command sets it: `STORE=postgres` with `DATABASE_URL` naming the
/// server the storefront connects to (directly, or through pgbouncer in one of `make test`'s runs) and
/// `DATABASE_SETUP_URL` naming the same server directly (creating, migrating and dropping each test's database
/// needs a session of its own), and `SHARDS=n` for customer data sharded over n more databases. Each app gets
/// fresh databases; without `STORE`, the embedded DynamoDB engine.
pub fn backend() -> Backend {
    let variable = |name: &str| std::env::var(name).ok().filter(|v| !v.trim().is_empty());
    match variable("STORE").as_deref() {
        None | Some("dynamodb") => Backend::DynamoDb,
        Some("postgres") => {
            let url = variable("DATABASE_URL").expect("STORE=postgres: DATABASE_URL names the server");
            let setup_url = variable("DATABASE_SETUP_URL").unwrap_or_else(|| url.clone());
            let shards = variable("SHARDS").map_or(0, |raw| raw.parse().expect("SHARDS is a number"));
            Backend::Postgres { url, setup_url, shards }
        }
        Some(other) => panic!("STORE must be dynamodb or postgres, got {other:?}"),
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Backend {
    DynamoDb,
    Postgres { url: String, setup_url: String, shards: usize },
}

impl Backend {
    pub fn name(&self) -> &'static str {
        match self {
            Backend::DynamoDb => "dynamodb",
            Backend::Postgres { .. } => "postgres",
        }
    }
}

/// One of the runs `make test` makes of the end-to-end suites: on DynamoDB (the embedded engine, moto for the
/// conformance suite), then on Postgres directly, through pgbouncer, and sharded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Run {
    DynamoDb,
    Postgres,
    PgBouncer,
    Sharded,
}

impl Run {
    pub const ALL: [Run; 4] = [Run::DynamoDb, Run::Postgres, Run::PgBouncer, Run::Sharded];

    /// This process's run, from the environment [`backend`] reads: through a pooler when the app's URL is not the
    /// direct one.
    pub fn current() -> Run {
        match backend() {
            Backend::DynamoDb => Run::DynamoDb,
            Backend::Postgres { shards, .. } if shards > 0 => Run::Sharded,
            Backend::Postgres { url, setup_url, .. } if url != setup_url => Run::PgBouncer,
            Backend::Postgres { .. } => Run::Postgres,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Run::DynamoDb => "DynamoDb",
            Run::Postgres => "Postgres",
            Run::PgBouncer => "PgBouncer",
            Run::Sharded => "Sharded",
        }
    }
}

/// Whether a test that runs only on `runs` goes on here; when not, it says so and why (shown with `--nocapture`).
/// Call it through [`only_on!`], which the suites' own test (`tests/e2e/suites.rs`) reads to list what each run
/// leaves out.
pub fn runs_here(runs: &[Run], why: &str) -> bool {
    assert!(!why.trim().is_empty(), "a test that runs only on some backends says why");
    let here = Run::current();
    if !runs.contains(&here) {
        eprintln!("not on {}: {why}", here.name());
    }
    runs.contains(&here)
}

/// The first line of a test that holds only on some of `make test`'s runs: `only_on!(DynamoDb, "why");` or
/// `only_on!(Postgres | PgBouncer, "why");`. Elsewhere the test returns at once, having said why.
#[macro_export]
macro_rules! only_on {
    ($($run:ident)|+, $why:literal) => {
        if !$crate::runs_here(&[$($crate::Run::$run),+], $why) {
            return;
        }
    };
}

/// A database made for one test (named after the process and a counter, so parallel tests and runs never share
/// one), dropped with it.
pub struct TestDatabase {
    /// The app's URL to it (maybe through the pooler) and the direct one.
    pub url: String,
    pub setup_url: String,
    /// The customer shards' databases, when the run shards (`SHARDS`).
    pub shards: Vec<TestDatabase>,
}

impl TestDatabase {
    fn create_name() -> String {
        static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let started = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs());
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        format!("storefront_test_{started}_{}_{n}", std::process::id())
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        // Dropping needs a runtime, and a test's own may be gone or single-threaded: a thread of its own, waited
        // for, so the cluster does not fill up over a run. Best effort: `make test` sweeps what a crash left.
        let setup_url = self.setup_url.clone();
        let dropped = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().ok()?;
            runtime.block_on(storefront::adapters::postgres::admin::drop_database(&setup_url)).ok()
        });
        let _ = dropped.join();
    }
}

/// A fresh store for one app: nothing to make on DynamoDB (the data dir is fresh), new databases on Postgres.
fn fresh_store() -> (LocalStore, Option<TestDatabase>) {
    match backend() {
        Backend::DynamoDb => (LocalStore::DynamoDb, None),
        Backend::Postgres { shards, .. } => fresh_postgres(shards),
    }
}

/// A new catalog database and `shards` customer shards beside it (none: one database holds everything).
fn fresh_postgres(shards: usize) -> (LocalStore, Option<TestDatabase>) {
    match backend() {
        Backend::DynamoDb => panic!("STORE=postgres: this test needs Postgres (make test runs it there)"),
        Backend::Postgres { url, setup_url, .. } => {
            use storefront::adapters::postgres::admin::with_database;
            let name = TestDatabase::create_name();
            let (url, setup_url) = (
                with_database(&url, &name).expect("DATABASE_URL"),
                with_database(&setup_url, &name).expect("DATABASE_SETUP_URL"),
            );
            // Named as `SHARDS=n` names them beside the catalog database.
            let beside = |url: &str| storefront::config::shard_urls(url, Some(shards.to_string()), None).expect("URLs");
            let shards = beside(&url)
                .into_iter()
                .zip(beside(&setup_url))
                .map(|(url, setup_url)| TestDatabase { url, setup_url, shards: Vec::new() })
                .collect();
            let database = TestDatabase { url, setup_url, shards };
            let setup_urls: Vec<&str> =
                std::iter::once(&database).chain(&database.shards).map(|db| db.setup_url.as_str()).collect();
            copies_of_the_template(&setup_urls);
            let store = LocalStore::Postgres {
                url: database.url.clone(),
                read_url: None,
                setup_url: Some(database.setup_url.clone()),
                shards: database
                    .shards
                    .iter()
                    .map(|shard| LocalShard { url: shard.url.clone(), setup_url: Some(shard.setup_url.clone()) })
                    .collect(),
            };
            (store, Some(database))
        }
    }
}

/// Makes each database `setup_urls` names as a copy of a migrated template (`CREATE DATABASE ... TEMPLATE`): ~0.1 s
/// each, where creating and migrating one took ~0.45 s and a sharded test makes five. The server's own start then
/// finds the schema current, as it does on a database `make dev` made before. The template is made once per test
/// process, named after the migrations' checksums (an edited migration gets a new one); `make test` drops it with
/// what earlier runs left (scripts/with-postgres.sh).
fn copies_of_the_template(setup_urls: &[&str]) {
    use storefront::adapters::postgres::admin;
    // Held while the template is made, so the tests of one process make it once (each waits on a thread of its own).
    static TEMPLATE: std::sync::Mutex<Option<String>> = std::sync::Mutex::new(None);
    let Some(first) = setup_urls.first() else { return };
    let server = (*first).to_owned();
    let urls: Vec<String> = setup_urls.iter().map(|url| (*url).to_owned()).collect();
    // A runtime of its own on a thread of its own: the caller may be inside an async test.
    let copied = std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("a runtime");
        let template = {
            let mut made = TEMPLATE.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            made.get_or_insert_with(|| runtime.block_on(migrated_template(&server))).clone()
        };
        runtime.block_on(async {
            let postgres = admin::connect_once(&admin::with_database(&server, "postgres").expect("URL")).await;
            let postgres = postgres.expect("the server answers");
            for url in &urls {
                let name = admin::database_name(url).expect("a database name");
                let copied = admin::copy_database(&postgres, &name, &template).await;
                copied.unwrap_or_else(|e| panic!("{name} copied from {template}: {e}"));
            }
            postgres.close().await;
        })
    });
    copied.join().expect("the test databases are made");
}

/// The migrated template's name, made on `server` unless there already (built under a name of its own, then renamed,
/// so a test process running beside this one never copies a half-migrated one).
async fn migrated_template(server: &str) -> String {
    use std::hash::{Hash, Hasher};
    use storefront::adapters::postgres::{admin, migrations};
    let mut checksums = std::collections::hash_map::DefaultHasher::new();
    for migration in migrations::migrator().migrations.iter() {
        migration.checksum.hash(&mut checksums);
    }
    let name = format!("storefront_test_template_{:016x}", checksums.finish());
    let postgres = admin::connect_once(&admin::with_database(server, "postgres").expect("URL")).await;
    let postgres = postgres.expect("the server answers");
    if !admin::database_exists(&postgres, &name).await.expect("pg_database read") {
        let building = format!("{name}_{}", std::process::id());
        let building_url = admin::with_database(server, &building).expect("URL");
        admin::ensure_database(&building_url).await.expect("the template created");
        let pool = admin::connect_once(&building_url).await.expect("the template connects");
        migrations::migrate(&pool).await.expect("the template migrated");
        pool.close().await;
        if admin::rename_database(&postgres, &building, &name).await.is_err() {
            // Another test process made it first: theirs is as good.
            admin::drop_database(&building_url).await.ok();
        }
    }
    postgres.close().await;
    name
}

/// A server on Postgres with customer data sharded over `shards` databases of its own, adjusted (fault hooks).
pub async fn spawn_sharded_app_with(shards: usize, adjust: impl FnOnce(&mut Options)) -> TestApp {
    spawn_on(fresh_postgres(shards), adjust).await
}

/// A server on `fresh` (a store and the test's databases behind it), adjusted.
async fn spawn_on(fresh: (LocalStore, Option<TestDatabase>), adjust: impl FnOnce(&mut Options)) -> TestApp {
    let dir = tempfile::tempdir().expect("temp dir");
    let (store, database) = fresh;
    let mut options = Options::new(0, PathBuf::from(dir.path()));
    options.store = store;
    adjust(&mut options);
    let store = options.store.clone();
    let server = storefront_local::start(options).await.expect("local server starts");
    TestApp { server, client: client(), _dir: Some(dir), _server_runtime: ServerRuntime::default(), store, database }
}

/// A server's own runtime, let go without blocking (which an async test may not do) when the app is dropped.
#[derive(Default)]
struct ServerRuntime(Option<tokio::runtime::Runtime>);

impl Drop for ServerRuntime {
    fn drop(&mut self) {
        if let Some(runtime) = self.0.take() {
            runtime.shutdown_background();
        }
    }
}

#[derive(Debug)]
pub struct TestResponse {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub body: Value,
    pub text: String,
}

impl TestResponse {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// Asserts a problem+json response of `status` and `kind`, and returns its body.
    #[track_caller]
    pub fn problem(&self, status: u16, kind: &str) -> &Value {
        assert_eq!(self.status, status, "unexpected status; body: {}", self.text);
        assert_eq!(self.header("content-type"), Some("application/problem+json"), "body: {}", self.text);
        assert_eq!(self.body["type"], kind, "body: {}", self.text);
        assert_eq!(self.body["status"], status, "body: {}", self.text);
        assert!(self.body["title"].is_string() && self.body["detail"].is_string(), "body: {}", self.text);
        &self.body
    }

    #[track_caller]
    pub fn ok(&self, status: u16) -> &Value {
        assert_eq!(self.status, status, "unexpected status; body: {}", self.text);
        &self.body
    }
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with(|_| {}).await
}

/// A server with adjusted options (short queue timeouts, a quick sweeper, fault injection).
pub async fn spawn_app_with(adjust: impl FnOnce(&mut Options)) -> TestApp {
    spawn_on(fresh_store(), adjust).await
}

/// A server on threads of its own (a runtime with two workers, apart from the test's), for races: its handlers
/// run in parallel with each other and with the clients, as Lambda instances do, not interleaved on one thread.
/// Use it from a multi-threaded test (`#[tokio::test(flavor = "multi_thread")]`).
pub async fn spawn_racing_app() -> TestApp {
    let dir = tempfile::tempdir().expect("temp dir");
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("server")
        .enable_all()
        .build()
        .expect("the server's runtime");
    let (store, database) = fresh_store();
    let mut options = Options::new(0, PathBuf::from(dir.path()));
    options.store = store.clone();
    let server = runtime
        .spawn(storefront_local::start(options))
        .await
        .expect("the start task ran")
        .expect("local server starts");
    TestApp {
        server,
        client: client(),
        _dir: Some(dir),
        _server_runtime: ServerRuntime(Some(runtime)),
        store,
        database,
    }
}

async fn start_at(data_dir: &Path, store: LocalStore) -> LocalServer {
    let mut options = Options::new(0, PathBuf::from(data_dir));
    options.store = store;
    storefront_local::start(options).await.expect("local server starts")
}

fn client() -> reqwest::Client {
    reqwest::Client::builder().no_proxy().build().expect("HTTP client")
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.server.url())
    }

    /// Stops the server and starts a new one on the same data dir and store.
    pub async fn restart(mut self) -> TestApp {
        let dir = self._dir.take();
        let database = self.database.take();
        let data_dir = self.server.data_dir.clone();
        self.server.stop().await;
        TestApp {
            server: start_at(&data_dir, self.store.clone()).await,
            client: self.client,
            _dir: dir,
            _server_runtime: ServerRuntime::default(),
            store: self.store,
            database,
        }
    }

    /// Stops the server and starts a new one on the same store with a new, empty data dir: the README's "delete the
    /// folder to start over" (on DynamoDB the folder holds the database; a Postgres database outlives it).
    pub async fn restart_with_a_new_data_dir(mut self) -> TestApp {
        let database = self.database.take();
        self.server.stop().await;
        let dir = tempfile::tempdir().expect("temp dir");
        TestApp {
            server: start_at(dir.path(), self.store.clone()).await,
            client: self.client,
            _dir: Some(dir),
            _server_runtime: ServerRuntime::default(),
            store: self.store,
            database,
        }
    }

    /// The app's own Postgres database (`None` on DynamoDB).
    pub fn database(&self) -> Option<&TestDatabase> {
        self.database.as_ref()
    }

    /// The app's sharded store, reached directly (as an operator's tools do): its audit and its sweeper.
    pub fn sharded_store(&self) -> storefront::adapters::postgres::sharded::ShardedStore {
        let database = self.database().expect("a sharded app");
        assert!(!database.shards.is_empty(), "the app is not sharded");
        let shards: Vec<String> = database.shards.iter().map(|shard| shard.setup_url.clone()).collect();
        storefront::adapters::postgres::sharded::ShardedStore::connect(&database.setup_url, &shards, "test")
            .expect("URLs")
    }

    pub async fn token(&self, user: &str, role: &str) -> String {
        let response = self.send(Method::POST, "/dev/token", None, Some(json!({"user_id": user, "role": role}))).await;
        response.ok(200)["token"].as_str().expect("token").to_owned()
    }

    pub async fn shopper(&self, user: &str) -> String {
        self.token(user, "shopper").await
    }

    pub async fn shopper_owned(&self, user: String) -> String {
        self.token(&user, "shopper").await
    }

    pub async fn artisan(&self, user: &str) -> String {
        self.token(user, "artisan").await
    }

    pub async fn get(&self, path: &str) -> TestResponse {
        self.send(Method::GET, path, None, None).await
    }

    pub async fn get_as(&self, path: &str, token: &str) -> TestResponse {
        self.send(Method::GET, path, Some(token), None).await
    }

    pub async fn send(&self, method: Method, path: &str, token: Option<&str>, body: Option<Value>) -> TestResponse {
        let mut request = self.client.request(method, self.url(path));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.header("content-type", "application/json").body(body.to_string());
        }
        into_test_response(request.send().await.expect("request sent")).await
    }

    /// Sends a raw body (malformed JSON, huge payloads) with extra headers.
    pub async fn send_raw(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: impl Into<reqwest::Body>,
        headers: &[(&str, &str)],
    ) -> TestResponse {
        let mut request = self.client.request(method, self.url(path)).body(body);
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        into_test_response(request.send().await.expect("request sent")).await
    }

    /// Creates a product as `token`'s artisan and returns it.
    pub async fn create_product(&self, token: &str, title: &str, category: &str, price: i64, stock: i64) -> Value {
        let body = json!({
            "title": title, "description": "made for a test", "category": category,
            "price": {"amount": price, "currency": "USD"}, "stock": stock,
        });
        self.send(Method::POST, "/products", Some(token), Some(body)).await.ok(201).clone()
    }

    /// Places an order with an idempotency key; returns the response.
    pub async fn order(&self, token: &str, key: impl AsRef<str>, body: Value) -> TestResponse {
        let headers = [("idempotency-key", key.as_ref()), ("content-type", "application/json")];
        self.send_raw(Method::POST, "/orders", Some(token), body.to_string(), &headers).await
    }

    /// The status of `user`'s order, read from the store.
    pub async fn status_of(&self, user: &str, order_id: &str) -> String {
        self.stored_order(user, order_id).await.status.as_str().to_owned()
    }

    /// `user`'s order as the store holds it.
    pub async fn stored_order(&self, user: &str, order_id: &str) -> storefront::domain::Order {
        let (user, id) = (UserId::parse(user).expect("user id"), OrderId::parse(order_id).expect("order id"));
        self.server.app.orders.get_order(&user, &id).await.expect("read").expect("the order exists")
    }

    /// The id of `user`'s order's payment intent.
    pub async fn intent_of(&self, user: &str, order_id: &str) -> String {
        let order = self.stored_order(user, order_id).await;
        order.payment.expect("the order has its intent").intent_id.to_string()
    }

    /// Pays `user`'s order at the provider stand-in with a card that works, its webhook delivered `webhook`.
    pub async fn pay_with(&self, user: &str, order_id: &str, webhook: Webhook) {
        let intent = self.intent_of(user, order_id).await;
        self.server.payments().succeed(&intent, webhook).expect("an open intent");
    }

    /// Pays `user`'s order (a card that works, the webhook at once) and waits until the workers confirmed it.
    pub async fn pay(&self, user: &str, order_id: &str) {
        self.pay_with(user, order_id, Webhook::Now).await;
        let confirmed = eventually(10, || async { self.status_of(user, order_id).await == "confirmed" }).await;
        assert!(confirmed, "order {order_id} paid but not confirmed: {}", self.status_of(user, order_id).await);
    }

    /// Pays `user`'s order and confirms it in this process, as the payment and order workers would (for stacks
    /// whose workers do not run: `in_process_workers` off). The provider holds it paid; no webhook is sent.
    pub async fn pay_in_process(&self, user: &str, order_id: &str) {
        use storefront::services::{orders, payments};
        let intent = self.intent_of(user, order_id).await;
        self.server.payments().succeed(&intent, Webhook::Never).expect("an open intent");
        let paid = storefront::domain::OrderRef {
            user_id: UserId::parse(user).expect("user id"),
            order_id: OrderId::parse(order_id).expect("order id"),
        };
        let charge =
            self.server.payments().intent(&intent).and_then(|i| i["latest_charge"].as_str().map(str::to_owned));
        let event = storefront::domain::PaymentEvent {
            event_id: storefront::domain::ProviderRef::parse(&format!("evt_test_{order_id}")).expect("event id"),
            intent_id: storefront::domain::ProviderRef::parse(&intent).expect("intent id"),
            outcome: storefront::domain::PaymentOutcome::Succeeded,
            order: Some(paid.clone()),
            charge_id: charge.as_deref().and_then(storefront::domain::ProviderRef::parse),
        };
        let state = &self.server.app;
        payments::apply_event(&state.payment_ports(), &event).await.expect("paid");
        orders::confirm(&state.order_ports(), &paid).await.expect("confirmed");
    }

    /// Places a buy-now order as `user` (a shopper token is made) and pays it; returns its id, once confirmed.
    pub async fn paid_order(&self, user: &str, key: &str, body: Value) -> String {
        let token = self.shopper(user).await;
        let placed = self.order(&token, key, body).await;
        let id = placed.ok(201)["order_id"].as_str().expect("order id").to_owned();
        self.pay(user, &id).await;
        id
    }

    pub async fn stock_of(&self, product_id: &str) -> i64 {
        self.get(&format!("/products/{product_id}")).await.ok(200)["stock"].as_i64().expect("stock")
    }

    /// The product's stock once it reads `expected`, or its last reading after 5 s: for a move made in the
    /// background (the sweeper, a worker), which a sharded store commits in the shopper's shard a moment before
    /// the catalog database gets the units back (docs/sharding.md); one database does both at once.
    pub async fn stock_settles_at(&self, product_id: &str, expected: i64) -> i64 {
        eventually(5, || async { self.stock_of(product_id).await == expected }).await;
        self.stock_of(product_id).await
    }

    /// Every page of a listing, following `next_cursor`.
    pub async fn list_all(&self, first_path: &str) -> Vec<Value> {
        let mut items = Vec::new();
        let separator = if first_path.contains('?') { '&' } else { '?' };
        let mut path = first_path.to_owned();
        for _ in 0..100 {
            let page = self.get(&path).await;
            let body = page.ok(200);
            items.extend(body["items"].as_array().expect("items").iter().cloned());
            match body["next_cursor"].as_str() {
                Some(cursor) => path = format!("{first_path}{separator}cursor={cursor}"),
                None => return items,
            }
        }
        panic!("listing {first_path} did not end after 100 pages");
    }
}

async fn into_test_response(response: reqwest::Response) -> TestResponse {
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let text = response.text().await.expect("body");
    let body = if text.is_empty() { Value::Null } else { serde_json::from_str(&text).unwrap_or(Value::Null) };
    TestResponse { status, headers, body, text }
}

/// A product as the public reads it: the owner's view (`POST`/`PATCH` answers, `GET /artisan/products`) without
/// what only its artisan sees.
pub fn public_view(owned: &Value) -> Value {
    let mut public = owned.clone();
    if let Some(object) = public.as_object_mut() {
        assert!(object.remove("image_errors").is_some(), "an owner's view carries image_errors: {owned}");
    }
    public
}

/// The queue worker of the registry named `name` (its binary's name).
pub fn worker(name: &str) -> storefront::worker::QueueWorker {
    *storefront_registry::WORKERS.iter().find(|w| w.function == name).unwrap_or_else(|| panic!("no worker {name}"))
}

/// A buy-now checkout body for one product.
pub fn buy(product: &str, quantity: i64) -> Value {
    json!({"items": [{"product_id": product, "quantity": quantity}]})
}

/// Polls `check` until it holds, for up to `seconds`; returns whether it did.
pub async fn eventually<F, Fut>(seconds: u64, mut check: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(seconds);
    while std::time::Instant::now() < deadline {
        if check().await {
            return true;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    false
}

/// The repository root (for events/, template.yaml, openapi.yaml).
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("tests/ has a parent").to_path_buf()
}
