//! POST /orders/{order_id}/cancel: the shopper cancels before shipping; the stock returns in the same write. A
//! cancelled order answers a repeated cancel with itself.

use storefront::http::prelude::*;
use storefront::services::orders;

pub const FUNCTION: Function = Function {
    route: Route {
        method: "POST",
        path: "/orders/{order_id}/cancel",
        function: "cancel-order",
        access: Access::Role(Role::Shopper),
    },
    handler: |state, req| Box::pin(handle(state, req)),
};

async fn handle(state: AppState, req: Request) -> Result<Response<Body>, ApiError> {
    let caller = caller(&req)?;
    let id = order_id_param(&req)?;
    let (catalog, clock) = (state.catalog.as_ref(), state.clock.as_ref());
    let order = orders::cancel(state.orders.as_ref(), catalog, clock, &caller.user_id, &id).await?;
    json(StatusCode::OK, &order)
}
