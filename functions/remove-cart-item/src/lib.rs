//! DELETE /cart/items/{product_id}: takes a product out of the caller's cart (absent is fine).

use storefront::http::prelude::*;
use storefront::services::carts;

pub const FUNCTION: Function = Function {
    route: Route {
        method: "DELETE",
        path: "/cart/items/{product_id}",
        function: "remove-cart-item",
        access: Access::Role(Role::Shopper),
    },
    handler: |state, req| Box::pin(handle(state, req)),
};

async fn handle(state: AppState, req: Request) -> Result<Response<Body>, ApiError> {
    let caller = caller(&req)?;
    let id = product_id_param(&req)?;
    let cart = carts::remove_item(state.catalog.as_ref(), state.carts.as_ref(), &caller.user_id, &id).await?;
    json(StatusCode::OK, &cart)
}
