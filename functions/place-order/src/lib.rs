//! POST /orders: checkout, buy-now lines or the whole cart, idempotent under `Idempotency-Key`.

use http::{HeaderValue, header};
use serde::Deserialize;
use storefront::domain::CheckoutLines;
use storefront::http::prelude::*;
use storefront::http::request::body_bytes;
use storefront::services::checkout::{self, CheckoutOutcome};

pub const FUNCTION: Function = Function {
    route: Route { method: "POST", path: "/orders", function: "place-order", access: Access::Role(Role::Shopper) },
    handler: |state, req| Box::pin(handle(state, req)),
};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PlaceOrder {
    /// Buy now; absent means "check out the cart".
    items: Option<Vec<Line>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Line {
    product_id: String,
    quantity: i64,
}

async fn handle(state: AppState, req: Request) -> Result<Response<Body>, ApiError> {
    let caller = caller(&req)?;
    let key = match req.headers().get("idempotency-key") {
        None => {
            return Err(ApiError::new(
                StatusCode::PRECONDITION_REQUIRED,
                "idempotency-key-required",
                "Idempotency key required",
                "send an Idempotency-Key header (1 to 64 characters) so a retried checkout never orders twice",
            ));
        }
        Some(value) => checkout::idempotency_key(value.to_str().unwrap_or(""))
            .map_err(|_| ApiError::bad_request("Idempotency-Key must be 1 to 64 visible ASCII characters"))?,
    };
    // An empty body means `{}`: check out the cart.
    let bytes = body_bytes(&req);
    let bytes: &[u8] = if bytes.iter().all(u8::is_ascii_whitespace) { b"{}" } else { bytes };
    let body: PlaceOrder = storefront::http::request::parse_json(bytes)?;
    let lines = body
        .items
        .map(|items| CheckoutLines::parse(&items.into_iter().map(|l| (l.product_id, l.quantity)).collect::<Vec<_>>()))
        .transpose()?;
    // Same key + same body (whitespace aside) is the same request.
    let canonical = serde_json::from_slice::<serde_json::Value>(bytes).map(|v| v.to_string()).unwrap_or_default();
    let fingerprint = checkout::fingerprint(&["POST /orders", &canonical]);
    let buyer = checkout::Buyer { user: caller.user_id.clone(), contact_email: caller.email.clone() };
    let outcome = checkout::checkout(&state.checkout_ports(), &buyer, key, &fingerprint, lines).await?;
    match outcome {
        CheckoutOutcome::Placed(order) => {
            let mut response = json(StatusCode::CREATED, &order)?;
            if let Ok(location) = HeaderValue::try_from(format!("/orders/{}", order.order_id)) {
                response.headers_mut().insert(header::LOCATION, location);
            }
            Ok(response)
        }
        CheckoutOutcome::Replayed { status, body } => {
            let mut response = Response::new(Body::Text(body));
            *response.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::CREATED);
            response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
            response.headers_mut().insert("idempotent-replayed", HeaderValue::from_static("true"));
            Ok(response)
        }
    }
}
