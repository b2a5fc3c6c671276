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

pub async fn demo_catalog(catalog: &dyn CatalogStore) -> Result<usize, StoreError> {
    let products = demo_products();
    for (product, display_name) in &products {
        catalog.create_product(product, display_name).await?;
    }
    Ok(products.len())
}
