//! PATCH /products/{product_id}: an artisan edits their product; `If-Match: <version>` guards against lost updates.

use http::header;
use serde::Deserialize;
use storefront::api::dto::present;
use storefront::api::prelude::*;
use storefront::domain::{OwnedProduct, ProductPatch};
use storefront::services::products;

storefront::route!(PATCH "/products/{product_id}", artisan, handle);

/// Stock is not editable here (it moves by deltas); owner, status and version are never taken from a body.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct UpdateProduct {
    #[serde(default, deserialize_with = "present")]
    title: Option<String>,
    #[serde(default, deserialize_with = "present")]
    description: Option<String>,
    #[serde(default, deserialize_with = "present")]
    category: Option<String>,
    #[serde(default, deserialize_with = "present")]
    price: Option<PriceInput>,
}

async fn handle(state: AppState, req: Request) -> Result<Response<Body>, ApiError> {
    let caller = caller(&req)?;
    let id = product_id_param(&req)?;
    let if_match = if_match_version(&req)?;
    let body: UpdateProduct = json_body(&req)?;
    let patch = ProductPatch::parse(
        body.title.as_deref(),
        body.description.as_deref(),
        body.category.as_deref(),
        body.price.as_ref().map(|p| (p.amount, p.currency.as_str())),
    )?;
    let product =
        products::update(state.catalog.as_ref(), state.clock.as_ref(), &caller.user_id, &id, patch, if_match).await?;
    let mut response = json(StatusCode::OK, &OwnedProduct::from(&product))?;
    response.headers_mut().insert(header::ETAG, etag(product.version));
    Ok(response)
}
