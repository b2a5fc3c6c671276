//! The slot map as an instance uses it: read from the catalog database's `shard_slots` on first use and again once
//! its lease ran out (one small read per instance per lease, never one per request), with the slots being moved.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::super::sqlx::{self, Row};
use super::super::{PgStore, store_error};
use super::{SLOTS, Slot, SlotMap};
use crate::ports::StoreError;

/// What a request does with a user's shard: a write to a slot being moved is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Access {
    Read,
    Write,
    /// Giving back an idempotency claim a request made before it saw the fence: allowed, so the client's retry is
    /// not locked out for the claim's 30 s. It lands before the copy starts, as every request that routed by the
    /// old map does (the mover waits longer than any request).
    Release,
}

/// A slot map as read, with its fenced slots.
#[derive(Debug, Clone)]
pub struct StoredMap {
    pub map: SlotMap,
    pub fenced: Vec<bool>,
}

pub(super) struct Routing {
    shards: usize,
    lease: Duration,
    current: Mutex<Option<(StoredMap, Instant)>>,
}

impl Routing {
    pub(super) fn new(shards: usize, lease: Duration) -> Self {
        Self { shards, lease, current: Mutex::new(None) }
    }

    /// `slot`'s shard and whether it is fenced, by a map at most one lease old.
    pub(super) async fn lookup(&self, slot: Slot, catalog: &PgStore) -> Result<(usize, bool), StoreError> {
        let held = self.current.lock().ok().and_then(|current| {
            current
                .as_ref()
                .filter(|(_, read_at)| read_at.elapsed() < self.lease)
                .map(|(stored, _)| (stored.map.shard_of(slot), stored.fenced[slot.index()]))
        });
        if let Some(found) = held {
            return Ok(found);
        }
        let stored = load(catalog, self.shards).await?;
        let found = (stored.map.shard_of(slot), stored.fenced[slot.index()]);
        if let Ok(mut current) = self.current.lock() {
            *current = Some((stored, Instant::now()));
        }
        Ok(found)
    }
}

/// The stored map, or the even one over `shards` while none is stored.
pub(super) async fn load(catalog: &PgStore, shards: usize) -> Result<StoredMap, StoreError> {
    let rows = catalog.writer().fetch_all(sqlx::query("SELECT slot, shard, state FROM shard_slots")).await?;
    if rows.is_empty() {
        return Ok(StoredMap { map: SlotMap::even(shards), fenced: vec![false; SLOTS] });
    }
    let mut fenced = vec![false; SLOTS];
    let mut assignments = Vec::with_capacity(SLOTS);
    for row in &rows {
        let slot: i16 = row.try_get("slot").map_err(store_error)?;
        let shard: i32 = row.try_get("shard").map_err(store_error)?;
        let state: String = row.try_get("state").map_err(store_error)?;
        let slot = usize::try_from(slot).ok().and_then(Slot::from_index);
        let (Some(slot), Ok(shard)) = (slot, usize::try_from(shard)) else {
            return Err(StoreError::unexpected("malformed row in shard_slots"));
        };
        fenced[slot.index()] = state == "fenced";
        assignments.push((slot, shard));
    }
    let map =
        SlotMap::from_assignments(assignments).map_err(|e| StoreError::unexpected(format!("shard_slots: {e}")))?;
    Ok(StoredMap { map, fenced })
}

/// Stores `map` (every slot active) unless a map is stored already.
pub(super) async fn ensure_stored(catalog: &PgStore, map: &SlotMap) -> Result<(), StoreError> {
    let (slots, shards): (Vec<i16>, Vec<i32>) =
        map.assignments().map(|(slot, shard)| (slot.index() as i16, i32::try_from(shard).unwrap_or(i32::MAX))).unzip();
    // One statement, so two starting servers cannot interleave half-maps.
    let statement = sqlx::query(
        "INSERT INTO shard_slots (slot, shard, state, changed_at) \
         SELECT s, h, 'active', now() FROM unnest($1::smallint[], $2::integer[]) AS m(s, h) \
         WHERE NOT EXISTS (SELECT 1 FROM shard_slots) ON CONFLICT (slot) DO NOTHING",
    )
    .bind(&slots)
    .bind(&shards);
    catalog.writer().execute(statement).await?;
    Ok(())
}
