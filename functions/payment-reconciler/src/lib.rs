//! The payment reconciler (scheduled): lists the orders whose payment and status disagree with the provider or
//! with each other (an intent paid but the order still awaiting it, a cancelled order whose money was not sent
//! back, a shipped part not paid out) and fixes what is safe to fix; its answer lists what it found
//! (docs/operations.md, "Payments").

use storefront::AppState;
use storefront::services::{ServiceError, payments};

storefront::scheduled_job!(reconcile, reaches: QUEUES, PAYMENTS);

pub async fn reconcile(state: AppState) -> Result<serde_json::Value, ServiceError> {
    let report = payments::reconcile(&state.payment_ports(), state.stuck_after).await?;
    if !report.disagreements.is_empty() {
        tracing::warn!(
            found = report.disagreements.len(),
            fixed = report.fixed,
            disagreements = %serde_json::to_string(&report.disagreements).unwrap_or_default(),
            "payments and orders disagreed"
        );
    }
    Ok(serde_json::to_value(&report).unwrap_or_default())
}
