//! Running SQS-triggered work: one message at a time through a handler, failures reported per message
//! (`ReportBatchItemFailures`) so one poison message never makes the batch's good messages run again.

use std::future::Future;

use aws_lambda_events::event::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent, SqsMessage};

use crate::telemetry::metrics::{self, Metric};

/// Receives before a queue moves a failing message to its dead-letter queue (`maxReceiveCount` in template.yaml).
pub const MAX_RECEIVE_COUNT: u32 = 5;

#[derive(Debug, thiserror::Error)]
pub enum WorkerError {
    /// The message can never succeed (malformed); it fails until the queue moves it to the dead-letter queue.
    #[error("poison message: {0}")]
    Poison(String),
    /// A dependency failed; the message becomes visible again and is retried.
    #[error("retryable failure")]
    Retryable(#[source] Box<dyn std::error::Error + Send + Sync>),
}

/// Runs `handle` on every message of the batch and names the ones that failed.
pub async fn process_batch<F, Fut>(event: SqsEvent, handle: F) -> SqsBatchResponse
where
    F: Fn(SqsMessage) -> Fut,
    Fut: Future<Output = Result<(), WorkerError>>,
{
    let mut response = SqsBatchResponse::default();
    for message in event.records {
        let id = message.message_id.clone().unwrap_or_default();
        let receive_count = message.attributes.get("ApproximateReceiveCount").cloned().unwrap_or_default();
        if let Err(error) = handle(message).await {
            tracing::warn!(message_id = %id, receive_count, error = %error, cause = ?std::error::Error::source(&error).map(ToString::to_string), "message failed");
            if receive_count.parse::<u32>().is_ok_and(|n| n >= MAX_RECEIVE_COUNT) {
                tracing::error!(message_id = %id, "message failed its last receive; the queue moves it to the dead-letter queue");
                metrics::count(Metric::DlqSends);
            }
            let mut failure = BatchItemFailure::default();
            failure.item_identifier = id;
            response.batch_item_failures.push(failure);
        }
    }
    response
}

/// Runs an SQS worker as a Lambda function; `function` names it in its metrics (the binary name).
pub async fn serve<F, Fut>(function: &'static str, handle: F) -> Result<(), lambda_runtime::Error>
where
    F: Fn(crate::AppState, SqsMessage) -> Fut + Copy + Send + 'static,
    Fut: Future<Output = Result<(), WorkerError>> + Send,
{
    crate::telemetry::init();
    let state = crate::AppState::from_env().await?;
    lambda_runtime::run(lambda_runtime::service_fn(move |event: lambda_runtime::LambdaEvent<SqsEvent>| {
        let state = state.clone();
        async move {
            let response = process_batch(event.payload, |m| handle(state.clone(), m)).await;
            metrics::flush_emf(function);
            Ok::<_, lambda_runtime::Error>(response)
        }
    }))
    .await
}
