//! The application state: every client and adapter, built once per cold start (or once by the local server)
//! and shared by reference-counted handles with every request.

use std::sync::Arc;

use crate::adapters::aws::LazyClient;
use crate::adapters::cache::CachedCatalog;
use crate::adapters::dynamodb::DynamoStore;
use crate::adapters::not_reached::NotReached;
use crate::adapters::notify::{LogNotifier, SesNotifier};
use crate::adapters::postgres::sharded::{ShardedStore, Tuning};
use crate::adapters::postgres::{Endpoint, IamAuth, PgCatalogReader, PgStore, PoolSettings};
use crate::adapters::s3::S3BlobStore;
use crate::adapters::sqs::SqsQueue;
use crate::adapters::stripe::StripeProvider;
use crate::api::CursorSigner;
use crate::config::{
    Config, ConfigError, DATABASE_READ_URL, DATABASE_URL, PostgresConfig, SHARD_URLS, StoreConfig, WarmUp,
};
use crate::domain::FeeRate;
use crate::ports::{
    BlobStore, CartStore, CatalogReads, CatalogStore, Clock, Housekeeping, IdempotencyStore, Notifier, OrderQueue,
    OrderStore, PaymentProvider, PaymentQueue, PaymentStore, SystemClock,
};
use crate::services::checkout::CheckoutPorts;
use crate::services::images::ImagePorts;
use crate::services::orders::OrderPorts;
use crate::services::payments::PaymentPorts;

/// How long a public catalog read is served from memory (see `adapters::cache`).
pub const CATALOG_CACHE_TTL: std::time::Duration = std::time::Duration::from_secs(3);

/// What a function reaches besides its store, declared with it (`route!`, `queue_worker!`, `scheduled_job!`): its
/// init builds those clients and no other, so its binary links only their SDK code: a product page's links none of
/// S3's, SQS's, SES's or Secrets Manager's, and is smaller, less for the loader to map and relocate at every cold
/// start (the sizes: docs/benchmarks.md).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Reach(u8);

/// `QUEUES | PAYMENTS`, `NOTHING`: as declared.
impl std::fmt::Display for Reach {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let named =
            [(Self::QUEUES, "QUEUES"), (Self::BLOBS, "BLOBS"), (Self::PAYMENTS, "PAYMENTS"), (Self::EMAIL, "EMAIL")];
        let names: Vec<&str> = named.iter().filter(|(reach, _)| self.includes(*reach)).map(|(_, name)| *name).collect();
        if names.is_empty() { f.write_str("NOTHING") } else { f.write_str(&names.join(" | ")) }
    }
}

impl Reach {
    pub const NOTHING: Self = Self(0);
    /// The order and payment queues (SQS).
    pub const QUEUES: Self = Self(1);
    /// The media bucket (S3).
    pub const BLOBS: Self = Self(1 << 1);
    /// The payment provider, its keys in Secrets Manager.
    pub const PAYMENTS: Self = Self(1 << 2);
    /// The order confirmation's email (SES, when a sender is configured; the log otherwise).
    pub const EMAIL: Self = Self(1 << 3);
    pub const EVERYTHING: Self = Self(Self::QUEUES.0 | Self::BLOBS.0 | Self::PAYMENTS.0 | Self::EMAIL.0);

    pub const fn and(self, other: Self) -> Self {
        Self(self.0 | other.0)
    }

    pub const fn includes(self, other: Self) -> bool {
        self.0 & other.0 == other.0
    }

    /// As a const generic argument ([`AppState::for_function`]).
    pub const fn bits(self) -> u8 {
        self.0
    }

    pub const fn from_bits(bits: u8) -> Self {
        Self(bits & Self::EVERYTHING.0)
    }
}

/// The [`Reach`] of the constants named (none: [`Reach::NOTHING`]): `reach!(QUEUES, PAYMENTS)`.
#[macro_export]
macro_rules! reach {
    ($($reach:ident),*) => {
        $crate::app::Reach::NOTHING$(.and($crate::app::Reach::$reach))*
    };
}

/// How a function's init builds its state: [`AppState::for_function`] for the function's [`Reach`].
pub type Build = fn(&aws_config::SdkConfig, &Config) -> Result<AppState, ConfigError>;

/// The ports besides the store: the queues, the media bucket, the payment provider.
pub struct OtherPorts {
    pub order_queue: Arc<dyn OrderQueue>,
    pub payment_queue: Arc<dyn PaymentQueue>,
    pub blobs: Arc<dyn BlobStore>,
    pub payments: Arc<dyn PaymentProvider>,
}

#[derive(Clone)]
pub struct AppState {
    /// Strongly consistent: every write path and checkout.
    pub catalog: Arc<dyn CatalogStore>,
    /// The same catalog behind the in-function cache (and on Postgres the reader endpoint): public reads (product
    /// pages, listings, artisans, categories) only, and read-only by its type.
    pub catalog_reads: Arc<dyn CatalogReads>,
    pub carts: Arc<dyn CartStore>,
    pub orders: Arc<dyn OrderStore>,
    pub idempotency: Arc<dyn IdempotencyStore>,
    /// Paid orders, to the order worker.
    pub order_queue: Arc<dyn OrderQueue>,
    /// Payment work (provider events, settlements, payouts), to the payment worker.
    pub payment_queue: Arc<dyn PaymentQueue>,
    /// Provider events seen, payout accounts, payouts.
    pub payment_records: Arc<dyn PaymentStore>,
    /// Forgets what expired (the order sweeper runs it).
    pub housekeeping: Arc<dyn Housekeeping>,
    pub payments: Arc<dyn PaymentProvider>,
    pub notifier: Arc<dyn Notifier>,
    pub blobs: Arc<dyn BlobStore>,
    pub cdn_base_url: Arc<str>,
    pub clock: Arc<dyn Clock>,
    pub cursors: CursorSigner,
    /// How long a paid order may wait for confirmation, or a cancelled one for its settlement, before it is sent
    /// again (`Config::stuck_after`).
    pub stuck_after: time::Duration,
    /// How long an order may await payment (`Config::payment_window`).
    pub payment_window: time::Duration,
    /// The marketplace's cut of each artisan's part (`Config::platform_fee`).
    pub platform_fee: FeeRate,
    /// Where the web pages are served, how shoppers sign in and pay (`Config::site`).
    pub site: Arc<crate::config::SiteConfig>,
    /// Whether [`AppState::warm_up`] opens the connection (`Config::warm_up`).
    warm_up: WarmUp,
    /// What the warm-up opens: the store's connection, and the reader's when it has its own.
    warm_up_stores: Vec<Arc<dyn CatalogReads>>,
    /// What the connections above are real for; the rest are [`NotReached`].
    reach: Reach,
}

/// The store ports, all on one backend.
pub struct Stores {
    pub catalog: Arc<dyn CatalogStore>,
    pub catalog_reads: Arc<dyn CatalogReads>,
    pub carts: Arc<dyn CartStore>,
    pub orders: Arc<dyn OrderStore>,
    pub idempotency: Arc<dyn IdempotencyStore>,
    pub payment_records: Arc<dyn PaymentStore>,
    pub housekeeping: Arc<dyn Housekeeping>,
    /// The connections the warm-up opens.
    pub warm_up: Vec<Arc<dyn CatalogReads>>,
}

impl Stores {
    /// Every port on `store`, public catalog reads on `catalog_reads`, the warm-up opening `warm_up`.
    pub fn all<S>(store: Arc<S>, catalog_reads: Arc<dyn CatalogReads>, warm_up: Vec<Arc<dyn CatalogReads>>) -> Self
    where
        S: CatalogStore + CartStore + OrderStore + IdempotencyStore + PaymentStore + Housekeeping + 'static,
    {
        Self {
            catalog: store.clone(),
            catalog_reads,
            carts: store.clone(),
            orders: store.clone(),
            idempotency: store.clone(),
            payment_records: store.clone(),
            housekeeping: store,
            warm_up,
        }
    }

    /// Every port on the DynamoDB table, public catalog reads through the in-function cache.
    pub fn dynamodb(client: impl Into<LazyClient<aws_sdk_dynamodb::Client>>, table: &str) -> Self {
        let store = Arc::new(DynamoStore::new(client, table));
        let cache = CachedCatalog::new(store.clone(), store.catalog_changes(), CATALOG_CACHE_TTL);
        Self::all(store.clone(), Arc::new(cache), vec![store])
    }

    /// Every port on Postgres: the writer for everything but public catalog reads, which go to the reader (the
    /// writer without `DATABASE_READ_URL`) through the same cache. Connections open lazily (the warm-up opens
    /// them at init); with IAM auth, tokens are signed with `sdk`'s credentials for its region. With shards
    /// (`SHARD_URLS`), `DATABASE_URL` is the catalog database and customer data lives on the shards, `tuning`
    /// as tests want it (the default everywhere else).
    pub fn postgres(
        config: &PostgresConfig,
        sdk: Option<&aws_config::SdkConfig>,
        tuning: Tuning,
    ) -> Result<Self, ConfigError> {
        let application_name = std::env::var("AWS_LAMBDA_FUNCTION_NAME").unwrap_or_else(|_| "storefront".to_owned());
        let endpoint = |name: &'static str, url: &str| {
            let invalid = |reason: String| ConfigError::Invalid { name, reason };
            let iam = match (config.iam_auth, sdk) {
                (false, _) => None,
                (true, Some(sdk)) => Some(Arc::new(IamAuth::for_url(sdk, url).map_err(invalid)?)),
                (true, None) => return Err(invalid("IAM auth needs the AWS configuration".into())),
            };
            let settings = PoolSettings {
                url: url.to_owned(),
                application_name: application_name.clone(),
                max_connections: config.max_connections,
                iam,
            };
            Endpoint::connect_lazy(settings).map_err(|error| invalid(error.to_string()))
        };
        let store = PgStore::new(endpoint(DATABASE_URL, &config.url)?);
        let reader = match &config.read_url {
            Some(url) => endpoint(DATABASE_READ_URL, url)?,
            None => store.writer().clone(),
        };
        let reads = Arc::new(PgCatalogReader::new(reader));
        let cache = Arc::new(CachedCatalog::new(reads.clone(), store.catalog_changes(), CATALOG_CACHE_TTL));
        let mut warm_up: Vec<Arc<dyn CatalogReads>> = vec![Arc::new(store.clone())];
        if config.read_url.is_some() {
            warm_up.push(reads);
        }
        if !config.shard_urls.is_empty() {
            // The catalog database above; customer data on the shards (docs/sharding.md).
            let shards = config
                .shard_urls
                .iter()
                .map(|url| endpoint(SHARD_URLS, url).map(PgStore::new))
                .collect::<Result<Vec<_>, _>>()?;
            let sharded = Arc::new(ShardedStore::new(store, shards).tuned(tuning));
            return Ok(Self::all(sharded, cache, warm_up));
        }
        Ok(Self::all(Arc::new(store), cache, warm_up))
    }

    /// The stores `config` names, on the AWS services `sdk` reaches.
    pub fn from_config(config: &Config, sdk: &aws_config::SdkConfig) -> Result<Self, ConfigError> {
        match &config.store {
            StoreConfig::DynamoDb { table_name } => {
                Ok(Self::dynamodb(LazyClient::new(sdk, aws_sdk_dynamodb::Client::new), table_name))
            }
            StoreConfig::Postgres(postgres) => Self::postgres(postgres, Some(sdk), Tuning::default()),
        }
    }
}

impl AppState {
    /// Every adapter on the AWS services `sdk` reaches (the bench's and the tools' state; a function builds
    /// [`AppState::for_function`]).
    pub fn from_sdk(sdk: &aws_config::SdkConfig, config: &Config) -> Result<Self, ConfigError> {
        Self::for_function::<{ Reach::EVERYTHING.bits() }>(sdk, config)
    }

    /// What a function's init builds: its store, and of the rest only what it reaches (`REACH`, the bits of its
    /// [`Reach`]); the others answer that they are not reached. A constant, not an argument, so that the branches
    /// it rules out are dropped at compile time, and with them, through LTO, the SDK clients no branch builds.
    pub fn for_function<const REACH: u8>(sdk: &aws_config::SdkConfig, config: &Config) -> Result<Self, ConfigError> {
        let reach = Reach::from_bits(REACH);
        let not_reached = Arc::new(NotReached(reach));
        let (order_queue, payment_queue): (Arc<dyn OrderQueue>, Arc<dyn PaymentQueue>) =
            if const { Reach::from_bits(REACH).includes(Reach::QUEUES) } {
                // Built on first use, as every client below: only DynamoDB's (the warm-up's) is needed at once.
                let sqs = LazyClient::new(sdk, aws_sdk_sqs::Client::new);
                (
                    Arc::new(SqsQueue::new(sqs.clone(), config.order_queue_url.clone())),
                    Arc::new(SqsQueue::new(sqs, config.payment_queue_url.clone())),
                )
            } else {
                (not_reached.clone(), not_reached.clone())
            };
        let blobs: Arc<dyn BlobStore> = if const { Reach::from_bits(REACH).includes(Reach::BLOBS) } {
            // Path-style addressing only for an S3 stand-in on this machine (no bucket subdomains on loopback).
            let s3 = LazyClient::new(
                sdk,
                if config.s3_force_path_style { S3BlobStore::local_client } else { aws_sdk_s3::Client::new },
            );
            Arc::new(S3BlobStore::new(s3, config.media_bucket.clone()).forbidden_means_missing(config.uploads_listable))
        } else {
            not_reached.clone()
        };
        let payments: Arc<dyn PaymentProvider> = if const { Reach::from_bits(REACH).includes(Reach::PAYMENTS) } {
            Arc::new(StripeProvider::from_secrets_manager(
                &config.payments_api_url,
                LazyClient::new(sdk, aws_sdk_secretsmanager::Client::new),
                &config.payments_secret_id,
            ))
        } else {
            not_reached.clone()
        };
        let others = OtherPorts { order_queue, payment_queue, blobs, payments };
        let mut state = Self::with_stores(Stores::from_config(config, sdk)?, others, config);
        state.notifier = if const { Reach::from_bits(REACH).includes(Reach::EMAIL) } {
            match &config.confirmation_sender {
                Some(sender) => {
                    Arc::new(SesNotifier::new(LazyClient::new(sdk, aws_sdk_sesv2::Client::new), sender.clone()))
                }
                None => Arc::new(LogNotifier),
            }
        } else {
            not_reached
        };
        state.reach = reach;
        Ok(state)
    }

    /// The same state, what `reach` leaves out answering that it is not reached, as [`AppState::for_function`]
    /// builds it. Every function is called through it (`Function::call`, `QueueWorker::batch`,
    /// `ScheduledJob::invoke`), so that wherever a state with everything is shared (the local server, the suites)
    /// a function that uses what it does not declare fails there; a state built for the function is returned as is.
    pub fn reaching(mut self, reach: Reach) -> Self {
        let cut = Reach(self.reach.0 & !reach.0);
        if cut == Reach::NOTHING {
            return self;
        }
        let not_reached = Arc::new(NotReached(reach));
        if cut.includes(Reach::QUEUES) {
            self.order_queue = not_reached.clone();
            self.payment_queue = not_reached.clone();
        }
        if cut.includes(Reach::BLOBS) {
            self.blobs = not_reached.clone();
        }
        if cut.includes(Reach::PAYMENTS) {
            self.payments = not_reached.clone();
        }
        if cut.includes(Reach::EMAIL) {
            self.notifier = not_reached;
        }
        self.reach = Reach(self.reach.0 & reach.0);
        self
    }

    /// The stores and the rest as given.
    pub fn with_stores(stores: Stores, others: OtherPorts, config: &Config) -> Self {
        let OtherPorts { order_queue, payment_queue, blobs, payments } = others;
        let Stores { catalog, catalog_reads, carts, orders, idempotency, payment_records, housekeeping, warm_up } =
            stores;
        Self {
            catalog,
            catalog_reads,
            carts,
            orders,
            idempotency,
            payment_records,
            housekeeping,
            order_queue,
            payment_queue,
            payments,
            notifier: Arc::new(LogNotifier),
            blobs,
            cdn_base_url: Arc::from(config.cdn_base_url.as_str()),
            clock: Arc::new(SystemClock),
            cursors: CursorSigner::new(&config.cursor_secret),
            stuck_after: config.stuck_after,
            payment_window: config.payment_window,
            platform_fee: config.platform_fee,
            site: Arc::new(config.site.clone()),
            warm_up: config.warm_up,
            warm_up_stores: warm_up,
            reach: Reach::EVERYTHING,
        }
    }

    /// Opens the store's connection (DNS, TCP, TLS, credentials) and waits for it during init when `WARM_UP` says
    /// so (by default under provisioned concurrency only), so that the first request finds it open: on DynamoDB the
    /// endpoint's health check (`GET /`, no API call, through the client's own connection pool), on Postgres a
    /// `SELECT 1` on the writer and the reader. A failure is only logged: the first request opens the connection
    /// then.
    pub async fn warm_up(&self) {
        if self.warm_up != WarmUp::AtInit {
            return;
        }
        let pings = futures::future::join_all(self.warm_up_stores.iter().map(|store| store.ping())).await;
        for error in pings.into_iter().filter_map(Result::err) {
            tracing::warn!(%error, "warm-up failed; the first request opens the connection");
        }
    }

    pub fn image_ports(&self) -> ImagePorts<'_> {
        ImagePorts {
            catalog: self.catalog.as_ref(),
            blobs: self.blobs.as_ref(),
            clock: self.clock.as_ref(),
            cdn_base_url: &self.cdn_base_url,
        }
    }

    pub fn checkout_ports(&self) -> CheckoutPorts<'_> {
        CheckoutPorts {
            catalog: self.catalog.as_ref(),
            carts: self.carts.as_ref(),
            orders: self.orders.as_ref(),
            idempotency: self.idempotency.as_ref(),
            payments: self.payments.as_ref(),
            clock: self.clock.as_ref(),
            fee: self.platform_fee,
        }
    }

    pub fn order_ports(&self) -> OrderPorts<'_> {
        OrderPorts {
            orders: self.orders.as_ref(),
            catalog: self.catalog.as_ref(),
            clock: self.clock.as_ref(),
            order_queue: self.order_queue.as_ref(),
            payment_queue: self.payment_queue.as_ref(),
        }
    }

    pub fn payment_ports(&self) -> PaymentPorts<'_> {
        PaymentPorts {
            order: self.order_ports(),
            payments: self.payments.as_ref(),
            records: self.payment_records.as_ref(),
        }
    }
}
