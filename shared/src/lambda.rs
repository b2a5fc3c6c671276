//! Running a function as a Lambda: telemetry, the state built once at init, then the runtime loop, for each kind
//! of function (an HTTP route, a queue worker, a scheduled job). A function's `main` is one line:
//! `fn main() -> storefront::lambda::Result { storefront::lambda::run(get_product::FUNCTION) }`.

use std::future::Future;
use std::time::{Duration, Instant, SystemTime};

use aws_lambda_events::event::sqs::SqsEvent;

use crate::AppState;
use crate::api::Function;
use crate::config::{StoreConfig, WarmUp};
use crate::telemetry::metrics::flush_emf;
use crate::worker::{QueueWorker, ScheduledJob};

pub type Error = lambda_runtime::Error;
pub type Result = std::result::Result<(), Error>;

/// The steps of one cold start, each timed, logged once per instance as the `cold start` line: CloudWatch shows
/// where an instance's init went, and `make bench` reads the same line for its breakdown (docs/benchmarks.md).
pub struct ColdStart {
    function: &'static str,
    /// When `main` began, as wall-clock time: whoever started the process subtracts its own clock to get
    /// exec → main (the loader, relocations), which nothing inside the process can see.
    main_at: SystemTime,
    last: Instant,
    phases: Vec<(&'static str, Duration)>,
}

/// The log message of the breakdown line, which the bench looks for.
pub const COLD_START: &str = "cold start";

impl ColdStart {
    fn begin(function: &'static str) -> Self {
        Self { function, main_at: SystemTime::now(), last: Instant::now(), phases: Vec::with_capacity(8) }
    }

    /// Closes `phase`: the time since the previous mark.
    fn mark(&mut self, phase: &'static str) {
        let now = Instant::now();
        self.phases.push((phase, now - self.last));
        self.last = now;
    }

    /// One line: `main_at_unix_us` and `phases_us` (`name=µs` pairs, in order). What follows it until the first
    /// poll is the runtime's own start.
    fn log(&self) {
        let since_epoch = self.main_at.duration_since(SystemTime::UNIX_EPOCH).unwrap_or_default();
        let main_at_unix_us = u64::try_from(since_epoch.as_micros()).unwrap_or(u64::MAX);
        let phases_us: Vec<String> = self.phases.iter().map(|(name, d)| format!("{name}={}", d.as_micros())).collect();
        tracing::info!(function = self.function, main_at_unix_us, phases_us = phases_us.join(" "), "{COLD_START}");
    }
}

/// Starts the async runtime and runs `serve` on it until the runtime API stops. One thread: an instance serves one
/// event at a time, and worker threads would only be started (at init) to wait.
fn block_on<F: Future<Output = Result>>(function: &'static str, serve: impl FnOnce(ColdStart) -> F) -> Result {
    let mut cold_start = ColdStart::begin(function);
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    cold_start.mark("runtime");
    runtime.block_on(serve(cold_start))
}

/// Telemetry and the state, once per cold start; an init failure is logged with the function's name.
/// `work`: what its first request asks of the store at once (the store's connections to open early for it).
async fn init(
    cold_start: &mut ColdStart,
    build: crate::app::Build,
    work: crate::ports::StoreWork,
) -> std::result::Result<AppState, Error> {
    crate::telemetry::init();
    cold_start.mark("telemetry");
    let function = cold_start.function;
    let failed = |error: &crate::config::ConfigError| tracing::error!(function, %error, "init failed");
    let config = crate::config::Config::from_env().inspect_err(failed)?;
    cold_start.mark("config");
    let (sdk, https) = crate::adapters::aws::sdk_config().await.inspect_err(failed)?;
    cold_start.mark("sdk_config");
    let state = build(&sdk, &config).inspect_err(failed)?;
    // The store's connections open on the runtime while the function polls for its first event and works up to
    // its first store calls, which take them (`WarmUp::Connect`).
    if let (Some(https), StoreConfig::DynamoDb { .. }, WarmUp::Connect | WarmUp::AtInit) =
        (https, &config.store, config.warm_up)
        && let Some(endpoint) = crate::adapters::dynamodb::endpoint(&sdk).await
    {
        https.open_early(&endpoint, crate::adapters::dynamodb::connections_for(work));
    }
    cold_start.mark("clients");
    Ok(state)
}

/// An HTTP route behind API Gateway.
pub fn run(function: Function) -> Result {
    block_on(function.route.function, |mut cold_start| async move {
        let state = init(&mut cold_start, function.build, function.store_work).await?;
        state.warm_up().await;
        cold_start.mark("warm_up");
        cold_start.log();
        lambda_http::run(lambda_http::service_fn(move |req| {
            let state = state.clone();
            async move {
                let response = function.call(state, req).await;
                flush_emf(function.route.function);
                Ok::<_, Error>(AsIs(response))
            }
        }))
        .await
    })
}

/// A route's answer, handed to the runtime as it is. `lambda_http` would otherwise convert the body of every
/// `Response<Body>` by its content type (`ConvertBody`): a text body decoded again through encoding_rs into a copy,
/// and at the first response encoding_rs's own CPU feature detection, a few `cpuid`s that a virtual machine makes
/// expensive. Every answer here is already `Body::Text` (JSON, problem+json, HTML) or `Body::Empty`, which Lambda
/// then sends without a body (304, 204) where the conversion made it an empty text.
struct AsIs(lambda_http::Response<lambda_http::Body>);

impl lambda_http::IntoResponse for AsIs {
    fn into_response(self) -> std::pin::Pin<Box<dyn Future<Output = lambda_http::Response<lambda_http::Body>> + Send>> {
        Box::pin(std::future::ready(self.0))
    }
}

/// An SQS-triggered worker (partial batch failures).
pub fn run_worker(worker: QueueWorker) -> Result {
    block_on(worker.function, |mut cold_start| async move {
        let state = init(&mut cold_start, worker.build, crate::ports::StoreWork::OneCall).await?;
        cold_start.log();
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
    block_on(job.function, |mut cold_start| async move {
        let state = init(&mut cold_start, job.build, crate::ports::StoreWork::OneCall).await?;
        cold_start.log();
        lambda_runtime::run(lambda_runtime::service_fn(move |_: lambda_runtime::LambdaEvent<serde_json::Value>| {
            let state = state.clone();
            async move {
                let summary = job.invoke(state).await.map_err(|e| Error::from(e.to_string()));
                flush_emf(job.function);
                summary
            }
        }))
        .await
    })
}
