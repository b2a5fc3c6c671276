//! TLS in front of a stand-in, as a function reaches DynamoDB in Lambda, so that the first request's handshake (or
//! the warm-up's) is in the init figures: a throwaway CA and a leaf for 127.0.0.1 signed by it (made with the
//! `openssl` command; rustls refuses a self-signed certificate presented as the server's own), and a proxy that
//! terminates TLS and forwards the bytes to the plain-HTTP stand-in. Function processes trust the CA beside
//! Amazon's roots through `AWS_CA_BUNDLE` (storefront::adapters::aws::EndpointTrust).

use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Instant;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

pub struct TlsFront {
    /// `https://127.0.0.1:<port>`.
    pub endpoint: String,
    /// The throwaway CA's certificate (PEM), for `AWS_CA_BUNDLE`.
    pub ca: PathBuf,
    /// What the front and the store behind it spent on the functions' behalf: the time a function waited outside
    /// itself, which in AWS would be spent on AWS's side.
    pub outside: Outside,
    task: JoinHandle<()>,
    _dir: tempfile::TempDir,
}

impl TlsFront {
    pub fn stop(self) {
        self.task.abort();
    }
}

fn openssl(dir: &Path, args: &[&str]) {
    let output = Command::new("openssl").args(args).current_dir(dir).output().expect("the openssl command runs");
    assert!(output.status.success(), "openssl {args:?}: {}", String::from_utf8_lossy(&output.stderr));
}

/// A CA and a leaf for 127.0.0.1 it signed, RSA 2048 as AWS's endpoints present: `(ca.pem, leaf.pem, leaf.key)`.
fn certificates(dir: &Path) -> (PathBuf, PathBuf, PathBuf) {
    let days = ["-days", "2"];
    openssl(
        dir,
        &[
            &["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.pem"][..],
            &days,
            &[
                "-subj",
                "/CN=storefront bench CA",
                "-addext",
                "basicConstraints=critical,CA:TRUE",
                "-addext",
                "keyUsage=critical,keyCertSign,cRLSign",
            ],
        ]
        .concat(),
    );
    openssl(
        dir,
        &["req", "-newkey", "rsa:2048", "-nodes", "-keyout", "leaf.key", "-out", "leaf.csr", "-subj", "/CN=127.0.0.1"],
    );
    std::fs::write(
        dir.join("leaf.ext"),
        "subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyEncipherment\n\
         extendedKeyUsage=serverAuth\n",
    )
    .expect("extensions file");
    openssl(
        dir,
        &[
            &["x509", "-req", "-in", "leaf.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial"][..],
            &days,
            &["-out", "leaf.pem", "-extfile", "leaf.ext"],
        ]
        .concat(),
    );
    (dir.join("ca.pem"), dir.join("leaf.pem"), dir.join("leaf.key"))
}

/// Starts the front for `upstream` (`http://127.0.0.1:<port>`).
pub async fn start(upstream: &str) -> TlsFront {
    let dir = tempfile::tempdir().expect("temp dir");
    let (ca, leaf, key) = certificates(dir.path());

    let chain: Vec<CertificateDer<'static>> =
        CertificateDer::pem_file_iter(&leaf).expect("leaf.pem").collect::<Result<_, _>>().expect("a certificate");
    let key = PrivateKeyDer::from_pem_file(&key).expect("leaf.key");
    let config = rustls::ServerConfig::builder_with_provider(rustls::crypto::aws_lc_rs::default_provider().into())
        .with_safe_default_protocol_versions()
        .expect("TLS versions")
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .expect("the leaf and its key");
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = TcpListener::bind(("127.0.0.1", 0)).await.expect("a port");
    let endpoint = format!("https://{}", listener.local_addr().expect("address"));
    let upstream = upstream.trim_start_matches("http://").to_owned();
    let outside = Outside::default();
    let task = tokio::spawn({
        let outside = outside.clone();
        async move {
            loop {
                let Ok((socket, _)) = listener.accept().await else { continue };
                let (acceptor, upstream, outside) = (acceptor.clone(), upstream.clone(), outside.clone());
                tokio::spawn(async move {
                    // Without it the handshake's small writes wait on the client's delayed ACK (40 ms on Linux), which
                    // no AWS endpoint makes a client wait.
                    let _ = socket.set_nodelay(true);
                    let Ok(tls) = acceptor.accept(Watched::new(socket)).await else { return };
                    if let Some((hello, flight)) = tls.get_ref().0.server_share() {
                        outside.record(Span::Handshake, hello, flight);
                    }
                    let Ok(plain) = TcpStream::connect(&upstream).await else { return };
                    let _ = plain.set_nodelay(true);
                    forward(tls, plain, &outside).await;
                });
            }
        }
    });
    TlsFront { endpoint, ca, outside, task, _dir: dir }
}

/// What a connection through the front was doing on the store's side of it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Span {
    /// The server's share of a TLS handshake: from the ClientHello in to the server's flight out (its key share,
    /// certificate and signature), which the client then verifies on its own time.
    Handshake,
    /// From a request's first byte in to its response's last byte out (the front's TLS and the store's work).
    Call,
}

/// The spans every connection through the front recorded, in the order they ended.
#[derive(Debug, Clone, Default)]
pub struct Outside(Arc<Mutex<Vec<(Span, Instant, Instant)>>>);

impl Outside {
    /// Records a span, or lengthens the one of the same kind that began at the same instant (a call whose
    /// response came in several chunks).
    fn record(&self, span: Span, from: Instant, to: Instant) {
        let mut spans = self.0.lock().unwrap_or_else(|p| p.into_inner());
        match spans.iter_mut().rev().find(|(s, f, _)| *s == span && *f == from) {
            Some(recorded) => recorded.2 = to,
            None => spans.push((span, from, to)),
        }
    }

    /// Everything recorded since the last take: one function start's, when starts take turns.
    pub fn take(&self) -> Vec<(Span, Instant, Instant)> {
        std::mem::take(&mut *self.0.lock().unwrap_or_else(|p| p.into_inner()))
    }
}

/// A client's socket, watched through its handshake: when its first bytes came in (the ClientHello) and when the
/// server last wrote before the client spoke again (the end of the server's flight).
struct Watched {
    socket: TcpStream,
    hello: Option<Instant>,
    flight: Option<Instant>,
    answered: bool,
}

impl Watched {
    fn new(socket: TcpStream) -> Self {
        Self { socket, hello: None, flight: None, answered: false }
    }

    fn server_share(&self) -> Option<(Instant, Instant)> {
        self.hello.zip(self.flight)
    }
}

impl AsyncRead for Watched {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.socket).poll_read(cx, buf);
        if matches!(polled, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            match self.hello {
                None => self.hello = Some(Instant::now()),
                Some(_) => self.answered |= self.flight.is_some(),
            }
        }
        polled
    }
}

impl AsyncWrite for Watched {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, data: &[u8]) -> Poll<std::io::Result<usize>> {
        let polled = Pin::new(&mut self.socket).poll_write(cx, data);
        if matches!(polled, Poll::Ready(Ok(1..))) && !self.answered {
            self.flight = Some(Instant::now());
        }
        polled
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.socket).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.socket).poll_shutdown(cx)
    }
}

/// Hands bytes on both ways, recording each call: HTTP/1.1 without pipelining, so a request's bytes come in while
/// no call is open or after its response began, and a call lasts until the last response byte before the next
/// request (or the close). A call is recorded as soon as its response's first bytes are out and lengthened by each
/// chunk that follows.
async fn forward(client: impl AsyncRead + AsyncWrite, store: TcpStream, outside: &Outside) {
    let (mut client_in, mut client_out) = tokio::io::split(client);
    let (mut store_in, mut store_out) = store.into_split();
    let (mut request, mut response) = (vec![0u8; 16 * 1024], vec![0u8; 16 * 1024]);
    // The open call: when its request began and whether its response has.
    let mut call: Option<(Instant, bool)> = None;
    loop {
        tokio::select! {
            read = client_in.read(&mut request) => {
                let Ok(n @ 1..) = read else { break };
                let now = Instant::now();
                if !matches!(call, Some((_, false))) {
                    call = Some((now, false));
                }
                if store_out.write_all(&request[..n]).await.is_err() { break }
            }
            read = store_in.read(&mut response) => {
                let Ok(n @ 1..) = read else { break };
                if client_out.write_all(&response[..n]).await.is_err() { break }
                if let Some((began, _)) = call {
                    outside.record(Span::Call, began, Instant::now());
                    call = Some((began, true));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use rustls::pki_types::ServerName;

    use super::*;

    /// Verifies as rustls does, 30 ms later: the client's side of the handshake, which is not the server's share.
    #[derive(Debug)]
    struct SlowVerifier(Arc<rustls::client::WebPkiServerVerifier>);

    impl rustls::client::danger::ServerCertVerifier for SlowVerifier {
        fn verify_server_cert(
            &self,
            end_entity: &CertificateDer<'_>,
            intermediates: &[CertificateDer<'_>],
            server_name: &ServerName<'_>,
            ocsp: &[u8],
            now: rustls::pki_types::UnixTime,
        ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
            std::thread::sleep(Duration::from_millis(30));
            self.0.verify_server_cert(end_entity, intermediates, server_name, ocsp, now)
        }

        fn verify_tls12_signature(
            &self,
            message: &[u8],
            cert: &CertificateDer<'_>,
            dss: &rustls::DigitallySignedStruct,
        ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
            self.0.verify_tls12_signature(message, cert, dss)
        }

        fn verify_tls13_signature(
            &self,
            message: &[u8],
            cert: &CertificateDer<'_>,
            dss: &rustls::DigitallySignedStruct,
        ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
            self.0.verify_tls13_signature(message, cert, dss)
        }

        fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
            self.0.supported_verify_schemes()
        }
    }

    #[tokio::test]
    async fn the_front_records_the_handshake_and_each_call_until_its_last_response_byte() {
        // A store that answers each request after 20 ms, in two chunks 10 ms apart.
        let store = TcpListener::bind(("127.0.0.1", 0)).await.expect("a port");
        let upstream = format!("http://{}", store.local_addr().expect("address"));
        tokio::spawn(async move {
            let (mut socket, _) = store.accept().await.expect("the front");
            let mut request = [0u8; 64];
            while let Ok(1..) = socket.read(&mut request).await {
                tokio::time::sleep(Duration::from_millis(20)).await;
                socket.write_all(b"half").await.expect("written");
                tokio::time::sleep(Duration::from_millis(10)).await;
                socket.write_all(b"done").await.expect("written");
            }
        });
        let front = start(&upstream).await;
        let mut roots = rustls::RootCertStore::empty();
        roots.add(CertificateDer::from_pem_file(&front.ca).expect("ca.pem")).expect("a root");
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let verifier = rustls::client::WebPkiServerVerifier::builder_with_provider(roots.into(), provider.clone())
            .build()
            .expect("a verifier");
        let config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .expect("TLS versions")
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(SlowVerifier(verifier)))
            .with_no_client_auth();
        let address = front.endpoint.trim_start_matches("https://");
        let socket = TcpStream::connect(address).await.expect("connected");
        let server = ServerName::try_from("127.0.0.1").expect("an IP address");
        let mut tls = tokio_rustls::TlsConnector::from(Arc::new(config)).connect(server, socket).await.expect("TLS");
        for request in [&b"GET /one"[..], b"GET /two"] {
            tls.write_all(request).await.expect("sent");
            let mut answer = [0u8; 8];
            tls.read_exact(&mut answer).await.expect("answered");
            assert_eq!(&answer, b"halfdone");
        }
        // The front records a call's end after handing its bytes on; give it that moment.
        tokio::time::sleep(Duration::from_millis(5)).await;
        let spans = front.outside.take();
        let kinds: Vec<Span> = spans.iter().map(|(kind, _, _)| *kind).collect();
        assert_eq!(kinds, [Span::Handshake, Span::Call, Span::Call]);
        let (handshake, first, second) = (spans[0], spans[1], spans[2]);
        let server_share = handshake.2 - handshake.1;
        assert!(
            server_share < Duration::from_millis(20),
            "the client's verification counted as the server's: {spans:?}"
        );
        assert!(handshake.2 <= first.1, "the handshake ended after the first call began: {spans:?}");
        for (_, from, to) in [first, second] {
            let lasted = to - from;
            assert!(lasted >= Duration::from_millis(30), "the call ended before its last chunk: {lasted:?}");
        }
        assert!(first.2 <= second.1, "a call began before the one before it ended");
        assert!(front.outside.take().is_empty(), "taken twice");
        front.stop();
    }
}
