//! Configuration from the environment, checked once at start-up: a missing or malformed variable fails the
//! init phase with its name, instead of failing requests later.

use crate::domain::FeeRate;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ConfigError {
    #[error("missing environment variable {0}")]
    Missing(&'static str),
    #[error("environment variable {name} is invalid: {reason}")]
    Invalid { name: &'static str, reason: String },
}

#[derive(Clone)]
pub struct Config {
    /// Where the data lives: the DynamoDB table (the default) or Postgres (`STORE=postgres`).
    pub store: StoreConfig,
    /// Key that signs pagination cursors; at least 32 bytes.
    pub cursor_secret: Vec<u8>,
    /// The SQS queue that carries `OrderPlaced` to the order worker.
    pub order_queue_url: String,
    /// A verified SES identity to send confirmations from; without one they go to the log.
    pub confirmation_sender: Option<String>,
    /// The private bucket of product photos (uploads and variants).
    pub media_bucket: String,
    /// Where `images/...` is served from, without a trailing slash; empty (the default) makes photo URLs
    /// relative (`/images/...`): in AWS the one distribution serves photos, pages and API at the same origin.
    pub cdn_base_url: String,
    /// Address the bucket by path (an S3 stand-in on this machine has no bucket subdomains); off in AWS.
    pub s3_force_path_style: bool,
    /// Whether and how the store's connection is opened during init (`WARM_UP`; the init benchmark measures each).
    pub warm_up: WarmUp,
    /// The function may list `uploads/` (template.yaml grants `s3:ListBucket` there): S3 then answers a missing
    /// upload with 404, and a 403 on reading one can only mean it is gone (deleted once handled).
    pub uploads_listable: bool,
    /// How long a paid order may wait for confirmation (or a cancelled one for its refund) before the sweeper and
    /// the reconciler send it again (`STUCK_AFTER_SECONDS`).
    pub stuck_after: time::Duration,
    /// The SQS queue that carries payment work (provider events, refunds, payouts) to the payment worker.
    pub payment_queue_url: String,
    /// The Secrets Manager secret holding the payment provider's `{"api_key", "webhook_secret"}`.
    pub payments_secret_id: String,
    /// The payment provider's API (Stripe's, or the local stand-in), without a trailing slash.
    pub payments_api_url: String,
    /// The marketplace's cut of each artisan's part (`PLATFORM_FEE_BPS`, basis points).
    pub platform_fee: FeeRate,
    /// How long an order may await payment before the sweeper cancels it (`PAYMENT_WINDOW_SECONDS`).
    pub payment_window: time::Duration,
    /// What the web pages need to know of where they are served (the pages function only).
    pub site: SiteConfig,
}

/// Whether and how a function opens its store's connection (DNS, TCP, TLS, authentication) during init, chosen by
/// `WARM_UP` or, unset, by how Lambda started the instance (`AWS_LAMBDA_INITIALIZATION_TYPE`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WarmUp {
    /// `init`; the default under provisioned concurrency, whose init runs before any request is waiting: init
    /// waits for the connection and a request on it, and the first request finds it open.
    AtInit,
    /// `connect`; the default on demand, where the request is already waiting when init ends: the DynamoDB
    /// connection starts opening at the end of init (TCP and TLS, no request) and the first request takes it, so
    /// the handshake overlaps the first poll and the function's work up to that request (`HttpsClient::open_early`,
    /// docs/benchmarks.md, "warm_up"). Waiting for it in init, or sending a request on it, was slower.
    Connect,
    /// `off`: the first request opens the connection.
    Off,
}

impl WarmUp {
    fn from_setting(value: Option<&str>, initialization_type: Option<&str>) -> Result<Self, ConfigError> {
        match value.map(str::trim) {
            None | Some("") if initialization_type == Some(PROVISIONED_CONCURRENCY) => Ok(Self::AtInit),
            None | Some("") | Some("connect") => Ok(Self::Connect),
            Some("init" | "true" | "1") => Ok(Self::AtInit),
            Some("off" | "false" | "0") => Ok(Self::Off),
            Some(other) => Err(ConfigError::Invalid {
                name: WARM_UP,
                reason: format!("must be init, connect or off, got {other:?}"),
            }),
        }
    }
}

/// The backend behind the store ports, chosen by `STORE`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreConfig {
    /// `STORE=dynamodb` (the default): the single table of DESIGN §3 (`TABLE_NAME`).
    DynamoDb { table_name: String },
    /// `STORE=postgres`: the same ports on PostgreSQL (behind RDS Proxy in AWS).
    Postgres(PostgresConfig),
}

/// How to reach Postgres: the writer, optionally a reader for public catalog reads, IAM or password auth.
#[derive(Clone, PartialEq, Eq)]
pub struct PostgresConfig {
    /// `DATABASE_URL`: `postgres://user[:password]@host:port/db[?sslmode=verify-full]` (the proxy's read-write
    /// endpoint in AWS).
    pub url: String,
    /// `DATABASE_READ_URL`: the proxy's read-only endpoint (Aurora replicas); the writer serves reads without one.
    pub read_url: Option<String>,
    /// `DATABASE_IAM_AUTH=true`: connect with an IAM auth token (the function's role) instead of a password.
    pub iam_auth: bool,
    /// `DATABASE_MAX_CONNECTIONS` per endpoint (default 1: a Lambda instance serves one request at a time).
    pub max_connections: u32,
    /// The customer shards, in slot-map order (docs/sharding.md): `SHARD_URLS`, comma-separated, or `SHARDS=n`
    /// databases `<name>_shard_0..n-1` beside `DATABASE_URL`'s (same server, user and options). Empty: one
    /// database holds everything. With shards, `DATABASE_URL` names the catalog database.
    pub shard_urls: Vec<String>,
}

impl std::fmt::Debug for PostgresConfig {
    /// Without the URLs, which may hold a password.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PostgresConfig")
            .field("read_url", &self.read_url.is_some())
            .field("shards", &self.shard_urls.len())
            .field("iam_auth", &self.iam_auth)
            .field("max_connections", &self.max_connections)
            .finish_non_exhaustive()
    }
}

/// Where the web storefront is served and how its shoppers sign in and pay: public values only.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SiteConfig {
    /// The public origin (`https://d123.cloudfront.net` or a custom domain), for canonical URLs and the sitemap
    /// (`SITE_URL`). Without it, the request's own host is used (the local server).
    pub url: Option<String>,
    /// The managed sign-in (Cognito's hosted UI) the pages send shoppers to, with authorization code and PKCE
    /// (`SIGN_IN_URL`, `SIGN_IN_CLIENT_ID`); locally the local stand-in at `/dev`.
    pub sign_in: SignIn,
    /// Stripe's publishable key for the Payment Element (`STRIPE_PUBLISHABLE_KEY`); without it the checkout sends
    /// shoppers to the local test-card page.
    pub stripe_publishable_key: Option<String>,
    /// Where the browser PUTs a presigned photo upload (`STORAGE_ORIGIN`; S3's `https://*.amazonaws.com` unless
    /// set): the pages' content security policy lets scripts reach it, and nothing else beyond our own origin.
    pub storage_origin: String,
}

/// S3's endpoints, where presigned uploads go in AWS.
pub const DEFAULT_STORAGE_ORIGIN: &str = "https://*.amazonaws.com";

/// An OAuth 2.0 authorization server with the endpoints Cognito's hosted UI has (`/oauth2/authorize`,
/// `/oauth2/token`, `/logout`) under `base_url`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignIn {
    pub base_url: String,
    pub client_id: String,
}

impl Default for SiteConfig {
    /// The local server's: its own host, its sign-in stand-in, the test-card page, S3 in AWS.
    fn default() -> Self {
        Self {
            url: None,
            sign_in: SignIn::default(),
            stripe_publishable_key: None,
            storage_origin: DEFAULT_STORAGE_ORIGIN.to_owned(),
        }
    }
}

impl Default for SignIn {
    /// The local server's own stand-in (`/dev/oauth2/...`).
    fn default() -> Self {
        Self { base_url: "/dev".into(), client_id: "local".into() }
    }
}

impl std::fmt::Debug for Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Config").field("store", &self.store).finish_non_exhaustive()
    }
}

pub const STORE: &str = "STORE";
pub const TABLE_NAME: &str = "TABLE_NAME";
pub const DATABASE_URL: &str = "DATABASE_URL";
pub const DATABASE_READ_URL: &str = "DATABASE_READ_URL";
pub const DATABASE_IAM_AUTH: &str = "DATABASE_IAM_AUTH";
pub const DATABASE_MAX_CONNECTIONS: &str = "DATABASE_MAX_CONNECTIONS";
pub const SHARD_URLS: &str = "SHARD_URLS";
pub const SHARDS: &str = "SHARDS";
pub const CURSOR_SECRET: &str = "CURSOR_SECRET";
pub const ORDER_QUEUE_URL: &str = "ORDER_QUEUE_URL";
pub const CONFIRMATION_SENDER: &str = "CONFIRMATION_SENDER";
pub const MEDIA_BUCKET: &str = "MEDIA_BUCKET";
pub const CDN_BASE_URL: &str = "CDN_BASE_URL";
pub const S3_FORCE_PATH_STYLE: &str = "S3_FORCE_PATH_STYLE";
pub const WARM_UP: &str = "WARM_UP";
/// Set by Lambda: `on-demand`, `provisioned-concurrency`, `snap-start` or `lambda-managed-instances`.
pub const LAMBDA_INITIALIZATION_TYPE: &str = "AWS_LAMBDA_INITIALIZATION_TYPE";
const PROVISIONED_CONCURRENCY: &str = "provisioned-concurrency";
pub const UPLOADS_LISTABLE: &str = "UPLOADS_LISTABLE";
pub const STUCK_AFTER_SECONDS: &str = "STUCK_AFTER_SECONDS";
pub const PAYMENT_QUEUE_URL: &str = "PAYMENT_QUEUE_URL";
pub const PAYMENTS_SECRET_ARN: &str = "PAYMENTS_SECRET_ARN";
pub const PAYMENTS_API_URL: &str = "PAYMENTS_API_URL";
pub const PLATFORM_FEE_BPS: &str = "PLATFORM_FEE_BPS";
pub const PAYMENT_WINDOW_SECONDS: &str = "PAYMENT_WINDOW_SECONDS";
pub const SITE_URL: &str = "SITE_URL";
pub const SIGN_IN_URL: &str = "SIGN_IN_URL";
pub const SIGN_IN_CLIENT_ID: &str = "SIGN_IN_CLIENT_ID";
pub const STRIPE_PUBLISHABLE_KEY: &str = "STRIPE_PUBLISHABLE_KEY";
pub const STORAGE_ORIGIN: &str = "STORAGE_ORIGIN";

/// `value` if it is a Postgres URL; the error never repeats it (it may hold a password).
fn postgres_url(name: &'static str, value: String) -> Result<String, ConfigError> {
    if value.starts_with("postgres://") || value.starts_with("postgresql://") {
        Ok(value)
    } else {
        Err(ConfigError::Invalid { name, reason: "must be a postgres:// URL".into() })
    }
}

/// The most customer shards `SHARDS` may name (the ring has 256 slots; past a few dozen, name them in `SHARD_URLS`).
pub const MAX_SHARDS: usize = 64;

/// The customer shards' URLs from `SHARDS` (a count, databases beside `catalog_url`'s) or `SHARD_URLS` (a list).
pub fn shard_urls(catalog_url: &str, count: Option<String>, urls: Option<String>) -> Result<Vec<String>, ConfigError> {
    let invalid = |name, reason: String| ConfigError::Invalid { name, reason };
    match (count, urls) {
        (Some(_), Some(_)) => Err(invalid(SHARDS, "set SHARDS or SHARD_URLS, not both".into())),
        (Some(raw), None) => {
            let count = raw.parse::<usize>().ok().filter(|n| *n <= MAX_SHARDS).ok_or_else(|| {
                invalid(SHARDS, format!("must be a number of shards, 0 to {MAX_SHARDS}, got {raw:?}"))
            })?;
            let catalog = crate::adapters::postgres::admin::database_name(catalog_url)
                .map_err(|e| invalid(DATABASE_URL, e.to_string()))?;
            (0..count)
                .map(|i| {
                    crate::adapters::postgres::admin::with_database(catalog_url, &format!("{catalog}_shard_{i}"))
                        .map_err(|e| invalid(DATABASE_URL, e.to_string()))
                })
                .collect()
        }
        (None, Some(urls)) => urls.split(',').map(|url| postgres_url(SHARD_URLS, url.trim().to_owned())).collect(),
        (None, None) => Ok(Vec::new()),
    }
}

/// An order confirmed within this is never re-sent: the worker normally takes well under a second.
pub const DEFAULT_STUCK_AFTER: time::Duration = time::Duration::minutes(2);
/// How long a shopper has to pay (the 15 minutes).
pub const DEFAULT_PAYMENT_WINDOW: time::Duration = time::Duration::minutes(15);
pub const DEFAULT_PAYMENTS_API_URL: &str = "https://api.stripe.com";
const MIN_SECRET_BYTES: usize = 32;

impl Config {
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let env = Settings(lookup);
        // The store first: a function with no configuration at all is told of its table (or database) first.
        let store = StoreConfig::read(&env)?;
        let cursor_secret = env.required(CURSOR_SECRET)?.into_bytes();
        if cursor_secret.len() < MIN_SECRET_BYTES {
            return Err(env.invalid(CURSOR_SECRET, format!("must be at least {MIN_SECRET_BYTES} bytes")));
        }
        Ok(Self {
            store,
            cursor_secret,
            order_queue_url: env.required(ORDER_QUEUE_URL)?,
            confirmation_sender: env.raw(CONFIRMATION_SENDER),
            media_bucket: env.required(MEDIA_BUCKET)?,
            cdn_base_url: env.http_url(CDN_BASE_URL)?.unwrap_or_default(),
            s3_force_path_style: env.flag(S3_FORCE_PATH_STYLE, false)?,
            warm_up: WarmUp::from_setting(env.raw(WARM_UP).as_deref(), env.raw(LAMBDA_INITIALIZATION_TYPE).as_deref())?,
            uploads_listable: env.flag(UPLOADS_LISTABLE, false)?,
            stuck_after: env.seconds(STUCK_AFTER_SECONDS, DEFAULT_STUCK_AFTER)?,
            payment_queue_url: env.required(PAYMENT_QUEUE_URL)?,
            payments_secret_id: env.required(PAYMENTS_SECRET_ARN)?,
            payments_api_url: env.http_url(PAYMENTS_API_URL)?.unwrap_or_else(|| DEFAULT_PAYMENTS_API_URL.to_owned()),
            platform_fee: match env.optional(PLATFORM_FEE_BPS) {
                None => FeeRate::DEFAULT,
                Some(raw) => raw.parse::<u32>().ok().and_then(FeeRate::from_bps).ok_or_else(|| {
                    env.invalid(PLATFORM_FEE_BPS, format!("must be 0 to 10000 basis points, got {raw:?}"))
                })?,
            },
            payment_window: env.seconds(PAYMENT_WINDOW_SECONDS, DEFAULT_PAYMENT_WINDOW)?,
            site: SiteConfig::read(&env)?,
        })
    }

    /// A process on this machine with nothing set but its store: every setting `from_lookup` defaults at its
    /// default, local names for the rest (queues `local://orders` and `local://payments`, the bucket
    /// `storefront-media`), S3 addressed by path, no warm-up. The local server and the suites set what differs.
    pub fn local(store: StoreConfig, cursor_secret: Vec<u8>) -> Self {
        Self {
            store,
            cursor_secret,
            order_queue_url: "local://orders".into(),
            confirmation_sender: None,
            media_bucket: "storefront-media".into(),
            cdn_base_url: String::new(),
            s3_force_path_style: true,
            warm_up: WarmUp::Off,
            uploads_listable: false,
            stuck_after: DEFAULT_STUCK_AFTER,
            payment_queue_url: "local://payments".into(),
            payments_secret_id: "storefront-payments".into(),
            payments_api_url: DEFAULT_PAYMENTS_API_URL.into(),
            platform_fee: FeeRate::DEFAULT,
            payment_window: DEFAULT_PAYMENT_WINDOW,
            site: SiteConfig::default(),
        }
    }
}

impl StoreConfig {
    fn read(env: &Settings<impl Fn(&str) -> Option<String>>) -> Result<Self, ConfigError> {
        match env.raw(STORE).as_deref().map(str::trim) {
            None | Some("" | "dynamodb") => Ok(Self::DynamoDb { table_name: env.required(TABLE_NAME)? }),
            Some("postgres") => Ok(Self::Postgres(PostgresConfig::read(env)?)),
            Some(other) => Err(env.invalid(STORE, format!("must be dynamodb or postgres, got {other:?}"))),
        }
    }
}

impl PostgresConfig {
    fn read(env: &Settings<impl Fn(&str) -> Option<String>>) -> Result<Self, ConfigError> {
        let max_connections = match env.optional(DATABASE_MAX_CONNECTIONS) {
            None => 1,
            Some(raw) => raw
                .parse::<u32>()
                .ok()
                .filter(|n| (1..=100).contains(n))
                .ok_or_else(|| env.invalid(DATABASE_MAX_CONNECTIONS, format!("must be 1 to 100, got {raw:?}")))?,
        };
        let url = env.required(DATABASE_URL)?;
        Ok(Self {
            url: postgres_url(DATABASE_URL, url.clone())?,
            read_url: env.optional(DATABASE_READ_URL).map(|url| postgres_url(DATABASE_READ_URL, url)).transpose()?,
            iam_auth: env.flag(DATABASE_IAM_AUTH, false)?,
            max_connections,
            shard_urls: shard_urls(&url, env.optional(SHARDS), env.optional(SHARD_URLS))?,
        })
    }
}

impl SiteConfig {
    fn read(env: &Settings<impl Fn(&str) -> Option<String>>) -> Result<Self, ConfigError> {
        let sign_in = match (env.http_url(SIGN_IN_URL)?, env.optional(SIGN_IN_CLIENT_ID)) {
            (Some(base_url), Some(client_id)) => SignIn { base_url, client_id },
            (None, None) => SignIn::default(),
            _ => return Err(env.invalid(SIGN_IN_URL, format!("{SIGN_IN_URL} and {SIGN_IN_CLIENT_ID} go together"))),
        };
        Ok(Self {
            url: env.http_url(SITE_URL)?,
            sign_in,
            stripe_publishable_key: env.optional(STRIPE_PUBLISHABLE_KEY),
            storage_origin: env.optional(STORAGE_ORIGIN).unwrap_or_else(|| DEFAULT_STORAGE_ORIGIN.to_owned()),
        })
    }
}

/// The environment, read the ways every setting is: blank is unset, and a bad value is named with why.
struct Settings<L>(L);

impl<L: Fn(&str) -> Option<String>> Settings<L> {
    /// As set, unless blank.
    fn raw(&self, name: &str) -> Option<String> {
        (self.0)(name).filter(|value| !value.trim().is_empty())
    }

    /// Trimmed, unless blank.
    fn optional(&self, name: &str) -> Option<String> {
        self.raw(name).map(|value| value.trim().to_owned())
    }

    /// As set (a secret keeps every byte).
    fn required(&self, name: &'static str) -> Result<String, ConfigError> {
        self.raw(name).ok_or(ConfigError::Missing(name))
    }

    fn invalid(&self, name: &'static str, reason: String) -> ConfigError {
        ConfigError::Invalid { name, reason }
    }

    fn flag(&self, name: &'static str, default: bool) -> Result<bool, ConfigError> {
        match self.optional(name).as_deref() {
            None => Ok(default),
            Some("true" | "1") => Ok(true),
            Some("false" | "0") => Ok(false),
            Some(other) => Err(self.invalid(name, format!("must be true or false, got {other:?}"))),
        }
    }

    /// A positive number of seconds.
    fn seconds(&self, name: &'static str, default: time::Duration) -> Result<time::Duration, ConfigError> {
        match self.optional(name) {
            None => Ok(default),
            Some(raw) => raw
                .parse::<u32>()
                .ok()
                .filter(|s| *s > 0)
                .map(|s| time::Duration::seconds(s.into()))
                .ok_or_else(|| self.invalid(name, format!("must be a positive number of seconds, got {raw:?}"))),
        }
    }

    /// An http(s) URL without its trailing slashes.
    fn http_url(&self, name: &'static str) -> Result<Option<String>, ConfigError> {
        match self.optional(name) {
            Some(url) if !url.starts_with("https://") && !url.starts_with("http://") => {
                Err(self.invalid(name, "must be an http(s) URL".into()))
            }
            other => Ok(other.map(|url| url.trim_end_matches('/').to_owned())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_variable_is_named() {
        let error = Config::from_lookup(|name| (name == CURSOR_SECRET).then(|| "s".repeat(40))).expect_err("no table");
        assert_eq!(error, ConfigError::Missing(TABLE_NAME));
        assert!(error.to_string().contains("TABLE_NAME"));
    }

    #[test]
    fn postgres_is_chosen_by_store_and_needs_its_url() {
        let base = |name: &str| match name {
            STORE => Some("postgres".into()),
            CURSOR_SECRET => Some("s".repeat(40)),
            TABLE_NAME
            | WARM_UP
            | S3_FORCE_PATH_STYLE
            | UPLOADS_LISTABLE
            | DATABASE_READ_URL
            | DATABASE_IAM_AUTH
            | DATABASE_MAX_CONNECTIONS
            | SHARD_URLS
            | SHARDS
            | CDN_BASE_URL
            | PAYMENTS_API_URL
            | PLATFORM_FEE_BPS
            | SITE_URL
            | SIGN_IN_URL
            | SIGN_IN_CLIENT_ID
            | STORAGE_ORIGIN
            | STUCK_AFTER_SECONDS
            | PAYMENT_WINDOW_SECONDS
            | CONFIRMATION_SENDER
            | STRIPE_PUBLISHABLE_KEY => None,
            DATABASE_URL => Some("postgres://app@127.0.0.1:5432/storefront".into()),
            _ => Some("x".into()),
        };
        let with = |variable: &'static str, value: Option<&str>| {
            Config::from_lookup(|name| if name == variable { value.map(Into::into) } else { base(name) })
        };
        let StoreConfig::Postgres(postgres) = Config::from_lookup(base).expect("valid").store else {
            panic!("postgres chosen")
        };
        assert_eq!((postgres.read_url, postgres.iam_auth, postgres.max_connections), (None, false, 1));
        assert!(postgres.shard_urls.is_empty(), "one database unless shards are named");
        let shards = |raw: &str| match with(SHARD_URLS, Some(raw)).map(|c| c.store) {
            Ok(StoreConfig::Postgres(postgres)) => Ok(postgres.shard_urls),
            other => Err(format!("{other:?}")),
        };
        assert_eq!(
            shards("postgres://db/s0, postgres://db/s1"),
            Ok(vec!["postgres://db/s0".into(), "postgres://db/s1".into()])
        );
        assert!(shards("postgres://db/s0,mysql://db/s1").is_err());
        let counted = |raw: &str| match with(SHARDS, Some(raw)).map(|c| c.store) {
            Ok(StoreConfig::Postgres(postgres)) => Ok(postgres.shard_urls),
            other => Err(format!("{other:?}")),
        };
        assert_eq!(
            counted("2"),
            Ok(vec![
                "postgres://app@127.0.0.1:5432/storefront_shard_0".into(),
                "postgres://app@127.0.0.1:5432/storefront_shard_1".into()
            ])
        );
        assert_eq!(counted("0"), Ok(vec![]));
        assert!(counted("65").is_err() && counted("two").is_err());
        let both = shard_urls("postgres://db/x", Some("2".into()), Some("postgres://db/s".into()));
        assert!(matches!(both, Err(ConfigError::Invalid { name: SHARDS, .. })));
        assert!(matches!(with(DATABASE_URL, None), Err(ConfigError::Missing(DATABASE_URL))), "no TABLE_NAME needed");
        assert!(matches!(with(DATABASE_URL, Some("mysql://x")), Err(ConfigError::Invalid { name: DATABASE_URL, .. })));
        assert!(matches!(
            with(DATABASE_MAX_CONNECTIONS, Some("0")),
            Err(ConfigError::Invalid { name: DATABASE_MAX_CONNECTIONS, .. })
        ));
        assert!(matches!(with(STORE, Some("sqlite")), Err(ConfigError::Invalid { name: STORE, .. })));
        let debug = format!("{:?}", with(DATABASE_URL, Some("postgres://app:hunter2@db/x")).expect("valid"));
        assert!(!debug.contains("hunter2"), "{debug}");
        assert!(matches!(with(STORE, Some("dynamodb")).map(|c| c.store), Err(ConfigError::Missing(TABLE_NAME))));
    }

    #[test]
    fn flags_default_and_refuse_anything_but_a_boolean() {
        let base = |name: &str| match name {
            CURSOR_SECRET => Some("s".repeat(40)),
            CDN_BASE_URL => Some("https://cdn.example".into()),
            WARM_UP => Some("0".into()),
            STORE
            | S3_FORCE_PATH_STYLE
            | UPLOADS_LISTABLE
            | CONFIRMATION_SENDER
            | STUCK_AFTER_SECONDS
            | PAYMENTS_API_URL
            | PLATFORM_FEE_BPS
            | PAYMENT_WINDOW_SECONDS
            | SITE_URL
            | SIGN_IN_URL
            | SIGN_IN_CLIENT_ID
            | STRIPE_PUBLISHABLE_KEY
            | STORAGE_ORIGIN => None,
            _ => Some("x".into()),
        };
        let config = Config::from_lookup(base).expect("valid");
        assert!(config.warm_up == WarmUp::Off && !config.s3_force_path_style && !config.uploads_listable);
        let error = Config::from_lookup(|name| if name == UPLOADS_LISTABLE { Some("yes".into()) } else { base(name) })
            .expect_err("not a boolean");
        assert!(matches!(error, ConfigError::Invalid { name: UPLOADS_LISTABLE, .. }));
        assert_eq!(config.stuck_after, DEFAULT_STUCK_AFTER);
        let with = |value: &str| {
            Config::from_lookup(|name| if name == STUCK_AFTER_SECONDS { Some(value.into()) } else { base(name) })
        };
        assert_eq!(with("45").map(|c| c.stuck_after), Ok(time::Duration::seconds(45)));
        for bad in ["0", "-5", "soon", "1.5"] {
            assert!(matches!(with(bad), Err(ConfigError::Invalid { name: STUCK_AFTER_SECONDS, .. })), "{bad}");
        }
        assert_eq!(config.payment_window, DEFAULT_PAYMENT_WINDOW);
        assert_eq!(
            (config.platform_fee, config.payments_api_url.as_str()),
            (FeeRate::DEFAULT, DEFAULT_PAYMENTS_API_URL)
        );
        let set = |variable: &'static str, value: &str| {
            Config::from_lookup(|name| if name == variable { Some(value.into()) } else { base(name) })
        };
        assert_eq!(set(PLATFORM_FEE_BPS, "250").map(|c| c.platform_fee.bps()), Ok(250));
        for bad in ["10001", "-1", "ten"] {
            assert!(matches!(set(PLATFORM_FEE_BPS, bad), Err(ConfigError::Invalid { name: PLATFORM_FEE_BPS, .. })));
        }
        assert!(matches!(set(PAYMENTS_API_URL, "ftp://x"), Err(ConfigError::Invalid { name: PAYMENTS_API_URL, .. })));
        assert_eq!(set(PAYMENT_WINDOW_SECONDS, "60").map(|c| c.payment_window), Ok(time::Duration::minutes(1)));
        assert_eq!(config.site, SiteConfig::default(), "the local sign-in, no Stripe key, the request's host");
        assert!(matches!(set(SIGN_IN_URL, "https://x.auth.amazoncognito.com"), Err(ConfigError::Invalid { .. })));
        assert!(matches!(set(SITE_URL, "d123.cloudfront.net"), Err(ConfigError::Invalid { name: SITE_URL, .. })));
    }

    #[test]
    fn the_warm_up_is_at_init_where_init_runs_ahead_of_requests_and_a_connection_otherwise() {
        let on_demand = Some("on-demand");
        let provisioned = Some(PROVISIONED_CONCURRENCY);
        let cases = [
            (None, on_demand, WarmUp::Connect),
            (None, None, WarmUp::Connect),
            (Some("connect"), provisioned, WarmUp::Connect),
            (Some(" "), provisioned, WarmUp::AtInit),
            (None, provisioned, WarmUp::AtInit),
            (Some("init"), on_demand, WarmUp::AtInit),
            (Some("1"), None, WarmUp::AtInit),
            (Some("off"), provisioned, WarmUp::Off),
            (Some("0"), on_demand, WarmUp::Off),
        ];
        for (value, initialization, expected) in cases {
            assert_eq!(WarmUp::from_setting(value, initialization), Ok(expected), "{value:?} {initialization:?}");
        }
        let error = WarmUp::from_setting(Some("later"), provisioned);
        assert!(matches!(error, Err(ConfigError::Invalid { name: WARM_UP, .. })));
    }

    #[test]
    fn a_short_secret_is_refused() {
        let error = Config::from_lookup(|name| match name {
            STORE => None,
            TABLE_NAME => Some("t".into()),
            _ => Some("short".into()),
        })
        .expect_err("short secret");
        assert!(matches!(error, ConfigError::Invalid { name: CURSOR_SECRET, .. }));
    }
}
