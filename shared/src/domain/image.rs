//! Product photos: which uploads are accepted, where they live, and what a bad one tells the artisan.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use super::{ProductId, UploadId, UserId, ValidationErrors};

/// Largest accepted upload.
pub const MAX_UPLOAD_BYTES: u64 = 10 * 1024 * 1024;
/// Photos one product may show.
pub const MAX_IMAGES: usize = 8;
/// Rejections kept on a product for its artisan to read (newest last).
pub const MAX_IMAGE_ERRORS: usize = 10;
/// Widths of the variants written for every photo (never upscaled).
pub const THUMB_WIDTH: u32 = 320;
pub const LARGE_WIDTH: u32 = 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImageType {
    Jpeg,
    Png,
    Webp,
}

impl ImageType {
    pub const ACCEPTED: &'static str = "image/jpeg, image/png, image/webp";

    pub fn from_content_type(raw: &str) -> Option<Self> {
        match raw.trim().to_ascii_lowercase().as_str() {
            "image/jpeg" => Some(ImageType::Jpeg),
            "image/png" => Some(ImageType::Png),
            "image/webp" => Some(ImageType::Webp),
            _ => None,
        }
    }

    pub fn parse_field(raw: &str, field: &str) -> Result<Self, ValidationErrors> {
        Self::from_content_type(raw)
            .ok_or_else(|| ValidationErrors::single(field, format!("must be one of: {}", Self::ACCEPTED)))
    }

    pub fn content_type(self) -> &'static str {
        match self {
            ImageType::Jpeg => "image/jpeg",
            ImageType::Png => "image/png",
            ImageType::Webp => "image/webp",
        }
    }

    /// Whether `bytes` start the way files of this type do (the declared type must be the real one).
    pub fn matches_magic(self, bytes: &[u8]) -> bool {
        match self {
            ImageType::Jpeg => bytes.starts_with(&[0xFF, 0xD8, 0xFF]),
            ImageType::Png => bytes.starts_with(&[0x89, b'P', b'N', b'G', 0x0D, 0x0A, 0x1A, 0x0A]),
            ImageType::Webp => bytes.len() >= 12 && &bytes[..4] == b"RIFF" && &bytes[8..12] == b"WEBP",
        }
    }
}

/// Where an artisan's upload for a product lands: `uploads/<artisan>/<product>/<upload id>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UploadKey {
    pub artisan: UserId,
    pub product: ProductId,
    pub upload_id: UploadId,
}

impl UploadKey {
    pub const PREFIX: &'static str = "uploads/";

    pub fn key(&self) -> String {
        format!("{}{}/{}/{}", Self::PREFIX, self.artisan, self.product, self.upload_id)
    }

    pub fn parse(key: &str) -> Option<Self> {
        let mut parts = key.strip_prefix(Self::PREFIX)?.split('/');
        let (artisan, product, upload, None) = (parts.next()?, parts.next()?, parts.next()?, parts.next()) else {
            return None;
        };
        Some(Self {
            artisan: UserId::parse(artisan)?,
            product: ProductId::parse(product)?,
            upload_id: UploadId::parse(upload)?,
        })
    }
}

/// Why an upload was refused, as the artisan reads it on the product.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImageError {
    pub upload_id: String,
    pub reason: String,
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_three_types_are_accepted() {
        assert_eq!(ImageType::from_content_type("image/png"), Some(ImageType::Png));
        assert_eq!(ImageType::from_content_type("IMAGE/JPEG"), Some(ImageType::Jpeg));
        assert!(ImageType::parse_field("image/gif", "content_type").is_err());
        assert!(ImageType::parse_field("text/plain", "content_type").is_err());
    }

    #[test]
    fn magic_bytes_must_match_the_declared_type() {
        assert!(ImageType::Png.matches_magic(b"\x89PNG\r\n\x1a\n...."));
        assert!(!ImageType::Png.matches_magic(b"hello, I am text"));
        assert!(ImageType::Jpeg.matches_magic(&[0xFF, 0xD8, 0xFF, 0xE0]));
        assert!(!ImageType::Jpeg.matches_magic(b"\x89PNG\r\n\x1a\n"));
        assert!(ImageType::Webp.matches_magic(b"RIFF\x10\0\0\0WEBPVP8 "));
        assert!(!ImageType::Webp.matches_magic(b"RIFF\x10\0\0\0WAVE"));
    }

    #[test]
    fn upload_keys_round_trip_and_reject_anything_else() {
        let key = UploadKey {
            artisan: UserId::parse("ana").expect("id"),
            product: ProductId::from_parts(1, 1),
            upload_id: UploadId::from_parts(2, 2),
        };
        assert_eq!(UploadKey::parse(&key.key()), Some(key.clone()));
        assert_eq!(UploadKey::parse("images/x"), None);
        assert_eq!(UploadKey::parse(&format!("{}/extra", key.key())), None);
        assert_eq!(UploadKey::parse("uploads/ana/not-an-id/also-not"), None);
    }
}
