//! The application state: every client and adapter, built once per cold start (or once by the local server)
//! and shared by reference-counted handles with every request.

use std::sync::Arc;

use crate::adapters::dynamodb::DynamoStore;
use crate::adapters::notify::{LogNotifier, SesNotifier};
use crate::adapters::sqs::SqsOrderQueue;
use crate::config::{Config, ConfigError};
use crate::http::CursorSigner;
use crate::ports::{CartStore, CatalogStore, Clock, IdempotencyStore, Notifier, OrderQueue, OrderStore, SystemClock};
use crate::services::checkout::CheckoutPorts;

#[derive(Clone)]
pub struct AppState {
    pub catalog: Arc<dyn CatalogStore>,
    pub carts: Arc<dyn CartStore>,
    pub orders: Arc<dyn OrderStore>,
    pub idempotency: Arc<dyn IdempotencyStore>,
    pub queue: Arc<dyn OrderQueue>,
    pub notifier: Arc<dyn Notifier>,
    pub clock: Arc<dyn Clock>,
    pub cursors: CursorSigner,
}

impl AppState {
    /// Production wiring: configuration and AWS credentials from the environment, DynamoDB behind the ports.
    pub async fn from_env() -> Result<Self, ConfigError> {
        let config = Config::from_env()?;
        let sdk = crate::adapters::aws::sdk_config().await;
        let queue = SqsOrderQueue::new(aws_sdk_sqs::Client::new(&sdk), config.order_queue_url.clone());
        let mut state = Self::with_dynamodb(aws_sdk_dynamodb::Client::new(&sdk), Arc::new(queue), &config);
        if let Some(sender) = &config.confirmation_sender {
            state.notifier = Arc::new(SesNotifier::new(aws_sdk_sesv2::Client::new(&sdk), sender.clone()));
        }
        Ok(state)
    }

    pub fn with_dynamodb(client: aws_sdk_dynamodb::Client, queue: Arc<dyn OrderQueue>, config: &Config) -> Self {
        let store = Arc::new(DynamoStore::new(client, config.table_name.clone()));
        Self {
            catalog: store.clone(),
            carts: store.clone(),
            orders: store.clone(),
            idempotency: store,
            queue,
            notifier: Arc::new(LogNotifier),
            clock: Arc::new(SystemClock),
            cursors: CursorSigner::new(&config.cursor_secret),
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
