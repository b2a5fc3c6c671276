//! The floor of a function that calls its store: hello-lambda plus one `GET /` to `AWS_ENDPOINT_URL_DYNAMODB` per
//! event, on a connection its first event opens and the next ones reuse. Over TLS when the URL is https: rustls on
//! aws-lc with its default key shares, as the SDK's client, trusting `AWS_CA_BUNDLE`. No SDK, no signing, no JSON:
//! beside it, a route function's first response shows what the SDK and the function cost beyond the connection and
//! the round trip that any function calling DynamoDB pays (the init table's "one call" rows).

use std::sync::Arc;

use lambda_http::{Body, Error, Request, Response, run, service_fn};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::Mutex;

trait Stream: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Stream for T {}

async fn connect(endpoint: &str) -> Result<Box<dyn Stream>, Error> {
    let (tls, authority) = match endpoint.split_once("://") {
        Some(("https", rest)) => (true, rest),
        Some(("http", rest)) => (false, rest),
        _ => return Err(format!("not an http(s) URL: {endpoint}").into()),
    };
    let authority = authority.trim_end_matches('/');
    let tcp = TcpStream::connect(authority).await?;
    tcp.set_nodelay(true)?;
    if !tls {
        return Ok(Box::new(tcp));
    }
    let mut roots = rustls::RootCertStore::empty();
    let bundle = std::env::var("AWS_CA_BUNDLE")?;
    for cert in CertificateDer::pem_file_iter(&bundle)? {
        roots.add(cert?)?;
    }
    let config = rustls::ClientConfig::builder_with_provider(rustls::crypto::aws_lc_rs::default_provider().into())
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots)
        .with_no_client_auth();
    let host = authority.rsplit_once(':').map_or(authority, |(host, _)| host);
    let name = ServerName::try_from(host.to_owned())?;
    let stream = tokio_rustls::TlsConnector::from(Arc::new(config)).connect(name, tcp).await?;
    Ok(Box::new(stream))
}

/// Sends `GET /` and reads the answer through its body (`content-length`), leaving the connection reusable.
async fn get(stream: &mut Box<dyn Stream>, host: &str) -> Result<Vec<u8>, Error> {
    stream.write_all(format!("GET / HTTP/1.1\r\nhost: {host}\r\n\r\n").as_bytes()).await?;
    let mut answer = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        let read = stream.read(&mut chunk).await?;
        if read == 0 {
            return Err("the endpoint closed the connection".into());
        }
        answer.extend_from_slice(&chunk[..read]);
        let Some(end) = answer.windows(4).position(|w| w == b"\r\n\r\n") else { continue };
        let head = String::from_utf8_lossy(&answer[..end]).to_ascii_lowercase();
        let length = head
            .lines()
            .find_map(|l| l.strip_prefix("content-length:"))
            .and_then(|v| v.trim().parse::<usize>().ok())
            .ok_or("no content-length")?;
        if answer.len() >= end + 4 + length {
            return Ok(answer);
        }
    }
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    let endpoint: Arc<str> = std::env::var("AWS_ENDPOINT_URL_DYNAMODB")?.into();
    let connection: Arc<Mutex<Option<Box<dyn Stream>>>> = Arc::default();
    run(service_fn(move |_: Request| {
        let (endpoint, connection) = (endpoint.clone(), connection.clone());
        async move {
            let mut connection = connection.lock().await;
            if connection.is_none() {
                *connection = Some(connect(&endpoint).await?);
            }
            let stream = connection.as_mut().ok_or("no connection")?;
            let host = endpoint.split_once("://").map_or(&*endpoint, |(_, rest)| rest);
            let answer = get(stream, host).await?;
            Ok::<_, Error>(Response::new(Body::from(format!("{} bytes from the store", answer.len()))))
        }
    }))
    .await
}
