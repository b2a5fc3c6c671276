//! Identifiers: server-made, time-ordered product ids (ULID) and the user ids that come from the identity provider.

use std::fmt;

use serde::{Deserialize, Serialize};

use super::ValidationErrors;

/// A product id: a ULID, so ids sort by creation time and the newest-first listings need no extra sort key.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ProductId(String);

const CROCKFORD: &str = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";

impl ProductId {
    /// A new id for `timestamp_ms` with 80 random bits.
    pub fn generate(timestamp_ms: u64) -> Self {
        let mut random = [0u8; 16];
        // Entropy is a hard requirement for ids; the OS source failing is not a recoverable request error.
        getrandom::fill(&mut random).expect("the OS random source is available");
        Self::from_parts(timestamp_ms, u128::from_be_bytes(random))
    }

    /// A deterministic id (seed data, tests).
    pub fn from_parts(timestamp_ms: u64, random: u128) -> Self {
        Self(ulid::Ulid::from_parts(timestamp_ms, random).to_string())
    }

    /// Accepts the canonical upper-case form only, so one product never has two spellings (keys, ETags, caches).
    pub fn parse(raw: &str) -> Option<Self> {
        let valid = raw.len() == 26 && raw.as_bytes()[0] <= b'7' && raw.chars().all(|c| CROCKFORD.contains(c));
        valid.then(|| Self(raw.to_owned()))
    }

    pub fn parse_field(raw: &str, field: &str) -> Result<Self, ValidationErrors> {
        Self::parse(raw).ok_or_else(|| ValidationErrors::single(field, "must be a product id (26-character ULID)"))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ProductId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A user id: the `sub` claim (a Cognito UUID in AWS, a chosen name locally). Artisans are users too.
///
/// Restricted to characters that can never break a composite key (`USER#<id>`): no `#`, no spaces.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct UserId(String);

impl UserId {
    pub const MAX_LEN: usize = 128;

    pub fn parse(raw: &str) -> Option<Self> {
        let valid = !raw.is_empty()
            && raw.len() <= Self::MAX_LEN
            && raw.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '@' | '+'));
        valid.then(|| Self(raw.to_owned()))
    }

    pub fn parse_field(raw: &str, field: &str) -> Result<Self, ValidationErrors> {
        Self::parse(raw).ok_or_else(|| {
            ValidationErrors::single(field, "must be 1 to 128 characters of letters, digits, '-', '_', '.', '@', '+'")
        })
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for UserId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_product_ids_parse_and_sort_by_time() {
        let older = ProductId::generate(1_700_000_000_000);
        let newer = ProductId::generate(1_700_000_000_001);
        assert_eq!(ProductId::parse(older.as_str()), Some(older.clone()));
        assert!(older < newer);
    }

    #[test]
    fn malformed_product_ids_are_rejected() {
        for raw in ["", "abc", "01hzzzzzzzzzzzzzzzzzzzzzzz", "01HZZZZZZZZZZZZZZZZZZZZZZI", "81HZZZZZZZZZZZZZZZZZZZZZZZ"]
        {
            assert_eq!(ProductId::parse(raw), None, "{raw:?} should be rejected");
        }
    }

    #[test]
    fn user_ids_cannot_carry_key_separators() {
        assert!(UserId::parse("alice").is_some());
        assert!(UserId::parse("6f1c2a3b-1111-2222-3333-444455556666").is_some());
        assert!(UserId::parse("alice#CART").is_none());
        assert!(UserId::parse("a b").is_none());
        assert!(UserId::parse(&"x".repeat(129)).is_none());
    }
}
