//! Stripe's webhook signatures: `Stripe-Signature: t=<unix seconds>,v1=<hex>[,v1=<hex>…]`, each `v1` an
//! HMAC-SHA256 of `<t>.<raw body>` under the endpoint's signing secret. Several `v1` appear while a secret is
//! being rolled; one match is enough. Every comparison is constant-time (`Mac::verify_slice`). Only a secret
//! long enough to be Stripe's ([`SigningSecret`]) verifies anything: an empty one would let anyone sign.

use hmac::{Hmac, Mac};
use sha2::Sha256;
use time::OffsetDateTime;

use crate::ports::EventError;

/// How far the signed time may be from ours, either way (Stripe's libraries use the same five minutes).
pub const TOLERANCE_SECONDS: i64 = 300;

/// The shortest signing secret accepted: Stripe's are `whsec_` and 32 characters more. A secret that was never
/// filled in (empty) or is shorter is a configuration error, never a key.
pub const MIN_SECRET_LEN: usize = 32;

/// A webhook signing secret long enough to sign with.
#[derive(Clone, PartialEq, Eq)]
pub struct SigningSecret(String);

impl SigningSecret {
    /// `None` for a secret shorter than [`MIN_SECRET_LEN`] (blanks around it do not count).
    pub fn parse(raw: &str) -> Option<Self> {
        let raw = raw.trim();
        (raw.len() >= MIN_SECRET_LEN).then(|| Self(raw.to_owned()))
    }
}

impl std::fmt::Debug for SigningSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SigningSecret(..)")
    }
}

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

/// Checks `header` against `payload` under `secret` at `now`. The header's numbers come from anyone: the time is
/// compared by checked arithmetic (a `t` of `i64::MIN` is stale, never an overflow).
pub fn verify(
    secret: &SigningSecret,
    payload: &[u8],
    header: Option<&str>,
    now: OffsetDateTime,
) -> Result<(), EventError> {
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
    let skew = now.unix_timestamp().checked_sub(timestamp).and_then(i64::checked_abs);
    if skew.is_none_or(|skew| skew > TOLERANCE_SECONDS) {
        return Err(EventError::Stale);
    }
    let matches = signatures
        .iter()
        .filter_map(|signature| hex_decode(signature))
        .any(|signature| mac(&secret.0, timestamp, payload).verify_slice(&signature).is_ok());
    if matches { Ok(()) } else { Err(EventError::BadSignature) }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "whsec_test_secret_of_stripes_length_32";
    const BODY: &[u8] = br#"{"id":"evt_1","type":"payment_intent.succeeded"}"#;

    fn key(raw: &str) -> SigningSecret {
        SigningSecret::parse(raw).expect("a secret of Stripe's length")
    }

    fn at(seconds: i64) -> OffsetDateTime {
        OffsetDateTime::from_unix_timestamp(seconds).expect("time")
    }

    #[test]
    fn a_signature_matches_an_independent_hmac() {
        // Computed with Python: hmac.new(b"whsec_test_secret", b"1700000000." + BODY, "sha256").hexdigest()
        assert_eq!(
            sign("whsec_test_secret", 1_700_000_000, BODY),
            "t=1700000000,v1=22d8dc182f5c588077683bd378368e29765bfe5df2560112b4f28fef120f0e31"
        );
    }

    #[test]
    fn signed_bodies_pass_and_everything_else_is_told_apart() {
        let now = at(1_700_000_000);
        let header = sign(SECRET, 1_700_000_000, BODY);
        assert!(verify(&key(SECRET), BODY, Some(&header), now).is_ok());
        assert!(
            verify(&key(SECRET), BODY, Some(&header), at(1_700_000_000 + TOLERANCE_SECONDS)).is_ok(),
            "at the edge"
        );
        assert!(matches!(verify(&key(SECRET), BODY, None, now), Err(EventError::Unsigned)));
        assert!(matches!(verify(&key(SECRET), BODY, Some(""), now), Err(EventError::Unsigned)));
        assert!(matches!(verify(&key(SECRET), BODY, Some("t=1700000000"), now), Err(EventError::Unsigned)));
        assert!(matches!(verify(&key(SECRET), BODY, Some("v1=00"), now), Err(EventError::Unsigned)));
        assert!(matches!(
            verify(&key("whsec_other_secret_of_stripes_length"), BODY, Some(&header), now),
            Err(EventError::BadSignature)
        ));
        let mut changed = BODY.to_vec();
        changed[10] ^= 1;
        assert!(
            matches!(verify(&key(SECRET), &changed, Some(&header), now), Err(EventError::BadSignature)),
            "one byte"
        );
        let late = at(1_700_000_000 + TOLERANCE_SECONDS + 1);
        assert!(matches!(verify(&key(SECRET), BODY, Some(&header), late), Err(EventError::Stale)));
        let early = at(1_700_000_000 - TOLERANCE_SECONDS - 1);
        assert!(matches!(verify(&key(SECRET), BODY, Some(&header), early), Err(EventError::Stale)), "from the future");
        // A re-signed timestamp without the secret: the old digest no longer matches.
        let moved = header.replacen("t=1700000000", "t=1700000100", 1);
        assert!(matches!(verify(&key(SECRET), BODY, Some(&moved), now), Err(EventError::BadSignature)));
        assert!(matches!(verify(&key(SECRET), BODY, Some("t=1700000000,v1=zz"), now), Err(EventError::BadSignature)));
    }

    #[test]
    fn one_good_signature_among_several_is_enough() {
        let now = at(1_700_000_000);
        let good = sign(SECRET, 1_700_000_000, BODY);
        let good_digest = good.split_once(",v1=").map(|(_, d)| d).expect("digest");
        let bad_digest = sign("whsec_old", 1_700_000_000, BODY).split_once(",v1=").map(|(_, d)| d.to_owned());
        let bad_digest = bad_digest.expect("digest");
        let header = format!("t=1700000000,v1={bad_digest},v0=ignored,v1={good_digest}");
        assert!(verify(&key(SECRET), BODY, Some(&header), now).is_ok());
        let none_good = format!("t=1700000000,v1={bad_digest},v1={bad_digest}");
        assert!(matches!(verify(&key(SECRET), BODY, Some(&none_good), now), Err(EventError::BadSignature)));
    }

    #[test]
    fn a_secret_shorter_than_stripes_signs_nothing() {
        for short in ["", "   ", "whsec_", &"x".repeat(MIN_SECRET_LEN - 1)] {
            assert!(SigningSecret::parse(short).is_none(), "{short:?}");
        }
        assert!(SigningSecret::parse(&format!("  {}  ", "x".repeat(MIN_SECRET_LEN))).is_some());
    }

    #[test]
    fn any_signed_time_is_compared_without_overflow() {
        let now = at(1_700_000_000);
        for t in ["-9223372036854775808", "9223372036854775807", "-1", "0", "-0"] {
            let header = format!("t={t},v1=00");
            assert!(matches!(verify(&key(SECRET), BODY, Some(&header), now), Err(EventError::Stale)), "t={t}");
        }
        // Past i64 either way, or not a number: no time at all.
        for t in ["99999999999999999999", "-99999999999999999999", "1e9", "", " "] {
            let header = format!("t={t},v1=00");
            assert!(matches!(verify(&key(SECRET), BODY, Some(&header), now), Err(EventError::Unsigned)), "t={t}");
        }
        // Our own clock at either end of its range: still no overflow.
        for edge in [OffsetDateTime::new_utc(time::Date::MIN, time::Time::MIDNIGHT), at(253_402_300_799)] {
            let header = format!("t={},v1=00", i64::MIN);
            assert!(matches!(verify(&key(SECRET), BODY, Some(&header), edge), Err(EventError::Stale)));
        }
    }
}
