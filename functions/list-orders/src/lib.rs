//! GET /orders: the caller's orders, newest first, with signed cursor pagination.

use storefront::api::prelude::*;
use storefront::api::response::ListPage;
use storefront::ports::PageRequest;
use storefront::services::orders;

storefront::route!(GET "/orders", shopper, handle);

async fn handle(state: AppState, req: Request) -> Result<Response<Body>, ApiError> {
    let caller = caller(&req)?;
    let limit = page_limit(&req)?;
    let scope = format!("orders:{}", caller.user_id);
    let after = query_param(&req, "cursor").map(|cursor| state.cursors.open(&scope, &cursor)).transpose()?;
    let page = orders::list(state.orders.as_ref(), &caller.user_id, &PageRequest { limit, after }).await?;
    let next_cursor = page.next.map(|position| state.cursors.seal(&scope, &position));
    json(StatusCode::OK, &ListPage { items: page.items, next_cursor })
}
