//! The payment worker (SQS): the only function holding the payment provider's key. Provider events move orders
//! (paid, then confirmed by the order worker; failed or cancelled, stock returned), cancelled orders are settled
//! (intent cancelled, or money refunded), shipped parts are paid out to the artisans. Every provider call is named
//! by what it is for and every move is conditional, so a redelivered, duplicate or reordered message changes
//! nothing twice. Malformed messages fail until the queue moves them to the dead-letter queue.

use aws_lambda_events::event::sqs::SqsMessage;
use storefront::AppState;
use storefront::ports::PaymentMessage;
use storefront::services::payments;
use storefront::worker::WorkerError;

storefront::queue_worker!(Payments, handle, reaches: QUEUES, PAYMENTS);

pub async fn handle(state: AppState, message: SqsMessage) -> Result<(), WorkerError> {
    let body = message.body.as_deref().ok_or_else(|| WorkerError::Poison("empty message body".into()))?;
    let message: PaymentMessage =
        serde_json::from_str(body).map_err(|e| WorkerError::Poison(format!("not a payment message: {e}")))?;
    payments::handle(&state.payment_ports(), &message).await.map_err(|error| WorkerError::Retryable(Box::new(error)))
}
