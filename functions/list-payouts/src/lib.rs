//! GET /artisan/payouts?status=: the caller's payouts ledger, newest order first: each shipped part's share, and
//! whether it was transferred (with the transfer's id), is accrued until they connect an account, or is held,
//! cancelled or reversed after a refund or a dispute (with the reason).

use storefront::api::prelude::*;
use storefront::domain::{PayoutStatus, ValidationErrors};

storefront::route!(GET "/artisan/payouts", artisan, handle);

async fn handle(state: AppState, req: Request) -> Result<Response<Body>, ApiError> {
    let caller = caller(&req)?;
    let raw_status = query_param(&req, "status");
    let status = raw_status
        .as_deref()
        .map(|raw| {
            PayoutStatus::parse(raw).ok_or_else(|| {
                let known: Vec<&str> = PayoutStatus::ALL.iter().map(|s| s.as_str()).collect();
                ValidationErrors::single("status", format!("must be one of: {}", known.join(", ")))
            })
        })
        .transpose()?;
    let scope = format!("payouts:{}?status={}", caller.user_id, raw_status.unwrap_or_default());
    let pages = Pagination::new(&state.cursors, scope);
    let records = state.payment_records.as_ref();
    let page = records.list_payouts(&caller.user_id, status, &pages.request(&req)?).await?;
    let shown =
        storefront::ports::Page { items: page.items.iter().map(|p| p.for_artisan()).collect(), next: page.next };
    pages.respond(shown)
}
