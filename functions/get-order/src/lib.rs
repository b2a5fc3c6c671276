//! GET /orders/{order_id}: one of the caller's orders (anyone else's is not found).

use storefront::api::prelude::*;
use storefront::services::orders;

storefront::route!(GET "/orders/{order_id}", shopper, handle);

async fn handle(state: AppState, req: Request) -> Result<Response<Body>, ApiError> {
    let caller = caller(&req)?;
    let id = order_id_param(&req)?;
    let order = orders::get(state.orders.as_ref(), &caller.user_id, &id).await?;
    json(StatusCode::OK, &order)
}
