//! GET /orders: the caller's orders, newest first, with signed cursor pagination.

use storefront::api::prelude::*;

use storefront::services::orders;

storefront::route!(GET "/orders", shopper, handle);

async fn handle(state: AppState, req: Request) -> Result<Response<Body>, ApiError> {
    let caller = caller(&req)?;
    let pages = Pagination::new(&state.cursors, format!("orders:{}", caller.user_id));
    let page = orders::list(state.orders.as_ref(), &caller.user_id, &pages.request(&req)?).await?;
    pages.respond(page)
}
