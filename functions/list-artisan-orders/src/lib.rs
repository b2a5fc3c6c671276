//! GET /artisan/orders?status=: the orders holding the caller's products, each with only the caller's lines.

use storefront::api::prelude::*;
use storefront::api::response::ListPage;
use storefront::domain::{OrderStatus, ValidationErrors};
use storefront::ports::PageRequest;
use storefront::services::orders;

storefront::route!(GET "/artisan/orders", artisan, handle);

async fn handle(state: AppState, req: Request) -> Result<Response<Body>, ApiError> {
    let caller = caller(&req)?;
    let raw_status = query_param(&req, "status");
    let status = raw_status
        .as_deref()
        .map(|raw| {
            OrderStatus::parse(raw).ok_or_else(|| {
                ValidationErrors::single("status", "must be one of: placed, confirmed, shipped, cancelled")
            })
        })
        .transpose()?;
    let limit = page_limit(&req)?;
    let scope = format!("artisan-orders:{}?status={}", caller.user_id, raw_status.unwrap_or_default());
    let after = query_param(&req, "cursor").map(|cursor| state.cursors.open(&scope, &cursor)).transpose()?;
    let page =
        orders::list_for_artisan(state.orders.as_ref(), &caller.user_id, status, &PageRequest { limit, after }).await?;
    let next_cursor = page.next.map(|position| state.cursors.seal(&scope, &position));
    json(StatusCode::OK, &ListPage { items: page.items, next_cursor })
}
