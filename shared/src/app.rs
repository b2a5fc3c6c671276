//! The application state: every client and adapter, built once per cold start (or once by the local server)
//! and shared by reference-counted handles with every request.

use std::sync::Arc;

use crate::adapters::dynamodb::DynamoStore;
use crate::config::{Config, ConfigError};
use crate::http::CursorSigner;
use crate::ports::{CartStore, CatalogStore, Clock, SystemClock};

#[derive(Clone)]
pub struct AppState {
    pub catalog: Arc<dyn CatalogStore>,
    pub carts: Arc<dyn CartStore>,
    pub clock: Arc<dyn Clock>,
    pub cursors: CursorSigner,
}

impl AppState {
    /// Production wiring: configuration and AWS credentials from the environment, DynamoDB behind the ports.
    pub async fn from_env() -> Result<Self, ConfigError> {
        let config = Config::from_env()?;
        let sdk = crate::adapters::aws::sdk_config().await;
        Ok(Self::with_dynamodb(
            aws_sdk_dynamodb::Client::new(&sdk),
            &config,
        ))
    }

    pub fn with_dynamodb(client: aws_sdk_dynamodb::Client, config: &Config) -> Self {
        let store = Arc::new(DynamoStore::new(client, config.table_name.clone()));
        Self {
            catalog: store.clone(),
            carts: store,
            clock: Arc::new(SystemClock),
            cursors: CursorSigner::new(&config.cursor_secret),
        }
    }
}
