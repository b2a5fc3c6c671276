//! POST /orders/{order_id}/cancel: the shopper cancels before shipping; the stock returns in the same write. A
//! cancelled order answers a repeated cancel with itself.

use storefront::api::prelude::*;
use storefront::services::orders;

storefront::route!(POST "/orders/{order_id}/cancel", shopper, handle);

async fn handle(state: AppState, req: Request) -> Result<Response<Body>, ApiError> {
    let caller = caller(&req)?;
    let id = order_id_param(&req)?;
    let (catalog, clock) = (state.catalog.as_ref(), state.clock.as_ref());
    let order = orders::cancel(state.orders.as_ref(), catalog, clock, &caller.user_id, &id).await?;
    json(StatusCode::OK, &order)
}
