//! Opening the connection to DynamoDB without an API call: the endpoint's health check, `GET /`, which DynamoDB
//! answers `200 healthy: dynamodb.<region>.amazonaws.com` without authorizing or reading anything.
//!
//! It is sent through the client's own pipeline (a `DescribeTable` rewritten just before it leaves), so it goes
//! where the client's requests go (the endpoint as the client resolves it, `AWS_ENDPOINT_URL_DYNAMODB` included)
//! on the HTTP connector the client's requests use: that connector's pool keeps the connection, and the next
//! request finds it open (DNS, TCP and TLS done). Building the request by hand would need the endpoint and the
//! connector settings worked out again, and a mismatch would open a pool of its own that nothing reuses.

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::config::interceptors::BeforeTransmitInterceptorContextMut;
use aws_sdk_dynamodb::config::{ConfigBag, Intercept, RuntimeComponents};
use aws_sdk_dynamodb::error::{BoxError, SdkError};

use crate::ports::{StoreError, StoreWork};

/// What the health check keeps of the request: where it goes and who sends it, not the operation (its target,
/// body, signature) that a `GET` does not carry.
const KEPT_HEADERS: &[&str] = &["user-agent", "x-amz-user-agent", "amz-sdk-invocation-id"];

/// Turns the operation's request into `GET /` on the same endpoint.
#[derive(Debug)]
struct HealthCheck;

impl Intercept for HealthCheck {
    fn name(&self) -> &'static str {
        "HealthCheck"
    }

    fn modify_before_transmit(
        &self,
        context: &mut BeforeTransmitInterceptorContextMut<'_>,
        _components: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let request = context.request_mut();
        request.set_method("GET")?;
        let _ = request.take_body();
        let dropped: Vec<String> = request
            .headers()
            .iter()
            .map(|(name, _)| name.to_ascii_lowercase())
            .filter(|name| !KEPT_HEADERS.contains(&name.as_str()))
            .collect();
        for name in dropped {
            request.headers_mut().remove(name);
        }
        Ok(())
    }
}

/// Sends the health check; `Ok` when the endpoint answered 2xx (the connection is then pooled, open).
pub(crate) async fn open_connection(client: &Client, table: &str) -> Result<(), StoreError> {
    let sent = client
        .describe_table()
        .table_name(table)
        .customize()
        .interceptor(HealthCheck)
        // One attempt: a failure here is only logged, and the first request opens the connection itself.
        .config_override(
            aws_sdk_dynamodb::Config::builder().retry_config(aws_sdk_dynamodb::config::retry::RetryConfig::disabled()),
        )
        .send()
        .await;
    match sent {
        Ok(_) => Ok(()),
        // The answer is not a `DescribeTable` output, so the operation "fails" to read it: the status says
        // whether the endpoint answered.
        Err(error) if error.raw_response().is_some_and(|raw| raw.status().is_success()) => Ok(()),
        Err(SdkError::ServiceError(error)) => {
            Err(StoreError::unexpected(format!("health check answered {}", error.raw().status())))
        }
        Err(error) => Err(super::store_error(error)),
    }
}

/// The connections a request doing `work` takes at once: over HTTP/1.1 each call in flight needs its own, and a
/// listing reads every shard of the catalog's index together (`keys::CATALOG_SHARDS`). What a cold start opens early
/// for its first request (`HttpsClient::open_early`).
pub fn connections_for(work: StoreWork) -> usize {
    match work {
        StoreWork::OneCall => 1,
        StoreWork::Listing => super::keys::CATALOG_SHARDS as usize,
        StoreWork::ReadBesideWrite => 2,
    }
}

/// Where a DynamoDB client built on `sdk` sends its requests, as its endpoint rules resolve it: the override
/// (`AWS_ENDPOINT_URL_DYNAMODB`, else `AWS_ENDPOINT_URL`) as it is, or the region's endpoint, FIPS and dual-stack as
/// configured. For the connection init opens ahead of the first request (`HttpsClient::open_early`); a guess that
/// misses costs one unused connection, since only a request to the same endpoint takes it.
pub async fn endpoint(sdk: &aws_config::SdkConfig) -> Option<http::Uri> {
    endpoint_of(std::env::var("AWS_ENDPOINT_URL_DYNAMODB").ok().filter(|url| !url.is_empty()), sdk).await
}

async fn endpoint_of(configured: Option<String>, sdk: &aws_config::SdkConfig) -> Option<http::Uri> {
    use aws_sdk_dynamodb::config::endpoint::{DefaultResolver, Params, ResolveEndpoint};
    // The rules take an override as it is; skipping them here leaves the partition table (parsed, its patterns
    // compiled, by the resolver) to the client's first request.
    if let Some(url) = configured.as_deref().or(sdk.endpoint_url()) {
        return url.parse().ok();
    }
    let params = Params::builder()
        .set_region(sdk.region().map(ToString::to_string))
        .set_use_fips(sdk.use_fips())
        .set_use_dual_stack(sdk.use_dual_stack())
        .build()
        .ok()?;
    let endpoint = DefaultResolver::new().resolve_endpoint(&params).await.ok()?;
    endpoint.url().parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_endpoint_is_the_override_as_it_is_or_the_regions_by_the_rules() {
        let sdk = |region: &str| aws_config::SdkConfig::builder().region(aws_config::Region::new(region.to_owned()));
        let at = |uri: Option<http::Uri>| uri.map(|uri| uri.to_string());
        let local = Some("http://127.0.0.1:8000".to_owned());
        assert_eq!(at(endpoint_of(local, &sdk("eu-west-1").build()).await), Some("http://127.0.0.1:8000/".into()));
        let shared = sdk("eu-west-1").endpoint_url("https://proxy.example:8443").build();
        assert_eq!(at(endpoint_of(None, &shared).await), Some("https://proxy.example:8443/".into()));
        let regional = endpoint_of(None, &sdk("eu-west-1").build()).await;
        assert_eq!(at(regional), Some("https://dynamodb.eu-west-1.amazonaws.com/".into()));
        let china = endpoint_of(None, &sdk("cn-north-1").build()).await;
        assert_eq!(at(china), Some("https://dynamodb.cn-north-1.amazonaws.com.cn/".into()));
        let fips = sdk("us-east-1").use_fips(true).build();
        assert_eq!(at(endpoint_of(None, &fips).await), Some("https://dynamodb-fips.us-east-1.amazonaws.com/".into()));
    }
}
