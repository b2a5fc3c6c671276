//! The local server's own endpoints, never deployed: `POST /dev/token` (the stand-in for Cognito), `GET /health`,
//! `GET /metrics`, `GET /openapi.json`, `GET /images/...` (photo variants, served as CloudFront serves them), and
//! `/dev/pay/{intent_id}` (the test-card page of the payment provider stand-in).

use axum::extract::{Path, Request as AxumRequest, State};
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
use crate::payments::Webhook;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TokenRequest {
    user_id: String,
    role: String,
    // Absent, never null: the contract says a string (or a boolean), and `null` is refused as the schema does.
    #[serde(default)]
    name: String,
    #[serde(default)]
    email: String,
    /// Local tokens stand for addresses the developer typed: verified unless said otherwise.
    #[serde(default = "verified")]
    email_verified: bool,
}

fn verified() -> bool {
    true
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
    let name = Some(body.name).filter(|name| !name.is_empty());
    let mut claims = Claims::new(user.as_str(), role, name, OffsetDateTime::now_utc().unix_timestamp());
    claims.email = Some(body.email).filter(|email| !email.is_empty());
    claims.email_verified = claims.email.is_some() && body.email_verified;
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

/// `GET /assets/...`: the web pages' content-hashed assets, as CloudFront serves them from S3 (cached for a year).
pub async fn serve_asset(axum::extract::Path(path): axum::extract::Path<String>) -> AxumResponse {
    match storefront_web::assets::by_hashed(&path) {
        Some(asset) => (
            [
                (http::header::CONTENT_TYPE, asset.content_type),
                (http::header::CACHE_CONTROL, storefront_web::assets::IMMUTABLE),
            ],
            asset.bytes,
        )
            .into_response(),
        None => problem(ApiError::not_found("asset")),
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

/// `GET /dev/pay/{intent_id}`: the local test-card page for one payment intent (what Stripe's payment form is in
/// production): pay it with a card that works or one that is declined, the webhook on time, late or lost. Local
/// only.
pub async fn payment_page(
    State(gateway): State<Gateway>,
    Path(intent_id): Path<String>,
    axum::extract::Query(query): axum::extract::Query<PayQuery>,
) -> AxumResponse {
    let payments = &gateway.payments;
    let Some(intent) = payments.intent(&intent_id) else { return problem(ApiError::not_found("payment intent")) };
    let escape = |raw: &str| raw.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;");
    let amount = intent["amount"].as_i64().unwrap_or_default();
    let status = escape(intent["status"].as_str().unwrap_or_default());
    let order = escape(intent["metadata"]["order_id"].as_str().unwrap_or("-"));
    let id = escape(&intent_id);
    let payable = status.starts_with("requires_");
    let return_to = local_path(query.return_to.as_deref());
    let action = match return_to {
        Some(path) => format!("/dev/pay/{id}?return={}", escape(&query_encode(path))),
        None => format!("/dev/pay/{id}"),
    };
    let back =
        return_to.map(|path| format!(r#"<p><a href="{}">Back to the order</a></p>"#, escape(path))).unwrap_or_default();
    let form = if payable {
        format!(
            r#"<form method="post" action="{action}">
  <fieldset><legend>Webhook</legend>
    <label><input type="radio" name="webhook" value="now" checked> delivered at once</label>
    <label><input type="radio" name="webhook" value="late"> late (after <input name="delay_seconds" type="number" min="1" max="3600" value="30" aria-label="delay in seconds"> s)</label>
    <label><input type="radio" name="webhook" value="never"> lost (the reconciler finds the payment)</label>
  </fieldset>
  <button name="outcome" value="succeed">Pay with 4242 4242 4242 4242 (succeeds)</button>
  <button name="outcome" value="decline">Pay with 4000 0000 0000 0002 (declined)</button>
</form>"#
        )
    } else {
        format!("<p>This payment is no longer open.</p>{back}")
    };
    let page = format!(
        r#"<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Test payment {id} · Storefront (local)</title>
<style>body{{font-family:system-ui,sans-serif;max-width:34rem;margin:2rem auto;padding:0 1rem;line-height:1.5}}
fieldset{{margin:1rem 0}}label{{display:block}}button{{display:block;margin:.5rem 0;padding:.6rem 1rem;font-size:1rem}}
dt{{font-weight:600}}</style></head>
<body><main>
<h1>Test payment</h1>
<p>The local payment provider stand-in. Nothing here moves real money.</p>
<dl><dt>Intent</dt><dd><code>{id}</code></dd><dt>Order</dt><dd><code>{order}</code></dd>
<dt>Amount</dt><dd>{dollars}.{cents:02} USD</dd><dt>Status</dt><dd id="status">{status}</dd></dl>
{form}
</main></body></html>"#,
        dollars = amount / 100,
        cents = amount % 100,
    );
    ([(http::header::CONTENT_TYPE, "text/html; charset=utf-8"), (http::header::CACHE_CONTROL, "no-store")], page)
        .into_response()
}

#[derive(Deserialize)]
struct PayForm {
    outcome: String,
    webhook: Option<String>,
    delay_seconds: Option<u64>,
}

#[derive(Deserialize, Default)]
pub struct PayQuery {
    /// Where a browser goes once paid (a path on this server: the order's page).
    #[serde(rename = "return")]
    return_to: Option<String>,
}

/// `raw` as a query string value.
fn query_encode(raw: &str) -> String {
    raw.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b'/' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// A path on this server, never another site (no open redirect).
fn local_path(raw: Option<&str>) -> Option<&str> {
    raw.filter(|path| path.starts_with('/') && !path.starts_with("//") && !path.contains('\\'))
}

/// `POST /dev/pay/{intent_id}` (form: `outcome=succeed|decline`, `webhook=now|late|never`, `delay_seconds`): pays
/// the intent at the stand-in, which sends the signed webhook. Browsers are sent back to the page; other clients
/// (curl) get the intent as JSON. Local only.
pub async fn pay(
    State(gateway): State<Gateway>,
    Path(intent_id): Path<String>,
    axum::extract::Query(query): axum::extract::Query<PayQuery>,
    headers: http::HeaderMap,
    body: axum::body::Bytes,
) -> AxumResponse {
    let payments = &gateway.payments;
    let Ok(form) = serde_urlencoded::from_bytes::<PayForm>(&body) else {
        return problem(ApiError::bad_request(
            "send outcome=succeed|decline (and webhook=now|late|never, delay_seconds)",
        ));
    };
    let webhook = match form.webhook.as_deref() {
        None | Some("now") => Webhook::Now,
        Some("late") => match form.delay_seconds.unwrap_or(30) {
            seconds @ 1..=3600 => Webhook::After(std::time::Duration::from_secs(seconds)),
            _ => return problem(ApiError::bad_request("delay_seconds must be 1 to 3600")),
        },
        Some("never") => Webhook::Never,
        Some(_) => return problem(ApiError::bad_request("webhook must be now, late or never")),
    };
    let result = match form.outcome.as_str() {
        "succeed" => payments.succeed(&intent_id, webhook),
        "decline" => payments.decline(&intent_id, webhook),
        _ => return problem(ApiError::bad_request("outcome must be succeed or decline")),
    };
    let intent = match result {
        Ok(intent) => intent,
        Err(reason) if payments.intent(&intent_id).is_none() => {
            return problem(ApiError::not_found("payment intent").with_source(reason));
        }
        Err(reason) => {
            return problem(ApiError::conflict("payment-not-open", "Payment not open", reason));
        }
    };
    let wants_html =
        headers.get(http::header::ACCEPT).and_then(|v| v.to_str().ok()).is_some_and(|a| a.contains("text/html"));
    if wants_html {
        let to = local_path(query.return_to.as_deref())
            .map(str::to_owned)
            .unwrap_or_else(|| format!("/dev/pay/{intent_id}"));
        return axum::response::Redirect::to(&to).into_response();
    }
    match json_response(http::StatusCode::OK, &intent) {
        Ok(response) => to_axum(response),
        Err(error) => problem(error),
    }
}

/// `GET /dev/static/{path}`: the page at `/{path}` as rendered once, then served as fixed bytes by this server: the
/// static-HTML floor `make bench` measures the rendered pages against. Local only.
pub async fn static_snapshot(State(gateway): State<Gateway>, req: AxumRequest) -> AxumResponse {
    let path = req.uri().path().trim_start_matches("/dev/static").to_owned();
    let cached = gateway.snapshots.lock().unwrap_or_else(|p| p.into_inner()).get(&path).cloned();
    let bytes = match cached {
        Some(bytes) => bytes,
        None => {
            let mut page = http::Request::builder().uri(&path).header(http::header::ACCEPT, "text/html");
            if let Some(host) = req.headers().get(http::header::HOST) {
                page = page.header(http::header::HOST, host);
            }
            let Ok(page) = page.body(axum::body::Body::empty()) else { return problem(ApiError::route_not_found()) };
            let site = storefront_registry::SITE;
            let response =
                crate::gateway::invoke(site, State(gateway.clone()), Ok(Path(Default::default())), page).await;
            if !response.status().is_success() {
                return problem(ApiError::not_found("page"));
            }
            let Ok(bytes) = axum::body::to_bytes(response.into_body(), 4 * 1024 * 1024).await else {
                return problem(ApiError::not_found("page"));
            };
            gateway.snapshots.lock().unwrap_or_else(|p| p.into_inner()).insert(path, bytes.clone());
            bytes
        }
    };
    ([(http::header::CONTENT_TYPE, "text/html; charset=utf-8")], bytes).into_response()
}
