//! Turning an uploaded photo into the variants the storefront shows: checked, decoded with limits (no
//! decompression bombs), resized to fixed widths with the aspect kept and never upscaled, encoded as JPEG.
//! Pure: bytes in, bytes out.

use std::io::Cursor;

use image::codecs::jpeg::JpegEncoder;
use image::imageops::FilterType;
use image::{DynamicImage, ImageFormat, ImageReader, Limits};

use crate::domain::ImageType;

/// Largest decoded photo we accept, per side: far beyond any camera, far below a memory bomb.
pub const MAX_SIDE: u32 = 12_000;
const JPEG_QUALITY: u8 = 85;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ImagingError {
    #[error("the file is not a {0} image (its first bytes say otherwise)")]
    WrongType(&'static str),
    #[error("the image could not be decoded: {0}")]
    Undecodable(String),
    #[error("the image is larger than {MAX_SIDE} pixels on a side")]
    TooLarge,
}

/// Some writers pad a file with zero bytes after its last marker.
trait TrimZeros {
    fn trim_ascii_end_zeros(&self) -> &[u8];
}

impl TrimZeros for [u8] {
    fn trim_ascii_end_zeros(&self) -> &[u8] {
        let end = self.iter().rposition(|b| *b != 0).map_or(0, |i| i + 1);
        &self[..end]
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Variant {
    pub width: u32,
    pub height: u32,
    pub jpeg: Vec<u8>,
}

fn format(kind: ImageType) -> ImageFormat {
    match kind {
        ImageType::Jpeg => ImageFormat::Jpeg,
        ImageType::Png => ImageFormat::Png,
        ImageType::Webp => ImageFormat::WebP,
    }
}

pub fn decode(kind: ImageType, bytes: &[u8]) -> Result<DynamicImage, ImagingError> {
    if !kind.matches_magic(bytes) {
        return Err(ImagingError::WrongType(kind.content_type()));
    }
    // JPEG decoders paint a cut-off file grey rather than fail; a whole JPEG ends with its EOI marker.
    if kind == ImageType::Jpeg && !bytes.trim_ascii_end_zeros().ends_with(&[0xFF, 0xD9]) {
        return Err(ImagingError::Undecodable("the JPEG is truncated (no end-of-image marker)".into()));
    }
    let mut limits = Limits::default();
    limits.max_image_width = Some(MAX_SIDE);
    limits.max_image_height = Some(MAX_SIDE);
    limits.max_alloc = Some(512 * 1024 * 1024);
    let mut reader = ImageReader::with_format(Cursor::new(bytes), format(kind));
    reader.limits(limits);
    reader.decode().map_err(|error| match error {
        image::ImageError::Limits(_) => ImagingError::TooLarge,
        other => ImagingError::Undecodable(other.to_string()),
    })
}

/// The photo at `width` pixels wide (or its own width if smaller), as JPEG.
pub fn variant(image: &DynamicImage, width: u32) -> Result<Variant, ImagingError> {
    let resized = if image.width() > width {
        let height = ((u64::from(image.height()) * u64::from(width)) / u64::from(image.width())).max(1) as u32;
        image.resize_exact(width, height, FilterType::Triangle)
    } else {
        image.clone()
    };
    let rgb = resized.to_rgb8();
    let mut jpeg = Vec::new();
    JpegEncoder::new_with_quality(&mut jpeg, JPEG_QUALITY)
        .encode_image(&rgb)
        .map_err(|e| ImagingError::Undecodable(e.to_string()))?;
    Ok(Variant { width: rgb.width(), height: rgb.height(), jpeg })
}

#[cfg(test)]
mod tests {
    use image::{ImageBuffer, Rgb};

    use super::*;

    fn png(width: u32, height: u32) -> Vec<u8> {
        let img = ImageBuffer::from_fn(width, height, |x, y| Rgb([(x % 255) as u8, (y % 255) as u8, 128]));
        let mut bytes = Vec::new();
        DynamicImage::ImageRgb8(img).write_to(&mut Cursor::new(&mut bytes), ImageFormat::Png).expect("png");
        bytes
    }

    #[test]
    fn variants_keep_the_aspect_and_never_upscale() {
        let image = decode(ImageType::Png, &png(2000, 1000)).expect("decodes");
        let thumb = variant(&image, 320).expect("thumb");
        assert_eq!((thumb.width, thumb.height), (320, 160));
        let small = decode(ImageType::Png, &png(200, 300)).expect("decodes");
        let large = variant(&small, 1024).expect("large");
        assert_eq!((large.width, large.height), (200, 300));
        assert!(ImageType::Jpeg.matches_magic(&large.jpeg));
    }

    #[test]
    fn lies_and_garbage_are_refused() {
        assert_eq!(decode(ImageType::Png, b"just some text").err(), Some(ImagingError::WrongType("image/png")));
        let mut truncated = png(100, 100);
        truncated.truncate(60);
        assert!(matches!(decode(ImageType::Png, &truncated), Err(ImagingError::Undecodable(_))));
        let image = decode(ImageType::Png, &png(300, 200)).expect("decodes");
        let mut jpeg = variant(&image, 300).expect("jpeg").jpeg;
        assert!(decode(ImageType::Jpeg, &jpeg).is_ok());
        jpeg.truncate(jpeg.len() / 2);
        assert!(matches!(decode(ImageType::Jpeg, &jpeg), Err(ImagingError::Undecodable(_))));
    }
}
