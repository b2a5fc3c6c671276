//! Products: what an artisan lists, and the rules for creating and changing one.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use super::{Category, Money, ProductId, UserId, ValidationErrors};

pub const TITLE_MAX_CHARS: usize = 120;
pub const DESCRIPTION_MAX_CHARS: usize = 4000;
/// Stock is a count of handmade items; anything above this is a typo, not an inventory.
pub const MAX_STOCK: i64 = 100_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ProductStatus {
    Active,
    /// Hidden from listings and not purchasable; past orders still show it.
    Archived,
}

impl ProductStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            ProductStatus::Active => "active",
            ProductStatus::Archived => "archived",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        match raw {
            "active" => Some(ProductStatus::Active),
            "archived" => Some(ProductStatus::Archived),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProductImage {
    pub thumb_url: String,
    pub large_url: String,
}

/// Units in stock, `0..=MAX_STOCK`.
pub type Stock = u32;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Product {
    pub product_id: ProductId,
    pub artisan_id: UserId,
    pub title: String,
    pub description: String,
    pub category: Category,
    pub price: Money,
    pub stock: Stock,
    pub status: ProductStatus,
    pub images: Vec<ProductImage>,
    /// Uploads that were refused, with the reason: the owning artisan's to read ([`OwnedProduct`]), never part of
    /// the public product.
    #[serde(default, skip_serializing)]
    pub image_errors: Vec<super::ImageError>,
    /// Bumped by every change; the ETag and the `If-Match` precondition.
    pub version: u64,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
}

impl Product {
    pub fn create(new: NewProduct, product_id: ProductId, artisan_id: UserId, now: OffsetDateTime) -> Self {
        Self {
            product_id,
            artisan_id,
            title: new.title,
            description: new.description,
            category: new.category,
            price: new.price,
            stock: new.stock,
            status: ProductStatus::Active,
            images: Vec::new(),
            image_errors: Vec::new(),
            version: 1,
            created_at: now,
            updated_at: now,
        }
    }

    pub fn is_active(&self) -> bool {
        self.status == ProductStatus::Active
    }

    /// The product after `patch`, one version later.
    pub fn patched(&self, patch: ProductPatch, now: OffsetDateTime) -> Self {
        let mut next = self.clone();
        if let Some(title) = patch.title {
            next.title = title;
        }
        if let Some(description) = patch.description {
            next.description = description;
        }
        if let Some(category) = patch.category {
            next.category = category;
        }
        if let Some(price) = patch.price {
            next.price = price;
        }
        next.bumped(now)
    }

    /// The product hidden from listings, one version later (unchanged if already archived).
    pub fn archived(&self, now: OffsetDateTime) -> Self {
        let mut next = self.clone();
        next.status = ProductStatus::Archived;
        next.bumped(now)
    }

    /// The product showing one more photo (unchanged if it already shows it), one version later.
    pub fn with_image(&self, image: ProductImage, now: OffsetDateTime) -> Option<Self> {
        if self.images.contains(&image) {
            return None;
        }
        let mut next = self.clone();
        next.images.push(image);
        if next.images.len() > super::image::MAX_IMAGES {
            next.images.remove(0);
        }
        Some(next.bumped(now))
    }

    /// The product recording a refused upload (unchanged if already recorded), one version later.
    pub fn with_image_error(&self, error: super::ImageError, now: OffsetDateTime) -> Option<Self> {
        if self.image_errors.iter().any(|e| e.upload_id == error.upload_id) {
            return None;
        }
        let mut next = self.clone();
        next.image_errors.push(error);
        if next.image_errors.len() > super::image::MAX_IMAGE_ERRORS {
            next.image_errors.remove(0);
        }
        Some(next.bumped(now))
    }

    fn bumped(mut self, now: OffsetDateTime) -> Self {
        self.version += 1;
        self.updated_at = now;
        self
    }
}

/// A title is taken as sent, never silently changed: 1 to 120 characters, no control characters, and no
/// whitespace at either end (the contract's pattern in openapi.yaml says the same; a form trims before sending).
fn title(raw: &str, field: &str) -> Result<String, ValidationErrors> {
    let chars = raw.chars().count();
    if chars == 0 || chars > TITLE_MAX_CHARS {
        return Err(ValidationErrors::single(field, format!("must be 1 to {TITLE_MAX_CHARS} characters")));
    }
    if raw.chars().any(char::is_control) {
        return Err(ValidationErrors::single(field, "must not contain control characters"));
    }
    if raw.starts_with(char::is_whitespace) || raw.ends_with(char::is_whitespace) {
        return Err(ValidationErrors::single(field, "must not start or end with whitespace"));
    }
    Ok(raw.to_owned())
}

fn description(raw: &str, field: &str) -> Result<String, ValidationErrors> {
    if raw.chars().count() > DESCRIPTION_MAX_CHARS {
        return Err(ValidationErrors::single(field, format!("must be at most {DESCRIPTION_MAX_CHARS} characters")));
    }
    Ok(raw.to_owned())
}

fn stock(raw: i64, field: &str) -> Result<Stock, ValidationErrors> {
    if !(0..=MAX_STOCK).contains(&raw) {
        return Err(ValidationErrors::single(field, format!("must be between 0 and {MAX_STOCK}")));
    }
    Stock::try_from(raw).map_err(|_| ValidationErrors::single(field, "out of range"))
}

/// A validated listing, before the server gives it an id, an owner and timestamps.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewProduct {
    pub title: String,
    pub description: String,
    pub category: Category,
    pub price: Money,
    pub stock: Stock,
}

impl NewProduct {
    pub fn parse(
        raw_title: &str,
        raw_description: &str,
        raw_category: &str,
        price_amount: i64,
        price_currency: &str,
        raw_stock: i64,
    ) -> Result<Self, ValidationErrors> {
        let mut errors = ValidationErrors::default();
        let title = errors.check(title(raw_title, "title"));
        let description = errors.check(description(raw_description, "description"));
        let category = errors.check(Category::parse_field(raw_category, "category"));
        let price = errors.check(Money::price(price_amount, price_currency, "price"));
        let stock = errors.check(stock(raw_stock, "stock"));
        match (title, description, category, price, stock) {
            (Some(title), Some(description), Some(category), Some(price), Some(stock)) => {
                Ok(Self { title, description, category, price, stock })
            }
            _ => Err(errors),
        }
    }
}

/// A validated partial update. Stock is not part of it: stock only moves by deltas (`POST .../stock`), so an
/// artisan's edit can never overwrite units sold in the meantime.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ProductPatch {
    pub title: Option<String>,
    pub description: Option<String>,
    pub category: Option<Category>,
    pub price: Option<Money>,
}

impl ProductPatch {
    pub fn parse(
        raw_title: Option<&str>,
        raw_description: Option<&str>,
        raw_category: Option<&str>,
        raw_price: Option<(i64, &str)>,
    ) -> Result<Self, ValidationErrors> {
        let mut errors = ValidationErrors::default();
        let patch = Self {
            title: raw_title.and_then(|t| errors.check(title(t, "title"))),
            description: raw_description.and_then(|d| errors.check(description(d, "description"))),
            category: raw_category.and_then(|c| errors.check(Category::parse_field(c, "category"))),
            price: raw_price.and_then(|(amount, currency)| errors.check(Money::price(amount, currency, "price"))),
        };
        if errors.is_empty() && patch == Self::default() {
            errors.push("body", "must change at least one of: title, description, category, price");
        }
        errors.finish(|| patch)
    }
}

/// The product as its own artisan sees it: everything public, and the uploads that were refused.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct OwnedProduct<'a> {
    #[serde(flatten)]
    pub product: &'a Product,
    pub image_errors: &'a [super::ImageError],
}

impl<'a> From<&'a Product> for OwnedProduct<'a> {
    fn from(product: &'a Product) -> Self {
        Self { product, image_errors: &product.image_errors }
    }
}

/// A validated stock change: non-zero and within the stock bound.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StockDelta(i64);

impl StockDelta {
    pub fn parse(raw: i64) -> Result<Self, ValidationErrors> {
        // `unsigned_abs`: `i64::MIN.abs()` overflows (a panic in debug, a wrap to a negative in release).
        if raw == 0 || raw.unsigned_abs() > MAX_STOCK.unsigned_abs() {
            return Err(ValidationErrors::single(
                "delta",
                format!("must be non-zero and between -{MAX_STOCK} and {MAX_STOCK}"),
            ));
        }
        Ok(Self(raw))
    }

    pub fn get(self) -> i64 {
        self.0
    }

    /// Applies the delta; `None` when the result would leave `0..=MAX_STOCK`.
    pub fn apply(self, stock: Stock) -> Option<Stock> {
        let next = i64::from(stock).checked_add(self.0)?;
        (0..=MAX_STOCK).contains(&next).then(|| Stock::try_from(next).ok()).flatten()
    }

    /// The stock a product must have for this delta to keep it in `0..=MAX_STOCK`: the write's condition.
    pub fn allowed_before(self) -> std::ops::RangeInclusive<i64> {
        (-self.0).max(0)..=MAX_STOCK - self.0.max(0)
    }
}

/// Units a cancellation puts back on the shelf: all of them, unless that would pass [`MAX_STOCK`] (an artisan
/// restocked to the ceiling meanwhile); the stock never leaves its bounds, whatever moves it.
pub fn returnable_units(stock: Stock, quantity: u32) -> u32 {
    let room = u32::try_from(MAX_STOCK).unwrap_or(u32::MAX).saturating_sub(stock);
    quantity.min(room)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::Currency;

    fn lamp() -> NewProduct {
        NewProduct::parse("Stoneware lamp", "Hand thrown", "ceramics", 8900, "USD", 3).expect("valid")
    }

    #[test]
    fn a_new_product_is_active_and_at_version_one_and_its_title_is_taken_as_sent() {
        let now = OffsetDateTime::UNIX_EPOCH;
        let artisan = UserId::parse("ana").expect("valid id");
        let product = Product::create(lamp(), ProductId::from_parts(1, 1), artisan, now);
        assert_eq!(product.title, "Stoneware lamp");
        for bad in [" Lamp", "Lamp\u{a0}", "   ", "La\u{7}mp", ""] {
            assert!(NewProduct::parse(bad, "", "ceramics", 100, "USD", 1).is_err(), "{bad:?}");
        }
        assert!(NewProduct::parse("Lamp, 2\u{2009}m — grey", "", "ceramics", 100, "USD", 1).is_ok());
        assert_eq!(product.status, ProductStatus::Active);
        assert_eq!(product.version, 1);
        assert_eq!(product.price, Money::new(8900, Currency::Usd));
    }

    #[test]
    fn every_invalid_field_is_reported_at_once() {
        let errors = NewProduct::parse("", &"x".repeat(DESCRIPTION_MAX_CHARS + 1), "nope", 0, "EUR", -1)
            .expect_err("all invalid");
        let fields: Vec<&str> = errors.0.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["title", "description", "category", "price.currency", "price.amount", "stock"]);
    }

    #[test]
    fn a_patch_changes_only_what_it_names_and_bumps_the_version() {
        let now = OffsetDateTime::UNIX_EPOCH;
        let product = Product::create(lamp(), ProductId::from_parts(1, 1), UserId::parse("ana").expect("id"), now);
        let patch = ProductPatch::parse(None, None, None, Some((9900, "USD"))).expect("valid");
        let next = product.patched(patch, now);
        assert_eq!(next.price.amount, 9900);
        assert_eq!(next.title, product.title);
        assert_eq!(next.version, 2);
    }

    #[test]
    fn an_empty_patch_is_a_validation_error() {
        assert!(ProductPatch::parse(None, None, None, None).is_err());
    }

    #[test]
    fn stock_deltas_never_leave_the_stock_range() {
        let minus_three = StockDelta::parse(-3).expect("valid");
        assert_eq!(minus_three.apply(3), Some(0));
        assert_eq!(minus_three.apply(2), None);
        assert_eq!(StockDelta::parse(5).expect("valid").apply(Stock::try_from(MAX_STOCK).expect("fits")), None);
        assert!(StockDelta::parse(0).is_err());
        assert!(StockDelta::parse(MAX_STOCK + 1).is_err());
        assert_eq!(minus_three.allowed_before(), 3..=MAX_STOCK);
        assert_eq!(StockDelta::parse(5).expect("valid").allowed_before(), 0..=MAX_STOCK - 5);
    }

    #[test]
    fn integer_edges_are_refused_without_overflow() {
        for raw in [i64::MIN, i64::MIN + 1, i64::MAX, -MAX_STOCK - 1, i64::from(u32::MAX), -i64::from(u32::MAX)] {
            assert!(StockDelta::parse(raw).is_err(), "{raw} must be refused");
        }
        assert!(StockDelta::parse(-MAX_STOCK).is_ok() && StockDelta::parse(MAX_STOCK).is_ok());
        for raw in [i64::MIN, -1, MAX_STOCK + 1, i64::from(u32::MAX) + 1, i64::MAX] {
            assert!(NewProduct::parse("Lamp", "", "ceramics", 100, "USD", raw).is_err(), "stock {raw}");
        }
        for raw in [i64::MIN, -1, 0, crate::domain::money::MAX_PRICE_MINOR + 1, i64::MAX] {
            assert!(NewProduct::parse("Lamp", "", "ceramics", raw, "USD", 1).is_err(), "price {raw}");
        }
    }

    #[test]
    fn a_return_never_lifts_the_stock_past_the_ceiling() {
        let ceiling = Stock::try_from(MAX_STOCK).expect("fits");
        assert_eq!(returnable_units(5, 3), 3);
        assert_eq!(returnable_units(ceiling - 1, 3), 1);
        assert_eq!(returnable_units(ceiling, 3), 0);
        assert_eq!(returnable_units(u32::MAX, 3), 0);
    }

    #[test]
    fn refused_uploads_are_the_owners_to_see_not_the_publics() {
        let now = OffsetDateTime::UNIX_EPOCH;
        let product = Product::create(lamp(), ProductId::from_parts(1, 1), UserId::parse("ana").expect("id"), now);
        let error = crate::domain::ImageError { upload_id: "u1".into(), reason: "not a JPEG".into(), at: now };
        let product = product.with_image_error(error, now).expect("recorded");
        let public = serde_json::to_value(&product).expect("serialises");
        assert!(public.get("image_errors").is_none(), "{public}");
        let owned = serde_json::to_value(OwnedProduct::from(&product)).expect("serialises");
        assert_eq!(owned["image_errors"][0]["reason"], "not a JPEG");
        assert_eq!(owned["title"], public["title"]);
    }
}
