//! `storefront-admin`: an operator's tool for a sharded Postgres store (docs/sharding.md). It reads the same
//! variables as `make dev` (`DATABASE_URL`, and `SHARDS=n` or `SHARD_URLS`) and talks to the databases directly.
//!
//! - `slots`: which slots each shard holds, and any slot being moved.
//! - `reshard <n> [--settle-seconds s]`: moves slots, one at a time, until the first `n` shards hold them evenly,
//!   moving as few as it can (`SlotMap::rebalanced`; add a shard: append it to `SHARD_URLS` everywhere first, then
//!   run this with the new count: only the new shard's share moves). Each slot is
//!   fenced for `s` seconds before its copy and after its switch (default: the map lease plus API Gateway's
//!   29 s limit on a request).
//! - `audit`: checks the invariants over every database; exits 1 if one is broken.
//! - `sweep`: settles what checkouts and order moves left (what the order sweeper runs every minute).

use std::time::Duration;

use storefront::adapters::postgres::sharded::{MAP_LEASE, ShardedStore, SlotMap};
use storefront_local::{LocalStore, Options};

const USAGE: &str = "usage: storefront-admin slots | reshard <shards> [--settle-seconds <s>] | audit | sweep";

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let store = store()?;
    match args.iter().map(String::as_str).collect::<Vec<_>>().as_slice() {
        ["slots"] => print_slots(&store.slot_map().await?, store.shards().len()),
        ["reshard", count, rest @ ..] => {
            let count: usize = count.parse().map_err(|_| USAGE)?;
            if count == 0 || count > store.shards().len() {
                return Err(format!("{count} shards asked; SHARD_URLS names {}", store.shards().len()).into());
            }
            let settle = match rest {
                [] => MAP_LEASE + Duration::from_secs(29),
                ["--settle-seconds", seconds] => Duration::from_secs_f64(seconds.parse().map_err(|_| USAGE)?),
                _ => return Err(USAGE.into()),
            };
            if settle < MAP_LEASE {
                eprintln!("warning: a settle under the map lease ({MAP_LEASE:?}) is safe only while nothing serves");
            }
            let plan = store.plan(&store.slot_map().await?.rebalanced(count)).await?;
            println!("{} slots to move, each fenced about {:.0?} twice", plan.len(), settle);
            for (n, (slot, _, to)) in plan.into_iter().enumerate() {
                if let Some(moved) = store.move_slot(slot, to, settle).await? {
                    println!("[{}] slot {} moved {} -> {}: {:?}", n + 1, moved.slot, moved.from, moved.to, moved.rows);
                }
            }
            print_slots(&store.slot_map().await?, store.shards().len());
        }
        ["audit"] => {
            let audit = store.audit(time::OffsetDateTime::now_utc()).await?;
            let orders: usize = audit.orders.values().map(Vec::len).sum();
            println!("{} products, {} orders of {} shoppers", audit.stock.len(), orders, audit.orders.len());
            for problem in &audit.problems {
                println!("broken: {problem}");
            }
            if !audit.problems.is_empty() {
                std::process::exit(1);
            }
            println!("every invariant holds");
        }
        ["sweep"] => println!("settled {}", store.sweep(time::OffsetDateTime::now_utc()).await?),
        _ => return Err(USAGE.into()),
    }
    Ok(())
}

/// The sharded store `make dev`'s variables name.
fn store() -> Result<ShardedStore, Box<dyn std::error::Error>> {
    let options = Options::from_env()?;
    let LocalStore::Postgres { url, shards, .. } = options.store else {
        return Err("STORE=postgres with SHARDS or SHARD_URLS: this tool works on a sharded Postgres store".into());
    };
    if shards.is_empty() {
        return Err("no shards: set SHARDS=n or SHARD_URLS".into());
    }
    let urls: Vec<String> = shards.into_iter().map(|shard| shard.url).collect();
    Ok(ShardedStore::connect(&url, &urls, "storefront-admin")?)
}

fn print_slots(map: &SlotMap, shards: usize) {
    for shard in 0..shards {
        let slots: Vec<usize> = map.slots_of(shard).iter().map(|slot| slot.index()).collect();
        // Runs of consecutive slots, as `0-63, 70`.
        let mut runs: Vec<(usize, usize)> = Vec::new();
        for slot in &slots {
            match runs.last_mut() {
                Some((_, end)) if *end + 1 == *slot => *end = *slot,
                _ => runs.push((*slot, *slot)),
            }
        }
        let runs: Vec<String> =
            runs.iter().map(|(a, b)| if a == b { a.to_string() } else { format!("{a}-{b}") }).collect();
        println!("shard {shard}: {} slots {}", slots.len(), runs.join(", "));
    }
}
