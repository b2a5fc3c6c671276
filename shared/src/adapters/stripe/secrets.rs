//! The provider's credentials: the API key and the webhook signing secret. In AWS they are read from Secrets
//! Manager on the first call that needs them and read again every few minutes, so a rotated key, or a secret an
//! operator fills in after the deploy, takes effect without one. Either credential is refused while it is missing
//! or too short to be Stripe's: no call goes out with an empty key, and an empty signing secret never verifies an
//! event (it would let anyone sign one). A refusal is a configuration error: logged once per instance, counted
//! (`PaymentsMisconfigured`, which alarms), and answered 503 so the provider keeps its events for later.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use serde::Deserialize;

use super::webhook::SigningSecret;
use crate::adapters::aws::LazyClient;
use crate::ports::PaymentError;
use crate::telemetry::metrics::{self, Metric};

/// How long credentials read from Secrets Manager are used before they are read again.
pub const SECRET_TTL: Duration = Duration::from_secs(300);
/// How soon credentials are read again while they are unusable (not filled in yet), or while Secrets Manager
/// cannot be reached (the last ones read keep serving meanwhile).
pub const RETRY_TTL: Duration = Duration::from_secs(30);
/// The shortest API key accepted: Stripe's secret and restricted keys are `sk_`/`rk_`, the mode, and at least 24
/// characters more.
pub const MIN_API_KEY_LEN: usize = 24;

/// The provider's credentials, as the secret holds them (JSON `{"api_key", "webhook_secret"}`). Never logged.
#[derive(Clone, Deserialize)]
pub struct ProviderSecrets {
    pub api_key: String,
    pub webhook_secret: String,
}

impl std::fmt::Debug for ProviderSecrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ProviderSecrets { .. }")
    }
}

/// Which credential a configuration error is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Credential {
    ApiKey,
    WebhookSecret,
}

impl ProviderSecrets {
    /// The API key, unless it is missing or shorter than Stripe's.
    pub fn api_key(&self) -> Result<&str, PaymentError> {
        let key = self.api_key.trim();
        if key.len() < MIN_API_KEY_LEN {
            return Err(misconfigured(Credential::ApiKey));
        }
        Ok(key)
    }

    /// The webhook signing secret, unless it is missing or shorter than Stripe's.
    pub fn signing_secret(&self) -> Result<SigningSecret, PaymentError> {
        SigningSecret::parse(&self.webhook_secret).ok_or_else(|| misconfigured(Credential::WebhookSecret))
    }

    /// Whether both credentials can be used (read without reporting anything).
    fn usable(&self) -> bool {
        self.api_key.trim().len() >= MIN_API_KEY_LEN && SigningSecret::parse(&self.webhook_secret).is_some()
    }
}

/// Logged once per instance and credential (an alarm on the metric tells the operator; the log says what to do),
/// counted every time.
fn misconfigured(credential: Credential) -> PaymentError {
    static LOGGED: [AtomicBool; 2] = [AtomicBool::new(false), AtomicBool::new(false)];
    let (index, what) = match credential {
        Credential::ApiKey => (0, "the API key (api_key)"),
        Credential::WebhookSecret => (1, "the webhook signing secret (webhook_secret)"),
    };
    metrics::count(Metric::PaymentsMisconfigured);
    if !LOGGED[index].swap(true, Ordering::Relaxed) {
        tracing::error!(
            credential = what,
            "configuration error: the payment secret's {what} is missing or shorter than Stripe's; payments are \
             refused until it is set in Secrets Manager (docs/operations.md, \"Payment credentials\")"
        );
    }
    PaymentError::Misconfigured(format!("{what} is not set"))
}

/// Where the credentials come from.
pub(super) enum SecretSource {
    /// Given at construction (tests, tools).
    Given(Arc<ProviderSecrets>),
    /// The Secrets Manager secret, read again every `ttl`.
    SecretsManager(Box<Refreshing>),
}

pub(super) struct Refreshing {
    client: LazyClient<aws_sdk_secretsmanager::Client>,
    secret_id: String,
    ttl: Duration,
    /// The last credentials read and until when they serve. Locked across a read, so concurrent calls wait for
    /// one read instead of each making their own.
    cached: tokio::sync::Mutex<Option<(Arc<ProviderSecrets>, Instant)>>,
}

impl SecretSource {
    pub(super) fn secrets_manager(client: LazyClient<aws_sdk_secretsmanager::Client>, secret_id: &str) -> Self {
        SecretSource::SecretsManager(Box::new(Refreshing {
            client,
            secret_id: secret_id.to_owned(),
            ttl: SECRET_TTL,
            cached: tokio::sync::Mutex::new(None),
        }))
    }

    /// The same source, its secret read again every `ttl` (tests shorten it).
    pub(super) fn read_every(self, ttl: Duration) -> Self {
        match self {
            SecretSource::SecretsManager(mut refreshing) => {
                refreshing.ttl = ttl;
                SecretSource::SecretsManager(refreshing)
            }
            given => given,
        }
    }

    /// The credentials as they are now (not yet checked: each use checks the one it needs).
    pub(super) async fn get(&self) -> Result<Arc<ProviderSecrets>, PaymentError> {
        match self {
            SecretSource::Given(secrets) => Ok(secrets.clone()),
            SecretSource::SecretsManager(refreshing) => refreshing.get().await,
        }
    }
}

impl Refreshing {
    async fn get(&self) -> Result<Arc<ProviderSecrets>, PaymentError> {
        let mut cached = self.cached.lock().await;
        if let Some((secrets, until)) = cached.as_ref()
            && Instant::now() < *until
        {
            return Ok(secrets.clone());
        }
        match self.read().await {
            Ok(secrets) => {
                let ttl = if secrets.usable() { self.ttl } else { self.ttl.min(RETRY_TTL) };
                let secrets = Arc::new(secrets);
                *cached = Some((secrets.clone(), Instant::now() + ttl));
                Ok(secrets)
            }
            Err(error) => match cached.as_mut() {
                Some((secrets, until)) => {
                    tracing::warn!(%error, "the payment secret could not be read again; the last one read serves");
                    *until = Instant::now() + self.ttl.min(RETRY_TTL);
                    Ok(secrets.clone())
                }
                None => Err(error),
            },
        }
    }

    async fn read(&self) -> Result<ProviderSecrets, PaymentError> {
        let output = self.client.get().get_secret_value().secret_id(&self.secret_id).send().await.map_err(|e| {
            PaymentError::Unavailable(aws_sdk_secretsmanager::error::DisplayErrorContext(e).to_string().into())
        })?;
        let text = output.secret_string().unwrap_or_default();
        // Never the content: it is the key.
        serde_json::from_str::<ProviderSecrets>(text).map_err(|_| {
            PaymentError::Misconfigured("the payment secret is not JSON {\"api_key\", \"webhook_secret\"}".into())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_shorter_than_stripes_are_refused_as_a_configuration_error() {
        let secrets = |api_key: &str, webhook_secret: &str| ProviderSecrets {
            api_key: api_key.to_owned(),
            webhook_secret: webhook_secret.to_owned(),
        };
        let empty = secrets("", "");
        assert!(matches!(empty.api_key(), Err(PaymentError::Misconfigured(_))));
        assert!(matches!(empty.signing_secret(), Err(PaymentError::Misconfigured(_))));
        assert!(!empty.usable());
        let short = secrets("sk_test_123", "whsec_123");
        assert!(short.api_key().is_err() && short.signing_secret().is_err() && !short.usable());
        let real = secrets("sk_test_51Habcdefghijklmnopqrstuv", "whsec_abcdefghijklmnopqrstuvwxyz012345");
        assert_eq!(real.api_key().ok(), Some("sk_test_51Habcdefghijklmnopqrstuv"));
        assert!(real.signing_secret().is_ok() && real.usable());
        assert!(!secrets("sk_test_51Habcdefghijklmnopqrstuv", "").usable(), "both, or payments are refused");
    }
}
