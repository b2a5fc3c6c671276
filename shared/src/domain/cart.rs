//! Carts: a shopper's lines, and the priced view of them (prices always read from the catalog, never stored).

use serde::{Deserialize, Serialize};

use super::{Money, Product, ProductId, ValidationErrors};

/// Most distinct products one cart (and one order) may hold.
pub const MAX_CART_LINES: usize = 25;

/// Units of one product in one cart line or order line: 1..=10, a purchase limit against scalpers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(into = "u32", try_from = "i64")]
pub struct Quantity(u32);

impl From<Quantity> for u32 {
    fn from(quantity: Quantity) -> u32 {
        quantity.0
    }
}

impl TryFrom<i64> for Quantity {
    type Error = ValidationErrors;

    fn try_from(raw: i64) -> Result<Self, Self::Error> {
        Quantity::parse(raw, "quantity")
    }
}

impl Quantity {
    pub const MAX: u32 = 10;

    pub fn parse(raw: i64, field: &str) -> Result<Self, ValidationErrors> {
        match u32::try_from(raw) {
            Ok(n) if (1..=Self::MAX).contains(&n) => Ok(Self(n)),
            _ => Err(ValidationErrors::single(field, format!("must be between 1 and {}", Self::MAX))),
        }
    }

    pub fn get(self) -> u32 {
        self.0
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CartLine {
    pub product_id: ProductId,
    pub quantity: Quantity,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CartViewLine {
    pub product_id: ProductId,
    pub title: String,
    pub quantity: Quantity,
    pub unit_price: Money,
    pub line_total: Money,
    /// False when the product was archived or has too little stock for this line; checkout would refuse it.
    pub available: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CartView {
    pub items: Vec<CartViewLine>,
    pub total: Money,
}

impl CartView {
    /// Prices `lines` with the current `products`. A line whose product no longer exists is left out. The total is
    /// in the first line's currency; a line that cannot join it (another currency, or an amount out of range) is
    /// shown unavailable, never quietly left out of a total that still looks whole.
    pub fn price(lines: &[CartLine], products: &[Product]) -> Self {
        let currency = lines
            .iter()
            .find_map(|line| products.iter().find(|p| p.product_id == line.product_id))
            .map_or(crate::domain::Currency::Usd, |product| product.price.currency);
        let mut total = Money::zero(currency);
        let mut items = Vec::with_capacity(lines.len());
        for line in lines {
            let Some(product) = products.iter().find(|p| p.product_id == line.product_id) else {
                continue;
            };
            let line_total = product.price.times(line.quantity.get());
            let counted = line_total.and_then(|amount| total.plus(amount));
            let available = product.is_active() && product.stock >= line.quantity.get() && counted.is_some();
            if let Some(sum) = counted {
                total = sum;
            }
            items.push(CartViewLine {
                product_id: line.product_id.clone(),
                title: product.title.clone(),
                quantity: line.quantity,
                unit_price: product.price,
                line_total: line_total.unwrap_or(Money::zero(product.price.currency)),
                available,
            });
        }
        Self { items, total }
    }
}

#[cfg(test)]
mod tests {
    use time::OffsetDateTime;

    use super::*;
    use crate::domain::{NewProduct, UserId};

    fn product(n: u128, price: i64, stock: i64) -> Product {
        let new = NewProduct::parse("Mug", "", "ceramics", price, "USD", stock).expect("valid");
        Product::create(new, ProductId::from_parts(1, n), UserId::parse("ana").expect("id"), OffsetDateTime::UNIX_EPOCH)
    }

    #[test]
    fn quantity_is_one_to_ten() {
        assert!(Quantity::parse(0, "quantity").is_err());
        assert!(Quantity::parse(11, "quantity").is_err());
        assert!(Quantity::parse(-1, "quantity").is_err());
        assert_eq!(Quantity::parse(10, "quantity").map(Quantity::get), Ok(10));
    }

    #[test]
    fn a_cart_is_priced_from_the_catalog_and_flags_unavailable_lines() {
        let (mug, bowl) = (product(1, 1500, 5), product(2, 2250, 1));
        let lines = vec![
            CartLine { product_id: mug.product_id.clone(), quantity: Quantity::parse(2, "q").expect("valid") },
            CartLine { product_id: bowl.product_id.clone(), quantity: Quantity::parse(3, "q").expect("valid") },
            CartLine { product_id: ProductId::from_parts(9, 9), quantity: Quantity::parse(1, "q").expect("valid") },
        ];
        let view = CartView::price(&lines, &[mug, bowl]);
        assert_eq!(view.items.len(), 2, "a vanished product is left out");
        assert_eq!(view.items[0].line_total.amount, 3000);
        assert!(view.items[0].available);
        assert!(!view.items[1].available, "3 wanted, 1 in stock");
        assert_eq!(view.total.amount, 3000 + 6750);
    }

    #[test]
    fn a_line_that_cannot_be_summed_is_shown_unavailable_not_dropped_from_a_whole_looking_total() {
        let (mug, mut vase) = (product(1, 1500, 5), product(2, 100, 5));
        vase.price.amount = i64::MAX;
        let lines = vec![
            CartLine { product_id: mug.product_id.clone(), quantity: Quantity::parse(1, "q").expect("valid") },
            CartLine { product_id: vase.product_id.clone(), quantity: Quantity::parse(2, "q").expect("valid") },
        ];
        let view = CartView::price(&lines, &[mug, vase]);
        assert_eq!(view.items.len(), 2, "both lines shown");
        assert!(view.items[0].available && !view.items[1].available, "the one out of range cannot be bought");
        assert_eq!(view.total.amount, 1500);
    }
}
