//! The order sweeper (scheduled): orders unpaid after the payment window are cancelled, their intent cancelled and
//! their stock returned (a payment that beat the expiry keeps its order); paid orders whose confirmation message
//! was lost are sent to the order worker again; what expired is forgotten (a Postgres store: DynamoDB's TTL does
//! it by itself). Safe to overlap with the workers: every move is conditional.

use storefront::AppState;
use storefront::services::ServiceError;
use storefront::services::sweeper::{self, SweepBudget};

storefront::scheduled_job!(sweep, reaches: QUEUES, PAYMENTS);

pub async fn sweep(state: AppState) -> Result<serde_json::Value, ServiceError> {
    let report =
        sweeper::sweep(&state.payment_ports(), state.payment_window, state.stuck_after, SweepBudget::DEFAULT).await?;
    if report.resent > 0 {
        tracing::warn!(resent = report.resent, "re-sent paid orders whose confirmation was lost");
    }
    if report.backlog_left {
        tracing::warn!(expired = report.expired, "unpaid orders left for the next sweep: more than one run expires");
    }
    let forgotten = state.housekeeping.forget_expired(state.clock.now()).await?;
    let mut report = serde_json::to_value(&report).unwrap_or_default();
    report["forgotten"] = forgotten.into();
    Ok(report)
}
