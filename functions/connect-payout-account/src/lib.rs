//! PUT /artisan/payout-account {"account_id"}: where the caller's shares are transferred (their connected account
//! at the payment provider). Everything accrued so far is transferred right after, by the payment worker. Setting
//! the same account again changes nothing.

use serde::Deserialize;
use storefront::api::prelude::*;
use storefront::domain::ProviderRef;
use storefront::services::payouts;

storefront::route!(PUT "/artisan/payout-account", artisan, handle, reaches: QUEUES);

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PayoutAccountInput {
    account_id: String,
}

async fn handle(state: AppState, req: Request) -> Result<Response<Body>, ApiError> {
    let caller = caller(&req)?;
    let input: PayoutAccountInput = json_body(&req)?;
    let account_id = ProviderRef::parse_field(&input.account_id, "account_id")?;
    let (records, queue) = (state.payment_records.as_ref(), state.payment_queue.as_ref());
    let account = payouts::connect_account(records, queue, &caller.user_id, account_id, state.clock.now()).await?;
    json(StatusCode::OK, &account)
}
