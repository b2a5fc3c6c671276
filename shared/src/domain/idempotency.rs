//! A client's `Idempotency-Key`: the name of one request, so its retries are recognised as the same request.

use std::fmt;

use super::{OrderId, ValidationErrors};

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

/// What the store holds for a key another request claimed first: what that request asked (its fingerprint) and,
/// once it completed, the order it placed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyHolder {
    pub fingerprint: String,
    pub placed: Option<OrderId>,
}

/// What a request with a key another request holds is told.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyVerdict {
    /// The same request ran and placed this order: answer with it again (as it is now).
    Replay(OrderId),
    /// The same request is being served right now by another call.
    InProgress,
    /// The key was used for a different request.
    Mismatch,
}

impl KeyHolder {
    /// The verdict for a request asking `fingerprint` with this key.
    pub fn verdict(&self, fingerprint: &str) -> KeyVerdict {
        match &self.placed {
            _ if self.fingerprint != fingerprint => KeyVerdict::Mismatch,
            Some(order) => KeyVerdict::Replay(order.clone()),
            None => KeyVerdict::InProgress,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_held_for_another_request_is_a_mismatch_whatever_it_placed() {
        let order = OrderId::from_parts(1, 2);
        let running = KeyHolder { fingerprint: "a".into(), placed: None };
        let done = KeyHolder { fingerprint: "a".into(), placed: Some(order.clone()) };
        assert_eq!(running.verdict("a"), KeyVerdict::InProgress);
        assert_eq!(done.verdict("a"), KeyVerdict::Replay(order));
        assert_eq!(running.verdict("b"), KeyVerdict::Mismatch);
        assert_eq!(done.verdict("b"), KeyVerdict::Mismatch);
    }

    #[test]
    fn keys_are_short_visible_ascii() {
        assert!(IdempotencyKey::parse("order-2026-11-27-0001").is_ok());
        assert!(IdempotencyKey::parse(&"k".repeat(64)).is_ok());
        for bad in ["", &"k".repeat(65), "has space", "ключ", "tab\there"] {
            assert!(IdempotencyKey::parse(bad).is_err(), "{bad:?}");
        }
    }
}
