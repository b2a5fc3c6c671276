//! Starting and stopping the local storefront: the data dir and its secrets, the stand-ins, the table and demo
//! seed, the registry's functions mounted on one port, and its workers and jobs fed by the local queues and timers
//! (the event source mappings and schedules of AWS).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use storefront::adapters::dynamodb::schema;
use storefront::adapters::postgres::{admin, migrations};
use storefront::adapters::s3::S3BlobStore;
use storefront::adapters::stripe::StripeProvider;
use storefront::app::Stores;
use storefront::config::{Config, PostgresConfig, StoreConfig};
use storefront::worker::{QueueWorker, ScheduledJob};
use storefront::{AppState, OtherPorts};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::faults::Faults;
use crate::gateway::Gateway;
use crate::jwt::JwtKey;
use crate::options::{LocalStore, Options, StartError};
use crate::outbox::LocalOutbox;
use crate::queue::LocalQueue;
use crate::stack::{LambdaSide, MEDIA_BUCKET, ORDER_QUEUE, PAYMENT_QUEUE, PAYMENTS_SECRET_ARN, StandIns, TABLE_NAME};

const SEEDED_MARKER: &str = "seeded";
/// Connections the local server holds to Postgres, in all: it serves many requests at once (a Lambda instance
/// serves one, and holds one per endpoint). Split over its pools (the database or the catalog, the reader, each
/// shard), at least [`LOCAL_CONNECTIONS_PER_POOL`] each: on four shards it holds 20, where 16 per pool held 80 of
/// the 100 a default server allows (`max_connections`), and the bench's three servers side by side ran out
/// ("sorry, too many clients already": its checkouts waited out the pools' 3 s acquire timeout).
const LOCAL_CONNECTIONS: u32 = 16;
const LOCAL_CONNECTIONS_PER_POOL: u32 = 4;

/// Each pool's size when the server holds `pools` of them.
fn pool_size(pools: usize) -> u32 {
    (LOCAL_CONNECTIONS / pools.max(1) as u32).max(LOCAL_CONNECTIONS_PER_POOL)
}

pub struct LocalServer {
    pub addr: SocketAddr,
    pub data_dir: PathBuf,
    /// Products written by the demo seed at this start (0 when the data dir already had them).
    pub seeded: usize,
    pub app: AppState,
    /// The order queue (tests inspect its dead letters and inject refused sends).
    pub queue: Arc<LocalQueue>,
    /// The payment queue (provider events, settlements, payouts) of the payment worker.
    pub payment_queue: Arc<LocalQueue>,
    /// The queue of upload notifications for the image worker.
    pub image_queue: Arc<LocalQueue>,
    /// Confirmations delivered by this server's own worker (the local SES).
    pub outbox: Arc<LocalOutbox>,
    /// Faults to inject into DynamoDB calls, when started with `fault_injection`.
    pub faults: Option<Arc<Faults>>,
    /// What the function processes needed from IAM (see [`LambdaSide`]).
    pub lambda_calls: Arc<Faults>,
    stand_ins: StandIns,
    lambda: LambdaSide,
    background: Vec<JoinHandle<()>>,
    shutdown: Option<oneshot::Sender<()>>,
    server: JoinHandle<()>,
}

impl LocalServer {
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// What template.yaml gives a function in AWS, pointed at this stack's stand-ins instead: the table, queues,
    /// bucket and SES behind their AWS-wire endpoints, the same cursor secret. A function binary started with it
    /// (under the Runtime API harness) reads and writes the very data this server shows.
    pub fn lambda_environment(&self) -> Vec<(String, String)> {
        self.lambda.environment.clone()
    }

    /// The emails function processes sent through the local SES.
    pub fn lambda_emails(&self) -> Vec<crate::ses::SentEmail> {
        self.stand_ins.ses.sent()
    }

    /// The payment provider stand-in (tests and the test-card page make payments succeed, fail or arrive late).
    pub fn payments(&self) -> &crate::payments::PaymentControls {
        &self.stand_ins.payments.controls
    }

    /// Puts a new payment secret (JSON `{"api_key", "webhook_secret"}`) in the local Secrets Manager, as an operator
    /// does in AWS: the adapters read it within their secret's TTL.
    pub fn put_payment_secret(&self, secret: String) {
        self.stand_ins.secrets_manager.put(PAYMENTS_SECRET_ARN, secret);
    }

    /// The embedded DynamoDB engine's own endpoint (no proxy in between), for tests that write items directly.
    pub fn dynamodb_endpoint(&self) -> &str {
        &self.stand_ins.engine.endpoint
    }

    /// Stops accepting requests, finishes those running, and closes the stand-ins (and the SQLite file).
    pub async fn stop(mut self) {
        for task in self.background.drain(..) {
            task.abort();
            let _ = task.await;
        }
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
        let _ = self.server.await;
        self.lambda.stop().await;
        self.stand_ins.stop().await;
    }
}

/// Feeds `worker` batches from `queue` until aborted: the local event source mapping.
fn spawn_worker(worker: QueueWorker, queue: Arc<LocalQueue>, app: AppState) -> JoinHandle<()> {
    tokio::spawn(async move {
        queue
            .consume(|event| {
                let app = app.clone();
                async move { worker.batch(&app, event).await }
            })
            .await
    })
}

/// Runs `job` every `every` until aborted: the local schedule.
fn spawn_job(job: ScheduledJob, every: std::time::Duration, app: AppState) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut ticks = tokio::time::interval(every);
        loop {
            ticks.tick().await;
            if let Err(error) = job.invoke(app.clone()).await {
                tracing::warn!(job = job.function, %error, "scheduled job failed");
            }
        }
    })
}

/// Creates the database `url` names if missing and applies the migrations (what `make deploy`'s migration step
/// does in AWS); returns the database's name.
async fn prepare_postgres(url: &str) -> Result<String, StartError> {
    // Shown without the password it may hold.
    let shown = url.split_once('@').map_or(url, |(_, rest)| rest).to_owned();
    let failed = |reason: String| StartError::Postgres { url: shown.clone(), reason };
    let database = admin::database_name(url).map_err(|e| failed(e.to_string()))?;
    let created = admin::ensure_database(url).await.map_err(|e| {
        failed(format!("{e:#}: is a server running there, and may this user create databases? (docs/postgres.md)"))
    })?;
    let pool = admin::connect_once(url).await.map_err(|e| failed(e.to_string()))?;
    let applied = migrations::migrate(&pool).await.map_err(|e| failed(format!("migrations: {e}")))?;
    pool.close().await;
    tracing::info!(database, created, ?applied, "Postgres ready");
    Ok(database)
}

/// Stores the slot map if none is stored (even over `shards`, unless the tuning names one): what the deploy's
/// migration step does in AWS.
async fn prepare_slot_map(
    url: &str,
    setup_url: Option<&str>,
    shards: &[crate::options::LocalShard],
    tuning: &crate::options::ShardTuning,
) -> Result<(), StartError> {
    use storefront::adapters::postgres::sharded::{ShardedStore, SlotMap};
    let failed = |reason: String| StartError::Postgres { url: "the slot map".into(), reason };
    let shard_urls: Vec<String> =
        shards.iter().map(|shard| shard.setup_url.clone().unwrap_or_else(|| shard.url.clone())).collect();
    let store = ShardedStore::connect(setup_url.unwrap_or(url), &shard_urls, "storefront-local")
        .map_err(|e| failed(e.to_string()))?;
    let map = tuning.initial_map.clone().unwrap_or_else(|| SlotMap::even(shards.len()));
    store.ensure_slot_map(&map).await.map_err(|e| failed(e.to_string()))
}

/// Starts the whole storefront on this machine, in its steps: the stand-ins, the store, the state the functions
/// share, the demo catalog, the in-process workers and jobs, then the HTTP server.
pub async fn start(options: Options) -> Result<LocalServer, StartError> {
    if options.fault_injection && options.store != LocalStore::DynamoDb {
        // A test that asks for faults must get them, not pass without any.
        return Err(StartError::Config("fault injection wraps the DynamoDB engine; it has no Postgres".into()));
    }
    options.check_ports_free()?;
    std::fs::create_dir_all(&options.data_dir)?;
    let secrets = crate::secrets::load_or_create(&options.data_dir)?;
    let stand_ins = StandIns::start(&options, &options.data_dir, &secrets.payments).await?;
    let (stores, store, marker) = open_store(&options, &stand_ins).await?;
    let s3 = storefront::adapters::aws::local_sdk_config(&stand_ins.s3.endpoint).await;
    let blobs = S3BlobStore::new(S3BlobStore::local_client(&s3), MEDIA_BUCKET);
    blobs.ensure_bucket().await?;

    // Bound first: the server's own URL is where photos are served from, like the CDN.
    let (listener, addr) = crate::options::listen(SocketAddr::new(options.bind, options.port)).await?;
    stand_ins.payments.controls.deliver_to(format!("http://{addr}/webhooks/payments"));
    let config = Config {
        order_queue_url: format!("local://{ORDER_QUEUE}"),
        media_bucket: MEDIA_BUCKET.to_owned(),
        cdn_base_url: format!("http://{addr}"),
        warm_up: storefront::config::WarmUp::AtInit,
        stuck_after: options.stuck_after,
        payment_queue_url: format!("local://{PAYMENT_QUEUE}"),
        // This server's own adapter is given the keys; function processes load them from the local Secrets Manager.
        payments_secret_id: PAYMENTS_SECRET_ARN.to_owned(),
        payments_api_url: stand_ins.payments.endpoint.clone(),
        payment_window: options.payment_window,
        site: storefront::config::SiteConfig {
            storage_origin: stand_ins.s3.endpoint.clone(),
            ..storefront::config::SiteConfig::default()
        },
        ..Config::local(store, secrets.cursor_secret.into_bytes())
    };
    let lambda = LambdaSide::start(&stand_ins, &config, options.record_lambda_calls).await?;
    let outbox = Arc::new(LocalOutbox::default());
    // The keys come from the local Secrets Manager, through the production adapter (read again every `secret_ttl`).
    let secrets_manager = storefront::adapters::aws::local_sdk_config(&stand_ins.secrets_manager.endpoint).await;
    let provider = StripeProvider::from_secrets_manager(
        &config.payments_api_url,
        storefront::adapters::aws::LazyClient::new(&secrets_manager, aws_sdk_secretsmanager::Client::new),
        PAYMENTS_SECRET_ARN,
    )
    .reading_secrets_every(options.secret_ttl);
    let others = OtherPorts {
        order_queue: stand_ins.orders.clone(),
        payment_queue: stand_ins.payment_queue.clone(),
        blobs: Arc::new(blobs),
        payments: Arc::new(provider),
    };
    let mut app = AppState::with_stores(stores, others, &config);
    app.notifier = outbox.clone();

    let seeded = seed_once(&app, &options, &options.data_dir.join(marker)).await?;
    let background = if options.in_process_workers { in_process_work(&stand_ins, &app, &options) } else { Vec::new() };
    let gateway = Gateway {
        app: app.clone(),
        jwt: Arc::new(JwtKey::new(secrets.jwt_key.as_bytes())),
        payments: stand_ins.payments.controls.clone(),
        grants: crate::signin::Grants::default(),
        snapshots: Arc::default(),
    };
    let (server, shutdown) = serve(listener, crate::router::router(gateway));
    Ok(LocalServer {
        addr,
        data_dir: options.data_dir,
        seeded,
        app,
        queue: stand_ins.orders.clone(),
        payment_queue: stand_ins.payment_queue.clone(),
        image_queue: stand_ins.images.clone(),
        outbox,
        faults: stand_ins.faults.clone(),
        lambda_calls: lambda.calls.clone(),
        stand_ins,
        lambda,
        background,
        shutdown: Some(shutdown),
        server,
    })
}

/// The store the options name, ready: DynamoDB's table on its stand-in, or Postgres's databases created and
/// migrated (and the slot map stored when sharded). Its ports, its configuration, and the name of the marker that
/// says its demo catalog was written.
async fn open_store(options: &Options, stand_ins: &StandIns) -> Result<(Stores, StoreConfig, String), StartError> {
    match &options.store {
        LocalStore::DynamoDb => {
            let sdk = storefront::adapters::aws::local_sdk_config(&stand_ins.dynamodb_endpoint).await;
            let dynamodb = aws_sdk_dynamodb::Client::new(&sdk);
            schema::ensure_table(&dynamodb, TABLE_NAME).await?;
            let store = StoreConfig::DynamoDb { table_name: TABLE_NAME.to_owned() };
            Ok((Stores::dynamodb(dynamodb, TABLE_NAME), store, SEEDED_MARKER.to_owned()))
        }
        LocalStore::Postgres { url, read_url, setup_url, shards } => {
            let database = prepare_postgres(setup_url.as_deref().unwrap_or(url)).await?;
            for shard in shards {
                prepare_postgres(shard.setup_url.as_deref().unwrap_or(&shard.url)).await?;
            }
            if !shards.is_empty() {
                prepare_slot_map(url, setup_url.as_deref(), shards, &options.sharding).await?;
            }
            let config = PostgresConfig {
                url: url.clone(),
                read_url: read_url.clone(),
                iam_auth: false,
                max_connections: pool_size(1 + usize::from(read_url.is_some()) + shards.len()),
                shard_urls: shards.iter().map(|shard| shard.url.clone()).collect(),
            };
            let stores = Stores::postgres(&config, None, options.sharding.store.clone())
                .map_err(|e| StartError::Config(e.to_string()))?;
            Ok((stores, StoreConfig::Postgres(config), format!("{SEEDED_MARKER}-postgres-{database}")))
        }
    }
}

/// The demo catalog (and its photos), once per data dir, with what the store lacks (a database kept from an earlier
/// data dir keeps its products); a seed cut short is finished on the next start. How many products it wrote.
async fn seed_once(app: &AppState, options: &Options, marker: &std::path::Path) -> Result<usize, StartError> {
    if marker.exists() {
        return Ok(0);
    }
    let seeded = crate::seed::demo_catalog(app.catalog.as_ref()).await?;
    if options.seed_photos {
        // Through the photo pipeline, before the image worker starts (the uploads are processed here, once). A
        // product that has the photo already keeps it as it is; the photo's files go to this data dir's storage.
        crate::seed::demo_photos(app).await.map_err(|e| StartError::Config(format!("demo photos: {e}")))?;
    }
    std::fs::write(marker, b"demo catalog written\n")?;
    Ok(seeded)
}

/// Every queue worker fed from its local queue and every scheduled job on its local schedule, as Lambda's event
/// source mappings and EventBridge run them in AWS.
fn in_process_work(stand_ins: &StandIns, app: &AppState, options: &Options) -> Vec<JoinHandle<()>> {
    let workers = storefront_registry::WORKERS
        .iter()
        .map(|worker| spawn_worker(*worker, stand_ins.queue(worker.queue).clone(), app.clone()));
    let jobs = storefront_registry::JOBS.iter().map(|job| spawn_job(*job, options.sweep_every, app.clone()));
    workers.chain(jobs).collect()
}

/// Serves `router` on `listener` until the sender is used (or dropped): the server's task and its stop.
fn serve(listener: tokio::net::TcpListener, router: axum::Router) -> (JoinHandle<()>, oneshot::Sender<()>) {
    let (shutdown, stopped) = oneshot::channel::<()>();
    let server = tokio::spawn(async move {
        let serve = axum::serve(listener, router).with_graceful_shutdown(async {
            let _ = stopped.await;
        });
        if let Err(error) = serve.await {
            tracing::error!(%error, "local server stopped");
        }
    });
    (server, shutdown)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_local_servers_postgres_connections_are_a_budget_split_over_its_pools() {
        assert_eq!(pool_size(1), LOCAL_CONNECTIONS, "one database: the whole budget");
        assert_eq!(pool_size(2), 8, "a database and its reader, or a catalog and one shard");
        assert_eq!(5 * pool_size(5), 20, "a catalog and four shards: 20 in all, not 80");
        assert_eq!(pool_size(9), LOCAL_CONNECTIONS_PER_POOL, "never fewer than the floor per pool");
    }
}
