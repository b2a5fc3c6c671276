//! TLS in front of a stand-in, as a function reaches DynamoDB in Lambda, so that the first request's handshake (or
//! the warm-up's) is in the init figures: a throwaway CA and a leaf for 127.0.0.1 signed by it (made with the
//! `openssl` command; rustls refuses a self-signed certificate presented as the server's own), and a proxy that
//! terminates TLS and forwards the bytes to the plain-HTTP stand-in. Function processes trust the CA beside
//! Amazon's roots through `AWS_CA_BUNDLE` (storefront::adapters::aws::EndpointTrust).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

pub struct TlsFront {
    /// `https://127.0.0.1:<port>`.
    pub endpoint: String,
    /// The throwaway CA's certificate (PEM), for `AWS_CA_BUNDLE`.
    pub ca: PathBuf,
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
    let task = tokio::spawn(async move {
        loop {
            let Ok((socket, _)) = listener.accept().await else { continue };
            let (acceptor, upstream) = (acceptor.clone(), upstream.clone());
            tokio::spawn(async move {
                // Without it the handshake's small writes wait on the client's delayed ACK (40 ms on Linux), which
                // no AWS endpoint makes a client wait.
                let _ = socket.set_nodelay(true);
                let Ok(mut tls) = acceptor.accept(socket).await else { return };
                let Ok(mut plain) = TcpStream::connect(&upstream).await else { return };
                let _ = plain.set_nodelay(true);
                let _ = tokio::io::copy_bidirectional(&mut tls, &mut plain).await;
            });
        }
    });
    TlsFront { endpoint, ca, task, _dir: dir }
}
