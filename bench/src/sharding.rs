//! Checkout with customer data sharded (docs/sharding.md) beside the unsharded Postgres backend, in one run: the
//! same hot-product checkout as the contention section, against storefront-local on one database, on a catalog
//! database and 1 shard, and on a catalog database and 4 shards; and what routing a request costs.

use std::time::Instant;

use storefront::adapters::postgres::sharded::{Slot, SlotMap};
use storefront::domain::UserId;

use crate::contention::contention;
use crate::process::Process;
use crate::report::{Report, Table, ms, ratio};

/// One backend's checkouts, by buyers.
pub struct Run {
    pub label: String,
    pub local: Process,
}

pub async fn section(runs: Vec<Run>, attempts: usize, report: &mut Report) {
    let mut table = Table::new(
        "Checkout on Postgres: one database, then customer data on 1 and 4 shards (hot product)",
        &["store", "buyers", "checkouts/s", "× one database", "p50 ms", "p99 ms", "oversold"],
        "storefront-local (release) on the local Postgres server; each attempt buys one unit of one product with its \
         own key. Sharded, a checkout is three transactions on two databases (reserve in the catalog, the order in \
         the shopper's shard, the reservation taken) instead of one.",
    );
    // The stores take turns at each number of buyers (this machine's load drifts over a run: one store's whole
    // series after another's would compare different minutes, not different stores).
    let mut rows = Vec::new();
    for buyers in [1usize, 8, 64] {
        let attempts = if buyers == 1 { attempts / 8 } else { attempts };
        let mut baseline = None;
        for (n, run) in runs.iter().enumerate() {
            let c = contention(&run.local, buyers, attempts).await;
            let base = *baseline.get_or_insert(c.per_second);
            let oversold = if c.oversold == 0 && c.drift == 0 {
                "0".into()
            } else {
                format!("{} (drift {})", c.oversold, c.drift)
            };
            let row = vec![
                run.label.clone(),
                buyers.to_string(),
                format!("{:.0}", c.per_second),
                ratio(c.per_second, base),
                ms(c.latency.p50),
                ms(c.latency.p99),
                oversold,
            ];
            rows.push((n, buyers, row));
        }
    }
    rows.sort_by_key(|(n, buyers, _)| (*n, *buyers));
    for (_, _, row) in rows {
        table.row(row);
    }
    for run in runs {
        run.local.stop().await;
    }
    report.table(table);
    report.table(routing());
}

/// The slot of a user id and its shard, per request, beside hashing nothing (the loop and the id's formatting).
fn routing() -> Table {
    let map = SlotMap::even(4);
    let users: Vec<UserId> = (0..100_000).map(|n| UserId::parse(&format!("user-{n:08}")).expect("a user id")).collect();
    let mut best = (f64::MAX, f64::MAX);
    for _ in 0..5 {
        let started = Instant::now();
        let mut sum = 0usize;
        for user in &users {
            sum = sum.wrapping_add(user.as_str().len());
        }
        std::hint::black_box(sum);
        let floor = started.elapsed().as_secs_f64() / users.len() as f64;
        let started = Instant::now();
        let mut sum = 0usize;
        for user in &users {
            sum = sum.wrapping_add(map.shard_of(Slot::of(user)));
        }
        std::hint::black_box(sum);
        let routed = started.elapsed().as_secs_f64() / users.len() as f64;
        best = (best.0.min(floor), best.1.min(routed));
    }
    let mut table = Table::new(
        "Routing a request to its shard",
        &["work per request", "ns", "× reading the id"],
        "SHA-256 of the user id, its first byte the slot, the slot map an array (best of 5 passes over 100,000 ids). \
         The map itself is re-read from the catalog database once per instance every 5 s, not per request.",
    );
    table.row(vec!["reading the id (floor)".into(), format!("{:.1}", best.0 * 1e9), "1.00×".into()]);
    table.row(vec!["slot and shard of the id".into(), format!("{:.1}", best.1 * 1e9), ratio(best.1, best.0)]);
    table
}
