//! Identifiers: server-made, time-ordered ids (ULIDs) for products, orders and uploads, and the user ids that come
//! from the identity provider.

use std::fmt;

use serde::{Deserialize, Serialize};

use super::ValidationErrors;

const CROCKFORD: &str = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";

/// Whether `raw` is a ULID in its canonical upper-case form, so one thing never has two spellings (keys, ETags,
/// caches).
fn is_canonical_ulid(raw: &str) -> bool {
    raw.len() == 26 && raw.as_bytes()[0] <= b'7' && raw.chars().all(|c| CROCKFORD.contains(c))
}

/// 80 random bits from the OS. Entropy is a hard requirement for ids; its source failing is not a recoverable
/// request error.
fn random_bits() -> u128 {
    let mut random = [0u8; 16];
    getrandom::fill(&mut random).expect("the OS random source is available");
    u128::from_be_bytes(random)
}

/// Milliseconds since the epoch of `at`, for a time-ordered id (0 before 1970, which no clock here reports).
pub fn epoch_millis(at: time::OffsetDateTime) -> u64 {
    u64::try_from(at.unix_timestamp_nanos() / 1_000_000).unwrap_or_default()
}

/// A ULID-backed id type: sorts by creation time, so "newest first" is a descending key.
macro_rules! ulid_id {
    ($(#[$doc:meta])* $name:ident, $what:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            /// A new id made at `at`, with 80 random bits.
            pub fn generate(at: time::OffsetDateTime) -> Self {
                Self::from_parts(epoch_millis(at), random_bits())
            }

            /// A deterministic id (seed data, tests, the lowest id of a millisecond).
            pub fn from_parts(timestamp_ms: u64, random: u128) -> Self {
                Self(ulid::Ulid::from_parts(timestamp_ms, random).to_string())
            }

            /// Accepts the canonical upper-case form only.
            pub fn parse(raw: &str) -> Option<Self> {
                is_canonical_ulid(raw).then(|| Self(raw.to_owned()))
            }

            pub fn parse_field(raw: &str, field: &str) -> Result<Self, ValidationErrors> {
                Self::parse(raw).ok_or_else(|| {
                    ValidationErrors::single(field, concat!("must be ", $what, " (26-character ULID)"))
                })
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

ulid_id!(
    /// A product id.
    ProductId,
    "a product id"
);
ulid_id!(
    /// An order id, made at checkout.
    OrderId,
    "an order id"
);
ulid_id!(
    /// One photo upload, made when its URL is handed out.
    UploadId,
    "an upload id"
);
ulid_id!(
    /// A server-made name for one write, carried by its retries so that a retry of a write that landed is
    /// recognised (a stock adjustment without a client key; DynamoDB's `ClientRequestToken`).
    RequestToken,
    "a request token"
);

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
    use time::OffsetDateTime;

    use super::*;

    #[test]
    fn generated_ids_parse_and_sort_by_time() {
        let at = OffsetDateTime::from_unix_timestamp(1_700_000_000).expect("time");
        let older = ProductId::generate(at);
        let newer = ProductId::generate(at + time::Duration::milliseconds(1));
        assert_eq!(ProductId::parse(older.as_str()), Some(older.clone()));
        assert!(older < newer);
        assert_eq!(OrderId::parse(OrderId::generate(at).as_str()).map(|id| id.as_str().len()), Some(26));
    }

    #[test]
    fn malformed_ids_are_rejected() {
        for raw in ["", "abc", "01hzzzzzzzzzzzzzzzzzzzzzzz", "01HZZZZZZZZZZZZZZZZZZZZZZI", "81HZZZZZZZZZZZZZZZZZZZZZZZ"]
        {
            assert_eq!(ProductId::parse(raw), None, "{raw:?} should be rejected");
            assert_eq!(OrderId::parse(raw), None, "{raw:?} should be rejected");
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
