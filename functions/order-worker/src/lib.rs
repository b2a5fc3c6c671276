//! The order worker (SQS): confirms a paid order and delivers its confirmation: the status moves once
//! (conditional write) and the notice is delivered until it has been, however often the message arrives.
//! Malformed messages fail until the queue moves them to the dead-letter queue.

use aws_lambda_events::event::sqs::SqsMessage;
use storefront::AppState;
use storefront::domain::{OrderRef, OrderStatus};
use storefront::services::ServiceError;
use storefront::services::orders::{self, Confirmation};
use storefront::worker::WorkerError;

storefront::queue_worker!(Orders, handle, reaches: EMAIL);

pub async fn handle(state: AppState, message: SqsMessage) -> Result<(), WorkerError> {
    let body = message.body.as_deref().ok_or_else(|| WorkerError::Poison("empty message body".into()))?;
    let paid: OrderRef =
        serde_json::from_str(body).map_err(|e| WorkerError::Poison(format!("not a paid order's reference: {e}")))?;
    let retry = |error: ServiceError| WorkerError::Retryable(Box::new(error));
    let order = match orders::confirm(&state.order_ports(), &paid).await {
        Ok(Confirmation::Confirmed(order)) => order,
        // Cancelled first, or not paid: nothing to confirm or announce.
        Ok(Confirmation::AlreadyHandled(order))
            if matches!(order.status, OrderStatus::Cancelled | OrderStatus::AwaitingPayment) =>
        {
            return Ok(());
        }
        // A duplicate: the order moved on already, but its confirmation may not have gone out yet.
        Ok(Confirmation::AlreadyHandled(order)) => order,
        Err(ServiceError::NotFound(_)) => {
            return Err(WorkerError::Poison(format!("order {} does not exist", paid.order_id)));
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
