//! POST /orders: checkout, buy-now lines or the whole cart, idempotent under `Idempotency-Key`.

use http::{HeaderValue, header};
use serde::Deserialize;
use storefront::api::prelude::*;
use storefront::domain::Purchase;
use storefront::services::checkout::{self, CheckoutOutcome};

storefront::route!(POST "/orders", shopper, handle, store: ReadBesideWrite, reaches: PAYMENTS);

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PlaceOrder {
    /// Buy now; absent means the cart (`Purchase::parse`).
    items: Option<Vec<Line>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Line {
    product_id: String,
    #[serde(deserialize_with = "storefront::api::dto::integer")]
    quantity: i64,
}

async fn handle(state: AppState, req: Request) -> Result<Response<Body>, ApiError> {
    let caller = caller(&req)?;
    let key = idempotency_key(&req)?.ok_or_else(|| {
        ApiError::new(
            StatusCode::PRECONDITION_REQUIRED,
            "idempotency-key-required",
            "Idempotency key required",
            "send an Idempotency-Key header (1 to 64 characters) so a retried checkout never orders twice",
        )
    })?;
    let body: PlaceOrder = json_body_or_empty(&req)?;
    let items = body.items.map(|items| items.into_iter().map(|l| (l.product_id, l.quantity)).collect::<Vec<_>>());
    let purchase = Purchase::parse(items.as_deref())?;
    let buyer = checkout::Buyer { user: caller.user_id.clone(), contact_email: caller.email.clone() };
    let (order, replayed) = match checkout::checkout(&state.checkout_ports(), &buyer, key, purchase).await? {
        CheckoutOutcome::Placed(order) => (order, false),
        CheckoutOutcome::Replayed(order) => (order, true),
    };
    let mut response = json(StatusCode::CREATED, &order)?;
    if let Ok(location) = HeaderValue::try_from(format!("/orders/{}", order.order_id)) {
        response.headers_mut().insert(header::LOCATION, location);
    }
    if replayed {
        response.headers_mut().insert("idempotent-replayed", HeaderValue::from_static("true"));
    }
    Ok(response)
}
