//! Product photos: presigned uploads for the owner, and the processing of what arrives (checked, resized,
//! stored under content-hashed keys, attached to the product, or refused with a reason the artisan can read).

use std::time::Duration;

use sha2::{Digest, Sha256};

use crate::domain::image::{LARGE_WIDTH, MAX_IMAGES, MAX_UPLOAD_BYTES, THUMB_WIDTH};
use crate::domain::{ImageError, ImageType, ProductId, ProductImage, UploadId, UploadKey, UserId, ValidationErrors};
use crate::imaging;
use crate::ports::{BlobStore, CatalogStore, Clock, PresignedUpload};
use crate::telemetry::metrics::{self, Metric};

use super::ServiceError;
use super::products::modify;

/// How long an upload URL works.
pub const UPLOAD_URL_LIFETIME: Duration = Duration::from_secs(5 * 60);
/// Variants never change under their content-hashed keys: cache them for a year.
pub const IMAGE_CACHE_CONTROL: &str = "public, max-age=31536000, immutable";

pub struct ImagePorts<'a> {
    pub catalog: &'a dyn CatalogStore,
    pub blobs: &'a dyn BlobStore,
    pub clock: &'a dyn Clock,
    /// Where `images/...` is served from (CloudFront in AWS, the local server locally).
    pub cdn_base_url: &'a str,
}

/// A presigned PUT for a new photo of `artisan`'s product.
pub async fn request_upload(
    ports: &ImagePorts<'_>,
    artisan: &UserId,
    product_id: &ProductId,
    kind: ImageType,
) -> Result<(UploadKey, PresignedUpload), ServiceError> {
    let product = match ports.catalog.get_product(product_id).await? {
        Some(product) if &product.artisan_id == artisan => product,
        _ => return Err(ServiceError::NotFound("product")),
    };
    if !product.is_active() {
        return Err(ServiceError::ProductUnavailable(product.product_id));
    }
    if product.images.len() >= MAX_IMAGES {
        return Err(
            ValidationErrors::single("product_id", format!("a product shows at most {MAX_IMAGES} photos")).into()
        );
    }
    let now = ports.clock.now();
    let upload =
        UploadKey { artisan: artisan.clone(), product: product.product_id, upload_id: UploadId::generate(now) };
    let presigned = ports.blobs.presign_put(&upload.key(), kind.content_type(), UPLOAD_URL_LIFETIME, now).await?;
    Ok((upload, presigned))
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UploadOutcome {
    Added(ProductImage),
    /// Gone already: a duplicate notification of an upload that was processed (or refused).
    AlreadyHandled,
    Rejected(String),
    /// Not an upload of ours (another prefix, a malformed key).
    Ignored,
}

/// Processes one uploaded object. Safe to repeat: the same bytes give the same keys, and the product only gains
/// a photo it does not show yet; the upload is deleted last.
pub async fn process_upload(ports: &ImagePorts<'_>, key: &str) -> Result<UploadOutcome, ServiceError> {
    let Some(upload) = UploadKey::parse(key) else { return Ok(UploadOutcome::Ignored) };
    let Some(info) = ports.blobs.head(key).await? else { return Ok(UploadOutcome::AlreadyHandled) };
    if info.size > MAX_UPLOAD_BYTES {
        return reject(ports, &upload, format!("the file is {} bytes; the limit is 10 MB", info.size)).await;
    }
    let Some(kind) = info.content_type.as_deref().and_then(ImageType::from_content_type) else {
        return reject(ports, &upload, format!("only {} are accepted", ImageType::ACCEPTED)).await;
    };
    // HEAD's size is what the uploader claimed a moment ago; the read itself stops past the limit.
    let Some((bytes, _)) = ports.blobs.get(key, MAX_UPLOAD_BYTES).await? else {
        return Ok(UploadOutcome::AlreadyHandled);
    };
    if bytes.len() as u64 > MAX_UPLOAD_BYTES {
        return reject(ports, &upload, "the file is larger than the 10 MB limit".into()).await;
    }
    let variants = imaging::decode(kind, &bytes)
        .and_then(|image| Ok((imaging::variant(&image, THUMB_WIDTH)?, imaging::variant(&image, LARGE_WIDTH)?)));
    let (thumb, large) = match variants {
        Ok(variants) => variants,
        Err(error) => return reject(ports, &upload, error.to_string()).await,
    };
    let hash: String = Sha256::digest(&bytes).iter().take(8).map(|b| format!("{b:02x}")).collect();
    let url_of = |key: &str| format!("{}/{key}", ports.cdn_base_url.trim_end_matches('/'));
    let thumb_key = format!("images/{}/{hash}-{}w.jpg", upload.product, THUMB_WIDTH);
    let large_key = format!("images/{}/{hash}-{}w.jpg", upload.product, LARGE_WIDTH);
    ports.blobs.put(&thumb_key, thumb.jpeg, "image/jpeg", IMAGE_CACHE_CONTROL).await?;
    ports.blobs.put(&large_key, large.jpeg, "image/jpeg", IMAGE_CACHE_CONTROL).await?;
    let image = ProductImage { thumb_url: url_of(&thumb_key), large_url: url_of(&large_key) };
    let attached = modify(ports.catalog, &upload.product, &upload.artisan, None, |product| {
        product.with_image(image.clone(), ports.clock.now())
    })
    .await;
    match attached {
        Ok(_) => {}
        // The product is gone or not theirs (a forged key): nothing to attach to.
        Err(ServiceError::NotFound(_)) => return reject(ports, &upload, "the product does not exist".into()).await,
        Err(error) => return Err(error),
    }
    ports.blobs.delete(key).await?;
    metrics::count(Metric::ImagesProcessed);
    Ok(UploadOutcome::Added(image))
}

/// Deletes a refused upload and tells its artisan why, on the product.
async fn reject(ports: &ImagePorts<'_>, upload: &UploadKey, reason: String) -> Result<UploadOutcome, ServiceError> {
    tracing::info!(upload = %upload.key(), %reason, "upload refused");
    let error = ImageError { upload_id: upload.upload_id.to_string(), reason: reason.clone(), at: ports.clock.now() };
    match modify(ports.catalog, &upload.product, &upload.artisan, None, |p| {
        p.with_image_error(error.clone(), ports.clock.now())
    })
    .await
    {
        Ok(_) | Err(ServiceError::NotFound(_)) => {}
        Err(other) => return Err(other),
    }
    ports.blobs.delete(&upload.key()).await?;
    metrics::count(Metric::ImagesRejected);
    Ok(UploadOutcome::Rejected(reason))
}
