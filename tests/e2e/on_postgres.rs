//! What only the Postgres backend has: connections that survive the server ending them, and the reader endpoint.
//! These run in `make test`'s Postgres runs (`STORE=postgres`, directly and through pgbouncer) and are skipped by
//! name in the DynamoDB run; started without Postgres they fail, saying so.

use reqwest::Method;
use storefront::adapters::postgres::{admin, sqlx};
use storefront_local::LocalStore;
use storefront_tests::*;

const NEEDS_POSTGRES: &str = "STORE=postgres: these tests need Postgres (make test runs them there)";

/// The server's URL for set-up work, directly.
fn setup_url() -> String {
    match backend() {
        Backend::Postgres { setup_url, .. } => setup_url,
        Backend::DynamoDb => panic!("{NEEDS_POSTGRES}"),
    }
}

/// The server's own `postgres` database: roles belong to the server, not to a test's database.
async fn server(setup_url: &str) -> sqlx::PgPool {
    admin::connect_once(&admin::with_database(setup_url, "postgres").expect("URL")).await.expect("server")
}

/// The app's database, directly (set-up connections, never the app's own).
async fn direct(app: &TestApp) -> sqlx::PgPool {
    let database = app.database().expect(NEEDS_POSTGRES);
    admin::connect_once(&database.setup_url).await.expect("connected")
}

/// Ends every session of the app's database but the caller's; how many it ended.
async fn terminate_sessions(pool: &sqlx::PgPool, database: &str) -> i64 {
    let ended = sqlx::query(
        "SELECT count(*) FILTER (WHERE pg_terminate_backend(pid)) AS ended FROM pg_stat_activity \
         WHERE datname = $1 AND pid <> pg_backend_pid()",
    )
    .bind(database)
    .fetch_one(pool)
    .await
    .expect("terminated");
    sqlx::Row::try_get(&ended, "ended").expect("count")
}

#[tokio::test]
async fn a_connection_the_server_ended_is_replaced_and_the_next_request_succeeds() {
    only_on!(Postgres | PgBouncer | Sharded, "what only the Postgres backend has");
    let app = spawn_app().await;
    let (ana, alice) = (app.artisan("ana").await, app.shopper("alice").await);
    let vase =
        app.create_product(&ana, "Vase", "ceramics", 2400, 3).await["product_id"].as_str().expect("id").to_owned();
    let cart = format!("/cart/items/{vase}");
    app.send(Method::PUT, &cart, Some(&alice), Some(json!({"quantity": 1}))).await.ok(200);
    let pool = direct(&app).await;
    let name = admin::database_name(&app.database().expect("postgres").setup_url).expect("name");
    for round in 0..3 {
        // Every connection the app holds (or, through pgbouncer, every server connection behind it) ends now,
        // between two requests, as a restart, a failover or the proxy's idle timeout would end it.
        let ended = terminate_sessions(&pool, &name).await;
        assert!(ended >= 1, "round {round}: the app held no connection to end");
        app.get_as("/cart", &alice).await.ok(200);
        app.send(Method::PUT, &cart, Some(&alice), Some(json!({"quantity": 2}))).await.ok(200);
    }
    terminate_sessions(&pool, &name).await;
    let order = app.order(&alice, "after-the-restart", json!({})).await;
    assert_eq!(order.ok(201)["items"][0]["quantity"], 2, "checkout on a fresh connection");
    assert_eq!(app.stock_of(&vase).await, 1);
}

#[tokio::test]
async fn public_reads_take_the_reader_and_checkout_the_writer() {
    only_on!(Postgres | PgBouncer | Sharded, "what only the Postgres backend has");
    // The reader is a role of its own on a connection of its own; what it may read decides what it can serve.
    let setup_url = setup_url();
    let reader = format!("storefront_reader_{}", std::process::id());
    let server = server(&setup_url).await;
    for statement in [format!("DROP ROLE IF EXISTS {reader}"), format!("CREATE ROLE {reader} LOGIN")] {
        sqlx::query(&statement).execute(&server).await.expect("reader role");
    }
    let app = spawn_app_with(|options| {
        if let LocalStore::Postgres { url, read_url, setup_url, .. } = &mut options.store {
            let direct = setup_url.clone().expect("a set-up URL");
            let mut reader_url = url::Url::parse(&direct).expect("URL");
            reader_url.set_username(&reader).expect("user");
            // Both endpoints directly: pgbouncer logs every client in as one user.
            *url = direct;
            *read_url = Some(reader_url.into());
        }
    })
    .await;
    let pool = direct(&app).await;
    let grant = |verb: &str| {
        format!("{verb} SELECT ON ALL TABLES IN SCHEMA public {} {reader}", if verb == "GRANT" { "TO" } else { "FROM" })
    };
    sqlx::query(&grant("GRANT")).execute(&pool).await.expect("granted");
    let (ana, alice) = (app.artisan("ana").await, app.shopper("alice").await);
    let bowl =
        app.create_product(&ana, "Bowl", "ceramics", 1800, 4).await["product_id"].as_str().expect("id").to_owned();
    app.get(&format!("/products/{bowl}")).await.ok(200);

    // The reader may no longer read: the public pages of a product not yet cached fail, checkout does not.
    sqlx::query(&grant("REVOKE")).execute(&pool).await.expect("revoked");
    let cup = app.create_product(&ana, "Cup", "ceramics", 900, 4).await["product_id"].as_str().expect("id").to_owned();
    let page = app.get(&format!("/products/{cup}")).await;
    assert!(page.status >= 500, "the public read went to the reader, which may not read: {}", page.text);
    assert!(app.get("/categories").await.status >= 500, "the category counts are public reads too");
    let placed = app.order(&alice, "on-the-writer", buy(&cup, 1)).await;
    assert_eq!(placed.ok(201)["items"][0]["product_id"], cup.as_str(), "checkout reads and writes on the writer");
    app.get_as("/orders", &alice).await.ok(200);

    sqlx::query(&grant("GRANT")).execute(&pool).await.expect("granted again");
    assert_eq!(app.stock_of(&cup).await, 3, "the reader serves it again, sold once");
    drop(pool);
    drop(app);
    sqlx::query(&format!("DROP ROLE IF EXISTS {reader}")).execute(&server).await.expect("role dropped");
}

#[tokio::test]
async fn the_migration_step_migrates_once_and_lets_the_app_role_use_the_tables_only() {
    only_on!(Postgres | PgBouncer | Sharded, "what only the Postgres backend has");
    let setup_url = setup_url();
    let name = format!("storefront_test_migrate_{}", std::process::id());
    let url = admin::with_database(&setup_url, &name).expect("URL");
    // Two customer shards beside it (SHARDS=2), which the step creates.
    let shard_urls = storefront::config::shard_urls(&url, Some("2".into()), None).expect("shard URLs");
    for url in shard_urls.iter().chain([&url]) {
        admin::drop_database(url).await.expect("no leftover");
    }
    admin::ensure_database(&url).await.expect("created");
    let role = format!("storefront_reader_app_{}", std::process::id());
    let secret_arn = "arn:aws:secretsmanager:us-east-1:000000000000:secret:storefront-app-user";
    let secret = json!({"username": role, "password": "s3cret'pass"}).to_string();
    let secrets = storefront_local::secrets_manager::start(
        [(secret_arn.to_owned(), secret)].into(),
        storefront_local::options::FREE_LOOPBACK_PORT,
    )
    .await
    .expect("stand-in");
    let sdk = storefront::adapters::aws::local_sdk_config(&secrets.endpoint).await;
    let settings = db_migrate::Settings {
        database_url: url.clone(),
        iam_auth: false,
        app_user: role.clone(),
        app_user_secret_arn: secret_arn.into(),
        shard_urls: shard_urls.clone(),
    };

    let first = db_migrate::migrate(&settings, &sdk).await.expect("migrated");
    let every: Vec<i64> = (1..=storefront::adapters::postgres::migrations::latest_version()).collect();
    assert_eq!(first["applied"], json!(every), "{first}");
    assert_eq!(first["shards"], 2, "{first}");
    let again = db_migrate::migrate(&settings, &sdk).await.expect("migrated again");
    assert_eq!(again["applied"], json!([]), "nothing twice: {again}");
    // The shards exist with the schema, and the slot map is stored once, evenly.
    let sharded =
        storefront::adapters::postgres::sharded::ShardedStore::connect(&url, &shard_urls, "test").expect("URLs");
    assert_eq!(sharded.slot_map().await.expect("map"), storefront::adapters::postgres::sharded::SlotMap::even(2));
    for shard_url in &shard_urls {
        let shard = admin::connect_once(shard_url).await.expect("the shard was created");
        let tables: i64 =
            sqlx::query_scalar("SELECT count(*) FROM placements").fetch_one(&shard).await.expect("migrated");
        assert_eq!(tables, 0);
        shard.close().await;
    }

    let pool = admin::connect_once(&url).await.expect("connected");
    let has_password: bool = sqlx::Row::try_get(
        &sqlx::query("SELECT rolpassword IS NOT NULL AS set FROM pg_authid WHERE rolname = $1")
            .bind(&role)
            .fetch_one(&pool)
            .await
            .expect("role"),
        "set",
    )
    .expect("flag");
    assert!(has_password, "the proxy logs the role in with the secret's password");
    let may = |privilege: &'static str, table: &'static str| {
        let (pool, role) = (pool.clone(), role.clone());
        async move {
            let row = sqlx::query("SELECT has_table_privilege($1, $2, $3) AS may")
                .bind(&role)
                .bind(table)
                .bind(privilege)
                .fetch_one(&pool)
                .await
                .expect("privilege");
            sqlx::Row::try_get::<bool, _>(&row, "may").expect("flag")
        }
    };
    assert!(may("INSERT", "orders").await && may("DELETE", "cart_lines").await, "the app uses the tables");
    assert!(!may("SELECT", "_sqlx_migrations").await, "but not the migrations' own table");
    let create = sqlx::query("SELECT has_schema_privilege($1, 'public', 'CREATE') AS may")
        .bind(&role)
        .fetch_one(&pool)
        .await
        .expect("privilege");
    assert!(!sqlx::Row::try_get::<bool, _>(&create, "may").expect("flag"), "and changes no schema");
    pool.close().await;
    secrets.stop().await;
    drop(sharded);
    for url in shard_urls.iter().chain([&url]) {
        admin::drop_database(url).await.expect("dropped");
    }
    let server = server(&setup_url).await;
    sqlx::query(&format!("DROP ROLE IF EXISTS {role}")).execute(&server).await.expect("role dropped");
}
