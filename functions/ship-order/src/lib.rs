//! POST /artisan/orders/{order_id}/ship: the artisan ships their part of a confirmed order.

use storefront::api::prelude::*;
use storefront::services::orders;

storefront::route!(POST "/artisan/orders/{order_id}/ship", artisan, handle);

async fn handle(state: AppState, req: Request) -> Result<Response<Body>, ApiError> {
    let caller = caller(&req)?;
    let id = order_id_param(&req)?;
    let order = orders::ship(state.orders.as_ref(), state.clock.as_ref(), &caller.user_id, &id).await?;
    json(StatusCode::OK, &order)
}
