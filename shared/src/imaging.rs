//! Turning an uploaded photo into the variants the storefront shows: checked, decoded with limits (no
//! decompression bombs), turned upright as the camera recorded it (EXIF orientation), flattened onto white where
//! it is transparent, resized to fixed widths with the aspect kept and never upscaled, and encoded as JPEG with
//! no metadata at all (a phone's GPS position never reaches the shop). Pure: bytes in, bytes out.

use std::io::Cursor;

use image::codecs::jpeg::JpegEncoder;
use image::imageops::FilterType;
use image::{DynamicImage, ImageDecoder, ImageFormat, ImageReader, Limits, Rgb, RgbImage};

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
    let failed = |error: image::ImageError| match error {
        image::ImageError::Limits(_) => ImagingError::TooLarge,
        other => ImagingError::Undecodable(other.to_string()),
    };
    let mut decoder = reader.into_decoder().map_err(failed)?;
    // Phones store a portrait shot sideways and say so in EXIF; an unreadable tag leaves the pixels as stored.
    let orientation = decoder.orientation().unwrap_or(image::metadata::Orientation::NoTransforms);
    let mut image = DynamicImage::from_decoder(decoder).map_err(failed)?;
    image.apply_orientation(orientation);
    Ok(image)
}

/// The image on an opaque white background (a transparent PNG's cut-out stays white, not black).
fn on_white(image: &DynamicImage) -> RgbImage {
    if !image.color().has_alpha() {
        return image.to_rgb8();
    }
    let rgba = image.to_rgba8();
    RgbImage::from_fn(rgba.width(), rgba.height(), |x, y| {
        let [r, g, b, a] = rgba.get_pixel(x, y).0;
        let over_white = |c: u8| ((u16::from(c) * u16::from(a) + 255 * (255 - u16::from(a)) + 127) / 255) as u8;
        Rgb([over_white(r), over_white(g), over_white(b)])
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
    let rgb = on_white(&resized);
    // The encoder writes pixels only: no EXIF, no ICC, no comments survive into a variant.
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

    /// A JPEG of `width` × `height` carrying an EXIF block with `orientation` and a GPS position, as phones write.
    fn phone_jpeg(width: u32, height: u32, orientation: u16) -> Vec<u8> {
        let img = ImageBuffer::from_fn(width, height, |x, _| Rgb([if x < width / 2 { 250 } else { 5 }, 20, 20]));
        let mut plain = Vec::new();
        DynamicImage::ImageRgb8(img).write_to(&mut Cursor::new(&mut plain), ImageFormat::Jpeg).expect("jpeg");
        // TIFF, big-endian: IFD0 with Orientation and a GPS IFD pointer; the GPS IFD with a latitude reference.
        let mut tiff = b"MM\0\x2a\0\0\0\x08".to_vec();
        tiff.extend([0, 2]);
        tiff.extend([0x01, 0x12, 0, 3, 0, 0, 0, 1]);
        tiff.extend(orientation.to_be_bytes());
        tiff.extend([0, 0]);
        tiff.extend([0x88, 0x25, 0, 4, 0, 0, 0, 1, 0, 0, 0, 38]);
        tiff.extend([0, 0, 0, 0]);
        tiff.extend([0, 1, 0, 1, 0, 2, 0, 0, 0, 2, b'N', 0, 0, 0, 0, 0, 0, 0]);
        let mut app1 = b"Exif\0\0".to_vec();
        app1.extend(tiff);
        let mut jpeg = plain[..2].to_vec();
        jpeg.extend([0xFF, 0xE1]);
        jpeg.extend(u16::try_from(app1.len() + 2).expect("short").to_be_bytes());
        jpeg.extend(app1);
        jpeg.extend(&plain[2..]);
        jpeg
    }

    #[test]
    fn a_phone_photo_is_turned_upright_and_loses_its_metadata() {
        // Stored 400 × 200, red on the left; orientation 6 says "rotate 90° clockwise to view".
        let upright = decode(ImageType::Jpeg, &phone_jpeg(400, 200, 6)).expect("decodes");
        assert_eq!((upright.width(), upright.height()), (200, 400), "portrait, as taken");
        let top = upright.to_rgb8().get_pixel(100, 20).0;
        assert!(top[0] > 200, "the stored left (red) is now the top: {top:?}");
        let thumb = variant(&upright, 100).expect("thumb");
        assert_eq!((thumb.width, thumb.height), (100, 200));
        let exif = b"Exif";
        assert!(phone_jpeg(400, 200, 6).windows(4).any(|w| w == exif), "the upload carried EXIF");
        assert!(!thumb.jpeg.windows(4).any(|w| w == exif), "no metadata in a variant");
        let plain = decode(ImageType::Jpeg, &phone_jpeg(400, 200, 1)).expect("decodes");
        assert_eq!((plain.width(), plain.height()), (400, 200), "orientation 1 leaves it as stored");
    }

    #[test]
    fn transparency_is_flattened_onto_white() {
        let img = image::RgbaImage::from_fn(40, 20, |x, _| {
            if x < 20 { image::Rgba([0, 0, 0, 0]) } else { image::Rgba([0, 0, 200, 255]) }
        });
        let mut bytes = Vec::new();
        DynamicImage::ImageRgba8(img).write_to(&mut Cursor::new(&mut bytes), ImageFormat::Png).expect("png");
        let image = decode(ImageType::Png, &bytes).expect("decodes");
        let jpeg = variant(&image, 40).expect("variant").jpeg;
        let back = image::load_from_memory_with_format(&jpeg, ImageFormat::Jpeg).expect("jpeg").to_rgb8();
        let clear = back.get_pixel(5, 10).0;
        assert!(clear.iter().all(|c| *c > 240), "a transparent pixel is white, not black: {clear:?}");
        let solid = back.get_pixel(35, 10).0;
        assert!(solid[2] > 150 && solid[0] < 60, "an opaque pixel keeps its colour: {solid:?}");
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
