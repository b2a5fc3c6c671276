//! POST /products/{product_id}/stock: an artisan adds or removes units, atomically (never below zero), once per
//! `Idempotency-Key` when one is sent.

use http::header;
use serde::Deserialize;
use storefront::domain::{OwnedProduct, StockDelta};
use storefront::http::prelude::*;
use storefront::services::products;

pub const FUNCTION: Function = Function {
    route: Route {
        method: "POST",
        path: "/products/{product_id}/stock",
        function: "adjust-stock",
        access: Access::Role(Role::Artisan),
    },
    handler: |state, req| Box::pin(handle(state, req)),
};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct AdjustStock {
    #[serde(deserialize_with = "storefront::http::dto::integer")]
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
