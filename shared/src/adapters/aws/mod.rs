//! AWS SDK configuration shared by every client.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, SdkConfig};

/// Pinned on purpose: a new behaviour version (retry, timeout, checksum defaults) is a change we review.
pub fn behavior_version() -> BehaviorVersion {
    BehaviorVersion::v2026_01_12()
}

/// Bounded waits, well inside the Lambda timeout (10 s): a slow attempt is abandoned and retried (writes carry
/// idempotency tokens where a retry could repeat them) instead of holding a shopper for seconds.
pub fn timeouts() -> TimeoutConfig {
    TimeoutConfig::builder()
        .connect_timeout(Duration::from_secs(1))
        .operation_attempt_timeout(Duration::from_secs(2))
        .operation_timeout(Duration::from_secs(7))
        .build()
}

/// SDK configuration from the environment (Lambda's role credentials and region). Endpoint overrides such as
/// `AWS_ENDPOINT_URL_DYNAMODB` are honoured by the SDK itself, which is how moto or a local engine is reached.
///
/// In Lambda the region and the execution role's credentials are environment variables, so they are taken from
/// there directly: the default chains would look for the same answer through profile files, web identity, the
/// container and instance metadata providers, whose set-up cost every cold start milliseconds
/// (docs/benchmarks.md, "Where a cold start goes"). Anywhere else (a laptop, CI) the default chains run.
pub async fn sdk_config() -> SdkConfig {
    let loader = aws_config::defaults(behavior_version()).timeout_config(timeouts());
    let in_lambda = std::env::var_os("AWS_LAMBDA_FUNCTION_NAME").is_some();
    let loader = match std::env::var("AWS_REGION") {
        Ok(region) if in_lambda && std::env::var_os("AWS_ACCESS_KEY_ID").is_some() => loader
            .region(aws_config::Region::new(region))
            .credentials_provider(aws_config::environment::EnvironmentVariableCredentialsProvider::new()),
        _ => loader,
    };
    loader.load().await
}

/// SDK configuration for an AWS-compatible endpoint on this machine (the local server, tests): fixed region
/// and dummy credentials, so nothing looks for a profile or an instance role.
pub async fn local_sdk_config(endpoint_url: &str) -> SdkConfig {
    aws_config::defaults(behavior_version())
        .region(aws_config::Region::new("us-east-1"))
        .endpoint_url(endpoint_url)
        .credentials_provider(aws_credential_types::Credentials::from_keys("local", "local", None))
        .timeout_config(timeouts())
        .load()
        .await
}

/// An SDK client built on its first use, then shared by every clone. Building a client builds its HTTPS
/// connector, which parses the whole trust store (docs/benchmarks.md, "Where a cold start goes"): a function that
/// never sends to a queue, touches a bucket, mails or pays never pays for those clients at init.
pub struct LazyClient<C>(Arc<LazyInner<C>>);

struct LazyInner<C> {
    /// What builds the client; none for one given built.
    recipe: Option<Recipe<C>>,
    client: OnceLock<C>,
}

/// The SDK configuration and the constructor (`aws_sdk_sqs::Client::new`, …).
type Recipe<C> = (SdkConfig, fn(&SdkConfig) -> C);

impl<C> LazyClient<C> {
    /// A client `build` makes from `sdk` the first time one is needed.
    pub fn new(sdk: &SdkConfig, build: fn(&SdkConfig) -> C) -> Self {
        Self(Arc::new(LazyInner { recipe: Some((sdk.clone(), build)), client: OnceLock::new() }))
    }

    /// The client, built now if this is its first use.
    pub fn get(&self) -> &C {
        self.0.client.get_or_init(|| {
            let (sdk, build) = self.0.recipe.as_ref().expect("a client without a recipe is built from the start");
            build(sdk)
        })
    }
}

impl<C> Clone for LazyClient<C> {
    fn clone(&self) -> Self {
        Self(self.0.clone())
    }
}

impl<C: std::fmt::Debug> std::fmt::Debug for LazyClient<C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.0.client.get() {
            Some(client) => client.fmt(f),
            None => f.write_str("LazyClient(not built yet)"),
        }
    }
}

/// A client built already (the local server and tests build theirs up front).
impl<C> From<C> for LazyClient<C> {
    fn from(client: C) -> Self {
        Self(Arc::new(LazyInner { recipe: None, client: OnceLock::from(client) }))
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    static BUILT: AtomicUsize = AtomicUsize::new(0);

    fn counted(_: &SdkConfig) -> usize {
        BUILT.fetch_add(1, Ordering::SeqCst) + 1
    }

    #[test]
    fn a_lazy_client_is_built_on_its_first_use_once_for_every_clone() {
        let sdk = SdkConfig::builder().behavior_version(behavior_version()).build();
        let lazy = LazyClient::new(&sdk, counted);
        let clone = lazy.clone();
        assert_eq!(BUILT.load(Ordering::SeqCst), 0, "nothing built before the first use");
        assert_eq!(*clone.get(), 1);
        assert_eq!((*lazy.get(), *clone.get()), (1, 1), "the clones share the one client");
        assert_eq!(BUILT.load(Ordering::SeqCst), 1);
        assert_eq!(*LazyClient::from(7).get(), 7, "a client given built is used as it is");
    }
}
