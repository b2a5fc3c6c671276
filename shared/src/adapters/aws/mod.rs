//! AWS SDK configuration shared by every client.

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
pub async fn sdk_config() -> SdkConfig {
    aws_config::defaults(behavior_version()).timeout_config(timeouts()).load().await
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
