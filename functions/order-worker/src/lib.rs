//! The order worker (SQS): confirms a placed order and delivers its confirmation: the status moves once
//! (conditional write) and the notice is delivered until it has been, however often the message arrives.
//! Malformed messages fail until the queue moves them to the dead-letter queue.

use aws_lambda_events::event::sqs::SqsMessage;
use storefront::AppState;
use storefront::domain::OrderStatus;
use storefront::ports::OrderPlaced;
use storefront::services::ServiceError;
use storefront::services::orders::{self, Confirmation};
use storefront::worker::WorkerError;

storefront::queue_worker!(Orders, handle);

pub async fn handle(state: AppState, message: SqsMessage) -> Result<(), WorkerError> {
    let body = message.body.as_deref().ok_or_else(|| WorkerError::Poison("empty message body".into()))?;
    let placed: OrderPlaced =
        serde_json::from_str(body).map_err(|e| WorkerError::Poison(format!("not an OrderPlaced message: {e}")))?;
    let retry = |error: ServiceError| WorkerError::Retryable(Box::new(error));
    let order = match orders::confirm(state.orders.as_ref(), state.clock.as_ref(), &placed).await {
        Ok(Confirmation::Confirmed(order)) => order,
        // Cancelled first: nothing to confirm or announce.
        Ok(Confirmation::AlreadyHandled(order)) if order.status == OrderStatus::Cancelled => return Ok(()),
        // A duplicate: the order moved on already, but its confirmation may not have gone out yet.
        Ok(Confirmation::AlreadyHandled(order)) => order,
        Err(ServiceError::NotFound(_)) => {
            return Err(WorkerError::Poison(format!("order {} does not exist", placed.order_id)));
        }
        Err(error) => return Err(retry(error)),
    };
    let delivered =
        orders::deliver_confirmation(state.orders.as_ref(), state.notifier.as_ref(), state.clock.as_ref(), &order)
            .await
            .map_err(retry)?;
    tracing::info!(order_id = %order.order_id, delivered, "order confirmed");
    Ok(())
}
