//! POST /products/{product_id}/stock: an artisan adds or removes units, atomically (never below zero), once per
//! `Idempotency-Key` when one is sent.

use http::header;
use serde::Deserialize;
use storefront::api::prelude::*;
use storefront::domain::{OwnedProduct, StockDelta};
use storefront::services::products;

storefront::route!(POST "/products/{product_id}/stock", artisan, handle);

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct AdjustStock {
    #[serde(deserialize_with = "storefront::api::dto::integer")]
    delta: i64,
}

async fn handle(state: AppState, req: Request) -> Result<Response<Body>, ApiError> {
    let caller = caller(&req)?;
    let id = product_id_param(&req)?;
    let body: AdjustStock = json_body(&req)?;
    let delta = StockDelta::parse(body.delta)?;
    // Optional here: with one, a client's retry of the same adjustment is applied once.
    let key = idempotency_key(&req)?;
    let (catalog, clock) = (state.catalog.as_ref(), state.clock.as_ref());
    let product = products::adjust_stock(catalog, clock, &caller.user_id, &id, delta, key.as_ref()).await?;
    let mut response = json(StatusCode::OK, &OwnedProduct::from(&product))?;
    response.headers_mut().insert(header::ETAG, etag(product.version));
    Ok(response)
}
