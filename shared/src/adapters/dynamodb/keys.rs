//! Every key and index name of the single table, in one place (docs/data-model.md lists the access patterns).

use crate::domain::{Category, ProductId, UserId};

pub const PK: &str = "PK";
pub const SK: &str = "SK";
/// Epoch seconds after which DynamoDB's TTL deletes the item (cart lines, later idempotency records).
pub const TTL: &str = "expires_at";

/// All active products, spread over `CATALOG_SHARDS` partitions so "browse everything" has no hot key.
pub const CATALOG_INDEX: &str = "GSI1";
pub const CATALOG_INDEX_PK: &str = "GSI1PK";
pub const CATALOG_INDEX_SK: &str = "GSI1SK";
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

pub fn product_pk(id: &ProductId) -> String {
    format!("PRODUCT#{id}")
}

pub fn user_pk(user: &UserId) -> String {
    format!("USER#{user}")
}

pub fn cart_sk(product: &ProductId) -> String {
    format!("{CART_PREFIX}{product}")
}

pub fn artisan_pk(artisan: &UserId) -> String {
    format!("ARTISAN#{artisan}")
}

pub fn category_counter_pk(slug: &str) -> String {
    format!("CATEGORY#{slug}")
}

pub const ORDER_PREFIX: &str = "ORDER#";
pub const IDEMPOTENCY_SK: &str = "IDEM";
pub const NOTICE_SK: &str = "CONFIRMATION";

pub fn order_sk(order: &ProductId) -> String {
    format!("{ORDER_PREFIX}{order}")
}

pub fn idempotency_pk(user: &UserId, key: &str) -> String {
    format!("IDEM#{user}#{key}")
}

pub fn notice_pk(order: &ProductId) -> String {
    format!("NOTICE#{order}")
}

/// Orders still `placed` sit in the catalog index under these keys (index overloading), so the sweeper can find
/// the ones whose `OrderPlaced` was lost without a Scan. Sharded like the catalog.
pub fn placed_shard_key(shard: u32) -> String {
    format!("PLACED#{shard}")
}

pub fn catalog_shard_key(shard: u32) -> String {
    format!("CATALOG#{shard}")
}

pub fn category_shard_key(category: &Category, shard: u32) -> String {
    format!("CATEGORY#{}#{shard}", category.as_str())
}

/// The shard of a product: FNV-1a of its id with a final avalanche (FNV's low bits alone barely vary), stable
/// across builds and languages, so a Postgres or analytics job can compute the same.
pub fn shard_of(product: &ProductId) -> u32 {
    let mut hash: u32 = 0x811c_9dc5;
    for byte in product.as_str().bytes() {
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
            seen[shard_of(&ProductId::from_parts(1_700_000_000_000 + n as u64, n)) as usize] += 1;
        }
        assert!(seen.iter().all(|&count| count > 50), "uneven spread: {seen:?}");
    }

    #[test]
    fn the_shard_of_an_id_never_changes() {
        let id = ProductId::parse("01HZX3K1Q5Y6N8R9T0V2W4X6Z8").expect("valid");
        assert_eq!(shard_of(&id), shard_of(&id.clone()));
        assert_eq!(catalog_shard_key(shard_of(&id)), format!("CATALOG#{}", shard_of(&id)));
    }
}
