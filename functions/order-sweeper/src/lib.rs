//! The order sweeper (scheduled): re-sends `OrderPlaced` for orders still `placed` after a while, so an order whose
//! message was lost after commit is still confirmed. Safe to overlap with the worker: confirming is idempotent.

use storefront::AppState;
use storefront::services::{ServiceError, orders};

storefront::scheduled_job!(sweep);

pub async fn sweep(state: AppState) -> Result<serde_json::Value, ServiceError> {
    let (orders, queue, clock) = (state.orders.as_ref(), state.queue.as_ref(), state.clock.as_ref());
    let resent = orders::sweep(orders, queue, clock, state.stuck_after).await?;
    if resent > 0 {
        tracing::warn!(resent, "re-sent OrderPlaced for stuck orders");
    }
    Ok(serde_json::json!({ "resent": resent }))
}
