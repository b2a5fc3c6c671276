//! A client's `Idempotency-Key`: the name of one request, so its retries are recognised as the same request.

use std::fmt;

use super::ValidationErrors;

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct IdempotencyKey(String);

impl IdempotencyKey {
    pub const MAX_CHARS: usize = 64;

    /// 1..=64 visible ASCII characters (they end up in keys and logs).
    pub fn parse(raw: &str) -> Result<Self, ValidationErrors> {
        if raw.is_empty() || raw.len() > Self::MAX_CHARS || !raw.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(ValidationErrors::single(
                "Idempotency-Key",
                format!("must be 1 to {} visible ASCII characters", Self::MAX_CHARS),
            ));
        }
        Ok(Self(raw.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for IdempotencyKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_short_visible_ascii() {
        assert!(IdempotencyKey::parse("order-2026-11-27-0001").is_ok());
        assert!(IdempotencyKey::parse(&"k".repeat(64)).is_ok());
        for bad in ["", &"k".repeat(65), "has space", "ключ", "tab\there"] {
            assert!(IdempotencyKey::parse(bad).is_err(), "{bad:?}");
        }
    }
}
