//! POST /products/{product_id}/stock: an artisan adds or removes units, atomically (never below zero).

use http::header;
use serde::Deserialize;
use storefront::domain::StockDelta;
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
    delta: i64,
}

async fn handle(state: AppState, req: Request) -> Result<Response<Body>, ApiError> {
    let caller = caller(&req)?;
    let id = product_id_param(&req)?;
    let body: AdjustStock = json_body(&req)?;
    let delta = StockDelta::parse(body.delta)?;
    let product =
        products::adjust_stock(state.catalog.as_ref(), state.clock.as_ref(), &caller.user_id, &id, delta).await?;
    let mut response = json(StatusCode::OK, &product)?;
    response.headers_mut().insert(header::ETAG, etag(product.version));
    Ok(response)
}
