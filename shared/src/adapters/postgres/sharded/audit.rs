//! The invariants of a sharded store, checked over every database (an operator's and the tests' tool, never a
//! request's): where each product's units are (on the shelf, reserved, sold), and whether every order and every
//! reservation agree. docs/sharding.md states them:
//!
//! 1. A product's stock when listed (plus the artisan's adjustments) = on shelf + reserved + sold.
//! 2. Every order's lines are reserved or sold (a cancelled order's released), and it lives in its user's shard.
//! 3. No reservation outlives [`super::RESERVATION_BOUND`] without an order.
//! 4. Every sold (taken or released) reservation has its order: an acknowledged order is never lost.

use std::collections::BTreeMap;

use time::OffsetDateTime;

use super::super::sqlx::{self, Row};
use super::checkout::restock_of;
use super::{RESERVATION_BOUND, ShardedStore};
use crate::domain::{OrderId, OrderStatus, ProductId, UserId};
use crate::ports::StoreError;

/// Where one product's units are.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StockLedger {
    pub on_shelf: i64,
    pub reserved: i64,
    pub sold: i64,
}

impl StockLedger {
    /// What the product had before any sale.
    pub fn total(&self) -> i64 {
        self.on_shelf + self.reserved + self.sold
    }
}

/// What [`ShardedStore::audit`] found.
#[derive(Debug, Default)]
pub struct Audit {
    pub stock: BTreeMap<ProductId, StockLedger>,
    /// Every order, by its shopper, from the shards.
    pub orders: BTreeMap<UserId, Vec<OrderId>>,
    /// Each broken invariant, said in words.
    pub problems: Vec<String>,
}

impl ShardedStore {
    /// Reads every database and checks the invariants as of `now`. Run it on a quiet store (or accept that a
    /// checkout in flight shows as reserved).
    pub async fn audit(&self, now: OffsetDateTime) -> Result<Audit, StoreError> {
        let mut audit = Audit::default();
        let catalog = self.catalog.writer();
        for row in catalog.fetch_all(sqlx::query("SELECT product_id, stock FROM products")).await? {
            let id: String = row.try_get("product_id").map_err(super::super::store_error)?;
            let stock: i64 = row.try_get("stock").map_err(super::super::store_error)?;
            if let Some(id) = ProductId::parse(&id) {
                audit.stock.entry(id).or_default().on_shelf = stock;
            }
        }
        let mut reservations: BTreeMap<String, (String, String)> = BTreeMap::new();
        let statement = sqlx::query("SELECT order_id, user_id, lines, state, created_at FROM reservations");
        for row in catalog.fetch_all(statement).await? {
            let get = |column: &str| row.try_get::<String, _>(column).map_err(super::super::store_error);
            let (order, user, state) = (get("order_id")?, get("user_id")?, get("state")?);
            let lines: sqlx::Json<serde_json::Value> = row.try_get("lines").map_err(super::super::store_error)?;
            let created: OffsetDateTime = row.try_get("created_at").map_err(super::super::store_error)?;
            for (product, units) in restock_of(&lines.0) {
                let ledger = audit.stock.entry(product).or_default();
                match state.as_str() {
                    "reserved" => ledger.reserved += units.get(),
                    "taken" => ledger.sold += units.get(),
                    _ => {}
                }
            }
            if state == "reserved" && created < now - RESERVATION_BOUND {
                audit.problems.push(format!("reservation {order} outlived the bound without an order"));
            }
            reservations.insert(order, (user, state));
        }
        let map = self.slot_map().await?;
        let mut ordered: BTreeMap<String, OrderStatus> = BTreeMap::new();
        for (index, shard) in self.shards.iter().enumerate() {
            let statement = sqlx::query("SELECT order_id, user_id, status FROM orders");
            for row in shard.writer().fetch_all(statement).await? {
                let get = |column: &str| row.try_get::<String, _>(column).map_err(super::super::store_error);
                let (order, user, status) = (get("order_id")?, get("user_id")?, get("status")?);
                let (Some(order_id), Some(user_id), Some(status)) =
                    (OrderId::parse(&order), UserId::parse(&user), OrderStatus::parse(&status))
                else {
                    audit.problems.push(format!("shard {index}: unreadable order {order}"));
                    continue;
                };
                if map.shard_of_user(&user_id) != index {
                    audit.problems.push(format!("order {order} is in shard {index}, not its user's"));
                }
                let expected: &[&str] =
                    if status == OrderStatus::Cancelled { &["released"] } else { &["reserved", "taken"] };
                match reservations.get(&order) {
                    Some((_, state)) if expected.contains(&state.as_str()) => {}
                    Some((_, state)) => {
                        audit.problems.push(format!("order {order} ({status:?}) has its reservation {state}"))
                    }
                    None => audit.problems.push(format!("order {order} has no reservation")),
                }
                audit.orders.entry(user_id).or_default().push(order_id);
                ordered.insert(order, status);
            }
        }
        for (order, (_, state)) in &reservations {
            if matches!(state.as_str(), "taken" | "released") && !ordered.contains_key(order) {
                audit.problems.push(format!("reservation {order} is {state} but its order is lost"));
            }
        }
        Ok(audit)
    }
}
