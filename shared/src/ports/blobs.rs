//! The blob store port: product photos (S3 in AWS, an S3 stand-in locally).

use async_trait::async_trait;
use time::OffsetDateTime;

use super::StoreError;

/// A presigned upload: a PUT to `url` with exactly these headers, until `expires_at`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PresignedUpload {
    pub url: String,
    pub headers: Vec<(String, String)>,
    pub expires_at: OffsetDateTime,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlobInfo {
    pub size: u64,
    pub content_type: Option<String>,
}

#[async_trait]
pub trait BlobStore: Send + Sync {
    /// A URL that lets a browser PUT one object of `content_type` at `key` for `expires_in`.
    async fn presign_put(
        &self,
        key: &str,
        content_type: &str,
        expires_in: std::time::Duration,
        now: OffsetDateTime,
    ) -> Result<PresignedUpload, StoreError>;

    async fn head(&self, key: &str) -> Result<Option<BlobInfo>, StoreError>;

    /// Reads an object, but never more than `limit + 1` bytes of it, whatever its size says: more than `limit`
    /// bytes back means the object is larger than `limit` (the rest was never read).
    async fn get(&self, key: &str, limit: u64) -> Result<Option<(Vec<u8>, BlobInfo)>, StoreError>;

    /// Writes an object; `cache_control` is served with it (by CloudFront and the local server).
    async fn put(&self, key: &str, bytes: Vec<u8>, content_type: &str, cache_control: &str) -> Result<(), StoreError>;

    /// Deletes an object; deleting what is not there is not an error.
    async fn delete(&self, key: &str) -> Result<(), StoreError>;

    /// Keys under `prefix` (tests and operations; at most 1000).
    async fn list(&self, prefix: &str) -> Result<Vec<String>, StoreError>;
}
