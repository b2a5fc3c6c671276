//! The application state: every client and adapter, built once per cold start (or once by the local server)
//! and shared by reference-counted handles with every request.

use std::sync::Arc;

use crate::adapters::cache::CachedCatalog;
use crate::adapters::dynamodb::DynamoStore;
use crate::adapters::notify::{LogNotifier, SesNotifier};
use crate::adapters::s3::S3BlobStore;
use crate::adapters::sqs::SqsOrderQueue;
use crate::api::CursorSigner;
use crate::config::{Config, ConfigError};
use crate::ports::{
    BlobStore, CartStore, CatalogStore, Clock, IdempotencyStore, Notifier, OrderQueue, OrderStore, SystemClock,
};
use crate::services::checkout::CheckoutPorts;
use crate::services::images::ImagePorts;

/// How long a public catalog read is served from memory (see `adapters::cache`).
pub const CATALOG_CACHE_TTL: std::time::Duration = std::time::Duration::from_secs(3);

#[derive(Clone)]
pub struct AppState {
    /// Strongly consistent: every write path and checkout.
    pub catalog: Arc<dyn CatalogStore>,
    /// The same catalog behind the in-function cache: public reads (product pages, listings, artisans,
    /// categories) only.
    pub catalog_reads: Arc<dyn CatalogStore>,
    pub carts: Arc<dyn CartStore>,
    pub orders: Arc<dyn OrderStore>,
    pub idempotency: Arc<dyn IdempotencyStore>,
    pub queue: Arc<dyn OrderQueue>,
    pub notifier: Arc<dyn Notifier>,
    pub blobs: Arc<dyn BlobStore>,
    pub cdn_base_url: Arc<str>,
    pub clock: Arc<dyn Clock>,
    pub cursors: CursorSigner,
    /// How long an order may stay `placed` before the sweeper re-sends it (`Config::stuck_after`).
    pub stuck_after: time::Duration,
    /// Whether [`AppState::warm_up`] opens the connection (`Config::warm_up`).
    warm_up: bool,
}

impl AppState {
    /// Production wiring: configuration and AWS credentials from the environment, DynamoDB behind the ports.
    pub async fn from_env() -> Result<Self, ConfigError> {
        let config = Config::from_env()?;
        let sdk = crate::adapters::aws::sdk_config().await;
        Ok(Self::from_sdk(&sdk, &config))
    }

    /// Every adapter on the AWS services `sdk` reaches: what an init builds (the bench times it too).
    pub fn from_sdk(sdk: &aws_config::SdkConfig, config: &Config) -> Self {
        let queue = SqsOrderQueue::new(aws_sdk_sqs::Client::new(sdk), config.order_queue_url.clone());
        // Path-style addressing only for an S3 stand-in on this machine (no bucket subdomains on loopback).
        let s3 = if config.s3_force_path_style { S3BlobStore::local_client(sdk) } else { aws_sdk_s3::Client::new(sdk) };
        let blobs = S3BlobStore::new(s3, config.media_bucket.clone()).forbidden_means_missing(config.uploads_listable);
        let mut state =
            Self::with_dynamodb(aws_sdk_dynamodb::Client::new(sdk), Arc::new(queue), Arc::new(blobs), config);
        if let Some(sender) = &config.confirmation_sender {
            state.notifier = Arc::new(SesNotifier::new(aws_sdk_sesv2::Client::new(sdk), sender.clone()));
        }
        state
    }

    pub fn with_dynamodb(
        client: aws_sdk_dynamodb::Client,
        queue: Arc<dyn OrderQueue>,
        blobs: Arc<dyn BlobStore>,
        config: &Config,
    ) -> Self {
        let store = Arc::new(DynamoStore::new(client, config.table_name.clone()));
        let cache = CachedCatalog::new(store.clone(), store.catalog_changes(), CATALOG_CACHE_TTL);
        Self {
            catalog: store.clone(),
            catalog_reads: Arc::new(cache),
            carts: store.clone(),
            orders: store.clone(),
            idempotency: store,
            queue,
            notifier: Arc::new(LogNotifier),
            blobs,
            cdn_base_url: Arc::from(config.cdn_base_url.as_str()),
            clock: Arc::new(SystemClock),
            cursors: CursorSigner::new(&config.cursor_secret),
            stuck_after: config.stuck_after,
            warm_up: config.warm_up,
        }
    }

    /// Opens the DynamoDB connection (DNS, TCP, TLS, credentials) during init, which runs at full CPU before any
    /// shopper waits, instead of on the first request: a `DescribeTable`, which every route may call and which
    /// reads no data. A failure here is only logged: the first request opens the connection then.
    pub async fn warm_up(&self) {
        if !self.warm_up {
            return;
        }
        if let Err(error) = self.catalog.ping().await {
            tracing::warn!(%error, "warm-up read failed; the first request opens the connection");
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
            queue: self.queue.as_ref(),
            clock: self.clock.as_ref(),
        }
    }
}
