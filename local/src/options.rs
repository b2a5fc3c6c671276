//! How a local server starts: its port and data dir (`PORT`, `DATA_DIR`), and what tests tune (queue timing, the
//! sweeper's pace, fault injection, which workers run in-process, whether function calls are recorded).

use std::path::PathBuf;

use crate::queue::QueueSettings;

#[derive(Debug, Clone)]
pub struct Options {
    /// 0 picks a free port.
    pub port: u16,
    pub data_dir: PathBuf,
    /// The queues' SQS-like behaviour (visibility timeout, redrive).
    pub queue: QueueSettings,
    /// How often the scheduled jobs run (the sweeper, the reconciler), how long a paid order may wait for
    /// confirmation (or a cancelled one for its settlement) before it is sent again, and how long an order may
    /// await payment before it expires.
    pub sweep_every: std::time::Duration,
    pub stuck_after: time::Duration,
    pub payment_window: time::Duration,
    /// Put a fault-injecting proxy between the adapters and the engine (tests).
    pub fault_injection: bool,
    /// Run the workers and the jobs in-process (off when their Lambda binaries run under the harness).
    pub in_process_workers: bool,
    /// Give the demo products photos on a new data dir (`make dev`; tests start without, faster).
    pub seed_photos: bool,
    /// Put the recording proxies between function processes and the stand-ins (tests hold the grants to what they
    /// record); off, function processes reach the stand-ins directly (the bench times them without the extra hop).
    pub record_lambda_calls: bool,
    /// The backend behind the ports (`STORE`).
    pub store: LocalStore,
}

/// Which backend the local storefront runs on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LocalStore {
    /// The embedded DynamoDB engine, in the data dir (`STORE=dynamodb`, the default).
    DynamoDb,
    /// A Postgres server (`STORE=postgres`): the database `url` names is created if missing and migrated at start
    /// (the local stand-in of the deploy's migration step), through `setup_url` when the app's connections go
    /// through a pooler that cannot hold the migration's session lock (pgbouncer in transaction mode).
    Postgres { url: String, read_url: Option<String>, setup_url: Option<String> },
}

/// `DATABASE_URL` when `STORE=postgres` leaves it unset (../shared/API.md, "Local server").
pub const DEFAULT_DATABASE_URL: &str = "postgres://127.0.0.1:5432/storefront";

impl Options {
    pub fn new(port: u16, data_dir: PathBuf) -> Self {
        Self {
            port,
            data_dir,
            queue: QueueSettings::default(),
            sweep_every: std::time::Duration::from_secs(30),
            stuck_after: storefront::config::DEFAULT_STUCK_AFTER,
            payment_window: storefront::config::DEFAULT_PAYMENT_WINDOW,
            fault_injection: false,
            in_process_workers: true,
            record_lambda_calls: true,
            seed_photos: false,
            store: LocalStore::DynamoDb,
        }
    }

    /// `PORT` (default 3000), `DATA_DIR` (default `.storefront`), `PAYMENT_WINDOW_SECONDS` (default 900; set it
    /// low to watch an unpaid order expire), and the backend: `STORE` (`dynamodb`, the default, or `postgres` with
    /// `DATABASE_URL`, default [`DEFAULT_DATABASE_URL`], and optionally `DATABASE_READ_URL`).
    pub fn from_env() -> Result<Self, StartError> {
        let port = match std::env::var("PORT") {
            Ok(raw) => {
                raw.parse().map_err(|_| StartError::Config(format!("PORT must be a port number, got {raw:?}")))?
            }
            Err(_) => 3000,
        };
        let data_dir = std::env::var_os("DATA_DIR").map(PathBuf::from).unwrap_or_else(|| PathBuf::from(".storefront"));
        let mut options = Self::new(port, data_dir);
        options.seed_photos = true;
        let variable = |name: &str| std::env::var(name).ok().map(|v| v.trim().to_owned()).filter(|v| !v.is_empty());
        options.store = match variable(storefront::config::STORE).as_deref() {
            None | Some("dynamodb") => LocalStore::DynamoDb,
            Some("postgres") => LocalStore::Postgres {
                url: variable(storefront::config::DATABASE_URL).unwrap_or_else(|| DEFAULT_DATABASE_URL.to_owned()),
                read_url: variable(storefront::config::DATABASE_READ_URL),
                setup_url: None,
            },
            Some(other) => {
                return Err(StartError::Config(format!("STORE must be dynamodb or postgres, got {other:?}")));
            }
        };
        if let Ok(raw) = std::env::var(storefront::config::PAYMENT_WINDOW_SECONDS) {
            let seconds: u32 = raw.parse().ok().filter(|s| *s > 0).ok_or_else(|| {
                StartError::Config(format!("PAYMENT_WINDOW_SECONDS must be a positive number of seconds, got {raw:?}"))
            })?;
            options.payment_window = time::Duration::seconds(seconds.into());
            // Swept often enough to see it happen.
            options.sweep_every = options.sweep_every.min(std::time::Duration::from_secs(u64::from(seconds).max(5)));
        }
        Ok(options)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("configuration: {0}")]
    Config(String),
    #[error("data dir: {0}")]
    DataDir(#[from] std::io::Error),
    #[error("embedded DynamoDB engine: {0}")]
    Engine(String),
    #[error("table set-up or seed: {0}")]
    Store(#[from] storefront::ports::StoreError),
    #[error("Postgres at {url}: {reason}")]
    Postgres { url: String, reason: String },
}
