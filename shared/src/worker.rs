//! Work that is not an HTTP route: SQS-triggered workers, one message at a time with failures reported per message
//! (`ReportBatchItemFailures`, so one poison message never makes the batch's good messages run again), and jobs on
//! a schedule. Each is declared once (`queue_worker!`, `scheduled_job!`) and run the same way by its Lambda binary
//! (`lambda::run_worker`, `lambda::run_job`) and by the local server.

use std::future::Future;
use std::pin::Pin;

use aws_lambda_events::event::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent, SqsMessage};

use crate::AppState;
use crate::services::ServiceError;
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

/// The queue that feeds a worker: its SQS event source in template.yaml, a local queue in `make dev`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Queue {
    /// Paid orders to confirm (the order queue).
    Orders,
    /// Payment work: provider events, settlements, payouts (the payment queue).
    Payments,
    /// S3 `ObjectCreated` notifications for uploads (the image queue).
    Images,
}

pub type MessageFuture = Pin<Box<dyn Future<Output = Result<(), WorkerError>> + Send>>;

/// An SQS-triggered function: its queue and what it does with one message.
#[derive(Clone, Copy)]
pub struct QueueWorker {
    /// The crate and binary name.
    pub function: &'static str,
    pub queue: Queue,
    pub handle: fn(AppState, SqsMessage) -> MessageFuture,
    /// What it reaches besides its store.
    pub reach: crate::app::Reach,
    /// Its init's state, for that reach.
    pub build: crate::app::Build,
}

pub type JobFuture = Pin<Box<dyn Future<Output = Result<serde_json::Value, ServiceError>> + Send>>;

/// A function run on a schedule (EventBridge in AWS, a timer locally); it answers a JSON summary of its run.
#[derive(Clone, Copy)]
pub struct ScheduledJob {
    /// The crate and binary name.
    pub function: &'static str,
    pub run: fn(AppState) -> JobFuture,
    /// What it reaches besides its store.
    pub reach: crate::app::Reach,
    /// Its init's state, for that reach.
    pub build: crate::app::Build,
}

/// Declares the crate's SQS worker as `pub const WORKER`: its queue (`Orders`, `Payments`, `Images`), its handler, an
/// `async fn(AppState, SqsMessage) -> Result<(), WorkerError>`, and what else it reaches (as in `route!`). Named
/// after its crate.
#[macro_export]
macro_rules! queue_worker {
    ($queue:ident, $handler:path $(, reaches: $($reach:ident),+)?) => {
        pub const WORKER: $crate::worker::QueueWorker = $crate::worker::QueueWorker {
            function: env!("CARGO_PKG_NAME"),
            queue: $crate::worker::Queue::$queue,
            handle: |state, message| Box::pin($handler(state, message)),
            reach: $crate::reach!($($($reach),+)?),
            build: $crate::app::AppState::for_function::<{ $crate::reach!($($($reach),+)?).bits() }>,
        };
    };
}

/// Declares the crate's scheduled job as `pub const JOB`: an `async fn(AppState) -> Result<Value, ServiceError>`,
/// and what else it reaches (as in `route!`).
#[macro_export]
macro_rules! scheduled_job {
    ($run:path $(, reaches: $($reach:ident),+)?) => {
        pub const JOB: $crate::worker::ScheduledJob = $crate::worker::ScheduledJob {
            function: env!("CARGO_PKG_NAME"),
            run: |state| Box::pin($run(state)),
            reach: $crate::reach!($($($reach),+)?),
            build: $crate::app::AppState::for_function::<{ $crate::reach!($($($reach),+)?).bits() }>,
        };
    };
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

impl QueueWorker {
    /// One batch, as the event source mapping delivers it.
    pub async fn batch(&self, state: &AppState, event: SqsEvent) -> SqsBatchResponse {
        let state = state.clone().reaching(self.reach);
        process_batch(event, |message| (self.handle)(state.clone(), message)).await
    }
}

impl ScheduledJob {
    /// One run, on the state as this job reaches it.
    pub fn invoke(&self, state: AppState) -> JobFuture {
        (self.run)(state.reaching(self.reach))
    }
}
