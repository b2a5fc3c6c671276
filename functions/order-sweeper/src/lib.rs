//! The order sweeper (scheduled): re-sends `OrderPlaced` for orders still `placed` after a while, so an order whose
//! message was lost after commit is still confirmed. Safe to overlap with the worker: confirming is idempotent.

use storefront::AppState;
use storefront::services::{ServiceError, orders};

pub async fn sweep(state: &AppState, stuck_after: time::Duration) -> Result<usize, ServiceError> {
    let sent = orders::sweep(state.orders.as_ref(), state.queue.as_ref(), state.clock.as_ref(), stuck_after).await?;
    if sent > 0 {
        tracing::warn!(resent = sent, "re-sent OrderPlaced for stuck orders");
    }
    Ok(sent)
}
