//! The payment reconciler (scheduled): what the store owes is compared with the provider and fixed where that is
//! safe: an intent paid or cancelled while its order still awaits payment (a lost webhook), a cancelled order whose
//! money was not sent back, a shipped part not paid out, payouts that waited for an account now connected. Work that
//! keeps failing backs off; what the provider refuses is parked for an operator (docs/operations.md, "Payments").

use storefront::AppState;
use storefront::services::ServiceError;
use storefront::services::reconciler::{self, ReconcileBudget};

storefront::scheduled_job!(reconcile, reaches: QUEUES, PAYMENTS);

pub async fn reconcile(state: AppState) -> Result<serde_json::Value, ServiceError> {
    let report = reconciler::reconcile(&state.payment_ports(), state.stuck_after, ReconcileBudget::DEFAULT).await?;
    if !report.disagreements.is_empty() {
        tracing::warn!(
            found = report.disagreements.len(),
            fixed = report.fixed,
            disagreements = %serde_json::to_string(&report.disagreements).unwrap_or_default(),
            "payments and orders disagreed"
        );
    }
    if !report.unfinished.is_empty() {
        tracing::warn!(unfinished = ?report.unfinished, "lists left for the next run: more than one run's work");
    }
    Ok(serde_json::to_value(&report).unwrap_or_default())
}
