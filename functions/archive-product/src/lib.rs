//! DELETE /products/{product_id}: archives the product: hidden from listings, kept for past orders.

use storefront::api::prelude::*;
use storefront::services::products;

storefront::route!(DELETE "/products/{product_id}", artisan, handle);

async fn handle(state: AppState, req: Request) -> Result<Response<Body>, ApiError> {
    let caller = caller(&req)?;
    let id = product_id_param(&req)?;
    products::archive(state.catalog.as_ref(), state.clock.as_ref(), &caller.user_id, &id).await?;
    Ok(no_content())
}
