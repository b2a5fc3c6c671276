//! Opaque pagination cursors: the store's position, signed with HMAC-SHA256 over the listing it belongs to,
//! so a client can neither forge a key nor replay a cursor on another listing.

use std::sync::Arc;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use sha2::Sha256;

use super::ApiError;

type HmacSha256 = Hmac<Sha256>;

/// Long enough for any position we issue; anything longer is not ours.
const MAX_CURSOR_CHARS: usize = 2048;
const TAG_BYTES: usize = 16;

#[derive(Clone)]
pub struct CursorSigner {
    key: Arc<[u8]>,
}

impl std::fmt::Debug for CursorSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CursorSigner(..)")
    }
}

impl CursorSigner {
    pub fn new(key: &[u8]) -> Self {
        Self { key: Arc::from(key) }
    }

    fn tag(&self, scope: &str, position: &str) -> HmacSha256 {
        // Any key length is valid for HMAC.
        let mut mac = HmacSha256::new_from_slice(&self.key).expect("HMAC accepts any key length");
        mac.update(scope.as_bytes());
        mac.update(&[0]);
        mac.update(position.as_bytes());
        mac
    }

    /// The cursor a client gets for `position` within the listing `scope`.
    pub fn seal(&self, scope: &str, position: &str) -> String {
        let tag = self.tag(scope, position).finalize().into_bytes();
        format!("{}.{}", URL_SAFE_NO_PAD.encode(position), URL_SAFE_NO_PAD.encode(&tag[..TAG_BYTES]))
    }

    /// The position inside a cursor, if this server issued it for `scope`.
    pub fn open(&self, scope: &str, cursor: &str) -> Result<String, ApiError> {
        let invalid = || ApiError::bad_request("cursor is invalid or belongs to another listing");
        if cursor.len() > MAX_CURSOR_CHARS {
            return Err(invalid());
        }
        let (payload, tag) = cursor.split_once('.').ok_or_else(invalid)?;
        let position =
            URL_SAFE_NO_PAD.decode(payload).ok().and_then(|b| String::from_utf8(b).ok()).ok_or_else(invalid)?;
        let tag = URL_SAFE_NO_PAD.decode(tag).map_err(|_| invalid())?;
        if tag.len() != TAG_BYTES {
            return Err(invalid());
        }
        self.tag(scope, &position).verify_truncated_left(&tag).map_err(|_| invalid())?;
        Ok(position)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cursor_round_trips_within_its_listing() {
        let signer = CursorSigner::new(b"k");
        let cursor = signer.seal("products?category=glass", "01HZX");
        assert_eq!(signer.open("products?category=glass", &cursor).expect("valid"), "01HZX");
    }

    #[test]
    fn tampered_foreign_or_garbage_cursors_are_refused() {
        let signer = CursorSigner::new(b"k");
        let cursor = signer.seal("products", "01HZX");
        let (_, tag) = cursor.split_once('.').expect("two parts");
        let forged = format!("{}.{tag}", URL_SAFE_NO_PAD.encode("01HZZ"));
        assert!(signer.open("products", &forged).is_err(), "payload changed");
        assert!(signer.open("products?category=glass", &cursor).is_err(), "other listing");
        assert!(CursorSigner::new(b"other").open("products", &cursor).is_err(), "other key");
        for garbage in ["", ".", "abc", "a.b", &"x".repeat(5000)] {
            assert_eq!(signer.open("products", garbage).expect_err("garbage").status, 400);
        }
    }
}
