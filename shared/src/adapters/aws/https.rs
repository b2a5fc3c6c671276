//! The SDK's HTTPS client in Lambda, which can open the store's connection while the function polls for its first
//! event.
//!
//! On an on-demand cold start the event is already waiting when init ends, so the first store call paid for its TCP
//! and TLS handshake after all of the function's own work up to that call (the event parsed, the route, the SDK's
//! endpoint rules, identity and signature), and then sat idle through the server's part of the handshake.
//! [`HttpsClient::open_early`], at the end of init, starts that connection in the background instead: the server's
//! flight and the round trips overlap the function's poll and its work up to the call, which then takes the
//! connection made. No request is sent on it (a warm-up request adds its own round trip: docs/benchmarks.md). A
//! function whose first request makes several calls at once (a catalog listing, one Query per shard) opens as many:
//! over HTTP/1.1 each call in flight needs a connection of its own.
//!
//! The SDK's own client (aws-smithy-http-client) takes no connection from outside its pool, so this is the same
//! stack put together here: hyper-util's pooled client over hyper-rustls, rustls on aws-lc with the SDK's cipher
//! suites, the connect timeout around TCP and TLS, and hyper's errors classified as the SDK classifies them
//! (timeouts, I/O, user, transient), so its retries and its connection poisoning see what they always did. It
//! speaks HTTP/1.1, as every AWS endpoint a function calls does.

use std::borrow::Cow;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use aws_smithy_runtime_api::client::connection::{CaptureSmithyConnection, ConnectionMetadata};
use aws_smithy_runtime_api::client::connector_metadata::ConnectorMetadata;
use aws_smithy_runtime_api::client::http::{
    HttpClient, HttpConnector, HttpConnectorFuture, HttpConnectorSettings, SharedHttpConnector,
};
use aws_smithy_runtime_api::client::orchestrator::{HttpRequest, HttpResponse};
use aws_smithy_runtime_api::client::result::ConnectorError;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::body::SdkBody;
use aws_smithy_types::retry::ErrorKind;
use http::Uri;
use hyper_util::client::legacy::connect::{CaptureConnection, HttpConnector as TcpConnector, capture_connection};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use rustls::pki_types::TrustAnchor;

type BoxError = Box<dyn std::error::Error + Send + Sync>;
type Stream = hyper_rustls::MaybeHttpsStream<TokioIo<tokio::net::TcpStream>>;
type Connecting = Pin<Box<dyn Future<Output = Result<Stream, BoxError>> + Send>>;

/// The TLS 1.3 and 1.2 suites the SDK's own client offers, in its order (aws-smithy-http-client's
/// `restrict_ciphers`).
const CIPHER_SUITES: [rustls::CipherSuite; 7] = [
    rustls::CipherSuite::TLS13_AES_256_GCM_SHA384,
    rustls::CipherSuite::TLS13_AES_128_GCM_SHA256,
    rustls::CipherSuite::TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
    rustls::CipherSuite::TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
    rustls::CipherSuite::TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
    rustls::CipherSuite::TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
    rustls::CipherSuite::TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
];

/// How often a connection yields to the runtime between its TCP connect and its TLS handshake. At the end of init
/// the runtime client's first poll needs two turns of the function's one thread after its own TCP connect (hyper's
/// connection task readies, then writes the request): yielding twice lets the poll go out first (`strace` of a
/// start showed the ClientHello written before the poll with one), and the handshake's CPU then overlaps the wait
/// for the event. Later connections yield as well, which costs a turn of the runtime each.
const YIELDS_BEFORE_TLS: usize = 2;

/// How long connections opened early wait to be taken: the pool's own idle timeout (hyper-util's default), after
/// which it would have closed an unused connection too, and the server may have.
const EARLY_FOR: Duration = Duration::from_secs(90);

/// The HTTPS client every SDK client of a function shares in Lambda. Cheap to clone; nothing is built until the
/// first connection (the TLS configuration included), so a function that never calls out pays nothing for it.
#[derive(Clone)]
pub struct HttpsClient(Arc<Shared>);

struct Shared {
    /// The trusted roots (Amazon's, and `AWS_CA_BUNDLE`'s after them).
    roots: Vec<TrustAnchor<'static>>,
    /// How long opening a connection (TCP and TLS) may take.
    connect_timeout: Option<Duration>,
    tcp: TcpConnector,
    tls: OnceLock<Arc<rustls::ClientConfig>>,
    early: Mutex<Option<Early>>,
    /// One pooled client per (connect timeout, read timeout), as the SDK's own client keeps them.
    connectors: Mutex<Vec<(Timeouts, SharedHttpConnector)>>,
}

/// A connector's connect and read timeouts.
type Timeouts = (Option<Duration>, Option<Duration>);

/// Connections being opened ahead of the requests that will take them.
struct Early {
    /// `scheme://authority` of the endpoint; only a request to it takes a connection.
    origin: String,
    /// Until when they may be taken ([`EARLY_FOR`] after they were started).
    until: Instant,
    /// Untaken yet; each request that connects takes the last.
    connections: Vec<tokio::task::JoinHandle<Result<Stream, BoxError>>>,
}

fn origin(uri: &Uri) -> String {
    format!("{}://{}", uri.scheme_str().unwrap_or_default(), uri.authority().map_or("", |a| a.as_str()))
}

impl std::fmt::Debug for HttpsClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpsClient").field("connect_timeout", &self.0.connect_timeout).finish_non_exhaustive()
    }
}

impl HttpsClient {
    /// A client trusting `roots`.
    pub fn new(roots: Vec<TrustAnchor<'static>>, connect_timeout: Option<Duration>) -> Self {
        let mut tcp = TcpConnector::new();
        tcp.enforce_http(false);
        tcp.set_nodelay(true);
        Self(Arc::new(Shared {
            roots,
            tcp,
            connect_timeout,
            tls: OnceLock::new(),
            early: Mutex::new(None),
            connectors: Mutex::new(Vec::new()),
        }))
    }

    /// Starts opening `connections` connections to `endpoint` (DNS, TCP, TLS; no request) on the runtime, one for
    /// each of the first requests to that endpoint that connects to take. A request to another endpoint leaves them;
    /// one that finds its connection failed connects again; none is taken after [`EARLY_FOR`].
    pub fn open_early(&self, endpoint: &Uri, connections: usize) {
        let connections =
            (0..connections).map(|_| tokio::spawn(self.connect(endpoint.clone(), self.0.connect_timeout))).collect();
        *self.0.early.lock().unwrap_or_else(PoisonError::into_inner) =
            Some(Early { origin: origin(endpoint), until: Instant::now() + EARLY_FOR, connections });
    }

    /// A connection opened early for `uri`'s endpoint, if one is left and it is not too old to take.
    fn take_early(&self, uri: &Uri) -> Option<tokio::task::JoinHandle<Result<Stream, BoxError>>> {
        let mut slot = self.0.early.lock().unwrap_or_else(PoisonError::into_inner);
        let early = slot.as_mut()?;
        if Instant::now() > early.until {
            // Dropping a handle leaves its task to finish and its stream to close.
            *slot = None;
            return None;
        }
        if early.origin != origin(uri) {
            return None;
        }
        let connection = early.connections.pop();
        if early.connections.is_empty() {
            *slot = None;
        }
        connection
    }

    /// Opens a connection within `timeout`: TCP, then TLS for `https`. The TLS configuration is built by the first
    /// connection, after its TCP connect, and the task yields in between ([`YIELDS_BEFORE_TLS`]): on the early
    /// connection's task, the function's first poll is then written before any of the handshake's work (building
    /// the configuration, the ClientHello's key shares) runs on its one thread, which then overlaps the wait for
    /// the event instead.
    fn connect(&self, uri: Uri, timeout: Option<Duration>) -> impl Future<Output = Result<Stream, BoxError>> + use<> {
        let client = self.clone();
        let connecting = async move {
            let mut tcp = client.0.tcp.clone();
            let stream = tower_service::Service::call(&mut tcp, uri.clone()).await?;
            if uri.scheme() != Some(&http::uri::Scheme::HTTPS) {
                return Ok(Stream::Http(stream));
            }
            for _ in 0..YIELDS_BEFORE_TLS {
                tokio::task::yield_now().await;
            }
            let host = uri.host().unwrap_or_default().trim_start_matches('[').trim_end_matches(']');
            let name = rustls::pki_types::ServerName::try_from(host.to_owned())?;
            let tls = tokio_rustls::TlsConnector::from(client.tls()).connect(name, TokioIo::new(stream)).await?;
            Ok(Stream::Https(TokioIo::new(tls)))
        };
        async move {
            match timeout {
                Some(limit) => tokio::time::timeout(limit, connecting).await.map_err(|_| ConnectTimedOut(limit))?,
                None => connecting.await,
            }
        }
    }

    #[cfg(test)]
    pub(super) fn tls_built(&self) -> bool {
        self.0.tls.get().is_some()
    }

    /// rustls on aws-lc with the SDK's cipher suites, trusting `roots`, offering HTTP/1.1.
    fn tls(&self) -> Arc<rustls::ClientConfig> {
        let config = self.0.tls.get_or_init(|| {
            // Anchors, not certificates: nothing to parse on the first connection's path.
            let roots = rustls::RootCertStore { roots: self.0.roots.clone() };
            let base = rustls::crypto::aws_lc_rs::default_provider();
            let cipher_suites = CIPHER_SUITES
                .iter()
                .filter_map(|wanted| base.cipher_suites.iter().find(|s| s.suite() == *wanted).copied())
                .collect();
            let provider = rustls::crypto::CryptoProvider { cipher_suites, ..base };
            let mut config = rustls::ClientConfig::builder_with_provider(Arc::new(provider))
                .with_safe_default_protocol_versions()
                .expect("aws-lc-rs supports rustls's default protocol versions")
                .with_root_certificates(roots)
                .with_no_client_auth();
            config.alpn_protocols = vec![b"http/1.1".to_vec()];
            Arc::new(config)
        });
        Arc::clone(config)
    }
}

impl HttpClient for HttpsClient {
    fn http_connector(&self, settings: &HttpConnectorSettings, _: &RuntimeComponents) -> SharedHttpConnector {
        let key = (settings.connect_timeout(), settings.read_timeout());
        let mut connectors = self.0.connectors.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some((_, connector)) = connectors.iter().find(|(k, _)| *k == key) {
            return connector.clone();
        }
        let mut builder = hyper_util::client::legacy::Client::builder(TokioExecutor::new());
        // The pool's idle timeout needs a timer.
        builder.pool_timer(TokioTimer::new());
        let client = builder.build(Connect { client: self.clone(), timeout: key.0 });
        let connector = SharedHttpConnector::new(Adapter { client, read_timeout: key.1 });
        connectors.push((key, connector.clone()));
        connector
    }

    fn connector_metadata(&self) -> Option<ConnectorMetadata> {
        Some(ConnectorMetadata::new("hyper", Some(Cow::Borrowed("1.x"))))
    }
}

/// What the pool calls to open a connection: the one opened early when it is for this endpoint, else a new one.
#[derive(Clone)]
struct Connect {
    client: HttpsClient,
    timeout: Option<Duration>,
}

impl tower_service::Service<Uri> for Connect {
    type Response = Stream;
    type Error = BoxError;
    type Future = Connecting;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, uri: Uri) -> Connecting {
        let early = self.client.take_early(&uri);
        let connect = self.client.connect(uri, self.timeout);
        Box::pin(async move {
            if let Some(early) = early {
                match early.await {
                    Ok(Ok(stream)) => return Ok(stream),
                    Ok(Err(error)) => tracing::warn!(%error, "the connection opened at init failed; connecting again"),
                    Err(error) => tracing::warn!(%error, "the connection opened at init did not finish"),
                }
            }
            connect.await
        })
    }
}

#[derive(Debug, thiserror::Error)]
#[error("no connection within {0:?}")]
struct ConnectTimedOut(Duration);

#[derive(Debug, thiserror::Error)]
#[error("no response within {0:?}")]
struct ReadTimedOut(Duration);

/// The SDK's connector over the pooled client.
struct Adapter {
    client: hyper_util::client::legacy::Client<Connect, SdkBody>,
    read_timeout: Option<Duration>,
}

impl std::fmt::Debug for Adapter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Adapter").field("read_timeout", &self.read_timeout).finish_non_exhaustive()
    }
}

impl HttpConnector for Adapter {
    fn call(&self, request: HttpRequest) -> HttpConnectorFuture {
        let mut request = match request.try_into_http1x() {
            Ok(request) => request,
            Err(error) => return HttpConnectorFuture::ready(Err(ConnectorError::user(error.into()))),
        };
        // The SDK poisons the connection of an attempt that timed out, so that the pool drops it.
        let captured = capture_connection(&mut request);
        if let Some(capture) = request.extensions().get::<CaptureSmithyConnection>() {
            capture.set_connection_retriever(move || connection_metadata(&captured));
        }
        let responding = self.client.request(request);
        let read_timeout = self.read_timeout;
        HttpConnectorFuture::new(async move {
            let response = match read_timeout {
                Some(limit) => match tokio::time::timeout(limit, responding).await {
                    Ok(response) => response,
                    Err(_) => return Err(ConnectorError::timeout(ReadTimedOut(limit).into())),
                },
                None => responding.await,
            };
            let response = response.map_err(classify)?;
            HttpResponse::try_from(response.map(SdkBody::from_body_1_x))
                .map_err(|error| ConnectorError::other(error.into(), None))
        })
    }
}

fn connection_metadata(captured: &CaptureConnection) -> Option<ConnectionMetadata> {
    captured.connection_metadata().as_ref()?;
    let captured = captured.clone();
    let poison = move || {
        if let Some(connection) = captured.connection_metadata().as_ref() {
            connection.poison();
        }
    };
    Some(ConnectionMetadata::builder().proxied(false).poison_fn(poison).build())
}

/// hyper's error as the SDK's retry strategy reads it (aws-smithy-http-client's `downcast_error`): a timeout, an
/// I/O failure (connecting, a closed connection: retried), a message cut short (transient), a misuse, or other.
fn classify(error: hyper_util::client::legacy::Error) -> ConnectorError {
    fn find<'a, E: std::error::Error + 'static>(error: &'a (dyn std::error::Error + 'static)) -> Option<&'a E> {
        std::iter::successors(Some(error), |e| e.source()).find_map(|e| e.downcast_ref::<E>())
    }
    let hyper = find::<hyper::Error>(&error);
    let kind: fn(BoxError) -> ConnectorError =
        if find::<ConnectTimedOut>(&error).is_some() || hyper.is_some_and(hyper::Error::is_timeout) {
            ConnectorError::timeout
        } else if error.is_connect() {
            ConnectorError::io
        } else if hyper.is_some_and(hyper::Error::is_user) {
            ConnectorError::user
        } else if hyper.is_some_and(|e| e.is_closed() || e.is_canceled()) || find::<std::io::Error>(&error).is_some() {
            ConnectorError::io
        } else if hyper.is_some_and(hyper::Error::is_incomplete_message) {
            |error| ConnectorError::other(error, Some(ErrorKind::TransientError))
        } else {
            |error| ConnectorError::other(error, None)
        };
    kind(error.into())
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use aws_sdk_dynamodb::error::SdkError;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    use super::*;

    /// An endpoint answering every request `200 {}` on keep-alive connections, counting the connections it
    /// accepted.
    async fn endpoint() -> (Uri, Arc<AtomicUsize>) {
        serve(tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("a port"))
    }

    fn serve(listener: tokio::net::TcpListener) -> (Uri, Arc<AtomicUsize>) {
        serve_over(listener, None)
    }

    /// [`serve`], over TLS when given a server configuration: the handshake, then the same answers.
    fn serve_over(listener: tokio::net::TcpListener, tls: Option<rustls::ServerConfig>) -> (Uri, Arc<AtomicUsize>) {
        let scheme = if tls.is_some() { "https" } else { "http" };
        let uri: Uri = format!("{scheme}://{}", listener.local_addr().expect("address")).parse().expect("a URI");
        let tls = tls.map(|config| tokio_rustls::TlsAcceptor::from(Arc::new(config)));
        let accepted = Arc::new(AtomicUsize::new(0));
        let counter = accepted.clone();
        tokio::spawn(async move {
            while let Ok((socket, _)) = listener.accept().await {
                counter.fetch_add(1, Ordering::SeqCst);
                let tls = tls.clone();
                tokio::spawn(async move {
                    match tls {
                        None => answer(socket).await,
                        Some(tls) => {
                            if let Ok(socket) = tls.accept(socket).await {
                                answer(socket).await;
                            }
                        }
                    }
                });
            }
        });
        (uri, accepted)
    }

    /// Answers each request on `socket` until the client closes it.
    async fn answer(mut socket: impl tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin) {
        let mut received = Vec::new();
        let mut chunk = [0u8; 4096];
        while let Ok(read @ 1..) = socket.read(&mut chunk).await {
            received.extend_from_slice(&chunk[..read]);
            let Some(end) = received.windows(4).position(|w| w == b"\r\n\r\n") else { continue };
            let head = String::from_utf8_lossy(&received[..end]).to_ascii_lowercase();
            let length: usize = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .map_or(0, |v| v.trim().parse().unwrap_or(0));
            if received.len() < end + 4 + length {
                continue;
            }
            received.drain(..end + 4 + length);
            let answer = "HTTP/1.1 200 OK\r\ncontent-type: application/x-amz-json-1.0\r\ncontent-length: 2\r\n\r\n{}";
            if socket.write_all(answer.as_bytes()).await.is_err() {
                break;
            }
        }
    }

    fn dynamodb(https: &HttpsClient, endpoint: &Uri) -> aws_sdk_dynamodb::Client {
        let config = aws_sdk_dynamodb::Config::builder()
            .behavior_version(super::super::behavior_version())
            .region(aws_config::Region::new("eu-west-1"))
            .credentials_provider(aws_credential_types::Credentials::from_keys("a", "b", None))
            .endpoint_url(endpoint.to_string())
            .timeout_config(
                aws_config::timeout::TimeoutConfig::builder().connect_timeout(Duration::from_millis(200)).build(),
            )
            // Retried as in Lambda, without the waits.
            .retry_config(
                aws_sdk_dynamodb::config::retry::RetryConfig::standard().with_initial_backoff(Duration::from_millis(1)),
            )
            .http_client(https.clone())
            .build();
        aws_sdk_dynamodb::Client::from_conf(config)
    }

    async fn until(accepted: &AtomicUsize, count: usize) {
        for _ in 0..500 {
            if accepted.load(Ordering::SeqCst) >= count {
                return;
            }
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        panic!("the endpoint never accepted {count} connections");
    }

    #[tokio::test]
    async fn the_first_request_takes_the_connection_opened_early_and_the_pool_keeps_it() {
        let (uri, accepted) = endpoint().await;
        let https = HttpsClient::new(Vec::new(), Some(Duration::from_secs(1)));
        https.open_early(&uri, 1);
        until(&accepted, 1).await;
        let client = dynamodb(&https, &uri);
        for _ in 0..2 {
            client.describe_table().table_name("t").send().await.expect("the endpoint answers");
        }
        assert_eq!(accepted.load(Ordering::SeqCst), 1, "both requests went over the connection opened early");
    }

    #[tokio::test]
    async fn requests_at_once_take_a_connection_opened_early_each() {
        let (uri, accepted) = endpoint().await;
        let https = HttpsClient::new(Vec::new(), Some(Duration::from_secs(1)));
        https.open_early(&uri, 4);
        until(&accepted, 4).await;
        let client = dynamodb(&https, &uri);
        let calls = (0..4).map(|_| client.describe_table().table_name("t").send());
        futures::future::try_join_all(calls).await.expect("the endpoint answers");
        assert_eq!(accepted.load(Ordering::SeqCst), 4, "the four calls in flight went over the four opened early");
        assert!(https.0.early.lock().expect("lock").is_none(), "all four were taken");
    }

    #[tokio::test]
    async fn connections_opened_early_and_left_too_long_are_not_taken() {
        let (uri, accepted) = endpoint().await;
        let https = HttpsClient::new(Vec::new(), Some(Duration::from_secs(1)));
        https.open_early(&uri, 2);
        until(&accepted, 2).await;
        https.0.early.lock().expect("lock").as_mut().expect("opened").until = Instant::now();
        dynamodb(&https, &uri).describe_table().table_name("t").send().await.expect("the endpoint answers");
        assert_eq!(accepted.load(Ordering::SeqCst), 3, "the request connected anew");
        assert!(https.0.early.lock().expect("lock").is_none(), "the stale connections were dropped");
    }

    #[tokio::test]
    async fn a_connection_opened_for_another_endpoint_is_left_alone() {
        let ((uri, accepted), (elsewhere, accepted_elsewhere)) = (endpoint().await, endpoint().await);
        let https = HttpsClient::new(Vec::new(), Some(Duration::from_secs(1)));
        https.open_early(&elsewhere, 1);
        until(&accepted_elsewhere, 1).await;
        dynamodb(&https, &uri).describe_table().table_name("t").send().await.expect("the endpoint answers");
        assert_eq!(accepted.load(Ordering::SeqCst), 1, "the request connected to its own endpoint");
        assert!(https.0.early.lock().expect("lock").is_some(), "the early connection is still there, untaken");
    }

    /// A local address nothing listens on (for now).
    fn refusing() -> std::net::SocketAddr {
        std::net::TcpListener::bind("127.0.0.1:0").expect("a port").local_addr().expect("address")
    }

    #[tokio::test]
    async fn an_endpoint_that_refuses_is_an_io_error_for_the_sdk_to_retry() {
        let uri: Uri = format!("http://{}", refusing()).parse().expect("a URI");
        let https = HttpsClient::new(Vec::new(), Some(Duration::from_secs(1)));
        let error = dynamodb(&https, &uri).describe_table().table_name("t").send().await.expect_err("refused");
        match error {
            SdkError::DispatchFailure(failure) => assert!(failure.is_io(), "{failure:?}"),
            other => panic!("not a dispatch failure: {other:?}"),
        }
    }

    #[tokio::test]
    async fn a_request_that_finds_the_early_connection_failed_connects_again() {
        let address = refusing();
        let https = HttpsClient::new(Vec::new(), Some(Duration::from_secs(1)));
        let uri: Uri = format!("http://{address}").parse().expect("a URI");
        https.open_early(&uri, 1);
        for _ in 0..500 {
            let finished = https
                .0
                .early
                .lock()
                .expect("lock")
                .as_ref()
                .is_some_and(|e| e.connections.iter().all(|c| c.is_finished()));
            if finished {
                break;
            }
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        let (_, accepted) = serve(tokio::net::TcpListener::bind(address).await.expect("the same port, now served"));
        dynamodb(&https, &uri).describe_table().table_name("t").send().await.expect("connected again");
        assert_eq!(accepted.load(Ordering::SeqCst), 1);
        assert!(https.0.early.lock().expect("lock").is_none(), "the failed connection was taken, then replaced");
    }

    #[tokio::test]
    async fn the_connect_timeout_covers_the_handshake_and_reads_as_a_timeout() {
        // Accepts and never answers the ClientHello: TCP connects, TLS never completes.
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("a port");
        let uri: Uri = format!("https://{}", listener.local_addr().expect("address")).parse().expect("a URI");
        tokio::spawn(async move {
            let mut held = Vec::new();
            while let Ok((socket, _)) = listener.accept().await {
                held.push(socket);
            }
        });
        let https = HttpsClient::new(super::super::AMAZON_ROOTS.to_vec(), Some(Duration::from_secs(5)));
        let error = dynamodb(&https, &uri).describe_table().table_name("t").send().await.expect_err("no handshake");
        match error {
            SdkError::DispatchFailure(failure) => assert!(failure.is_timeout(), "{failure:?}"),
            other => panic!("not a dispatch failure: {other:?}"),
        }
    }

    /// A throwaway CA and a leaf for 127.0.0.1 it signed (P-256, made with the `openssl` command), in `dir`:
    /// `(ca.pem, the server's configuration)`.
    fn certificates(dir: &std::path::Path) -> (Vec<u8>, rustls::ServerConfig) {
        use rustls::pki_types::{CertificateDer, PrivateKeyDer, pem::PemObject};
        let openssl = |args: &[&str]| {
            let key = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-days", "2"];
            let output = std::process::Command::new("openssl")
                .args(["req", "-x509"])
                .args(key)
                .args(args)
                .current_dir(dir)
                .output()
                .expect("the openssl command runs");
            assert!(output.status.success(), "openssl {args:?}: {}", String::from_utf8_lossy(&output.stderr));
        };
        let ca = ["-subj", "/CN=https.rs test CA", "-addext", "basicConstraints=critical,CA:TRUE"];
        openssl(
            &[&ca[..], &["-addext", "keyUsage=critical,keyCertSign", "-keyout", "ca.key", "-out", "ca.pem"]].concat(),
        );
        let leaf = ["-subj", "/CN=127.0.0.1", "-CA", "ca.pem", "-CAkey", "ca.key", "-keyout", "leaf.key"];
        openssl(
            &[
                &leaf[..],
                &["-out", "leaf.pem", "-addext", "subjectAltName=IP:127.0.0.1"],
                &["-addext", "basicConstraints=critical,CA:FALSE"],
            ]
            .concat(),
        );
        let read = |name: &str| std::fs::read(dir.join(name)).expect("written by openssl");
        let chain = vec![CertificateDer::from_pem_slice(&read("leaf.pem")).expect("the leaf")];
        let key = PrivateKeyDer::from_pem_slice(&read("leaf.key")).expect("the leaf's key");
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let server = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .expect("TLS 1.2 and 1.3")
            .with_no_client_auth()
            .with_single_cert(chain, key)
            .expect("the leaf and its key");
        (read("ca.pem"), server)
    }

    #[tokio::test]
    async fn over_tls_an_endpoint_is_trusted_by_its_anchor_and_refused_without_it() {
        let dir = std::env::temp_dir().join(format!("https-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let (ca, server) = certificates(&dir);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("a port");
        let (uri, accepted) = serve_over(listener, Some(server));
        let amazon = super::super::AMAZON_ROOTS.to_vec();
        let ours = super::super::roots(&ca).expect("the CA's anchor");

        let trusting = HttpsClient::new([amazon.clone(), ours].concat(), Some(Duration::from_secs(5)));
        trusting.open_early(&uri, 1);
        let client = dynamodb(&trusting, &uri);
        for _ in 0..2 {
            client.describe_table().table_name("t").send().await.expect("a handshake the client trusts");
        }
        assert_eq!(accepted.load(Ordering::SeqCst), 1, "both over the connection opened early");

        let amazon_only = HttpsClient::new(amazon, Some(Duration::from_secs(5)));
        let error = dynamodb(&amazon_only, &uri).describe_table().table_name("t").send().await.expect_err("refused");
        match error {
            SdkError::DispatchFailure(failure) => {
                assert!(format!("{failure:?}").contains("UnknownIssuer"), "not refused for its issuer: {failure:?}");
            }
            other => panic!("not a dispatch failure: {other:?}"),
        }
        std::fs::remove_dir_all(&dir).ok();
    }
}
