//! Building JSON responses.

use http::{HeaderValue, StatusCode, header};
use lambda_http::{Body, Response};
use serde::Serialize;

use super::ApiError;

pub fn json(status: StatusCode, value: &impl Serialize) -> Result<Response<Body>, ApiError> {
    let text = serde_json::to_string(value).map_err(ApiError::internal)?;
    let mut response = Response::new(Body::Text(text));
    *response.status_mut() = status;
    response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    Ok(response)
}

/// A page of a listing: `{"items": [...], "next_cursor": "..." | null}`.
#[derive(Serialize)]
pub struct ListPage<T: Serialize> {
    pub items: Vec<T>,
    pub next_cursor: Option<String>,
}

pub fn no_content() -> Response<Body> {
    let mut response = Response::new(Body::Empty);
    *response.status_mut() = StatusCode::NO_CONTENT;
    response
}

/// Marks a public catalog response cacheable by browsers and CloudFront for a short while.
pub fn cache_publicly(response: &mut Response<Body>, max_age_seconds: u32) {
    let value = format!("public, max-age={max_age_seconds}, stale-while-revalidate={}", max_age_seconds * 2);
    if let Ok(value) = HeaderValue::from_str(&value) {
        response.headers_mut().insert(header::CACHE_CONTROL, value);
    }
}

/// The ETag of a versioned resource: its version, quoted.
pub fn etag(version: u64) -> HeaderValue {
    // Digits and quotes are always a valid header value.
    HeaderValue::try_from(format!("\"{version}\"")).unwrap_or(HeaderValue::from_static("\"0\""))
}
