//! A page of the catalog merged from the shards of a sharded index, newest first, reading each shard only as far
//! as the page needs. Products are spread over the shards by a hash of their id, so a page of n holds about n/s
//! of each of the s shards; reading n from every shard (s × n items for n shown) would pay for what the merge
//! throws away, in read units and in the work of decoding it.

use std::future::Future;

use futures::future::try_join_all;

use crate::domain::Product;
use crate::ports::StoreError;

/// What one read of a shard gave: its products (newest first) and, if it holds more, where the next read starts.
pub struct ShardPage<K> {
    pub products: Vec<Product>,
    pub next: Option<K>,
}

/// How many products each shard is read for at first: its share of the page, plus 2.5 standard deviations of how
/// that share varies (the number of a page's products on one shard is binomial), so that a shard read again is
/// rare: for a page of 20 (21 wanted, with the look-ahead), 11 from each of 4 shards (44 items read, not 84), and
/// about 1 first page in 60 reads a shard again. Never more than the page itself.
pub fn first_read(want: usize, shards: usize) -> usize {
    let (n, p) = (want as f64, 1.0 / shards.max(1) as f64);
    let share = (n * p + 2.5 * (n * p * (1.0 - p)).sqrt()).ceil() as usize;
    share.clamp(1, want.max(1))
}

/// The `want` newest products across `shards` shards, newest first. `read(shard, from, limit)` reads up to
/// `limit` of one shard's products from `from` on (its newest when `None`). Every shard is read at once, then
/// read again (the ones that need it, at once) only while the oldest product read from it is newer than the
/// oldest the page would show: what it holds beyond that is older still, and once that one is the page's last or
/// off the page, the rest would be off it too.
pub async fn newest<K, F, R>(shards: usize, want: usize, read: F) -> Result<Vec<Product>, StoreError>
where
    F: Fn(usize, Option<K>, usize) -> R,
    R: Future<Output = Result<ShardPage<K>, StoreError>>,
{
    if want == 0 {
        return Ok(Vec::new());
    }
    let limit = first_read(want, shards);
    let mut products: Vec<Vec<Product>> = (0..shards).map(|_| Vec::new()).collect();
    let mut next: Vec<Option<K>> = (0..shards).map(|_| None).collect();
    let mut pending: Vec<usize> = (0..shards).collect();
    while !pending.is_empty() {
        let pages = try_join_all(pending.iter().map(|&shard| read(shard, next[shard].take(), limit))).await?;
        for (&shard, page) in pending.iter().zip(pages) {
            products[shard].extend(page.products);
            next[shard] = page.next;
        }
        // The oldest product the page would show, if enough were read to fill it.
        let mut ids: Vec<_> = products.iter().flatten().map(|p| &p.product_id).collect();
        ids.sort_unstable_by(|a, b| b.cmp(a));
        let cut = ids.get(want - 1).map(|id| (*id).clone());
        pending = (0..shards)
            .filter(|&shard| next[shard].is_some())
            .filter(|&shard| match (&cut, products[shard].last()) {
                (Some(cut), Some(oldest)) => oldest.product_id > *cut,
                _ => true,
            })
            .collect();
    }
    let mut merged: Vec<Product> = products.into_iter().flatten().collect();
    merged.sort_by(|a, b| b.product_id.cmp(&a.product_id));
    merged.truncate(want);
    Ok(merged)
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use time::OffsetDateTime;

    use super::*;
    use crate::domain::{NewProduct, ProductId, UserId};

    fn product(id: u64) -> Product {
        let new = NewProduct::parse("Cup", "", "ceramics", 1200, "USD", 1).expect("valid");
        Product::create(
            new,
            ProductId::from_parts(1, id.into()),
            UserId::parse("marta").expect("id"),
            OffsetDateTime::UNIX_EPOCH,
        )
    }

    /// Shards as lists of product numbers, newest (highest) first; each read is logged by its shard.
    struct Shards {
        held: Vec<Vec<u64>>,
        reads: Mutex<Vec<usize>>,
    }

    impl Shards {
        fn new(held: Vec<Vec<u64>>) -> Self {
            Self { held, reads: Mutex::new(Vec::new()) }
        }

        async fn read(&self, shard: usize, from: Option<usize>, limit: usize) -> Result<ShardPage<usize>, StoreError> {
            self.reads.lock().expect("lock").push(shard);
            let from = from.unwrap_or(0);
            let to = (from + limit).min(self.held[shard].len());
            let products = self.held[shard][from..to].iter().map(|&n| product(n)).collect();
            Ok(ShardPage { products, next: (to < self.held[shard].len()).then_some(to) })
        }

        /// The shards read, in order, for a page of `want`, once the page is checked to be the `want` newest.
        async fn newest(&self, want: usize) -> Vec<usize> {
            let page = newest(self.held.len(), want, |shard, from, limit| self.read(shard, from, limit)).await;
            let expected: Vec<ProductId> = {
                let mut all: Vec<u64> = self.held.iter().flatten().copied().collect();
                all.sort_by(|a, b| b.cmp(a));
                all.into_iter().take(want).map(|n| product(n).product_id).collect()
            };
            let page = page.expect("read");
            assert_eq!(page.iter().map(|p| p.product_id.clone()).collect::<Vec<_>>(), expected, "not the newest");
            self.reads.lock().expect("lock").clone()
        }
    }

    /// Products 1..=n dealt round robin over `shards` shards, each shard newest first.
    fn dealt(n: u64, shards: usize) -> Vec<Vec<u64>> {
        (0..shards).map(|s| (1..=n).rev().filter(|i| (*i as usize) % shards == s).collect()).collect()
    }

    #[test]
    fn the_first_read_is_a_share_of_the_page_with_room_for_chance() {
        assert_eq!(first_read(21, 4), 11);
        assert_eq!(first_read(2, 4), 2);
        assert_eq!(first_read(101, 4), 37);
        assert_eq!(first_read(21, 1), 21);
    }

    #[tokio::test]
    async fn evenly_spread_shards_are_read_once_each() {
        let shards = Shards::new(dealt(200, 4));
        assert_eq!(shards.newest(21).await, vec![0, 1, 2, 3]);
    }

    #[tokio::test]
    async fn a_shard_holding_most_of_the_page_is_read_on_until_its_oldest_falls_off_the_page() {
        // Shard 0 holds the 30 newest, the others older ones: only shard 0 is read again, once (22 read, 21 shown).
        let mut held = vec![(71..=100).rev().collect::<Vec<u64>>()];
        held.extend(dealt(60, 3));
        let shards = Shards::new(held);
        assert_eq!(shards.newest(21).await, vec![0, 1, 2, 3, 0]);
    }

    #[tokio::test]
    async fn products_dealt_by_chance_rarely_need_a_second_read() {
        // 1,000 catalogs of 60, each product on a shard drawn at random (a fixed xorshift, so the run repeats).
        let mut state = 0x9e37_79b9_7f4a_7c15_u64;
        let mut again = 0;
        for _ in 0..1000 {
            let mut held = vec![Vec::new(); 4];
            for product in (1..=60).rev() {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                held[(state % 4) as usize].push(product);
            }
            if Shards::new(held).newest(21).await.len() > 4 {
                again += 1;
            }
        }
        assert!(again < 30, "{again} of 1,000 first pages read a shard again");
    }

    #[tokio::test]
    async fn short_and_empty_shards_end_the_reading_and_the_page_is_what_there_is() {
        let shards = Shards::new(vec![vec![5, 1], vec![], vec![4, 3, 2], vec![6]]);
        assert_eq!(shards.newest(21).await, vec![0, 1, 2, 3]);
        assert_eq!(Shards::new(vec![vec![], vec![]]).newest(21).await, vec![0, 1]);
        assert_eq!(Shards::new(dealt(8, 4)).newest(0).await, Vec::<usize>::new(), "nothing read for no page");
    }
}
