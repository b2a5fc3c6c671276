//! Every key and index name of the single table, in one place (docs/data-model.md lists the access patterns).

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;

use crate::domain::{Category, FollowUp, OrderId, ProductId, UserId};

/// A DynamoDB item (or key): attribute name → value.
pub type Item = HashMap<String, AttributeValue>;

pub const PK: &str = "PK";
pub const SK: &str = "SK";
/// Epoch seconds after which DynamoDB's TTL deletes the item (cart lines, idempotency records, adjustments).
pub const TTL: &str = "expires_at";

/// GSI1, sharded time-ordered lists: every listed product under `CATALOG#0..3`, and (sparsely, overloading the
/// index) the work still owed, under `OPEN#<kind>#0..3` sorted by when it became owed: orders awaiting payment,
/// paid orders to confirm, cancelled orders whose payment is open, payouts to transfer. The sweeper and the
/// reconciler read it; an item leaves it with the write that settles it.
pub const SHARDED_INDEX: &str = "GSI1";
pub const SHARDED_INDEX_PK: &str = "GSI1PK";
pub const SHARDED_INDEX_SK: &str = "GSI1SK";
/// Active products of one category, sharded the same way (a popular category is a hot key too).
pub const CATEGORY_INDEX: &str = "GSI2";
pub const CATEGORY_INDEX_PK: &str = "GSI2PK";
pub const CATEGORY_INDEX_SK: &str = "GSI2SK";
/// Active products of one artisan (small: one artisan's shop).
pub const ARTISAN_INDEX: &str = "GSI3";
pub const ARTISAN_INDEX_PK: &str = "GSI3PK";
pub const ARTISAN_INDEX_SK: &str = "GSI3SK";

/// Part of the data layout, not configuration: changing it means re-indexing every product.
pub const CATALOG_SHARDS: u32 = 4;

pub const PRODUCT_SK: &str = "PRODUCT";
pub const PROFILE_SK: &str = "PROFILE";
pub const COUNTER_SK: &str = "COUNTER";
pub const CART_PREFIX: &str = "CART#";
pub const ORDER_PREFIX: &str = "ORDER#";
pub const ADJUSTMENT_PREFIX: &str = "ADJUST#";
pub const IDEMPOTENCY_SK: &str = "IDEM";
pub const NOTICE_SK: &str = "CONFIRMATION";
pub const PAYOUT_PREFIX: &str = "PAYOUT#";
pub const PAYOUT_ACCOUNT_SK: &str = "PAYOUT_ACCOUNT";
pub const EVENT_SK: &str = "EVENT";
pub const UNPAID_SK: &str = "UNPAID_ORDERS";
/// Not under `CART#`: the cart's lines are read by that prefix.
pub const CART_TALLY_SK: &str = "CART_PRODUCTS";

fn s(value: String) -> AttributeValue {
    AttributeValue::S(value)
}

fn key(pk: String, sk: impl Into<String>) -> Item {
    HashMap::from([(PK.to_owned(), s(pk)), (SK.to_owned(), s(sk.into()))])
}

pub fn product_pk(id: &ProductId) -> String {
    format!("PRODUCT#{id}")
}

pub fn user_pk(user: &UserId) -> String {
    format!("USER#{user}")
}

pub fn artisan_pk(artisan: &UserId) -> String {
    format!("ARTISAN#{artisan}")
}

pub fn category_counter_pk(slug: &str) -> String {
    format!("CATEGORY#{slug}")
}

pub fn product_key(id: &ProductId) -> Item {
    key(product_pk(id), PRODUCT_SK)
}

/// A stock adjustment's record, in its product's item collection (the product is read by its full key, so the
/// records never get in the way).
pub fn adjustment_key(product: &ProductId, adjustment_id: &str) -> Item {
    key(product_pk(product), format!("{ADJUSTMENT_PREFIX}{adjustment_id}"))
}

pub fn cart_key(user: &UserId, product: &ProductId) -> Item {
    key(user_pk(user), format!("{CART_PREFIX}{product}"))
}

pub fn artisan_key(artisan: &UserId) -> Item {
    key(artisan_pk(artisan), PROFILE_SK)
}

pub fn category_counter_key(slug: &str) -> Item {
    key(category_counter_pk(slug), COUNTER_SK)
}

pub fn order_key(user: &UserId, id: &OrderId) -> Item {
    key(user_pk(user), format!("{ORDER_PREFIX}{id}"))
}

/// One artisan's part of an order, in the artisan's partition (their order list).
pub fn artisan_order_key(artisan: &UserId, id: &OrderId) -> Item {
    key(artisan_pk(artisan), format!("{ORDER_PREFIX}{id}"))
}

/// The shopper's orders awaiting payment (a string set of their ids, `order_ids`), in the shopper's partition: the
/// checkout's condition counts them.
pub fn unpaid_key(user: &UserId) -> Item {
    key(user_pk(user), UNPAID_SK)
}

/// The products in the shopper's cart (a string set, `product_ids`, and a `version`), written with every line:
/// the condition that keeps a cart within its limit counts them.
pub fn cart_tally_key(user: &UserId) -> Item {
    key(user_pk(user), CART_TALLY_SK)
}

pub fn idempotency_key(user: &UserId, key_name: &str) -> Item {
    key(format!("IDEM#{user}#{key_name}"), IDEMPOTENCY_SK)
}

pub fn notice_key(order: &OrderId) -> Item {
    key(format!("NOTICE#{order}"), NOTICE_SK)
}

/// An artisan's share of one order, in the artisan's partition (their payouts ledger).
pub fn payout_key(artisan: &UserId, order: &OrderId) -> Item {
    key(artisan_pk(artisan), format!("{PAYOUT_PREFIX}{order}"))
}

pub fn payout_account_key(artisan: &UserId) -> Item {
    key(artisan_pk(artisan), PAYOUT_ACCOUNT_SK)
}

/// A provider event the webhook queued (deduplication).
pub fn event_key(event_id: &str) -> Item {
    key(format!("EVENT#{event_id}"), EVENT_SK)
}

/// The kinds of owed work in the sharded index.
pub fn follow_up_kind(follow_up: FollowUp) -> &'static str {
    follow_up.as_str()
}

pub const PAYOUT_KIND: &str = "payout";
/// Artisans who connected an account while payouts waited for one (a marker each, due at once).
pub const PAYOUTS_FOR_KIND: &str = "payouts_for";
/// What parked lists hold: orders (their settlement) and payouts.
pub const PARKED_ORDER: &str = "order";
pub const PARKED_PAYOUT: &str = "payout";

pub fn open_shard_key(kind: &str, shard: u32) -> String {
    format!("OPEN#{kind}#{shard}")
}

/// Work parked for an operator, by kind, sharded like owed work.
pub fn parked_shard_key(kind: &str, shard: u32) -> String {
    format!("PARKED#{kind}#{shard}")
}

/// An artisan's accrued payouts that wait for an account (GSI1), oldest first.
pub fn awaiting_account_key(artisan: &UserId) -> String {
    format!("AWAIT#{artisan}")
}

/// The marker of an artisan who connected an account: in GSI1 under `OPEN#payouts_for#<shard>` until none of
/// their payouts waits any more.
pub fn payouts_for_key(artisan: &UserId) -> Item {
    key(format!("PAYOUTS_FOR#{artisan}"), "MARKER")
}

/// Sorts owed work by when it became owed (zero-padded epoch milliseconds), then by `id`.
pub fn open_sort_key(since: time::OffsetDateTime, id: &str) -> String {
    format!("{}#{id}", open_bound(since))
}

/// The sort key bound below which everything became owed before `before`.
pub fn open_bound(before: time::OffsetDateTime) -> String {
    format!("{:013}", crate::domain::epoch_millis(before))
}

pub fn catalog_shard_key(shard: u32) -> String {
    format!("CATALOG#{shard}")
}

pub fn category_shard_key(category: &Category, shard: u32) -> String {
    format!("CATEGORY#{}#{shard}", category.as_str())
}

/// The shard of an id: FNV-1a with murmur3's final avalanche (FNV's low bits alone barely vary), stable across
/// builds and languages, so a Postgres or analytics job can compute the same. Changing it orphans every stored
/// index entry: the values are pinned by a test.
pub fn shard_of(id: &str) -> u32 {
    let mut hash: u32 = 0x811c_9dc5;
    for byte in id.bytes() {
        hash ^= u32::from(byte);
        hash = hash.wrapping_mul(0x0100_0193);
    }
    // murmur3's fmix32
    hash ^= hash >> 16;
    hash = hash.wrapping_mul(0x85eb_ca6b);
    hash ^= hash >> 13;
    hash = hash.wrapping_mul(0xc2b2_ae35);
    hash ^= hash >> 16;
    hash % CATALOG_SHARDS
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn products_spread_over_every_shard() {
        let mut seen = [0u32; CATALOG_SHARDS as usize];
        for n in 0..400u128 {
            let id = ProductId::from_parts(1_700_000_000_000 + n as u64, n);
            seen[shard_of(id.as_str()) as usize] += 1;
        }
        assert!(seen.iter().all(|&count| count > 50), "uneven spread: {seen:?}");
    }

    #[test]
    fn the_shard_of_an_id_is_pinned() {
        // Literal values (computed by an independent implementation of the documented hash, in Python): a change
        // to the hash would move stored products to shards nobody reads.
        let pinned = [
            ("01HZX3K1Q5Y6N8R9T0V2W4X6Z8", 1),
            ("01KDVDTSS00000000001FET003", 2),
            ("00000000000000000000000000", 0),
            ("7ZZZZZZZZZZZZZZZZZZZZZZZZZ", 1),
            ("01J0000000000000000000000A", 0),
        ];
        for (id, shard) in pinned {
            assert_eq!(shard_of(id), shard, "shard of {id}");
        }
    }
}
