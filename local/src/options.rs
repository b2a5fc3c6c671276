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
}

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
        }
    }

    /// `PORT` (default 3000), `DATA_DIR` (default `.storefront`) and `PAYMENT_WINDOW_SECONDS` (default 900; set
    /// it low to watch an unpaid order expire).
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
}
