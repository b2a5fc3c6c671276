//! How a local server starts: its port, its stand-ins' ports and address, its data dir (`PORT`, `STAND_IN_PORTS`,
//! `BIND_ADDRESS`, `DATA_DIR`), and what tests tune (queue timing, the sweeper's pace, fault injection, which
//! workers run in-process, whether function calls are recorded).

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
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
    /// A sharded Postgres store's tuning: a shorter slot-map lease, injected faults (tests of the sweeper and of
    /// resharding).
    pub sharding: ShardTuning,
    /// Where the server and its stand-ins listen (`BIND_ADDRESS`, default loopback only).
    pub bind: IpAddr,
    /// Whether the stand-ins take the fixed ports after the server's own ([`StandIn::port_after`]) rather than
    /// free ones: `make dev` does, so that `sam local` containers and `cargo lambda watch` find them where
    /// events/env.json says; tests and the bench do not (they run side by side).
    pub fixed_stand_in_ports: bool,
    /// What the local Secrets Manager holds as the payment secret at start, instead of the provider stand-in's own
    /// key pair: a secret never filled in (`{"api_key": "", "webhook_secret": ""}`, as template.yaml creates it),
    /// or another pair (tests of misconfiguration and rotation).
    pub served_payment_secret: Option<String>,
    /// How often the payment adapters read their secret again (Secrets Manager; tests of rotation shorten it).
    pub secret_ttl: std::time::Duration,
}

/// Any free port on loopback (tests, the bench).
pub const FREE_LOOPBACK_PORT: SocketAddr = SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 0);

/// A listener on `at`, and the address this machine reaches it at (loopback when bound to every address).
pub async fn listen(at: SocketAddr) -> std::io::Result<(tokio::net::TcpListener, SocketAddr)> {
    let listener = tokio::net::TcpListener::bind(at).await?;
    let mut reached = listener.local_addr()?;
    if reached.ip().is_unspecified() {
        reached.set_ip(IpAddr::V4(Ipv4Addr::LOCALHOST));
    }
    Ok((listener, reached))
}

/// The stand-ins a function process reaches, each on its own port.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StandIn {
    DynamoDb,
    S3,
    Sqs,
    Ses,
    SecretsManager,
    Payments,
}

impl StandIn {
    pub const ALL: [StandIn; 6] =
        [StandIn::DynamoDb, StandIn::S3, StandIn::Sqs, StandIn::Ses, StandIn::SecretsManager, StandIn::Payments];

    /// What it stands in for, as an error message names it.
    pub fn name(self) -> &'static str {
        match self {
            StandIn::DynamoDb => "the DynamoDB engine",
            StandIn::S3 => "the S3 stand-in",
            StandIn::Sqs => "the SQS stand-in",
            StandIn::Ses => "the SES stand-in",
            StandIn::SecretsManager => "the Secrets Manager stand-in",
            StandIn::Payments => "the payment provider stand-in",
        }
    }

    /// Its fixed port beside a server on `port`: the next six (3001-3006 beside `make dev`'s 3000).
    pub fn port_after(self, port: u16) -> u16 {
        let offset = match self {
            StandIn::DynamoDb => 1,
            StandIn::S3 => 2,
            StandIn::Sqs => 3,
            StandIn::Ses => 4,
            StandIn::SecretsManager => 5,
            StandIn::Payments => 6,
        };
        port.saturating_add(offset)
    }
}

/// A sharded store's [`Tuning`](storefront::adapters::postgres::sharded::Tuning) (tests), and the slot map
/// stored at start when none is (default: even over the shards).
#[derive(Clone, Default)]
pub struct ShardTuning {
    pub store: storefront::adapters::postgres::sharded::Tuning,
    pub initial_map: Option<storefront::adapters::postgres::sharded::SlotMap>,
}

impl std::fmt::Debug for ShardTuning {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ShardTuning")
            .field("map_lease", &self.store.map_lease)
            .field("faults", &self.store.faults.is_some())
            .field("initial_map", &self.initial_map.is_some())
            .finish()
    }
}

/// Which backend the local storefront runs on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LocalStore {
    /// The embedded DynamoDB engine, in the data dir (`STORE=dynamodb`, the default).
    DynamoDb,
    /// A Postgres server (`STORE=postgres`): the database `url` names is created if missing and migrated at start
    /// (the local stand-in of the deploy's migration step), through `setup_url` when the app's connections go
    /// through a pooler that cannot hold the migration's session lock (pgbouncer in transaction mode).
    /// With `shards`, `url` is the catalog database and customer data lives on the shards (docs/sharding.md).
    Postgres { url: String, read_url: Option<String>, setup_url: Option<String>, shards: Vec<LocalShard> },
}

/// One customer shard's database: the app's URL, and the direct one to create and migrate it (as `setup_url`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalShard {
    pub url: String,
    pub setup_url: Option<String>,
}

/// `make dev`'s port when `PORT` is unset (its stand-ins take the next six: events/env.json names them).
pub const DEFAULT_PORT: u16 = 3000;

/// `DATABASE_URL` when `STORE=postgres` leaves it unset (docs/api.md, "Local server").
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
            sharding: ShardTuning::default(),
            bind: IpAddr::V4(Ipv4Addr::LOCALHOST),
            fixed_stand_in_ports: false,
            served_payment_secret: None,
            secret_ttl: storefront::adapters::stripe::SECRET_TTL,
        }
    }

    /// Fails naming the port and what wanted it when the server's own port, or one of its stand-ins' fixed ports, is
    /// held by another process (checked before anything starts, so the message is the first thing said).
    pub fn check_ports_free(&self) -> Result<(), StartError> {
        let free = |port: u16| port == 0 || std::net::TcpListener::bind(SocketAddr::new(self.bind, port)).is_ok();
        if !free(self.port) {
            return Err(StartError::PortTaken { port: self.port, what: "the storefront itself", hint: "" });
        }
        for stand_in in StandIn::ALL {
            let port = self.stand_in_address(stand_in).port();
            if !free(port) {
                let hint = ", or start with STAND_IN_PORTS=free (any free ports for the stand-ins)";
                return Err(StartError::PortTaken { port, what: stand_in.name(), hint });
            }
        }
        Ok(())
    }

    /// Where `stand_in` listens: its fixed port when asked (and the server's port is fixed), else a free one.
    pub fn stand_in_address(&self, stand_in: StandIn) -> SocketAddr {
        let port = if self.fixed_stand_in_ports && self.port != 0 { stand_in.port_after(self.port) } else { 0 };
        SocketAddr::new(self.bind, port)
    }

    /// `PORT` (default 3000; the stand-ins take the six ports after it, or free ones with `STAND_IN_PORTS=free`),
    /// `BIND_ADDRESS` (default 127.0.0.1; 0.0.0.0 lets `sam local`'s containers reach the stand-ins on Linux),
    /// `DATA_DIR` (default `.storefront`), `PAYMENT_WINDOW_SECONDS` (default 900; set it low to watch an unpaid
    /// order expire), and the backend: `STORE` (`dynamodb`, the default, or `postgres` with
    /// `DATABASE_URL`, default [`DEFAULT_DATABASE_URL`], optionally `DATABASE_READ_URL`, and customer shards:
    /// `SHARDS=n` databases `<name>_shard_0..n-1` beside it, or `SHARD_URLS` naming them one by one).
    pub fn from_env() -> Result<Self, StartError> {
        let port = match std::env::var("PORT") {
            Ok(raw) => {
                raw.parse().map_err(|_| StartError::Config(format!("PORT must be a port number, got {raw:?}")))?
            }
            Err(_) => DEFAULT_PORT,
        };
        let data_dir = std::env::var_os("DATA_DIR").map(PathBuf::from).unwrap_or_else(|| PathBuf::from(".storefront"));
        let mut options = Self::new(port, data_dir);
        options.seed_photos = true;
        // STAND_IN_PORTS=free: any free ports (a harness starting servers on free ports, whose next six may be taken).
        options.fixed_stand_in_ports = match std::env::var("STAND_IN_PORTS").as_deref() {
            Err(_) | Ok("after") => true,
            Ok("free") => false,
            Ok(other) => {
                return Err(StartError::Config(format!("STAND_IN_PORTS must be after or free, got {other:?}")));
            }
        };
        if let Ok(raw) = std::env::var("BIND_ADDRESS") {
            options.bind = raw
                .parse()
                .map_err(|_| StartError::Config(format!("BIND_ADDRESS must be an IP address, got {raw:?}")))?;
        }
        let variable = |name: &str| std::env::var(name).ok().map(|v| v.trim().to_owned()).filter(|v| !v.is_empty());
        options.store = match variable(storefront::config::STORE).as_deref() {
            None | Some("dynamodb") => LocalStore::DynamoDb,
            Some("postgres") => {
                let url = variable(storefront::config::DATABASE_URL).unwrap_or_else(|| DEFAULT_DATABASE_URL.to_owned());
                let shards = storefront::config::shard_urls(
                    &url,
                    variable(storefront::config::SHARDS),
                    variable(storefront::config::SHARD_URLS),
                )
                .map_err(|e| StartError::Config(e.to_string()))?
                .into_iter()
                .map(|url| LocalShard { url, setup_url: None })
                .collect();
                LocalStore::Postgres {
                    url,
                    read_url: variable(storefront::config::DATABASE_READ_URL),
                    setup_url: None,
                    shards,
                }
            }
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
    /// A fixed port is held by another process (an earlier `make dev`, another program).
    #[error("port {port} ({what}) is taken by another process: stop it, pick another PORT{hint}")]
    PortTaken { port: u16, what: &'static str, hint: &'static str },
    #[error("embedded DynamoDB engine: {0}")]
    Engine(String),
    #[error("table set-up or seed: {0}")]
    Store(#[from] storefront::ports::StoreError),
    #[error("Postgres at {url}: {reason}")]
    Postgres { url: String, reason: String },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_stand_ins_take_the_six_ports_after_a_fixed_server_port_and_free_ones_otherwise() {
        let mut options = Options::new(3000, PathBuf::from("unused"));
        let port = |options: &Options, stand_in| options.stand_in_address(stand_in).port();
        assert!(StandIn::ALL.iter().all(|s| port(&options, *s) == 0), "tests and the bench take free ports");
        options.fixed_stand_in_ports = true;
        let ports: Vec<u16> = StandIn::ALL.iter().map(|s| port(&options, *s)).collect();
        assert_eq!(ports, [3001, 3002, 3003, 3004, 3005, 3006]);
        options.port = 0;
        assert_eq!(port(&options, StandIn::DynamoDb), 0, "a free server port leaves nothing to count from");
    }

    #[test]
    fn a_taken_stand_in_port_is_named_with_what_to_do() {
        // A run of seven free ports: the server's, and its stand-ins' after it; then the S3 stand-in's is taken.
        let (server, held) = (0..50)
            .find_map(|_| {
                let probe = std::net::TcpListener::bind("127.0.0.1:0").ok()?;
                let base = probe.local_addr().ok()?.port();
                drop(probe);
                let all: Option<Vec<_>> =
                    (0..7).map(|n| std::net::TcpListener::bind(("127.0.0.1", base.checked_add(n)?)).ok()).collect();
                drop(all?);
                let held = std::net::TcpListener::bind(("127.0.0.1", StandIn::S3.port_after(base))).ok()?;
                Some((base, held))
            })
            .expect("seven free ports in a row");
        let mut options = Options::new(server, PathBuf::from("unused"));
        options.fixed_stand_in_ports = true;
        let error = options.check_ports_free().expect_err("the S3 stand-in's port is held");
        let message = error.to_string();
        let s3 = StandIn::S3.port_after(server);
        assert!(message.contains(&format!("port {s3} (the S3 stand-in)")), "{message}");
        assert!(message.contains("STAND_IN_PORTS=free"), "{message}");
        options.fixed_stand_in_ports = false;
        assert!(options.check_ports_free().is_ok(), "free stand-in ports: only the server's own is fixed");
        drop(held);
    }
}
