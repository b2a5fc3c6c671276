//! The order worker (SQS): confirms a placed order and records its confirmation notice, once per order however
//! often the message arrives. Malformed messages fail until the queue moves them to the dead-letter queue.

use aws_lambda_events::event::sqs::SqsMessage;
use storefront::AppState;
use storefront::ports::OrderPlaced;
use storefront::services::ServiceError;
use storefront::services::orders::{self, Confirmation};
use storefront::worker::WorkerError;

pub async fn handle(state: AppState, message: SqsMessage) -> Result<(), WorkerError> {
    let body = message.body.as_deref().ok_or_else(|| WorkerError::Poison("empty message body".into()))?;
    let placed: OrderPlaced =
        serde_json::from_str(body).map_err(|e| WorkerError::Poison(format!("not an OrderPlaced message: {e}")))?;
    match orders::confirm(state.orders.as_ref(), state.clock.as_ref(), &placed).await {
        Ok(Confirmation::Confirmed(order)) => {
            // The notice item was written with the status change; this is its delivery (email via SES when wired).
            tracing::info!(order_id = %order.order_id, total = order.total.amount, lines = order.items.len(), "order confirmed; confirmation sent");
            Ok(())
        }
        Ok(Confirmation::AlreadyHandled(status)) => {
            tracing::info!(order_id = %placed.order_id, status = status.as_str(), "duplicate or late OrderPlaced ignored");
            Ok(())
        }
        Err(ServiceError::NotFound(_)) => Err(WorkerError::Poison(format!("order {} does not exist", placed.order_id))),
        Err(error) => Err(WorkerError::Retryable(Box::new(error))),
    }
}
