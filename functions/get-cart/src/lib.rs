//! GET /cart: the caller's cart, priced with current catalog prices.

use storefront::http::prelude::*;
use storefront::services::carts;

pub const FUNCTION: Function = Function {
    route: Route { method: "GET", path: "/cart", function: "get-cart", access: Access::Role(Role::Shopper) },
    handler: |state, req| Box::pin(handle(state, req)),
};

async fn handle(state: AppState, req: Request) -> Result<Response<Body>, ApiError> {
    let caller = caller(&req)?;
    let cart = carts::view(state.catalog.as_ref(), state.carts.as_ref(), &caller.user_id).await?;
    json(StatusCode::OK, &cart)
}
