//! The schema, in versioned migrations compiled into the binary (`shared/migrations/NNNN_name.sql`) and applied
//! by the deploy's migration step (the `db-migrate` function, run by `make deploy` and `make dev`), never by a cold
//! start. sqlx records each applied version with its checksum in `_sqlx_migrations`: an applied migration that
//! was edited afterwards is refused, not re-run.

use std::borrow::Cow;

use sqlx_core::migrate::{Migrate, MigrateError, Migration, MigrationType, Migrator};

use super::sqlx::PgPool;

/// Every migration, in order. A new one is appended here with the next version, never an old one edited.
const MIGRATIONS: &[(i64, &str, &str)] = &[
    (1, "storefront", include_str!("../../../migrations/0001_storefront.sql")),
    (2, "sharding", include_str!("../../../migrations/0002_sharding.sql")),
    (3, "unpaid cap", include_str!("../../../migrations/0003_unpaid_cap.sql")),
    (4, "follow ups", include_str!("../../../migrations/0004_follow_ups.sql")),
    (5, "sync restock", include_str!("../../../migrations/0005_sync_restock.sql")),
];

/// The migrator over [`MIGRATIONS`].
pub fn migrator() -> Migrator {
    let migrations = MIGRATIONS
        .iter()
        .map(|(version, description, sql)| {
            Migration::new(*version, Cow::Borrowed(description), MigrationType::Simple, Cow::Borrowed(sql), false)
        })
        .collect();
    // Locking (a session advisory lock) keeps two deploys from migrating at once; the migration step holds its own
    // connection to the writer for it, so the lock never meets a pooled connection it does not own.
    Migrator { migrations: Cow::Owned(migrations), ignore_missing: false, locking: true, no_tx: false }
}

/// Applies what is not applied yet; returns the versions this call applied (none when the schema was current).
pub async fn migrate(pool: &PgPool) -> Result<Vec<i64>, MigrateError> {
    let applied = |pool: &PgPool| {
        let pool = pool.clone();
        async move {
            let mut connection = pool.acquire().await?;
            connection.ensure_migrations_table().await?;
            let versions = connection.list_applied_migrations().await?.into_iter().map(|applied| applied.version);
            Ok::<_, MigrateError>(versions.collect::<Vec<_>>())
        }
    };
    let before = applied(pool).await?;
    migrator().run(pool).await?;
    Ok(applied(pool).await?.into_iter().filter(|version| !before.contains(version)).collect())
}

/// The latest version this build knows.
pub fn latest_version() -> i64 {
    MIGRATIONS.last().map_or(0, |(version, _, _)| *version)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_only_grow() {
        assert!(MIGRATIONS.windows(2).all(|pair| pair[0].0 < pair[1].0));
        assert_eq!(latest_version(), MIGRATIONS.len() as i64, "numbered 1, 2, 3 ... with no gap");
    }
}
