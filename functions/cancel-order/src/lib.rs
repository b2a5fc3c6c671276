//! POST /orders/{order_id}/cancel: the shopper cancels before shipping; the stock returns in the same write, and
//! a payment already made is refunded (the payment worker, right after). A cancelled order answers a repeated
//! cancel with itself.

use storefront::api::prelude::*;
use storefront::services::orders;

storefront::route!(POST "/orders/{order_id}/cancel", shopper, handle, reaches: QUEUES);

async fn handle(state: AppState, req: Request) -> Result<Response<Body>, ApiError> {
    let caller = caller(&req)?;
    let id = order_id_param(&req)?;
    let order = orders::cancel(&state.order_ports(), &caller.user_id, &id).await?;
    json(StatusCode::OK, &order)
}
