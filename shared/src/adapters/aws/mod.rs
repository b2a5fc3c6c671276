//! AWS SDK configuration shared by every client.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, SdkConfig};
use rustls::pki_types::TrustAnchor;

use crate::config::ConfigError;

mod amazon_roots;
mod https;
use amazon_roots::AMAZON_ROOTS;
pub use https::HttpsClient;

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
/// (docs/benchmarks.md, "Where a cold start goes"). The HTTPS client trusts what AWS's endpoints chain to
/// ([`EndpointTrust`]) instead of parsing the system's ~150 roots, twice per client, and is returned beside the
/// configuration so that init can open the store's connection early ([`HttpsClient::open_early`]). Anywhere else
/// (a laptop, CI) the default chains and the system's roots are used.
pub async fn sdk_config() -> Result<(SdkConfig, Option<HttpsClient>), ConfigError> {
    let loader = aws_config::defaults(behavior_version()).timeout_config(timeouts());
    if std::env::var_os("AWS_LAMBDA_FUNCTION_NAME").is_none() {
        return Ok((loader.load().await, None));
    }
    let https = EndpointTrust::from_lookup(|name| std::env::var(name).ok())?.https_client();
    let loader = match &https {
        Some(https) => loader.http_client(https.clone()),
        None => loader,
    };
    let loader = match std::env::var("AWS_REGION") {
        Ok(region) if std::env::var_os("AWS_ACCESS_KEY_ID").is_some() => loader
            .region(aws_config::Region::new(region))
            .credentials_provider(aws_config::environment::EnvironmentVariableCredentialsProvider::new()),
        _ => loader,
    };
    Ok((loader.load().await, https))
}

/// `TRUST_STORE`: what the SDK's HTTPS client trusts in Lambda: `amazon` (the default) or `system`, the image's
/// CA bundle as the SDK would read it (an escape hatch, should an AWS endpoint ever chain elsewhere).
pub const TRUST_STORE: &str = "TRUST_STORE";
/// `AWS_CA_BUNDLE`: a PEM file of certificates trusted beside Amazon's roots (the name the AWS CLI and the other
/// SDKs give it): a TLS-intercepting proxy's CA, or the bench's TLS stand-in's.
pub const AWS_CA_BUNDLE: &str = "AWS_CA_BUNDLE";

/// What the SDK's HTTPS client trusts in Lambda.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EndpointTrust {
    /// Amazon's roots, compiled in ([`AMAZON_ROOTS`]), and the certificates of `AWS_CA_BUNDLE` when it names a
    /// file (`extra`, read and parsed here, once).
    Amazon { extra: Vec<TrustAnchor<'static>> },
    /// The system's trust store, which the SDK reads and parses for every client it builds.
    System,
}

impl EndpointTrust {
    /// From `TRUST_STORE` and `AWS_CA_BUNDLE`; a bundle that cannot be read or holds no certificate fails init
    /// here, with its variable's name, rather than the first request.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let invalid = |name, reason| ConfigError::Invalid { name, reason };
        match lookup(TRUST_STORE).as_deref().map(str::trim) {
            None | Some("" | "amazon") => {}
            Some("system") => return Ok(Self::System),
            Some(other) => return Err(invalid(TRUST_STORE, format!("must be amazon or system, got {other:?}"))),
        }
        let Some(path) = lookup(AWS_CA_BUNDLE).filter(|path| !path.trim().is_empty()) else {
            return Ok(Self::Amazon { extra: Vec::new() });
        };
        let pem = std::fs::read(&path).map_err(|e| invalid(AWS_CA_BUNDLE, format!("{path}: {e}")))?;
        match roots(&pem) {
            Ok(extra) if extra.is_empty() => Err(invalid(AWS_CA_BUNDLE, format!("{path} holds no PEM certificate"))),
            Ok(extra) => Ok(Self::Amazon { extra }),
            Err(reason) => Err(invalid(AWS_CA_BUNDLE, format!("{path}: {reason}"))),
        }
    }

    /// The HTTPS client that trusts this; none for the system's store, where the SDK's own default client reads it.
    fn https_client(&self) -> Option<HttpsClient> {
        let Self::Amazon { extra } = self else { return None };
        let roots = AMAZON_ROOTS.iter().chain(extra).cloned().collect();
        Some(HttpsClient::new(roots, timeouts().connect_timeout()))
    }
}

/// The trust anchors of the root certificates `pem` holds, each one accepted by rustls, or why one is not.
fn roots(pem: &[u8]) -> Result<Vec<TrustAnchor<'static>>, String> {
    use rustls::pki_types::{CertificateDer, pem::PemObject};
    let mut store = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(pem) {
        store.add(cert.map_err(|e| format!("not PEM: {e:?}"))?).map_err(|e| format!("not a root certificate: {e}"))?;
    }
    Ok(store.roots)
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
/// connector, which parses its trust store, and its endpoint rules (docs/benchmarks.md, "Where a cold start goes"):
/// a function that never sends to a queue, touches a bucket, mails or pays never pays for those clients at init.
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

/// Used as the client it holds (`store.client.get_item()`), built at that first use.
impl<C> std::ops::Deref for LazyClient<C> {
    type Target = C;

    fn deref(&self) -> &C {
        self.get()
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

    /// SHA-256 of each root's SubjectPublicKeyInfo, as amazontrust.com/repository publishes them.
    const PUBLISHED_SPKI_SHA256: [(&str, &str); 5] = [
        ("Amazon Root CA 1", "fbe3018031f9586bcbf41727e417b7d1c45c2f47f93be372a17b96b50757d5a2"),
        ("Amazon Root CA 2", "7f4296fc5b6a4e3b35d3c369623e364ab1af381d8fa7121533c9d6c633ea2461"),
        ("Amazon Root CA 3", "36abc32656acfc645c61b71613c4bf21c787f5cabbee48348d58597803d7abc9"),
        ("Amazon Root CA 4", "f7ecded5c66047d28ed6466b543c40e0743abe81d109254dcf845d4c2c7853c5"),
        ("Starfield Services G2", "2b071c59a0a0ae76b0eadb2bad23bad4580b69c3601b630c2eaf0613afa83f92"),
    ];

    /// A DER SEQUENCE around `contents` (webpki-roots keeps a key's SubjectPublicKeyInfo without it).
    fn der_sequence(contents: &[u8]) -> Vec<u8> {
        let len = contents.len();
        let mut der = match len {
            0..=127 => vec![0x30, len as u8],
            128..=255 => vec![0x30, 0x81, len as u8],
            _ => vec![0x30, 0x82, (len >> 8) as u8, len as u8],
        };
        der.extend_from_slice(contents);
        der
    }

    /// The five certificates, PEM, as Mozilla's store (Debian's ca-certificates) has them.
    const AMAZON_ROOTS_PEM: &[u8] = include_bytes!("amazon-roots.pem");

    #[test]
    fn the_compiled_in_roots_are_the_five_amazon_publishes_as_mozillas_store_has_them() {
        use sha2::{Digest, Sha256};
        assert_eq!(roots(AMAZON_ROOTS_PEM).as_deref(), Ok(&AMAZON_ROOTS[..]), "what rustls takes from the PEM");
        for ((name, published), anchor) in PUBLISHED_SPKI_SHA256.iter().zip(&AMAZON_ROOTS) {
            let key = format!("{:x}", Sha256::digest(der_sequence(&anchor.subject_public_key_info)));
            assert_eq!(&key, published, "{name}: the key Amazon publishes");
            assert!(webpki_roots::TLS_SERVER_ROOTS.contains(anchor), "{name}: not as Mozilla's store has it");
        }
    }

    fn lookup(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let pairs: Vec<(String, String)> = pairs.iter().map(|(k, v)| ((*k).into(), (*v).into())).collect();
        move |name| pairs.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone())
    }

    #[test]
    fn the_trust_is_amazons_unless_told_and_a_bad_bundle_fails_init_by_its_name() {
        let dir = std::env::temp_dir().join(format!("trust-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let (good, empty) = (dir.join("good.pem"), dir.join("empty.pem"));
        std::fs::write(&good, AMAZON_ROOTS_PEM).expect("written");
        std::fs::write(&empty, "not a certificate").expect("written");
        let trust = |pairs: &[(&str, &str)]| EndpointTrust::from_lookup(lookup(pairs));
        let amazon_only = Ok(EndpointTrust::Amazon { extra: Vec::new() });
        assert_eq!(trust(&[]), amazon_only);
        assert_eq!(trust(&[(TRUST_STORE, "amazon"), (AWS_CA_BUNDLE, "")]), amazon_only);
        assert_eq!(trust(&[(TRUST_STORE, "system"), (AWS_CA_BUNDLE, "/nowhere")]), Ok(EndpointTrust::System));
        let bundle = good.display().to_string();
        assert_eq!(trust(&[(AWS_CA_BUNDLE, &bundle)]), Ok(EndpointTrust::Amazon { extra: AMAZON_ROOTS.to_vec() }));
        for (pairs, name) in [
            (vec![(TRUST_STORE, "mozilla")], TRUST_STORE),
            (vec![(AWS_CA_BUNDLE, "/nowhere/ca.pem")], AWS_CA_BUNDLE),
            (vec![(AWS_CA_BUNDLE, empty.to_str().expect("utf-8"))], AWS_CA_BUNDLE),
        ] {
            match trust(&pairs) {
                Err(ConfigError::Invalid { name: named, .. }) => assert_eq!(named, name, "{pairs:?}"),
                other => panic!("{pairs:?}: {other:?}"),
            }
        }
        std::fs::remove_dir_all(&dir).ok();
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

    #[test]
    fn building_an_sdk_client_on_the_https_client_builds_no_connector() {
        let https = EndpointTrust::Amazon { extra: Vec::new() }.https_client().expect("Amazon's roots: our client");
        let config = aws_sdk_dynamodb::Config::builder()
            .behavior_version(behavior_version())
            .region(aws_config::Region::new("eu-west-1"))
            .credentials_provider(aws_credential_types::Credentials::from_keys("a", "b", None))
            .http_client(https.clone())
            .build();
        aws_sdk_dynamodb::Client::from_conf(config);
        assert!(!https.tls_built(), "the TLS configuration waits for the first connection");
        assert!(EndpointTrust::System.https_client().is_none(), "the system's store: the SDK's own client");
    }
}
