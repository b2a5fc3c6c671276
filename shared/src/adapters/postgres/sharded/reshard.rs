//! Moving slots between shards while the store serves (docs/sharding.md, "Resharding"), one slot at a time:
//!
//! 1. **Fence**: the slot is marked `fenced` in the stored map, then the mover waits `settle` (at least
//!    [`super::MAP_LEASE`] plus the longest request), after which every instance has read the fence and every
//!    request that routed by the old map has finished. Writes to the slot are refused meanwhile (503 with
//!    Retry-After, which clients retry); reads still go to the source, which is complete.
//! 2. **Copy** the slot's rows (carts, idempotency records, orders, notices, fences, unapplied moves) to the target
//!    in one transaction, after clearing anything an aborted earlier move left there.
//! 3. **Verify**: per table, the count and an MD5 of the rows in key order must match on both sides.
//! 4. **Switch** the map to the target (the slot active again), wait `settle` again so no instance reads the source.
//! 5. **Delete** the slot's rows from the source.
//!
//! A move that fails before the switch un-fences the slot and leaves the source as it was.

use std::time::Duration;

use super::super::sqlx::{self, Row};
use super::super::{PgStore, store_error};
use super::{ShardedStore, Slot, SlotMap};
use crate::ports::StoreError;

/// The customer tables a slot's rows live in, each with every column of its rows (`order_sync`'s sequence number is
/// local to each database; the target numbers the rows again). `shoppers` holds only a lock row, written again by
/// the next checkout. A test holds this to the migrated schema (`sharding::a_slots_move_copies_every_column`).
pub const SLOT_TABLES: &[(&str, &str)] = &[
    ("cart_lines", "user_id, product_id, quantity, added_at, updated_at, expires_at"),
    ("idempotency_records", "user_id, key, state, fingerprint, claim_id, lock_until, order_id, created_at, expires_at"),
    (
        "orders",
        "order_id, user_id, status, items, total_amount, currency, contact_email, shipped_artisans, payment, \
         payment_status, shares, created_at, updated_at, open_kind, open_since, retry, parked_at",
    ),
    ("notices", "order_id, user_id, sent, created_at, sent_at"),
    ("placements", "order_id, user_id, outcome, decided_at"),
    ("order_sync", "order_id, user_id, payouts, restock, created_at"),
];

/// The rows of `slot`: the first byte of the SHA-256 of the user id, computed by Postgres as [`Slot::of`] does.
const IN_SLOT: &str = "get_byte(sha256(convert_to(user_id, 'UTF8')), 0) = $1";

/// What one slot's move did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SlotMove {
    pub slot: Slot,
    pub from: usize,
    pub to: usize,
    /// Rows moved per table (verified by count and checksum before the switch).
    pub rows: Vec<(&'static str, i64)>,
}

impl ShardedStore {
    /// The moves that turn the stored map into `target`, in slot order.
    pub async fn plan(&self, target: &SlotMap) -> Result<Vec<(Slot, usize, usize)>, StoreError> {
        let current = self.slot_map().await?;
        Ok(Slot::all()
            .filter_map(|slot| {
                let (from, to) = (current.shard_of(slot), target.shard_of(slot));
                (from != to).then_some((slot, from, to))
            })
            .collect())
    }

    /// Moves `slot` to shard `to`, waiting `settle` after fencing and after switching (see the module's steps).
    pub async fn move_slot(&self, slot: Slot, to: usize, settle: Duration) -> Result<Option<SlotMove>, StoreError> {
        self.ensure_slot_map(&SlotMap::even(self.shards.len())).await?;
        let from = self.slot_map().await?.shard_of(slot);
        if from == to {
            return Ok(None);
        }
        let (source, target) = match (self.shards.get(from), self.shards.get(to)) {
            (Some(source), Some(target)) => (source, target),
            _ => return Err(StoreError::unexpected(format!("shard {from} or {to} is not in SHARD_URLS"))),
        };
        self.set_slot(slot, from, "fenced").await?;
        tokio::time::sleep(settle).await;
        let rows = match copy_and_verify(slot, source, target).await {
            Ok(rows) => rows,
            Err(error) => {
                // The source is untouched: serve the slot from it again.
                self.set_slot(slot, from, "active").await?;
                return Err(error);
            }
        };
        self.set_slot(slot, to, "active").await?;
        tokio::time::sleep(settle).await;
        let mut tx = source.writer().begin().await?;
        for (table, _) in SLOT_TABLES {
            let delete = format!("DELETE FROM {table} WHERE {IN_SLOT}");
            sqlx::query(&delete).bind(slot_param(slot)).execute(&mut *tx).await.map_err(store_error)?;
        }
        tx.commit().await.map_err(store_error)?;
        tracing::info!(%slot, from, to, ?rows, "slot moved");
        Ok(Some(SlotMove { slot, from, to, rows }))
    }

    async fn set_slot(&self, slot: Slot, shard: usize, state: &str) -> Result<(), StoreError> {
        let statement =
            sqlx::query("UPDATE shard_slots SET shard = $2, state = $3, changed_at = now() WHERE slot = $1")
                .bind(slot_param(slot))
                .bind(i32::try_from(shard).unwrap_or(i32::MAX))
                .bind(state);
        if self.catalog.writer().execute(statement).await? != 1 {
            return Err(StoreError::unexpected(format!("slot {slot} is not in the stored map")));
        }
        Ok(())
    }
}

fn slot_param(slot: Slot) -> i32 {
    i32::try_from(slot.index()).unwrap_or_default()
}

/// Copies the slot's rows from `source` to `target` (clearing the target's first) and checks them; rows per table.
async fn copy_and_verify(
    slot: Slot,
    source: &PgStore,
    target: &PgStore,
) -> Result<Vec<(&'static str, i64)>, StoreError> {
    let mut tx = target.writer().begin().await?;
    let mut moved = Vec::new();
    for (table, columns) in SLOT_TABLES {
        let read = format!(
            "SELECT coalesce(jsonb_agg(jsonb_build_object({})), '[]') AS rows FROM {table} WHERE {IN_SLOT}",
            pairs(columns)
        );
        let row = source.writer().fetch_optional(sqlx::query(&read).bind(slot_param(slot))).await?;
        let rows: sqlx::Json<serde_json::Value> =
            row.ok_or_else(|| StoreError::unexpected("no aggregate row"))?.try_get("rows").map_err(store_error)?;
        let count = rows.0.as_array().map_or(0, Vec::len);
        let clear = format!("DELETE FROM {table} WHERE {IN_SLOT}");
        sqlx::query(&clear).bind(slot_param(slot)).execute(&mut *tx).await.map_err(store_error)?;
        let write = format!(
            "INSERT INTO {table} ({columns}) SELECT {columns} FROM jsonb_populate_recordset(NULL::{table}, $1)"
        );
        sqlx::query(&write).bind(rows.0).execute(&mut *tx).await.map_err(store_error)?;
        moved.push((*table, i64::try_from(count).unwrap_or(i64::MAX)));
    }
    // Checked inside the copy's transaction: what commits is what matched.
    for (table, columns) in SLOT_TABLES {
        let rows = format!("row({columns})::text");
        let sum = format!(
            "SELECT count(*) AS n, coalesce(md5(string_agg({rows}, '|' ORDER BY {rows})), '') AS sum \
             FROM {table} WHERE {IN_SLOT}"
        );
        let there = sqlx::query(&sum).bind(slot_param(slot)).fetch_one(&mut *tx).await.map_err(store_error)?;
        let here = source.writer().fetch_optional(sqlx::query(&sum).bind(slot_param(slot))).await?;
        let here = here.ok_or_else(|| StoreError::unexpected("no checksum row"))?;
        let read = |row: &sqlx::PgRow| -> Result<(i64, String), StoreError> {
            Ok((row.try_get("n").map_err(store_error)?, row.try_get("sum").map_err(store_error)?))
        };
        if read(&there)? != read(&here)? {
            return Err(StoreError::unexpected(format!(
                "slot {slot}: {table} differs after the copy; nothing switched"
            )));
        }
    }
    tx.commit().await.map_err(store_error)?;
    Ok(moved)
}

/// `'a', a, 'b', b` for `json_build_object` from `a, b`.
fn pairs(columns: &str) -> String {
    columns.split(", ").map(|c| format!("'{c}', {c}")).collect::<Vec<_>>().join(", ")
}
