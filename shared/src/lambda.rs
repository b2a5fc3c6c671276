//! Running a function as a Lambda: telemetry, the state built once at init, then the runtime loop, for each kind
//! of function (an HTTP route, a queue worker, a scheduled job). A function's `main` is one line:
//! `fn main() -> storefront::lambda::Result { storefront::lambda::run(get_product::FUNCTION) }`.

use std::future::Future;

use aws_lambda_events::event::sqs::SqsEvent;

use crate::AppState;
use crate::api::Function;
use crate::telemetry::metrics::flush_emf;
use crate::worker::{QueueWorker, ScheduledJob};

pub type Error = lambda_runtime::Error;
pub type Result = std::result::Result<(), Error>;

/// Starts the async runtime and runs `serve` on it until the runtime API stops.
fn block_on(serve: impl Future<Output = Result>) -> Result {
    tokio::runtime::Builder::new_multi_thread().enable_all().build()?.block_on(serve)
}

/// Telemetry and the state, once per cold start; an init failure is logged with the function's name.
async fn init(function: &'static str) -> std::result::Result<AppState, Error> {
    crate::telemetry::init();
    let state = AppState::from_env().await.inspect_err(|error| tracing::error!(function, %error, "init failed"))?;
    Ok(state)
}

/// An HTTP route behind API Gateway.
pub fn run(function: Function) -> Result {
    block_on(async move {
        let state = init(function.route.function).await?;
        state.warm_up().await;
        lambda_http::run(lambda_http::service_fn(move |req| {
            let state = state.clone();
            async move {
                let response = function.call(state, req).await;
                flush_emf(function.route.function);
                Ok::<_, Error>(response)
            }
        }))
        .await
    })
}

/// An SQS-triggered worker (partial batch failures).
pub fn run_worker(worker: QueueWorker) -> Result {
    block_on(async move {
        let state = init(worker.function).await?;
        lambda_runtime::run(lambda_runtime::service_fn(move |event: lambda_runtime::LambdaEvent<SqsEvent>| {
            let state = state.clone();
            async move {
                let response = worker.batch(&state, event.payload).await;
                flush_emf(worker.function);
                Ok::<_, Error>(response)
            }
        }))
        .await
    })
}

/// A scheduled job (EventBridge); its JSON summary is the invocation's answer, its failure the invocation's error.
pub fn run_job(job: ScheduledJob) -> Result {
    block_on(async move {
        let state = init(job.function).await?;
        lambda_runtime::run(lambda_runtime::service_fn(move |_: lambda_runtime::LambdaEvent<serde_json::Value>| {
            let state = state.clone();
            async move {
                let summary = (job.run)(state).await.map_err(|e| Error::from(e.to_string()));
                flush_emf(job.function);
                summary
            }
        }))
        .await
    })
}
