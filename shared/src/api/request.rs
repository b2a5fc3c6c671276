//! Reading a request: the JSON body (size-limited, strict), path and query parameters, and the caller.

use lambda_http::{Body, Request, RequestExt};
use serde::de::DeserializeOwned;
use serde_json::Value;

use super::{ApiError, Caller};
use crate::domain::{IdempotencyKey, ProductId, ValidationErrors};

/// Largest accepted request body (docs/api.md: 413 above it).
pub const MAX_BODY_BYTES: usize = 64 * 1024;

pub fn body_bytes(req: &Request) -> &[u8] {
    match req.body() {
        Body::Empty => &[],
        Body::Text(text) => text.as_bytes(),
        Body::Binary(bytes) => bytes,
        // `Body` is non-exhaustive; a future variant is treated as no body rather than guessed at.
        _ => &[],
    }
}

/// Parses the body into `T`: 413 over the limit, 400 for malformed JSON or wrong types, 422 for unknown or
/// missing fields (named in `errors`), so no field a client sends is ever silently dropped or mass-assigned.
pub fn json_body<T: DeserializeOwned>(req: &Request) -> Result<T, ApiError> {
    parse_json(body_bytes(req))
}

/// Like [`json_body`], but an absent or blank body reads as `{}` (every field absent).
pub fn json_body_or_empty<T: DeserializeOwned>(req: &Request) -> Result<T, ApiError> {
    let bytes = body_bytes(req);
    parse_json(if bytes.iter().all(u8::is_ascii_whitespace) { b"{}" } else { bytes })
}

/// The `Idempotency-Key` header, when sent: 400 if it is not 1 to 64 visible ASCII characters.
pub fn idempotency_key(req: &Request) -> Result<Option<IdempotencyKey>, ApiError> {
    let Some(value) = req.headers().get("idempotency-key") else { return Ok(None) };
    value.to_str().ok().and_then(|raw| IdempotencyKey::parse(raw).ok()).map(Some).ok_or_else(|| {
        ApiError::bad_request(format!(
            "Idempotency-Key must be 1 to {} visible ASCII characters",
            IdempotencyKey::MAX_CHARS
        ))
    })
}

pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    if bytes.len() > MAX_BODY_BYTES {
        return Err(ApiError::payload_too_large(MAX_BODY_BYTES));
    }
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::bad_request("a JSON object body is required"));
    }
    let value: Value =
        serde_json::from_slice(bytes).map_err(|e| ApiError::bad_request(format!("malformed JSON: {e}")))?;
    if !value.is_object() {
        return Err(ApiError::bad_request("the body must be a JSON object"));
    }
    serde_path_to_error::deserialize(value).map_err(|error| {
        let path = error.path().to_string();
        let message = error.inner().to_string();
        field_problem(&path, &message)
    })
}

/// Sorts a serde data error into 422 (a field is unknown or missing) or 400 (a value has the wrong type).
fn field_problem(path: &str, message: &str) -> ApiError {
    let parent = match path {
        "." | "" => String::new(),
        path => format!("{path}."),
    };
    if let Some(name) = message.strip_prefix("unknown field `").and_then(|rest| rest.split('`').next()) {
        // serde_path_to_error already ends the path with the unknown key.
        let field = if path.ends_with(name) { path.to_owned() } else { format!("{parent}{name}") };
        return ApiError::validation(ValidationErrors::single(field, "is not a known field"));
    }
    if let Some(name) = message.strip_prefix("missing field `").and_then(|rest| rest.split('`').next()) {
        return ApiError::validation(ValidationErrors::single(format!("{parent}{name}"), "is required"));
    }
    let field = if path == "." { "body" } else { path };
    ApiError::bad_request(format!("{field}: {message}"))
}

pub fn path_param(req: &Request, name: &str) -> Option<String> {
    req.path_parameters_ref().and_then(|params| params.first(name)).map(str::to_owned)
}

pub fn query_param(req: &Request, name: &str) -> Option<String> {
    req.query_string_parameters_ref().and_then(|params| params.first(name)).map(str::to_owned)
}

/// The `{product_id}` of the path; a malformed id cannot name a product, so it is a 404 like an unknown one.
pub fn product_id_param(req: &Request) -> Result<ProductId, ApiError> {
    path_param(req, "product_id").and_then(|raw| ProductId::parse(&raw)).ok_or_else(|| ApiError::not_found("product"))
}

/// The `{order_id}` of the path, a 404 when malformed.
pub fn order_id_param(req: &Request) -> Result<crate::domain::OrderId, ApiError> {
    path_param(req, "order_id")
        .and_then(|raw| crate::domain::OrderId::parse(&raw))
        .ok_or_else(|| ApiError::not_found("order"))
}

/// `If-Match: <version>` (bare, quoted or weak); `*` or no header means no precondition.
pub fn if_match_version<'a>(req: &'a Request) -> Result<Option<u64>, ApiError> {
    let Some(raw) = req.headers().get(http::header::IF_MATCH) else {
        return Ok(None);
    };
    let raw = raw.to_str().unwrap_or_default().trim();
    if raw == "*" {
        return Ok(None);
    }
    // `"7"`, `W/"7"` (an ETag) or `7`: exactly the grammar openapi.yaml documents.
    let quoted = |value: &'a str| value.strip_prefix('"').and_then(|v| v.strip_suffix('"'));
    let digits = match raw.strip_prefix("W/") {
        Some(weak) => quoted(weak),
        None => Some(quoted(raw).unwrap_or(raw)),
    };
    match digits {
        Some(d) if (1..=19).contains(&d.len()) && d.bytes().all(|b| b.is_ascii_digit()) => Ok(d.parse().ok()),
        _ => Err(ApiError::bad_request("If-Match must be a product version, as in its ETag")),
    }
}

/// The authenticated caller that `Function::call` put on the request after checking the route's access rule.
pub fn caller(req: &Request) -> Result<Caller, ApiError> {
    req.extensions().get::<Caller>().cloned().ok_or_else(|| ApiError::unauthorized("a bearer token is required"))
}

/// Parses `limit` (default 20, 1..=100).
pub fn page_limit(req: &Request) -> Result<usize, ApiError> {
    const DEFAULT: usize = 20;
    const MAX: usize = 100;
    match query_param(req, "limit") {
        None => Ok(DEFAULT),
        Some(raw) => match raw.parse::<usize>() {
            Ok(n) if (1..=MAX).contains(&n) => Ok(n),
            _ => Err(ValidationErrors::single("limit", format!("must be an integer between 1 and {MAX}")).into()),
        },
    }
}

#[cfg(test)]
mod tests {
    use serde::Deserialize;

    use super::*;

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Input {
        quantity: i64,
        price: Option<Price>,
    }

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Price {
        amount: i64,
    }

    fn problem(bytes: &[u8]) -> (u16, serde_json::Value) {
        let error = parse_json::<Input>(bytes).expect_err("should be refused");
        (error.status.as_u16(), error.body())
    }

    #[test]
    fn malformed_json_and_wrong_types_are_bad_requests() {
        assert_eq!(problem(b"{\"quantity\": ").0, 400);
        assert_eq!(problem(b"[1,2]").0, 400);
        assert_eq!(problem(b"").0, 400);
        let (status, body) = problem(b"{\"quantity\": \"two\"}");
        assert_eq!(status, 400);
        assert!(body["detail"].as_str().unwrap_or_default().contains("quantity"));
        assert_eq!(problem(b"{\"quantity\": 1.5}").0, 400);
    }

    #[test]
    fn unknown_and_missing_fields_are_named_validation_errors() {
        let (status, body) = problem(b"{\"quantity\": 1, \"artisan_id\": \"mallory\"}");
        assert_eq!(status, 422);
        assert_eq!(body["errors"][0]["field"], "artisan_id");
        let (status, body) = problem(b"{\"quantity\": 1, \"price\": {\"amount\": 1, \"currency\": \"USD\"}}");
        assert_eq!(status, 422);
        assert_eq!(body["errors"][0]["field"], "price.currency");
        let (status, body) = problem(b"{}");
        assert_eq!(status, 422);
        assert_eq!(body["errors"][0]["field"], "quantity");
    }

    #[test]
    fn if_match_takes_a_version_or_its_etag_and_nothing_else() {
        let with = |value: &str| {
            let mut req = Request::default();
            req.headers_mut().insert(http::header::IF_MATCH, value.parse().expect("header"));
            if_match_version(&req).ok()
        };
        assert_eq!(with("7"), Some(Some(7)));
        assert_eq!(with("\"7\""), Some(Some(7)));
        assert_eq!(with("W/\"7\""), Some(Some(7)));
        assert_eq!(with("*"), Some(None));
        for bad in ["", "+7", "W/7", "\"7", "W/W/\"7\"", "seven", "12345678901234567890", "-1"] {
            assert_eq!(with(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn bodies_over_the_limit_are_refused_before_parsing() {
        let big = format!("{{\"quantity\": 1, \"pad\": \"{}\"}}", "x".repeat(MAX_BODY_BYTES));
        assert_eq!(problem(big.as_bytes()).0, 413);
    }
}
