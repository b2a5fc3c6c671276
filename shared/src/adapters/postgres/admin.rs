//! Setting a database up: creating it (the local server, the tests), applying the migrations, and the role the
//! functions log in as (the deploy's migration step). Never on a request's path.

use std::str::FromStr;

use super::sqlx::{self, PgConnectOptions, PgPool, PgPoolOptions};
use crate::ports::StoreError;

/// A one-connection pool for set-up work on `url`.
pub async fn connect_once(url: &str) -> Result<PgPool, StoreError> {
    let options = PgConnectOptions::from_str(url).map_err(|e| StoreError::unexpected(format!("database URL: {e}")))?;
    PgPoolOptions::new().max_connections(1).connect_with(options).await.map_err(super::store_error)
}

/// The name of the database `url` names.
pub fn database_name(url: &str) -> Result<String, StoreError> {
    let options = PgConnectOptions::from_str(url).map_err(|e| StoreError::unexpected(format!("database URL: {e}")))?;
    options.get_database().map(str::to_owned).ok_or_else(|| StoreError::unexpected("the URL names no database"))
}

/// `url` with its database replaced by `database`.
pub fn with_database(url: &str, database: &str) -> Result<String, StoreError> {
    let mut parsed = url::Url::parse(url).map_err(StoreError::unexpected)?;
    parsed.set_path(&format!("/{database}"));
    Ok(parsed.into())
}

/// A quoted identifier (database and role names come from configuration, never from a request).
fn quoted(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// Creates the database `url` names unless it exists, connecting to the server's `postgres` database to do it;
/// whether it was created.
pub async fn ensure_database(url: &str) -> Result<bool, StoreError> {
    let name = database_name(url)?;
    let admin = connect_once(&with_database(url, "postgres")?).await?;
    let created = create_database_from(&admin, &name).await;
    admin.close().await;
    created
}

/// Whether the server `pool` is connected to has a database `name`.
pub async fn database_exists(pool: &PgPool, name: &str) -> Result<bool, StoreError> {
    let exists: Option<i32> = sqlx::query_scalar("SELECT 1 FROM pg_database WHERE datname = $1")
        .bind(name)
        .fetch_optional(pool)
        .await
        .map_err(super::store_error)?;
    Ok(exists.is_some())
}

/// Creates the database `name` as a copy of `template` (no session may be connected to it), on the server `pool`
/// is connected to: the tests' databases, copied from a migrated one.
pub async fn copy_database(pool: &PgPool, name: &str, template: &str) -> Result<(), StoreError> {
    let sql = format!("CREATE DATABASE {} TEMPLATE {}", quoted(name), quoted(template));
    sqlx::query(&sql).execute(pool).await.map_err(super::store_error).map(drop)
}

/// Renames the database `from` to `to` (no session may be connected to it).
pub async fn rename_database(pool: &PgPool, from: &str, to: &str) -> Result<(), StoreError> {
    let sql = format!("ALTER DATABASE {} RENAME TO {}", quoted(from), quoted(to));
    sqlx::query(&sql).execute(pool).await.map_err(super::store_error).map(drop)
}

/// Creates the database `name` on the server `pool` is connected to, unless it exists; whether it was created.
pub async fn create_database_from(pool: &PgPool, name: &str) -> Result<bool, StoreError> {
    if database_exists(pool, name).await? {
        return Ok(false);
    }
    match sqlx::query(&format!("CREATE DATABASE {}", quoted(name))).execute(pool).await {
        Ok(_) => Ok(true),
        // Created by another process meanwhile.
        Err(error) if super::is_unique_violation(&error) || is_duplicate_database(&error) => Ok(false),
        Err(error) => Err(super::store_error(error)),
    }
}

fn is_duplicate_database(error: &sqlx::Error) -> bool {
    matches!(error, sqlx::Error::Database(db) if db.code().as_deref() == Some("42P04"))
}

/// Drops the database `url` names, closing whatever is still connected to it.
pub async fn drop_database(url: &str) -> Result<(), StoreError> {
    let name = database_name(url)?;
    let admin = connect_once(&with_database(url, "postgres")?).await?;
    sqlx::query(&format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", quoted(&name)))
        .execute(&admin)
        .await
        .map_err(super::store_error)?;
    admin.close().await;
    Ok(())
}

/// Makes `role` able to log in and use the storefront's tables (and nothing else): the functions' user. With
/// `password` it logs in with it (RDS Proxy holds the same in its secret); `iam` grants `rds_iam`, which exists
/// on RDS only.
pub async fn ensure_app_role(pool: &PgPool, role: &str, password: Option<&str>, iam: bool) -> Result<(), StoreError> {
    let role_sql = quoted(role);
    let exists: Option<i32> = sqlx::query_scalar("SELECT 1 FROM pg_roles WHERE rolname = $1")
        .bind(role)
        .fetch_optional(pool)
        .await
        .map_err(super::store_error)?;
    let mut statements = Vec::new();
    if exists.is_none() {
        statements.push(format!("CREATE ROLE {role_sql} LOGIN"));
    }
    if let Some(password) = password {
        statements.push(format!("ALTER ROLE {role_sql} PASSWORD '{}'", password.replace('\'', "''")));
    }
    if iam {
        statements.push(format!("GRANT rds_iam TO {role_sql}"));
    }
    statements.push(format!("GRANT USAGE ON SCHEMA public TO {role_sql}"));
    statements.push(format!("GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO {role_sql}"));
    statements.push(format!("REVOKE ALL ON TABLE _sqlx_migrations FROM {role_sql}"));
    for statement in statements {
        sqlx::query(&statement).execute(pool).await.map_err(super::store_error)?;
    }
    Ok(())
}
