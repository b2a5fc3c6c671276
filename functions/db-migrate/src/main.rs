use lambda_runtime::{Error, LambdaEvent, service_fn};
use serde_json::Value;

fn main() -> Result<(), Error> {
    tokio::runtime::Builder::new_multi_thread().enable_all().build()?.block_on(async {
        storefront::telemetry::init();
        let settings = db_migrate::Settings::from_env()?;
        let sdk = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
        lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| {
            let (settings, sdk) = (settings.clone(), sdk.clone());
            async move { handle(event.payload, &settings, &sdk).await }
        }))
        .await
    })
}

/// A custom resource request (Create and Update migrate; Delete leaves the data), or a direct invocation.
async fn handle(event: Value, settings: &db_migrate::Settings, sdk: &aws_config::SdkConfig) -> Result<Value, Error> {
    if event.get("RequestType").is_none() {
        return Ok(db_migrate::migrate(settings, sdk).await?);
    }
    let request: db_migrate::CustomResourceRequest = serde_json::from_value(event)?;
    let outcome = match request.request_type.as_str() {
        "Delete" => Ok(Value::Null),
        _ => db_migrate::migrate(settings, sdk).await,
    };
    if let Err(error) = &outcome {
        tracing::error!(%error, "migration failed; CloudFormation rolls the deploy back");
    }
    let answer = db_migrate::custom_resource_answer(&request, &outcome);
    db_migrate::send_answer(&request.response_url, &answer).await?;
    Ok(answer)
}
