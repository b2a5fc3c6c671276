//! The ports on Postgres (`STORE=postgres`): the same guarantees as the DynamoDB adapter, in SQL. Checkout and
//! every move of an order are one transaction each, conditional on what was read (`... WHERE stock BETWEEN ...
//! AND status = 'active' AND price_amount = ...`, `... WHERE status = $read ...`); a condition that does not hold
//! rolls the transaction back and says which, as a cancelled DynamoDB transaction does. The decisions stay the
//! domain's. docs/data-model.md, "Postgres", lists the tables.
//!
//! Built for Lambda behind RDS Proxy: one connection per instance (opened by the warm-up, reused, and reopened
//! when it broke: see [`Endpoint::begin`]), every statement in a transaction (so a transaction-pooling proxy
//! never moves it between prepare and execute), no session state that would pin a proxied connection (no `SET`,
//! advisory locks, temporary tables, `LISTEN`, or named prepared statements: every statement is unnamed), IAM
//! authentication with a token refreshed before its 15 minutes run out, TLS verified. Public catalog reads go to
//! the reader endpoint.

pub mod admin;
mod carts;
mod catalog;
mod iam;
mod idempotency;
pub mod migrations;
mod orders;
mod payments;
mod rows;
pub mod sharded;

use std::str::FromStr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use self::sqlx::{PgConnectOptions, PgPool, PgPoolOptions, PgRow, Postgres, Transaction};

use crate::ports::StoreError;

pub use iam::{IamAuth, TokenTarget, auth_token};

/// sqlx's names, from the two crates the backend builds (Cargo.toml says why not the `sqlx` facade); public for
/// the tests that look at the database itself.
pub mod sqlx {
    pub use sqlx_core::decode::Decode;
    pub use sqlx_core::error::Error;
    pub use sqlx_core::query::Query;
    pub use sqlx_core::query_as::QueryAs;
    pub use sqlx_core::query_scalar::QueryScalar;
    pub use sqlx_core::row::Row;
    pub use sqlx_core::transaction::Transaction;
    pub use sqlx_core::types::{Json, Type};
    pub use sqlx_postgres::{PgArguments, PgConnectOptions, PgPool, PgPoolOptions, PgRow, Postgres};

    /// A statement, always unnamed (sqlx names and keeps statements on the connection unless told otherwise, and
    /// a named statement is session state: RDS Proxy pins the connection, pgbouncer hands it to another client).
    pub fn query(sql: &str) -> Query<'_, Postgres, PgArguments> {
        sqlx_core::query::query(sql).persistent(false)
    }

    /// [`query`], its rows as tuples.
    pub fn query_as<'q, O>(sql: &'q str) -> QueryAs<'q, Postgres, O, PgArguments>
    where
        O: for<'r> sqlx_core::from_row::FromRow<'r, PgRow>,
    {
        sqlx_core::query_as::query_as(sql).persistent(false)
    }

    /// [`query`], its rows' first column.
    pub fn query_scalar<'q, O>(sql: &'q str) -> QueryScalar<'q, Postgres, O, PgArguments>
    where
        (O,): for<'r> sqlx_core::from_row::FromRow<'r, PgRow>,
    {
        sqlx_core::query_scalar::query_scalar(sql).persistent(false)
    }
}

/// Where a pool connects and how: the URL (`postgres://user@host:port/db?sslmode=...`), a name the server shows
/// for its connections, how many it may hold, and the IAM token source when the database wants one.
pub struct PoolSettings {
    pub url: String,
    pub application_name: String,
    pub max_connections: u32,
    pub iam: Option<Arc<IamAuth>>,
}

/// A pool of connections to one endpoint (the writer or the reader), refreshing its IAM token before it expires.
#[derive(Clone)]
pub struct Endpoint {
    pool: PgPool,
    iam: Option<Arc<IamAuth>>,
    options: PgConnectOptions,
}

impl Endpoint {
    pub fn connect_lazy(settings: PoolSettings) -> Result<Self, StoreError> {
        let options = PgConnectOptions::from_str(&settings.url)
            .map_err(|e| StoreError::unexpected(format!("DATABASE_URL: {e}")))?
            // Unnamed statements only: a proxied connection is shared between clients between transactions.
            .statement_cache_capacity(0)
            .application_name(&settings.application_name);
        let pool = PgPoolOptions::new()
            .max_connections(settings.max_connections.max(1))
            .min_connections(0)
            .acquire_timeout(Duration::from_secs(3))
            // No ping before each use (a round trip per request): a connection the server or the proxy closed
            // since the last invocation fails its `BEGIN`, and `begin` opens another (sqlx pings on release).
            .test_before_acquire(false)
            // A frozen Lambda instance keeps its connection; the proxy closes it when idle too long, and the test
            // above finds that out.
            .idle_timeout(None)
            .connect_lazy_with(options.clone());
        Ok(Self { pool, iam: settings.iam, options })
    }

    /// The pool, with the IAM token renewed first when the current one is near its end (new connections need a
    /// valid token; open ones stay authenticated).
    pub async fn pool(&self) -> Result<&PgPool, StoreError> {
        if let Some(iam) = &self.iam
            && let Some(token) = iam.token_if_stale().await?
        {
            self.pool.set_connect_options(self.options.clone().password(&token));
        }
        Ok(&self.pool)
    }

    /// A transaction, on a connection that works: when the pooled one broke since its last use (the server or
    /// the proxy closed it, a failover), its `BEGIN` fails having run nothing, and another is opened.
    pub async fn begin(&self) -> Result<Transaction<'static, Postgres>, StoreError> {
        let pool = self.pool().await?;
        // What ended one pooled connection (a restart, a failover) usually ended every idle one: each is tried
        // once, then a new one.
        // (sqlx's idle count is a relaxed counter that can read as wrapped below zero for an instant: bounded.)
        let idle = pool.num_idle().min(pool.options().get_max_connections() as usize);
        let mut tries = idle + 1;
        loop {
            match pool.begin().await {
                Err(error) if is_lost_connection(&error) && tries > 1 => {
                    tracing::info!(%error, "the connection was lost since its last use; taking another");
                    tries -= 1;
                }
                begun => return begun.map_err(store_error),
            }
        }
    }

    // Every statement runs in a transaction, even alone: sqlx prepares (Parse, Sync) and then executes (Bind,
    // Execute, Sync), and between the two a transaction-pooling proxy may hand the connection to another client
    // unless a transaction holds it (sqlx#67).

    /// One statement's rows.
    pub async fn fetch_all(&self, statement: Statement<'_>) -> Result<Vec<PgRow>, StoreError> {
        let mut tx = self.begin().await?;
        let rows = statement.fetch_all(&mut *tx).await.map_err(store_error)?;
        tx.commit().await.map_err(store_error)?;
        Ok(rows)
    }

    /// One statement's row, if any.
    pub async fn fetch_optional(&self, statement: Statement<'_>) -> Result<Option<PgRow>, StoreError> {
        let mut tx = self.begin().await?;
        let row = statement.fetch_optional(&mut *tx).await.map_err(store_error)?;
        tx.commit().await.map_err(store_error)?;
        Ok(row)
    }

    /// One statement; the rows it changed.
    pub async fn execute(&self, statement: Statement<'_>) -> Result<u64, StoreError> {
        let mut tx = self.begin().await?;
        let done = statement.execute(&mut *tx).await.map_err(store_error)?;
        tx.commit().await.map_err(store_error)?;
        Ok(done.rows_affected())
    }
}

/// A statement with its parameters bound.
pub(crate) type Statement<'q> = sqlx::Query<'q, Postgres, sqlx::PgArguments>;

/// The Postgres store: every port, on a writer endpoint and (for public catalog reads) a reader endpoint.
#[derive(Clone)]
pub struct PgStore {
    writer: Endpoint,
    /// Bumped after every write that can change a product (the same contract as `DynamoStore`'s).
    catalog_changes: Arc<AtomicU64>,
}

impl PgStore {
    pub fn new(writer: Endpoint) -> Self {
        Self { writer, catalog_changes: Arc::default() }
    }

    pub fn catalog_changes(&self) -> Arc<AtomicU64> {
        self.catalog_changes.clone()
    }

    fn catalog_changed(&self) {
        self.catalog_changes.fetch_add(1, Ordering::Release);
    }
}

/// The catalog's reads on the reader endpoint (public pages and listings): a read-only handle, by its type.
#[derive(Clone)]
pub struct PgCatalogReader {
    reader: Endpoint,
}

impl PgCatalogReader {
    pub fn new(reader: Endpoint) -> Self {
        Self { reader }
    }
}

impl PgStore {
    /// The writer endpoint (the warm-up and the tests reach the pool through it).
    pub fn writer(&self) -> &Endpoint {
        &self.writer
    }
}

/// SQLSTATEs that mean "retry": a serialization failure, a deadlock (two checkouts locking the same products in
/// turn), the server shutting down or a connection lost, too many connections, or the database not accepting
/// connections now (55000 at connect: `ALLOW_CONNECTIONS false` while a database is being moved or restored).
const RETRYABLE_STATES: &[&str] =
    &["40001", "40P01", "57P01", "57P02", "57P03", "08000", "08003", "08006", "53300", "55000"];
/// The SQLSTATE of a unique or primary key violation.
pub(super) const UNIQUE_VIOLATION: &str = "23505";

/// A driver failure as a store error: unreachable, timed out, throttled or told to retry is `Unavailable` (503 and
/// Retry-After for a client, a retry for a worker), anything else `Unexpected`.
pub(crate) fn store_error(error: sqlx::Error) -> StoreError {
    let retryable = match &error {
        sqlx::Error::Io(_) | sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed | sqlx::Error::Tls(_) => true,
        sqlx::Error::Database(db) => db.code().is_some_and(|code| RETRYABLE_STATES.contains(&code.as_ref())),
        _ => false,
    };
    if retryable {
        StoreError::Unavailable(error.to_string().into())
    } else {
        StoreError::unexpected(error.to_string())
    }
}

/// Whether `error` says the connection is gone (closed under it, or the server ending the session: an
/// administrator, a restart, a failover), so nothing on it ran.
fn is_lost_connection(error: &sqlx::Error) -> bool {
    match error {
        sqlx::Error::Io(_) | sqlx::Error::Protocol(_) => true,
        sqlx::Error::Database(db) => db.code().is_some_and(|code| code.starts_with("08") || code.starts_with("57P0")),
        _ => false,
    }
}

/// Whether `error` is a unique violation (a row that already exists).
pub(crate) fn is_unique_violation(error: &sqlx::Error) -> bool {
    matches!(error, sqlx::Error::Database(db) if db.code().as_deref() == Some(UNIQUE_VIOLATION))
}

/// Whether `error` says two transactions met (a deadlock or a serialization failure): retry it.
pub(crate) fn is_conflict(error: &sqlx::Error) -> bool {
    matches!(error, sqlx::Error::Database(db) if matches!(db.code().as_deref(), Some("40001" | "40P01")))
}

/// Rows deleted per table per sweep: the sweeper's run stays short whatever the backlog.
const FORGET_BATCH: i64 = 1000;

#[async_trait::async_trait]
impl crate::ports::Housekeeping for PgStore {
    async fn forget_expired(&self, now: time::OffsetDateTime) -> Result<u64, StoreError> {
        let adjustments_before = now - crate::adapters::retention::ADJUSTMENT_MEMORY;
        let sweeps = [
            ("idempotency_records", "expires_at", now),
            ("cart_lines", "expires_at", now),
            ("payment_events", "expires_at", now),
            ("stock_adjustments", "created_at", adjustments_before),
        ];
        let mut forgotten = 0;
        for (table, column, before) in sweeps {
            let sql =
                format!("DELETE FROM {table} WHERE ctid IN (SELECT ctid FROM {table} WHERE {column} < $1 LIMIT $2)");
            forgotten += self.writer.execute(sqlx::query(&sql).bind(before).bind(FORGET_BATCH)).await?;
        }
        Ok(forgotten)
    }
}
