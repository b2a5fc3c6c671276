//! Stripe's webhook signatures: `Stripe-Signature: t=<unix seconds>,v1=<hex>[,v1=<hex>…]`, each `v1` an
//! HMAC-SHA256 of `<t>.<raw body>` under the endpoint's signing secret. Several `v1` appear while a secret is
//! being rolled; one match is enough. Every comparison is constant-time (`Mac::verify_slice`).

use hmac::{Hmac, Mac};
use sha2::Sha256;
use time::OffsetDateTime;

use crate::ports::EventError;

/// How far the signed time may be from ours, either way (Stripe's libraries use the same five minutes).
pub const TOLERANCE_SECONDS: i64 = 300;

fn mac(secret: &str, timestamp: i64, payload: &[u8]) -> Hmac<Sha256> {
    // HMAC takes a key of any length: `new_from_slice` cannot fail for it.
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC accepts any key length");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(payload);
    mac
}

fn hex_decode(raw: &str) -> Option<Vec<u8>> {
    if !raw.len().is_multiple_of(2) {
        return None;
    }
    (0..raw.len()).step_by(2).map(|i| u8::from_str_radix(raw.get(i..i + 2)?, 16).ok()).collect()
}

/// The header value that signs `payload` at `timestamp` (the local provider stand-in and tests sign with it).
pub fn sign(secret: &str, timestamp: i64, payload: &[u8]) -> String {
    let digest = mac(secret, timestamp, payload).finalize().into_bytes();
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    format!("t={timestamp},v1={hex}")
}

/// Checks `header` against `payload` under `secret` at `now`.
pub fn verify(secret: &str, payload: &[u8], header: Option<&str>, now: OffsetDateTime) -> Result<(), EventError> {
    let header = header.filter(|h| !h.trim().is_empty()).ok_or(EventError::Unsigned)?;
    let mut timestamp = None;
    let mut signatures = Vec::new();
    for part in header.split(',') {
        match part.trim().split_once('=') {
            Some(("t", value)) => timestamp = value.parse::<i64>().ok(),
            Some(("v1", value)) => signatures.push(value),
            // Other schemes (v0, test signatures) are ignored, as Stripe's libraries do.
            _ => {}
        }
    }
    let timestamp = timestamp.ok_or(EventError::Unsigned)?;
    if signatures.is_empty() {
        return Err(EventError::Unsigned);
    }
    if (now.unix_timestamp() - timestamp).abs() > TOLERANCE_SECONDS {
        return Err(EventError::Stale);
    }
    let matches = signatures
        .iter()
        .filter_map(|signature| hex_decode(signature))
        .any(|signature| mac(secret, timestamp, payload).verify_slice(&signature).is_ok());
    if matches { Ok(()) } else { Err(EventError::BadSignature) }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "whsec_test_secret";
    const BODY: &[u8] = br#"{"id":"evt_1","type":"payment_intent.succeeded"}"#;

    fn at(seconds: i64) -> OffsetDateTime {
        OffsetDateTime::from_unix_timestamp(seconds).expect("time")
    }

    #[test]
    fn a_signature_matches_an_independent_hmac() {
        // Computed with Python: hmac.new(b"whsec_test_secret", b"1700000000." + BODY, "sha256").hexdigest()
        assert_eq!(
            sign(SECRET, 1_700_000_000, BODY),
            "t=1700000000,v1=22d8dc182f5c588077683bd378368e29765bfe5df2560112b4f28fef120f0e31"
        );
    }

    #[test]
    fn signed_bodies_pass_and_everything_else_is_told_apart() {
        let now = at(1_700_000_000);
        let header = sign(SECRET, 1_700_000_000, BODY);
        assert!(verify(SECRET, BODY, Some(&header), now).is_ok());
        assert!(verify(SECRET, BODY, Some(&header), at(1_700_000_000 + TOLERANCE_SECONDS)).is_ok(), "at the edge");
        assert!(matches!(verify(SECRET, BODY, None, now), Err(EventError::Unsigned)));
        assert!(matches!(verify(SECRET, BODY, Some(""), now), Err(EventError::Unsigned)));
        assert!(matches!(verify(SECRET, BODY, Some("t=1700000000"), now), Err(EventError::Unsigned)));
        assert!(matches!(verify(SECRET, BODY, Some("v1=00"), now), Err(EventError::Unsigned)));
        assert!(matches!(verify("whsec_other", BODY, Some(&header), now), Err(EventError::BadSignature)));
        let mut changed = BODY.to_vec();
        changed[10] ^= 1;
        assert!(matches!(verify(SECRET, &changed, Some(&header), now), Err(EventError::BadSignature)), "one byte");
        let late = at(1_700_000_000 + TOLERANCE_SECONDS + 1);
        assert!(matches!(verify(SECRET, BODY, Some(&header), late), Err(EventError::Stale)));
        let early = at(1_700_000_000 - TOLERANCE_SECONDS - 1);
        assert!(matches!(verify(SECRET, BODY, Some(&header), early), Err(EventError::Stale)), "from the future");
        // A re-signed timestamp without the secret: the old digest no longer matches.
        let moved = header.replacen("t=1700000000", "t=1700000100", 1);
        assert!(matches!(verify(SECRET, BODY, Some(&moved), now), Err(EventError::BadSignature)));
        assert!(matches!(verify(SECRET, BODY, Some("t=1700000000,v1=zz"), now), Err(EventError::BadSignature)));
    }

    #[test]
    fn one_good_signature_among_several_is_enough() {
        let now = at(1_700_000_000);
        let good = sign(SECRET, 1_700_000_000, BODY);
        let good_digest = good.split_once(",v1=").map(|(_, d)| d).expect("digest");
        let bad_digest = sign("whsec_old", 1_700_000_000, BODY).split_once(",v1=").map(|(_, d)| d.to_owned());
        let bad_digest = bad_digest.expect("digest");
        let header = format!("t=1700000000,v1={bad_digest},v0=ignored,v1={good_digest}");
        assert!(verify(SECRET, BODY, Some(&header), now).is_ok());
        let none_good = format!("t=1700000000,v1={bad_digest},v1={bad_digest}");
        assert!(matches!(verify(SECRET, BODY, Some(&none_good), now), Err(EventError::BadSignature)));
    }
}
