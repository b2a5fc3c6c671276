//! The local identity provider: HS256 JWTs signed with the data dir's key. Verification mirrors what the API
//! Gateway JWT authorizer does in AWS (signature, algorithm, issuer, expiry) and yields the same claims shape.

use std::collections::HashMap;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use storefront::api::Role;

type HmacSha256 = Hmac<Sha256>;

pub const ISSUER: &str = "storefront-local";
/// Long enough for a day of local work.
pub const TOKEN_TTL_SECONDS: i64 = 24 * 3600;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Claims {
    pub sub: String,
    #[serde(rename = "cognito:groups")]
    pub groups: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// Whether the identity provider checked the address (Cognito's `email_verified`).
    #[serde(default)]
    pub email_verified: bool,
    pub iss: String,
    pub iat: i64,
    pub exp: i64,
}

impl Claims {
    pub fn new(sub: &str, role: Role, name: Option<String>, now: i64) -> Self {
        Self {
            sub: sub.to_owned(),
            groups: vec![role.group().to_owned()],
            name,
            email: None,
            email_verified: false,
            iss: ISSUER.to_owned(),
            iat: now,
            exp: now + TOKEN_TTL_SECONDS,
        }
    }

    /// The claims as an HTTP API JWT authorizer hands them to a function: strings, arrays flattened to `[a b]`.
    pub fn as_authorizer_claims(&self) -> HashMap<String, String> {
        let mut claims = HashMap::from([
            ("sub".to_owned(), self.sub.clone()),
            ("cognito:groups".to_owned(), format!("[{}]", self.groups.join(" "))),
            ("iss".to_owned(), self.iss.clone()),
            ("exp".to_owned(), self.exp.to_string()),
        ]);
        if let Some(name) = &self.name {
            claims.insert("name".to_owned(), name.clone());
        }
        if let Some(email) = &self.email {
            claims.insert("email".to_owned(), email.clone());
            claims.insert("email_verified".to_owned(), self.email_verified.to_string());
        }
        claims
    }
}

#[derive(Clone)]
pub struct JwtKey(Vec<u8>);

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum TokenError {
    #[error("the token is malformed")]
    Malformed,
    #[error("the token uses an algorithm other than HS256")]
    Algorithm,
    #[error("the token signature is invalid")]
    Signature,
    #[error("the token was not issued by {ISSUER}")]
    Issuer,
    #[error("the token has expired")]
    Expired,
}

impl JwtKey {
    pub fn new(key: &[u8]) -> Self {
        Self(key.to_vec())
    }

    fn mac(&self) -> HmacSha256 {
        HmacSha256::new_from_slice(&self.0).expect("HMAC accepts any key length")
    }

    pub fn sign(&self, claims: &Claims) -> String {
        let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"HS256","typ":"JWT"}"#);
        let payload = URL_SAFE_NO_PAD.encode(serde_json::to_vec(claims).unwrap_or_default());
        let signing_input = format!("{header}.{payload}");
        let mut mac = self.mac();
        mac.update(signing_input.as_bytes());
        format!("{signing_input}.{}", URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes()))
    }

    pub fn verify(&self, token: &str, now: i64) -> Result<Claims, TokenError> {
        let mut parts = token.split('.');
        let (Some(header_b64), Some(payload), Some(signature), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(TokenError::Malformed);
        };
        let header: serde_json::Value = URL_SAFE_NO_PAD
            .decode(header_b64)
            .ok()
            .and_then(|h| serde_json::from_slice(&h).ok())
            .ok_or(TokenError::Malformed)?;
        // Pinning the algorithm closes the "alg: none" and algorithm-confusion holes.
        if header.get("alg").and_then(|a| a.as_str()) != Some("HS256") {
            return Err(TokenError::Algorithm);
        }
        let signature = URL_SAFE_NO_PAD.decode(signature).map_err(|_| TokenError::Malformed)?;
        let mut mac = self.mac();
        mac.update(format!("{header_b64}.{payload}").as_bytes());
        mac.verify_slice(&signature).map_err(|_| TokenError::Signature)?;
        let claims: Claims = URL_SAFE_NO_PAD
            .decode(payload)
            .ok()
            .and_then(|p| serde_json::from_slice(&p).ok())
            .ok_or(TokenError::Malformed)?;
        if claims.iss != ISSUER {
            return Err(TokenError::Issuer);
        }
        if claims.exp <= now {
            return Err(TokenError::Expired);
        }
        Ok(claims)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> JwtKey {
        JwtKey::new(b"0123456789abcdef0123456789abcdef")
    }

    #[test]
    fn a_signed_token_verifies_to_its_claims() {
        let claims = Claims::new("alice", Role::Shopper, None, 1000);
        let token = key().sign(&claims);
        assert_eq!(key().verify(&token, 1001), Ok(claims.clone()));
        assert_eq!(claims.as_authorizer_claims()["cognito:groups"], "[shoppers]");
    }

    #[test]
    fn forged_expired_and_foreign_tokens_are_refused() {
        let token = key().sign(&Claims::new("alice", Role::Shopper, None, 1000));
        assert_eq!(key().verify(&token, 1000 + TOKEN_TTL_SECONDS), Err(TokenError::Expired));
        assert_eq!(JwtKey::new(b"another key").verify(&token, 1001), Err(TokenError::Signature));
        // Same signature, upgraded role: the payload no longer matches it.
        let mut parts: Vec<String> = token.split('.').map(str::to_owned).collect();
        parts[1] = URL_SAFE_NO_PAD
            .encode(serde_json::to_vec(&Claims::new("alice", Role::Artisan, None, 1000)).expect("serialises"));
        assert_eq!(key().verify(&parts.join("."), 1001), Err(TokenError::Signature));
        let none_alg = format!("{}.{}.", URL_SAFE_NO_PAD.encode(br#"{"alg":"none"}"#), parts[1]);
        assert_eq!(key().verify(&none_alg, 1001), Err(TokenError::Algorithm));
        assert_eq!(key().verify("not-a-token", 1001), Err(TokenError::Malformed));
    }
}
