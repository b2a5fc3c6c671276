//! The embedded S3 stand-in: s3s-fs (S3 on the local file system, under the data dir) served on a loopback port
//! with SigV4 checked, so the production adapter's presigned URLs work against it, content type included. Like a
//! bucket with an event notification, it sends an `ObjectCreated` event for every object under `uploads/` to the
//! image queue; like the bucket's CORS rule in template.yaml, it lets pages of any origin PUT to a presigned URL
//! (the browser uploads photos straight to storage).

use std::path::Path;
use std::sync::Arc;

use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto::Builder as ConnBuilder;
use s3s::dto::*;
use s3s::{S3, S3Request, S3Response, S3Result};
use serde_json::json;
use tokio::task::JoinHandle;

/// Called with the JSON body of an S3 event notification.
pub type Notify = Arc<dyn Fn(String) + Send + Sync>;

struct NotifyingFs {
    inner: s3s_fs::FileSystem,
    notify: Notify,
}

/// URL-encodes a key the way S3 event notifications do.
fn encode_key(key: &str) -> String {
    key.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b'/' => (b as char).to_string(),
            b' ' => "+".to_owned(),
            other => format!("%{other:02X}"),
        })
        .collect()
}

fn object_created(bucket: &str, key: &str, size: i64) -> String {
    json!({"Records": [{
        "eventVersion": "2.1",
        "eventSource": "aws:s3",
        "awsRegion": "us-east-1",
        "eventTime": time::OffsetDateTime::now_utc().format(&time::format_description::well_known::Rfc3339).unwrap_or_default(),
        "eventName": "ObjectCreated:Put",
        "s3": {
            "s3SchemaVersion": "1.0",
            "bucket": {"name": bucket, "arn": format!("arn:aws:s3:::{bucket}")},
            "object": {"key": encode_key(key), "size": size},
        },
    }]})
    .to_string()
}

// Only the operations the adapters use are delegated; the rest answer NotImplemented, as s3s does by default.
#[async_trait::async_trait]
impl S3 for NotifyingFs {
    async fn create_bucket(&self, req: S3Request<CreateBucketInput>) -> S3Result<S3Response<CreateBucketOutput>> {
        self.inner.create_bucket(req).await
    }

    async fn head_bucket(&self, req: S3Request<HeadBucketInput>) -> S3Result<S3Response<HeadBucketOutput>> {
        self.inner.head_bucket(req).await
    }

    async fn put_object(&self, req: S3Request<PutObjectInput>) -> S3Result<S3Response<PutObjectOutput>> {
        let (bucket, key, size) = (req.input.bucket.clone(), req.input.key.clone(), req.input.content_length);
        let response = self.inner.put_object(req).await?;
        if key.starts_with("uploads/") {
            (self.notify)(object_created(&bucket, &key, size.unwrap_or(0)));
        }
        Ok(response)
    }

    async fn get_object(&self, req: S3Request<GetObjectInput>) -> S3Result<S3Response<GetObjectOutput>> {
        self.inner.get_object(req).await
    }

    async fn head_object(&self, req: S3Request<HeadObjectInput>) -> S3Result<S3Response<HeadObjectOutput>> {
        self.inner.head_object(req).await
    }

    async fn delete_object(&self, req: S3Request<DeleteObjectInput>) -> S3Result<S3Response<DeleteObjectOutput>> {
        self.inner.delete_object(req).await
    }

    async fn list_objects_v2(&self, req: S3Request<ListObjectsV2Input>) -> S3Result<S3Response<ListObjectsV2Output>> {
        self.inner.list_objects_v2(req).await
    }
}

/// The media bucket's CORS rule (template.yaml): any origin may PUT (the presigned URL is the authorization) and
/// read; a preflight is answered here.
async fn cors(
    req: http::Request<hyper::body::Incoming>,
    service: &s3s::service::S3Service,
) -> Result<http::Response<s3s::Body>, s3s::HttpError> {
    if req.method() == http::Method::OPTIONS && req.headers().contains_key("access-control-request-method") {
        let headers = req.headers().get("access-control-request-headers").cloned();
        let mut response = http::Response::new(s3s::Body::empty());
        let h = response.headers_mut();
        h.insert("access-control-allow-origin", http::HeaderValue::from_static("*"));
        h.insert("access-control-allow-methods", http::HeaderValue::from_static("GET, HEAD, PUT"));
        if let Some(headers) = headers {
            h.insert("access-control-allow-headers", headers);
        }
        h.insert("access-control-max-age", http::HeaderValue::from_static("3000"));
        return Ok(response);
    }
    let mut response = hyper::service::Service::call(service, req).await?;
    let h = response.headers_mut();
    h.insert("access-control-allow-origin", http::HeaderValue::from_static("*"));
    h.insert("access-control-expose-headers", http::HeaderValue::from_static("ETag"));
    Ok(response)
}

pub struct S3Engine {
    pub endpoint: String,
    task: JoinHandle<()>,
}

impl S3Engine {
    pub async fn start(
        root: &Path,
        at: std::net::SocketAddr,
        access_key: &str,
        secret_key: &str,
        notify: Notify,
    ) -> Result<Self, String> {
        std::fs::create_dir_all(root).map_err(|e| e.to_string())?;
        let fs = s3s_fs::FileSystem::new(root).map_err(|e| format!("{e:?}"))?;
        let mut builder = s3s::service::S3ServiceBuilder::new(NotifyingFs { inner: fs, notify });
        builder.set_auth(s3s::auth::SimpleAuth::from_single(access_key, secret_key));
        let service = builder.build();
        let service = hyper::service::service_fn(move |req: http::Request<hyper::body::Incoming>| {
            let service = service.clone();
            async move { cors(req, &service).await }
        });
        let (listener, reached) = crate::options::listen(at).await.map_err(|e| format!("{at}: {e}"))?;
        let endpoint = format!("http://{reached}");
        let task = tokio::spawn(async move {
            let http = ConnBuilder::new(TokioExecutor::new());
            loop {
                let Ok((socket, _)) = listener.accept().await else { continue };
                let connection = http.serve_connection(TokioIo::new(socket), service.clone()).into_owned();
                tokio::spawn(async move {
                    let _ = connection.await;
                });
            }
        });
        Ok(Self { endpoint, task })
    }

    pub async fn stop(self) {
        self.task.abort();
        let _ = self.task.await;
    }
}
