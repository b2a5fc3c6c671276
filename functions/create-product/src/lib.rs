//! POST /products: an artisan lists a new product. The owner is the caller, never the body.

use http::header;
use serde::Deserialize;
use storefront::api::prelude::*;
use storefront::domain::{NewProduct, OwnedProduct};
use storefront::services::products;

storefront::route!(POST "/products", artisan, handle);

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateProduct {
    title: String,
    #[serde(default)]
    description: String,
    category: String,
    price: PriceInput,
    #[serde(deserialize_with = "storefront::api::dto::integer")]
    stock: i64,
}

async fn handle(state: AppState, req: Request) -> Result<Response<Body>, ApiError> {
    let caller = caller(&req)?;
    let body: CreateProduct = json_body(&req)?;
    let new = NewProduct::parse(
        &body.title,
        &body.description,
        &body.category,
        body.price.amount,
        &body.price.currency,
        body.stock,
    )?;
    let display_name = caller.name.clone().unwrap_or_else(|| caller.user_id.to_string());
    let product =
        products::create(state.catalog.as_ref(), state.clock.as_ref(), &caller.user_id, &display_name, new).await?;
    let mut response = json(StatusCode::CREATED, &OwnedProduct::from(&product))?;
    response.headers_mut().insert(header::ETAG, etag(product.version));
    if let Ok(location) = format!("/products/{}", product.product_id).try_into() {
        response.headers_mut().insert(header::LOCATION, location);
    }
    Ok(response)
}
