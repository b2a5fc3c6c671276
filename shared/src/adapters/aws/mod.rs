//! AWS SDK configuration shared by every client.

use aws_config::{BehaviorVersion, SdkConfig};

/// Pinned on purpose: a new behaviour version (retry, timeout, checksum defaults) is a change we review.
pub fn behavior_version() -> BehaviorVersion {
    BehaviorVersion::v2026_01_12()
}

/// SDK configuration from the environment (Lambda's role credentials and region). Endpoint overrides such as
/// `AWS_ENDPOINT_URL_DYNAMODB` are honoured by the SDK itself, which is how moto or a local engine is reached.
pub async fn sdk_config() -> SdkConfig {
    aws_config::defaults(behavior_version()).load().await
}

/// SDK configuration for an AWS-compatible endpoint on this machine (the local server, tests): fixed region
/// and dummy credentials, so nothing looks for a profile or an instance role.
pub async fn local_sdk_config(endpoint_url: &str) -> SdkConfig {
    aws_config::defaults(behavior_version())
        .region(aws_config::Region::new("us-east-1"))
        .endpoint_url(endpoint_url)
        .credentials_provider(aws_credential_types::Credentials::from_keys(
            "local", "local", None,
        ))
        .load()
        .await
}
