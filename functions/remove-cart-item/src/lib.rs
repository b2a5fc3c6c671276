//! DELETE /cart/items/{product_id}: takes a product out of the caller's cart (absent is fine).

use storefront::api::prelude::*;
use storefront::services::carts;

storefront::route!(DELETE "/cart/items/{product_id}", shopper, handle, store: ReadBesideWrite);

async fn handle(state: AppState, req: Request) -> Result<Response<Body>, ApiError> {
    let caller = caller(&req)?;
    let id = product_id_param(&req)?;
    let cart = carts::remove_item(state.catalog.as_ref(), state.carts.as_ref(), &caller.user_id, &id).await?;
    json(StatusCode::OK, &cart)
}
