//! The demo catalog a new data dir starts with: five artisans, 42 products over six categories, with stock.
//! Deterministic (fixed ids and times), so `events/` and the docs can name real products. Written through the
//! catalog port, the same path an artisan's `POST /products` takes, so counts and indexes are right.

use storefront::domain::{NewProduct, Product, ProductId, UserId};
use storefront::ports::{CatalogStore, StoreError};
use time::OffsetDateTime;

/// 2026-01-01T00:00:00Z: the seed products are "created" a minute apart from here.
pub const SEED_EPOCH_MS: u64 = 1_767_225_600_000;

pub struct SeedArtisan {
    pub id: &'static str,
    pub display_name: &'static str,
}

pub const ARTISANS: &[SeedArtisan] = &[
    SeedArtisan { id: "marta-clay", display_name: "Marta Oliveira" },
    SeedArtisan { id: "kofi-looms", display_name: "Kofi Mensah" },
    SeedArtisan { id: "lin-woodshop", display_name: "Lin Chen" },
    SeedArtisan { id: "sofia-silver", display_name: "Sofia Rossi" },
    SeedArtisan { id: "ravi-press", display_name: "Ravi Patel" },
];

/// Titles with prices in cents.
type Titles = &'static [(&'static str, i64)];

/// (category, artisan index, titles)
const LINES: &[(&str, usize, Titles)] = &[
    (
        "ceramics",
        0,
        &[
            ("Speckled stoneware mug", 2800),
            ("Celadon tea bowl", 3600),
            ("Ash-glazed vase", 7400),
            ("Set of four dinner plates", 12800),
            ("Hand-thrown serving bowl", 9200),
            ("Porcelain espresso cups (pair)", 4200),
            ("Raku-fired bud vase", 5600),
            ("Terracotta herb planter", 3900),
        ],
    ),
    (
        "glass",
        0,
        &[
            ("Blown glass tumbler", 3400),
            ("Amber carafe", 6800),
            ("Seaglass pendant lamp", 18900),
            ("Twisted glass candle holders", 4500),
            ("Iridescent paperweight", 5200),
            ("Cobalt bud vase", 3900),
        ],
    ),
    (
        "textiles",
        1,
        &[
            ("Kente-pattern table runner", 6500),
            ("Handwoven wool throw", 16500),
            ("Indigo-dyed cushion cover", 4800),
            ("Cotton market tote", 3200),
            ("Mudcloth wall hanging", 11800),
            ("Linen tea towels (set of 3)", 3600),
            ("Alpaca scarf", 8900),
        ],
    ),
    (
        "woodwork",
        2,
        &[
            ("Walnut serving board", 7800),
            ("Hand-carved spoon set", 4400),
            ("Oak floating shelf", 9600),
            ("Cherry jewelry box", 12400),
            ("Maple rolling pin", 3800),
            ("Turned ash bowl", 8600),
            ("Bamboo tea tray", 5400),
        ],
    ),
    (
        "jewelry",
        3,
        &[
            ("Hammered silver ring", 6800),
            ("Gold-fill hoop earrings", 5400),
            ("Moonstone pendant", 9800),
            ("Beaded friendship bracelet", 2400),
            ("Sterling leaf cuff", 11200),
            ("Pearl drop earrings", 7600),
            ("Engraved signet ring", 14500),
        ],
    ),
    (
        "prints",
        4,
        &[
            ("Linocut fox print", 4500),
            ("Risograph city map", 3200),
            ("Botanical etching", 8800),
            ("Letterpress greeting cards (6)", 2200),
            ("Hand-bound sketchbook", 3600),
            ("Woodblock wave print", 6400),
            ("Screen-printed poster", 2900),
        ],
    ),
];

/// The demo products with their artisans' display names, oldest first.
pub fn demo_products() -> Vec<(Product, &'static str)> {
    let mut products = Vec::new();
    for (category, artisan, items) in LINES {
        let artisan = &ARTISANS[*artisan];
        for (title, price) in *items {
            let n = products.len() as u64;
            // A spread of stock levels, including the last one of a kind and one sold out.
            let stock = match n {
                0 => 1,
                5 => 0,
                _ => (n * 7 % 23 + 2) as i64,
            };
            let description = format!("{title}, handmade by {} in small batches.", artisan.display_name);
            let Ok(new) = NewProduct::parse(title, &description, category, *price, "USD", stock) else {
                continue;
            };
            let created_ms = SEED_EPOCH_MS + n * 60_000;
            let created = OffsetDateTime::from_unix_timestamp_nanos(i128::from(created_ms) * 1_000_000)
                .unwrap_or(OffsetDateTime::UNIX_EPOCH);
            let Some(artisan_id) = UserId::parse(artisan.id) else {
                continue;
            };
            let id = ProductId::from_parts(created_ms, 0x5EED_0000 + u128::from(n));
            products.push((Product::create(new, id, artisan_id, created), artisan.display_name));
        }
    }
    products
}

/// Writes the demo products the catalog does not hold yet, and answers how many it wrote. The seed follows the
/// store, not the data dir: a Postgres database outlives a deleted data dir (the README's "start over"), and its
/// products, sold, restocked or photographed since, are kept as they are.
pub async fn demo_catalog(catalog: &dyn CatalogStore) -> Result<usize, StoreError> {
    let mut written = 0;
    for (product, display_name) in &demo_products() {
        if catalog.get_product(&product.product_id).await?.is_none() {
            catalog.create_product(product, display_name).await?;
            written += 1;
        }
    }
    Ok(written)
}

/// A photo for a demo product: a plain studio backdrop and a piece drawn in the category's manner (a vase, a ring,
/// woven stripes, wood grain, a print, a glass), its colours varied by `n`. JPEG, 800 × 600, as a phone would send.
pub fn demo_photo(category: &str, n: u64) -> Vec<u8> {
    let hue = |k: u64| ((n * 53 + k * 97) % 360) as f32;
    let colour = |h: f32, s: f32, l: f32| -> [u8; 3] {
        let c = (1.0 - (2.0 * l - 1.0).abs()) * s;
        let x = c * (1.0 - ((h / 60.0) % 2.0 - 1.0).abs());
        let (r, g, b) = match (h / 60.0) as u32 {
            0 => (c, x, 0.0),
            1 => (x, c, 0.0),
            2 => (0.0, c, x),
            3 => (0.0, x, c),
            4 => (x, 0.0, c),
            _ => (c, 0.0, x),
        };
        let m = l - c / 2.0;
        [((r + m) * 255.0) as u8, ((g + m) * 255.0) as u8, ((b + m) * 255.0) as u8]
    };
    let (backdrop, piece, accent) = (colour(hue(0), 0.25, 0.88), colour(hue(1), 0.45, 0.45), colour(hue(2), 0.5, 0.6));
    let pixels = image::ImageBuffer::from_fn(800, 600, |x, y| {
        let (fx, fy) = (x as f32 - 400.0, y as f32 - 320.0);
        let shade = |c: [u8; 3], by: f32| c.map(|v| (v as f32 * by).clamp(0.0, 255.0) as u8);
        let floor = if y > 470 { 0.93 } else { 1.0 };
        let on_piece = match category {
            "ceramics" => {
                let body = (fx / 150.0).powi(2) + ((fy - 40.0) / 140.0).powi(2) < 1.0;
                let neck = fx.abs() < 55.0 - (fy + 150.0).max(0.0) * 0.1 && fy > -200.0 && fy < -60.0;
                body || neck
            }
            "jewelry" => {
                let r = (fx * fx + fy * fy).sqrt();
                (130.0..175.0).contains(&r)
            }
            "textiles" => fx.abs() < 260.0 && fy.abs() < 170.0,
            "woodwork" => fx.abs() < 300.0 && (fy - 30.0).abs() < 90.0,
            "prints" => fx.abs() < 180.0 && fy.abs() < 230.0,
            _ => (fx / 170.0).powi(2) + (fy / 190.0).powi(2) < 1.0,
        };
        let rgb = if !on_piece {
            shade(backdrop, floor)
        } else {
            match category {
                "textiles" if (y / 24) % 3 == 1 => accent,
                "woodwork" => shade(piece, 0.85 + 0.15 * ((fx * 0.05 + (fy * 0.02).sin() * 3.0).sin())),
                "prints" => {
                    let wave = (fy - 60.0) < 40.0 * ((fx * 0.03 + n as f32).sin());
                    if wave { shade(accent, 1.0) } else { colour(hue(3), 0.2, 0.95) }
                }
                "jewelry" => shade(colour(45.0, 0.6, 0.55), 0.8 + 0.3 * ((fx + fy) / 300.0)),
                _ => shade(piece, 1.0 - (fx / 900.0) + (fy / 1400.0)),
            }
        };
        image::Rgb(rgb)
    });
    let mut jpeg = Vec::new();
    let encoder = image::codecs::jpeg::JpegEncoder::new_with_quality(&mut jpeg, 85);
    if image::DynamicImage::ImageRgb8(pixels).write_with_encoder(encoder).is_err() {
        return Vec::new();
    }
    jpeg
}

/// Gives every demo product a photo, through the photo pipeline itself: the JPEG goes where an artisan's upload
/// goes, and the image service checks, resizes and attaches it as it does any upload. For `make dev` (a shop with
/// pictures); tests start without, faster.
pub async fn demo_photos(app: &storefront::AppState) -> Result<usize, storefront::services::ServiceError> {
    use storefront::domain::{UploadId, UploadKey};
    use storefront::services::images::{UploadOutcome, process_upload};
    let mut added = 0;
    for (n, (product, _)) in demo_products().iter().enumerate() {
        let upload = UploadKey {
            artisan: product.artisan_id.clone(),
            product: product.product_id.clone(),
            upload_id: UploadId::from_parts(SEED_EPOCH_MS, 0x9407_0000 + n as u128),
        };
        let jpeg = demo_photo(product.category.as_str(), n as u64);
        app.blobs.put(&upload.key(), jpeg, "image/jpeg", "no-store").await?;
        if let UploadOutcome::Added(_) = process_upload(&app.image_ports(), &upload.key()).await? {
            added += 1;
        }
    }
    Ok(added)
}
