//! POST /artisan/orders/{order_id}/ship: the artisan ships their part of a confirmed order.

use storefront::http::prelude::*;
use storefront::services::orders;

pub const FUNCTION: Function = Function {
    route: Route {
        method: "POST",
        path: "/artisan/orders/{order_id}/ship",
        function: "ship-order",
        access: Access::Role(Role::Artisan),
    },
    handler: |state, req| Box::pin(handle(state, req)),
};

async fn handle(state: AppState, req: Request) -> Result<Response<Body>, ApiError> {
    let caller = caller(&req)?;
    let id = order_id_param(&req)?;
    let order = orders::ship(state.orders.as_ref(), state.clock.as_ref(), &caller.user_id, &id).await?;
    json(StatusCode::OK, &order)
}
