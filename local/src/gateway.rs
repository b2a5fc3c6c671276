//! What API Gateway does in front of a function, done locally: match the route, check the bearer token on
//! protected routes (401 like the JWT authorizer), and hand the function an HTTP API v2 request with the path
//! parameters and verified claims in the request context.

use std::collections::HashMap;
use std::sync::Arc;

use axum::body::to_bytes;
use axum::extract::{Path, Request as AxumRequest, State};
use axum::response::{IntoResponse, Response as AxumResponse};
use lambda_http::request::RequestContext;
use lambda_http::{Body, RequestExt};
use serde_json::json;
use storefront::AppState;
use storefront::api::{Access, ApiError, Function};
use time::OffsetDateTime;

use crate::jwt::JwtKey;

/// Bodies are read up to this size; the handlers refuse anything over 64 KiB with a 413 of their own, and a
/// larger upload is cut off here (API Gateway's own limit is 10 MB).
pub const MAX_LOCAL_BODY_BYTES: usize = 1024 * 1024;

#[derive(Clone)]
pub struct Gateway {
    pub app: AppState,
    pub jwt: Arc<JwtKey>,
    /// The payment provider stand-in, for the test-card page.
    pub payments: crate::payments::PaymentControls,
    /// Codes of the local sign-in stand-in, issued and not yet traded.
    pub grants: crate::signin::Grants,
    /// Pages rendered once for `/dev/static` (the bench's floor).
    pub snapshots: Arc<std::sync::Mutex<HashMap<String, axum::body::Bytes>>>,
}

pub fn problem(error: ApiError) -> AxumResponse {
    to_axum(error.into_response())
}

pub fn to_axum(response: lambda_http::Response<Body>) -> AxumResponse {
    let (parts, body) = response.into_parts();
    let bytes = match body {
        Body::Text(text) => text.into_bytes(),
        Body::Binary(bytes) => bytes,
        _ => Vec::new(),
    };
    AxumResponse::from_parts(parts, axum::body::Body::from(bytes))
}

/// `Authorization: Bearer <token>`: `Ok(None)` without one, `Err` with a bad one.
pub fn bearer_claims(jwt: &JwtKey, headers: &http::HeaderMap) -> Result<Option<HashMap<String, String>>, ApiError> {
    let Some(value) = headers.get(http::header::AUTHORIZATION) else {
        return Ok(None);
    };
    let token = value
        .to_str()
        .ok()
        .and_then(|v| v.strip_prefix("Bearer ").or_else(|| v.strip_prefix("bearer ")))
        .ok_or_else(|| ApiError::unauthorized("the Authorization header must be 'Bearer <token>'"))?;
    let claims = jwt
        .verify(token.trim(), OffsetDateTime::now_utc().unix_timestamp())
        .map_err(|error| ApiError::unauthorized(error.to_string()))?;
    Ok(Some(claims.as_authorizer_claims()))
}

/// Calls `function` the way API Gateway would invoke its Lambda.
pub async fn invoke(
    function: Function,
    State(gateway): State<Gateway>,
    path: Result<Path<HashMap<String, String>>, axum::extract::rejection::PathRejection>,
    req: AxumRequest,
) -> AxumResponse {
    let Ok(Path(path_parameters)) = path else {
        return problem(ApiError::route_not_found());
    };
    let claims = match function.route.access {
        // Like an HTTP API route without an authorizer: the token is not even looked at.
        Access::Public => None,
        Access::Role(_) => match bearer_claims(&gateway.jwt, req.headers()) {
            Ok(claims) => claims,
            Err(error) => return problem(error),
        },
    };
    let (parts, body) = req.into_parts();
    let Ok(bytes) = to_bytes(body, MAX_LOCAL_BODY_BYTES).await else {
        return problem(ApiError::payload_too_large(storefront::api::request::MAX_BODY_BYTES));
    };
    let query = parts.uri.query().unwrap_or_default().to_owned();
    let context = request_context(&function, &parts, claims);
    let mut lambda_request =
        http::Request::from_parts(parts, if bytes.is_empty() { Body::Empty } else { Body::Binary(bytes.to_vec()) });
    lambda_request = lambda_request
        .with_path_parameters(path_parameters)
        .with_query_string_parameters(
            query.parse::<lambda_http::aws_lambda_events::query_map::QueryMap>().unwrap_or_default(),
        )
        .with_request_context(context);
    // As in Lambda, the invocation runs to its end even when the client stops waiting (a dropped connection
    // would otherwise cancel the handler mid-write, which no deployed function ever sees).
    let app = gateway.app.clone();
    match tokio::spawn(async move { function.call(app, lambda_request).await }).await {
        Ok(response) => to_axum(response).into_response(),
        Err(panicked) => problem(ApiError::internal(panicked)),
    }
}

fn request_context(
    function: &Function,
    parts: &http::request::Parts,
    claims: Option<HashMap<String, String>>,
) -> RequestContext {
    let now = OffsetDateTime::now_utc();
    let mut context = json!({
        "routeKey": function.route.key(),
        "accountId": "000000000000",
        "stage": "$default",
        "requestId": ulid::Ulid::from_parts(u64::try_from(now.unix_timestamp() * 1000).unwrap_or_default(), u128::from(now.nanosecond())).to_string(),
        "apiId": "local",
        "domainName": "localhost",
        "time": now.to_string(),
        "timeEpoch": now.unix_timestamp() * 1000,
        "http": {
            "method": parts.method.as_str(),
            "path": parts.uri.path(),
            "protocol": "HTTP/1.1",
            "sourceIp": "127.0.0.1",
            "userAgent": parts.headers.get(http::header::USER_AGENT).and_then(|v| v.to_str().ok()).unwrap_or(""),
        },
    });
    if let Some(claims) = claims {
        context["authorizer"] = json!({ "jwt": { "claims": claims, "scopes": null } });
    }
    // The JSON above has every required field, so this cannot fail; fall back to an empty context if it ever did.
    RequestContext::ApiGatewayV2(serde_json::from_value(context).unwrap_or_default())
}
