//! HTTP plumbing shared by every route: problem+json errors, request parsing with limits, caller claims,
//! signed cursors, and the `Function` that binds a route to its handler for Lambda and the local server alike.

pub mod auth;
pub mod cursor;
pub mod dto;
pub mod problem;
pub mod request;
pub mod response;
pub mod route;

pub use auth::{Caller, Role};
pub use cursor::CursorSigner;
pub use lambda_http::{Body, Request, Response};
pub use problem::ApiError;
pub use route::{Access, Function, HandlerFuture, Route};

/// What a handler file usually needs.
pub mod prelude {
    pub use lambda_http::{Body, Request, Response};

    pub use http::StatusCode;

    pub use super::dto::PriceInput;
    pub use super::request::{
        body_bytes, caller, idempotency_key, if_match_version, json_body, json_body_or_empty, order_id_param,
        page_limit, path_param, product_id_param, query_param,
    };
    pub use super::response::{Pagination, cache_publicly, etag, json, no_content};
    pub use super::{Access, ApiError, Function, Role, Route};
    pub use crate::AppState;
}
