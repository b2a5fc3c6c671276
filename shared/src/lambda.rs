//! Running one route as a Lambda function: telemetry, state built once at init, then the runtime loop.

use crate::AppState;
use crate::http::Function;

pub async fn serve(function: Function) -> Result<(), lambda_http::Error> {
    crate::telemetry::init();
    let state = AppState::from_env().await.inspect_err(|error| {
        tracing::error!(function = function.route.function, %error, "init failed");
    })?;
    state.warm_up().await;
    lambda_http::run(lambda_http::service_fn(move |req| {
        let state = state.clone();
        async move {
            let response = function.call(state, req).await;
            crate::telemetry::metrics::flush_emf(function.route.function);
            Ok::<_, lambda_http::Error>(response)
        }
    }))
    .await
}
