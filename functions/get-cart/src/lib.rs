//! GET /cart: the caller's cart, priced with current catalog prices.

use storefront::api::prelude::*;
use storefront::services::carts;

storefront::route!(GET "/cart", shopper, handle);

async fn handle(state: AppState, req: Request) -> Result<Response<Body>, ApiError> {
    let caller = caller(&req)?;
    let cart = carts::view(state.catalog.as_ref(), state.carts.as_ref(), &caller.user_id).await?;
    json(StatusCode::OK, &cart)
}
