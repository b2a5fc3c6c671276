//! Building JSON responses.

use http::{HeaderValue, StatusCode, header};
use lambda_http::{Body, Request, Response};
use serde::Serialize;

use super::{ApiError, CursorSigner};
use crate::ports::{Page, PageRequest};

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

/// One listing's pagination, bound to `scope` (the listing and its filters): a cursor is only valid for the
/// listing that made it.
pub struct Pagination<'a> {
    cursors: &'a CursorSigner,
    scope: String,
}

impl<'a> Pagination<'a> {
    pub fn new(cursors: &'a CursorSigner, scope: String) -> Self {
        Self { cursors, scope }
    }

    /// The page the client asked for: `limit` (default 20, 1..=100) and the position its `cursor` carries.
    pub fn request(&self, req: &Request) -> Result<PageRequest, ApiError> {
        let limit = super::request::page_limit(req)?;
        let after = super::request::query_param(req, "cursor")
            .map(|cursor| self.cursors.open(&self.scope, &cursor))
            .transpose()?;
        Ok(PageRequest { limit, after })
    }

    /// The page as `200` JSON, the next position sealed for this listing.
    pub fn respond<T: Serialize>(&self, page: Page<T>) -> Result<Response<Body>, ApiError> {
        let next_cursor = page.next.map(|position| self.cursors.seal(&self.scope, &position));
        json(StatusCode::OK, &ListPage { items: page.items, next_cursor })
    }
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
