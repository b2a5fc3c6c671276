//! `BlobStore` on S3. The bucket is private; browsers upload with presigned PUTs, CloudFront serves `images/`.

use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_s3::presigning::PresigningConfig;
use aws_sdk_s3::primitives::ByteStream;
use time::OffsetDateTime;

use crate::adapters::aws::LazyClient;
use crate::ports::{BlobInfo, BlobStore, PresignedUpload, StoreError};

#[derive(Clone, Debug)]
pub struct S3BlobStore {
    client: LazyClient<aws_sdk_s3::Client>,
    bucket: String,
    /// S3 answers a read of a missing key with 403 instead of 404 unless the caller may list the bucket. Set only
    /// where the grants make 403 unambiguous (`Config::uploads_listable`): then it means the key is gone.
    forbidden_means_missing: bool,
}

impl S3BlobStore {
    pub fn new(client: impl Into<LazyClient<aws_sdk_s3::Client>>, bucket: impl Into<String>) -> Self {
        Self { client: client.into(), bucket: bucket.into(), forbidden_means_missing: false }
    }

    pub fn forbidden_means_missing(mut self, yes: bool) -> Self {
        self.forbidden_means_missing = yes;
        self
    }

    /// Whether an error reading `key` says it does not exist.
    fn missing<E>(&self, error: &aws_sdk_s3::error::SdkError<E, aws_sdk_s3::config::http::HttpResponse>) -> bool {
        let status = error.raw_response().map(|r| r.status().as_u16());
        status == Some(404) || (self.forbidden_means_missing && status == Some(403))
    }

    /// A client for an S3-compatible endpoint on this machine: path-style addressing (no bucket subdomains).
    pub fn local_client(sdk: &aws_config::SdkConfig) -> aws_sdk_s3::Client {
        aws_sdk_s3::Client::from_conf(aws_sdk_s3::config::Builder::from(sdk).force_path_style(true).build())
    }

    pub fn bucket(&self) -> &str {
        &self.bucket
    }

    /// Creates the bucket unless it exists (local engines and moto start empty).
    pub async fn ensure_bucket(&self) -> Result<(), StoreError> {
        if self.client.get().head_bucket().bucket(&self.bucket).send().await.is_ok() {
            return Ok(());
        }
        self.client.get().create_bucket().bucket(&self.bucket).send().await.map_err(error)?;
        Ok(())
    }
}

fn error<E: std::error::Error + Send + Sync + 'static, R: std::fmt::Debug + Send + Sync + 'static>(
    error: aws_sdk_s3::error::SdkError<E, R>,
) -> StoreError {
    use aws_sdk_s3::error::SdkError;
    let retryable = matches!(error, SdkError::TimeoutError(_) | SdkError::DispatchFailure(_));
    let text = aws_sdk_s3::error::DisplayErrorContext(error).to_string();
    if retryable { StoreError::Unavailable(text.into()) } else { StoreError::unexpected(text) }
}

#[async_trait]
impl BlobStore for S3BlobStore {
    async fn presign_put(
        &self,
        key: &str,
        content_type: &str,
        expires_in: Duration,
        now: OffsetDateTime,
    ) -> Result<PresignedUpload, StoreError> {
        let config = PresigningConfig::expires_in(expires_in).map_err(StoreError::unexpected)?;
        // The content type is signed: a PUT with another one is refused by S3.
        let presigned = self
            .client
            .get()
            .put_object()
            .bucket(&self.bucket)
            .key(key)
            .content_type(content_type)
            .presigned(config)
            .await
            .map_err(error)?;
        Ok(PresignedUpload {
            url: presigned.uri().to_owned(),
            headers: presigned.headers().map(|(name, value)| (name.to_owned(), value.to_owned())).collect(),
            expires_at: now + expires_in,
        })
    }

    async fn head(&self, key: &str) -> Result<Option<BlobInfo>, StoreError> {
        match self.client.get().head_object().bucket(&self.bucket).key(key).send().await {
            Ok(head) => Ok(Some(BlobInfo {
                size: head.content_length().unwrap_or(0).max(0).unsigned_abs(),
                content_type: head.content_type().map(str::to_owned),
            })),
            Err(e) if self.missing(&e) => Ok(None),
            Err(e) => Err(error(e)),
        }
    }

    async fn get(&self, key: &str, limit: u64) -> Result<Option<(Vec<u8>, BlobInfo)>, StoreError> {
        // Asks for one byte past the limit, and stops reading there even if the range was not honoured.
        let request = self.client.get().get_object().bucket(&self.bucket).key(key).range(format!("bytes=0-{limit}"));
        let mut object = match request.send().await {
            Ok(object) => object,
            Err(e) if self.missing(&e) => return Ok(None),
            // An empty object has no byte 0: S3 answers the range with 416.
            Err(e) if e.raw_response().is_some_and(|r| r.status().as_u16() == 416) => {
                return Ok(Some((Vec::new(), BlobInfo { size: 0, content_type: None })));
            }
            Err(e) => return Err(error(e)),
        };
        let content_type = object.content_type().map(str::to_owned);
        let cap = usize::try_from(limit.saturating_add(1)).unwrap_or(usize::MAX);
        let mut bytes = Vec::new();
        while let Some(chunk) = object.body.try_next().await.map_err(StoreError::unexpected)? {
            let room = cap - bytes.len();
            bytes.extend_from_slice(&chunk[..chunk.len().min(room)]);
            if bytes.len() == cap {
                break;
            }
        }
        let size = bytes.len() as u64;
        Ok(Some((bytes, BlobInfo { size, content_type })))
    }

    async fn put(&self, key: &str, bytes: Vec<u8>, content_type: &str, cache_control: &str) -> Result<(), StoreError> {
        self.client
            .get()
            .put_object()
            .bucket(&self.bucket)
            .key(key)
            .content_type(content_type)
            .cache_control(cache_control)
            .body(ByteStream::from(bytes))
            .send()
            .await
            .map_err(error)?;
        Ok(())
    }

    async fn delete(&self, key: &str) -> Result<(), StoreError> {
        self.client.get().delete_object().bucket(&self.bucket).key(key).send().await.map_err(error)?;
        Ok(())
    }

    async fn list(&self, prefix: &str) -> Result<Vec<String>, StoreError> {
        let output =
            self.client.get().list_objects_v2().bucket(&self.bucket).prefix(prefix).send().await.map_err(error)?;
        Ok(output.contents().iter().filter_map(|o| o.key().map(str::to_owned)).collect())
    }
}
