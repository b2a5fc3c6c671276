//! GET /orders/{order_id}: one of the caller's orders (anyone else's is not found).

use storefront::http::prelude::*;
use storefront::services::orders;

pub const FUNCTION: Function = Function {
    route: Route {
        method: "GET",
        path: "/orders/{order_id}",
        function: "get-order",
        access: Access::Role(Role::Shopper),
    },
    handler: |state, req| Box::pin(handle(state, req)),
};

async fn handle(state: AppState, req: Request) -> Result<Response<Body>, ApiError> {
    let caller = caller(&req)?;
    let id = order_id_param(&req)?;
    let order = orders::get(state.orders.as_ref(), &caller.user_id, &id).await?;
    json(StatusCode::OK, &order)
}
