//! `storefront-admin`: an operator's tool. It reads the same variables as `make dev` and talks to the store
//! directly: `STORE=postgres` with `DATABASE_URL` (and `SHARDS=n` or `SHARD_URLS`), or DynamoDB (the default:
//! `TABLE_NAME`, default `storefront`, with the AWS environment: `AWS_ENDPOINT_URL_DYNAMODB=http://127.0.0.1:3001`
//! and keys `local`/`local` reach `make dev`'s engine).
//!
//! Work parked for an operator (docs/operations.md, "Runbook: parked payment work"), on any store:
//! - `parked`: every settlement and payout the reconciler parked, with its reason and tries.
//! - `unpark order <user_id> <order_id>`: the order's settlement due again, its tries forgotten.
//! - `unpark payout <artisan_id> <order_id> [--destination acct_…]`: the payout due again; with a new destination
//!   when the first one will never work (its transfer was refused, so none was made).
//! - `reindex-payouts`: once, after upgrading a DynamoDB store from a release before the waiting lists: payouts it
//!   left in no list (waiting for an account) go back into the due list.
//!
//! On a sharded Postgres store (docs/sharding.md):
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

const USAGE: &str = "usage: storefront-admin parked | unpark order <user_id> <order_id> | \
    unpark payout <artisan_id> <order_id> [--destination <account>] | reindex-payouts | slots | reshard <shards> [--settle-seconds <s>] | \
    audit | sweep";

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    if matches!(args.first(), Some(&"parked" | &"unpark" | &"reindex-payouts")) {
        return parked::run(&args).await;
    }
    let store = store()?;
    match args.as_slice() {
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

/// Parked payment work: listed, and put back in the due lists.
mod parked {
    use storefront::app::Stores;
    use storefront::domain::{OrderId, ProviderRef, Retry, UserId};
    use storefront::ports::{OrderTransition, PageRequest};
    use storefront_local::{LocalStore, Options};

    use super::USAGE;

    pub async fn run(args: &[&str]) -> Result<(), Box<dyn std::error::Error>> {
        if args == ["reindex-payouts"] {
            return reindex().await;
        }
        let stores = stores().await?;
        let now = time::OffsetDateTime::now_utc();
        match args {
            ["parked"] => list(&stores).await,
            ["unpark", "order", user, order] => {
                let (user, id) = (user_id(user)?, order_id(order)?);
                let order = stores.orders.get_order(&user, &id).await?.ok_or("no such order")?;
                if !order.parked() {
                    return Err("the order's settlement is not parked".into());
                }
                let next = order.unparked(now);
                let transition =
                    OrderTransition { current: &order, next: &next, restock: &[], record_notice: false, payouts: &[] };
                stores.orders.save_transition(&transition).await?;
                println!("order {id}: its settlement is due again");
                Ok(())
            }
            ["unpark", "payout", artisan, order, rest @ ..] => {
                let destination = match rest {
                    [] => None,
                    ["--destination", account] => Some(ProviderRef::parse(account).ok_or("not an account id")?),
                    _ => return Err(USAGE.into()),
                };
                let (artisan, id) = (user_id(artisan)?, order_id(order)?);
                let payout = stores.payment_records.get_payout(&artisan, &id).await?.ok_or("no such payout")?;
                if !payout.retry.as_ref().is_some_and(|r| r.parked) {
                    return Err("the payout is not parked".into());
                }
                stores.payment_records.save_payout(&payout, &payout.unparked(destination, now)).await?;
                println!("payout of order {id} to {artisan}: due again");
                Ok(())
            }
            _ => Err(USAGE.into()),
        }
    }

    async fn list(stores: &Stores) -> Result<(), Box<dyn std::error::Error>> {
        let mut page = PageRequest { limit: 100, after: None };
        let mut found = 0;
        loop {
            let parked = stores.orders.parked_orders(&page).await?;
            for order in &parked.items {
                let (tries, why) = told(order.retry.as_ref());
                println!("settlement  order {} of {}  {tries} tries  {why}", order.order_id, order.user_id);
                found += 1;
            }
            match parked.next {
                Some(next) => page.after = Some(next),
                None => break,
            }
        }
        let mut page = PageRequest { limit: 100, after: None };
        loop {
            let parked = stores.payment_records.parked_payouts(&page).await?;
            for payout in &parked.items {
                let (tries, why) = told(payout.retry.as_ref());
                let amount = format!("{} {}", payout.amount.amount, payout.amount.currency.code());
                println!(
                    "payout      order {} to {}  {amount}  {tries} tries  {why}",
                    payout.order_id, payout.artisan_id
                );
                found += 1;
            }
            match parked.next {
                Some(next) => page.after = Some(next),
                None => break,
            }
        }
        println!("{found} parked");
        Ok(())
    }

    /// How often a parked item was tried, and why it was parked.
    fn told(retry: Option<&Retry>) -> (u32, &str) {
        retry.map_or((0, "?"), |retry| (retry.attempts, retry.last_error.as_str()))
    }

    fn user_id(raw: &str) -> Result<UserId, Box<dyn std::error::Error>> {
        Ok(UserId::parse(raw).ok_or_else(|| format!("not a user id: {raw}"))?)
    }

    fn order_id(raw: &str) -> Result<OrderId, Box<dyn std::error::Error>> {
        Ok(OrderId::parse(raw).ok_or_else(|| format!("not an order id: {raw}"))?)
    }

    async fn reindex() -> Result<(), Box<dyn std::error::Error>> {
        match Options::from_env()?.store {
            LocalStore::DynamoDb => {
                let (client, table) = dynamodb().await?;
                let reindexed =
                    storefront::adapters::dynamodb::DynamoStore::new(client, table).reindex_stranded_payouts().await?;
                println!("{reindexed} stranded payout(s) back in the due list");
            }
            LocalStore::Postgres { .. } => println!("nothing to reindex: Postgres finds accrued payouts by status"),
        }
        Ok(())
    }

    /// The DynamoDB client and table the environment names.
    async fn dynamodb() -> Result<(aws_sdk_dynamodb::Client, String), Box<dyn std::error::Error>> {
        let (sdk, _) = storefront::adapters::aws::sdk_config().await?;
        let table = std::env::var(storefront::config::TABLE_NAME).unwrap_or_else(|_| "storefront".to_owned());
        Ok((aws_sdk_dynamodb::Client::new(&sdk), table))
    }

    /// The store the environment names, as `make dev` reads it.
    async fn stores() -> Result<Stores, Box<dyn std::error::Error>> {
        Ok(match Options::from_env()?.store {
            LocalStore::DynamoDb => {
                let (client, table) = dynamodb().await?;
                Stores::dynamodb(client, &table)
            }
            LocalStore::Postgres { url, read_url, shards, .. } => {
                let config = storefront::config::PostgresConfig {
                    url,
                    read_url,
                    iam_auth: false,
                    max_connections: 2,
                    shard_urls: shards.into_iter().map(|shard| shard.url).collect(),
                };
                Stores::postgres(&config, None, Default::default())?
            }
        })
    }
}
