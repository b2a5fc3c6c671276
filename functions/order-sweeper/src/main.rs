//! Lambda entry point of `order-sweeper` (EventBridge schedule).

use storefront::services::orders::STUCK_AFTER;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    storefront::telemetry::init();
    let state = storefront::AppState::from_env().await?;
    lambda_runtime::run(lambda_runtime::service_fn(move |_: lambda_runtime::LambdaEvent<serde_json::Value>| {
        let state = state.clone();
        async move {
            let resent = order_sweeper::sweep(&state, STUCK_AFTER)
                .await
                .map_err(|e| lambda_runtime::Error::from(e.to_string()))?;
            storefront::telemetry::metrics::flush_emf("order-sweeper");
            Ok::<_, lambda_runtime::Error>(serde_json::json!({ "resent": resent }))
        }
    }))
    .await
}
