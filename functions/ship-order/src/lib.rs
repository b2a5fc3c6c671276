//! POST /artisan/orders/{order_id}/ship: the artisan ships their part of a confirmed order; their share of it is
//! owed from then on (transferred by the payment worker).

use storefront::api::prelude::*;
use storefront::services::orders;

storefront::route!(POST "/artisan/orders/{order_id}/ship", artisan, handle, reaches: QUEUES);

async fn handle(state: AppState, req: Request) -> Result<Response<Body>, ApiError> {
    let caller = caller(&req)?;
    let id = order_id_param(&req)?;
    let order = orders::ship(&state.order_ports(), &caller.user_id, &id).await?;
    json(StatusCode::OK, &order)
}
