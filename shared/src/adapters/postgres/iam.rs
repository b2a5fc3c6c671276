//! IAM database authentication: the password is a token, a SigV4-presigned `connect` request for the database user,
//! valid 15 minutes. It is made the way `aws-sdk-rds`'s `AuthTokenGenerator` makes it (the same signer, the same
//! URL, held to that SDK's own test vector below) without building that SDK: 64 s more per profile on this machine
//! (`cargo build --timings`) for one function.

use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime};

use aws_credential_types::Credentials;
use aws_credential_types::provider::{ProvideCredentials, SharedCredentialsProvider};
use aws_sigv4::http_request::{SignableBody, SignableRequest, SignatureLocation, SigningSettings, sign};
use aws_sigv4::sign::v4;

use crate::ports::StoreError;

/// How long a token is valid (the most RDS accepts).
const TOKEN_LIFETIME: Duration = Duration::from_secs(900);
/// A token older than this is replaced before the next connection opens: a connection opened at 14:59 still has
/// time to authenticate.
pub const REFRESH_AFTER: Duration = Duration::from_secs(600);

/// Where a token is for: the endpoint's host and port, the database user, the region.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenTarget {
    pub host: String,
    pub port: u16,
    pub user: String,
    pub region: String,
}

impl TokenTarget {
    /// The target of a connection URL (`postgres://user@host:port/db`) in `region`.
    pub fn of_url(url: &str, region: &str) -> Option<Self> {
        let url = url::Url::parse(url).ok()?;
        let user = url.username();
        Some(Self {
            host: url.host_str()?.to_owned(),
            port: url.port().unwrap_or(5432),
            user: (!user.is_empty()).then(|| user.to_owned())?,
            region: region.to_owned(),
        })
    }
}

/// The token for `target`, signed with `credentials` at `time`.
pub fn auth_token(credentials: &Credentials, target: &TokenTarget, time: SystemTime) -> Result<String, StoreError> {
    let identity = credentials.clone().into();
    let mut settings = SigningSettings::default();
    settings.expires_in = Some(TOKEN_LIFETIME);
    settings.signature_location = SignatureLocation::QueryParams;
    let params = v4::SigningParams::builder()
        .identity(&identity)
        .region(&target.region)
        .name("rds-db")
        .time(time)
        .settings(settings)
        .build()
        .map_err(StoreError::unexpected)?;
    let url = format!("https://{}:{}/?Action=connect&DBUser={}", target.host, target.port, target.user);
    let request = SignableRequest::new("GET", &url, std::iter::empty(), SignableBody::Bytes(&[]))
        .map_err(StoreError::unexpected)?;
    let (instructions, _signature) = sign(request, &params.into()).map_err(StoreError::unexpected)?.into_parts();
    let mut signed = url::Url::parse(&url).map_err(StoreError::unexpected)?;
    for (name, value) in instructions.params() {
        signed.query_pairs_mut().append_pair(name, value);
    }
    Ok(signed.as_str().trim_start_matches("https://").to_owned())
}

/// The token source of one endpoint: new tokens from the function's role credentials, one at a time.
pub struct IamAuth {
    credentials: SharedCredentialsProvider,
    target: TokenTarget,
    /// When the token in use was made.
    made: Mutex<Option<Instant>>,
}

impl IamAuth {
    pub fn new(credentials: SharedCredentialsProvider, target: TokenTarget) -> Self {
        Self { credentials, target, made: Mutex::new(None) }
    }

    /// Tokens for `url`'s user and host, from the credentials and region of `sdk` (the function's role); why not,
    /// when one of them is missing.
    pub fn for_url(sdk: &aws_config::SdkConfig, url: &str) -> Result<Self, String> {
        let credentials = sdk.credentials_provider().ok_or("IAM auth needs credentials")?;
        let region = sdk.region().ok_or("IAM auth needs a region")?;
        let target = TokenTarget::of_url(url, region.as_ref()).ok_or("IAM auth needs a user and a host in the URL")?;
        Ok(Self::new(credentials, target))
    }

    /// A new token when there is none yet or the current one is past [`REFRESH_AFTER`]; `None` while it is fresh.
    pub async fn token_if_stale(&self) -> Result<Option<String>, StoreError> {
        let now = Instant::now();
        if self
            .made
            .lock()
            .map_err(|_| StoreError::unexpected("token lock poisoned"))?
            .is_some_and(|made| now.duration_since(made) < REFRESH_AFTER)
        {
            return Ok(None);
        }
        let credentials =
            self.credentials.provide_credentials().await.map_err(|error| StoreError::Unavailable(Box::new(error)))?;
        let token = auth_token(&credentials, &self.target, SystemTime::now())?;
        *self.made.lock().map_err(|_| StoreError::unexpected("token lock poisoned"))? = Some(now);
        Ok(Some(token))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target(host: &str, port: u16, user: &str) -> TokenTarget {
        TokenTarget { host: host.into(), port, user: user.into(), region: "us-east-1".into() }
    }

    #[test]
    fn the_token_is_the_one_the_aws_sdk_makes() {
        // aws-sdk-rds's own test vector (`auth_token::test::signing_works`).
        let credentials = Credentials::new("akid", "secret", None, None, "test");
        let time = SystemTime::UNIX_EPOCH + Duration::from_secs(1_724_709_600);
        let token = auth_token(&credentials, &target("prod-instance.us-east-1.rds.amazonaws.com", 3306, "peccy"), time);
        assert_eq!(
            token.expect("signed"),
            "prod-instance.us-east-1.rds.amazonaws.com:3306/?Action=connect&DBUser=peccy&X-Amz-Algorithm=AWS4-HMAC-SHA256\
             &X-Amz-Credential=akid%2F20240826%2Fus-east-1%2Frds-db%2Faws4_request&X-Amz-Date=20240826T220000Z\
             &X-Amz-Expires=900&X-Amz-SignedHeaders=host\
             &X-Amz-Signature=dd0cba843009474347af724090233265628ace491ea17ce3eb3da098b983ad89"
        );
    }

    #[test]
    fn a_session_token_is_signed_in() {
        let credentials = Credentials::new("akid", "secret", Some("session".into()), None, "test");
        let token =
            auth_token(&credentials, &target("proxy.example", 5432, "storefront"), SystemTime::now()).expect("signed");
        assert!(token.starts_with("proxy.example:5432/?Action=connect&DBUser=storefront&"), "{token}");
        assert!(token.contains("X-Amz-Security-Token=session"), "{token}");
    }

    #[test]
    fn the_target_comes_from_the_connection_url() {
        let url =
            "postgres://storefront_app@proxy.proxy-abc.eu-west-1.rds.amazonaws.com/storefront?sslmode=verify-full";
        assert_eq!(
            TokenTarget::of_url(url, "eu-west-1"),
            Some(TokenTarget {
                host: "proxy.proxy-abc.eu-west-1.rds.amazonaws.com".into(),
                port: 5432,
                user: "storefront_app".into(),
                region: "eu-west-1".into(),
            })
        );
        assert_eq!(TokenTarget::of_url("postgres://db:6432/x", "eu-west-1"), None, "a token needs a user");
    }

    #[tokio::test]
    async fn a_token_is_made_once_and_again_only_when_it_is_stale() {
        let credentials = Credentials::new("akid", "secret", None, None, "test");
        let auth = IamAuth::new(SharedCredentialsProvider::new(credentials), target("proxy.example", 5432, "app"));
        assert!(auth.token_if_stale().await.expect("made").is_some(), "the first connection needs one");
        assert!(auth.token_if_stale().await.expect("checked").is_none(), "fresh: kept");
        let old = Instant::now().checked_sub(REFRESH_AFTER + Duration::from_secs(1)).expect("time");
        *auth.made.lock().expect("lock") = Some(old);
        assert!(auth.token_if_stale().await.expect("made").is_some(), "stale: replaced before it runs out");
    }
}
