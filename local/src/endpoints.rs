//! The local server's own endpoints, never deployed: `POST /dev/token` (the stand-in for Cognito), `GET /health`,
//! `GET /metrics`, `GET /openapi.json`, and `GET /images/...` (photo variants, served as CloudFront serves them).

use axum::extract::{Request as AxumRequest, State};
use axum::response::{IntoResponse, Response as AxumResponse};
use serde::Deserialize;
use serde_json::json;
use storefront::api::request::parse_json;
use storefront::api::response::json as json_response;
use storefront::api::{ApiError, Role};
use storefront::domain::UserId;
use time::OffsetDateTime;

use crate::gateway::{Gateway, MAX_LOCAL_BODY_BYTES, problem, to_axum};
use crate::jwt::Claims;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TokenRequest {
    user_id: String,
    role: String,
    name: Option<String>,
    email: Option<String>,
    /// Local tokens stand for addresses the developer typed: verified unless said otherwise.
    email_verified: Option<bool>,
}

/// `POST /dev/token`: a token for any user and role, signed with this data dir's key. Local only.
pub async fn dev_token(State(gateway): State<Gateway>, req: AxumRequest) -> AxumResponse {
    let Ok(bytes) = axum::body::to_bytes(req.into_body(), MAX_LOCAL_BODY_BYTES).await else {
        return problem(ApiError::payload_too_large(storefront::api::request::MAX_BODY_BYTES));
    };
    let body: TokenRequest = match parse_json(&bytes) {
        Ok(body) => body,
        Err(error) => return problem(error),
    };
    let mut errors = storefront::domain::ValidationErrors::default();
    let user = errors.check(UserId::parse_field(&body.user_id, "user_id"));
    let role = match body.role.as_str() {
        "shopper" => Some(Role::Shopper),
        "artisan" => Some(Role::Artisan),
        _ => {
            errors.push("role", "must be \"shopper\" or \"artisan\"");
            None
        }
    };
    let (Some(user), Some(role)) = (user, role) else {
        return problem(ApiError::validation(errors));
    };
    let mut claims = Claims::new(user.as_str(), role, body.name, OffsetDateTime::now_utc().unix_timestamp());
    claims.email_verified = body.email.is_some() && body.email_verified.unwrap_or(true);
    claims.email = body.email;
    let token = gateway.jwt.sign(&claims);
    match json_response(
        http::StatusCode::OK,
        &json!({ "token": token, "user_id": user, "role": body.role, "expires_at": claims.exp }),
    ) {
        Ok(response) => to_axum(response),
        Err(error) => problem(error),
    }
}

/// `GET /images/...`: photo variants from the S3 stand-in, cached like CloudFront serves them (keys are
/// content-hashed, so they never change).
pub async fn serve_image(
    State(gateway): State<Gateway>,
    axum::extract::Path(path): axum::extract::Path<String>,
    headers: http::HeaderMap,
) -> AxumResponse {
    let key = format!("images/{path}");
    if path.split('/').any(|segment| segment == ".." || segment.is_empty()) {
        return problem(ApiError::not_found("image"));
    }
    let etag = format!("\"{}\"", path.rsplit('/').next().unwrap_or_default());
    if headers.get(http::header::IF_NONE_MATCH).and_then(|v| v.to_str().ok()) == Some(etag.as_str()) {
        return (http::StatusCode::NOT_MODIFIED, [(http::header::ETAG, etag)]).into_response();
    }
    match gateway.app.blobs.get(&key, storefront::domain::image::MAX_UPLOAD_BYTES).await {
        Ok(Some((bytes, info))) => (
            [
                (http::header::CONTENT_TYPE, info.content_type.unwrap_or_else(|| "application/octet-stream".into())),
                (http::header::CACHE_CONTROL, storefront::services::images::IMAGE_CACHE_CONTROL.to_owned()),
                (http::header::ETAG, etag),
            ],
            bytes,
        )
            .into_response(),
        Ok(None) => problem(ApiError::not_found("image")),
        Err(error) => problem(error.into()),
    }
}

/// `GET /metrics`: business counters and per-route latencies, Prometheus text (CloudWatch EMF in AWS).
pub async fn metrics() -> AxumResponse {
    (
        [(http::header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")],
        storefront::telemetry::metrics::prometheus_text(),
    )
        .into_response()
}

/// `GET /openapi.json`: the API contract (openapi.yaml, compiled in) as JSON.
pub async fn openapi() -> AxumResponse {
    match crate::openapi::document() {
        Ok(document) => ([(http::header::CONTENT_TYPE, "application/json")], document.to_string()).into_response(),
        Err(error) => problem(ApiError::internal(error)),
    }
}

/// `GET /health`: the server answers and its DynamoDB engine serves the table (the store's own `ping`).
pub async fn health(State(gateway): State<Gateway>) -> AxumResponse {
    match gateway.app.catalog.ping().await {
        Ok(_) => match json_response(http::StatusCode::OK, &json!({ "status": "ok", "dynamodb": "ok" })) {
            Ok(response) => to_axum(response),
            Err(error) => problem(error),
        },
        Err(error) => problem(ApiError::unavailable(1).with_source(error.to_string())),
    }
}
