//! GET /artisan/orders?status=: the orders holding the caller's products, each with only the caller's lines.

use storefront::api::prelude::*;
use storefront::domain::{OrderStatus, ValidationErrors};

use storefront::services::orders;

storefront::route!(GET "/artisan/orders", artisan, handle);

async fn handle(state: AppState, req: Request) -> Result<Response<Body>, ApiError> {
    let caller = caller(&req)?;
    let raw_status = query_param(&req, "status");
    let status = raw_status
        .as_deref()
        .map(|raw| {
            OrderStatus::parse(raw).ok_or_else(|| {
                let names: Vec<&str> = OrderStatus::ALL.iter().map(|s| s.as_str()).collect();
                ValidationErrors::single("status", format!("must be one of: {}", names.join(", ")))
            })
        })
        .transpose()?;
    let scope = format!("artisan-orders:{}?status={}", caller.user_id, raw_status.unwrap_or_default());
    let pages = Pagination::new(&state.cursors, scope);
    let page = orders::list_for_artisan(state.orders.as_ref(), &caller.user_id, status, &pages.request(&req)?).await?;
    pages.respond(page)
}
