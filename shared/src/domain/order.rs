//! Orders: what a checkout captures (lines with the prices of that moment) and the moves an order may make.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use super::{MAX_CART_LINES, Money, Product, ProductId, Quantity, UserId, ValidationErrors};

/// A server-made, time-ordered order id (ULID), so "newest first" is a descending key.
pub type OrderId = ProductId;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OrderStatus {
    Placed,
    Confirmed,
    Shipped,
    Cancelled,
}

impl OrderStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            OrderStatus::Placed => "placed",
            OrderStatus::Confirmed => "confirmed",
            OrderStatus::Shipped => "shipped",
            OrderStatus::Cancelled => "cancelled",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        match raw {
            "placed" => Some(OrderStatus::Placed),
            "confirmed" => Some(OrderStatus::Confirmed),
            "shipped" => Some(OrderStatus::Shipped),
            "cancelled" => Some(OrderStatus::Cancelled),
            _ => None,
        }
    }

    /// The lifecycle: `placed → confirmed → shipped`, and `placed | confirmed → cancelled`.
    pub fn can_become(self, next: OrderStatus) -> bool {
        matches!(
            (self, next),
            (OrderStatus::Placed, OrderStatus::Confirmed)
                | (OrderStatus::Confirmed, OrderStatus::Shipped)
                | (OrderStatus::Placed | OrderStatus::Confirmed, OrderStatus::Cancelled)
        )
    }

    /// The statuses an order must be in to move to `next` (the condition of the conditional write).
    pub fn sources_of(next: OrderStatus) -> Vec<OrderStatus> {
        [OrderStatus::Placed, OrderStatus::Confirmed, OrderStatus::Shipped, OrderStatus::Cancelled]
            .into_iter()
            .filter(|from| from.can_become(next))
            .collect()
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderLine {
    pub product_id: ProductId,
    pub artisan_id: UserId,
    pub title: String,
    pub quantity: Quantity,
    pub unit_price: Money,
    pub line_total: Money,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Order {
    pub order_id: OrderId,
    pub user_id: UserId,
    pub status: OrderStatus,
    pub items: Vec<OrderLine>,
    pub total: Money,
    /// Where the confirmation goes (the shopper's verified email claim); never shown to artisans.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub contact_email: Option<String>,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
}

impl Order {
    /// The distinct artisans whose goods are in the order, in line order.
    pub fn artisans(&self) -> Vec<UserId> {
        let mut artisans: Vec<UserId> = Vec::new();
        for line in &self.items {
            if !artisans.contains(&line.artisan_id) {
                artisans.push(line.artisan_id.clone());
            }
        }
        artisans
    }

    /// The order as one artisan sees it: only their lines, and their total.
    pub fn for_artisan(&self, artisan: &UserId) -> Order {
        let items: Vec<OrderLine> = self.items.iter().filter(|l| &l.artisan_id == artisan).cloned().collect();
        let total = items.iter().fold(Money::zero(self.total.currency), |sum, l| sum.plus(l.line_total).unwrap_or(sum));
        Order { items, total, contact_email: None, ..self.clone() }
    }
}

/// A validated checkout request: 1..=25 distinct products, 1..=10 of each.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckoutLines(Vec<(ProductId, Quantity)>);

impl CheckoutLines {
    pub fn parse(raw: &[(String, i64)]) -> Result<Self, ValidationErrors> {
        let mut errors = ValidationErrors::default();
        if raw.is_empty() {
            errors.push("items", "must hold at least one product");
        }
        if raw.len() > MAX_CART_LINES {
            errors.push("items", format!("must hold at most {MAX_CART_LINES} products"));
        }
        let mut lines: Vec<(ProductId, Quantity)> = Vec::with_capacity(raw.len());
        for (index, (product, quantity)) in raw.iter().enumerate() {
            let product = errors.check(ProductId::parse_field(product, &format!("items[{index}].product_id")));
            let quantity = errors.check(Quantity::parse(*quantity, &format!("items[{index}].quantity")));
            if let Some(product) = &product
                && lines.iter().any(|(seen, _)| seen == product)
            {
                errors.push(format!("items[{index}].product_id"), "appears twice; put the total quantity on one line");
            }
            if let (Some(product), Some(quantity)) = (product, quantity) {
                lines.push((product, quantity));
            }
        }
        errors.finish(|| Self(lines))
    }

    pub fn lines(&self) -> &[(ProductId, Quantity)] {
        &self.0
    }
}

/// Why the products cannot be bought as asked.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlaceError {
    #[error("unknown products: {0:?}")]
    Unknown(Vec<ProductId>),
    #[error("products not for sale: {0:?}")]
    Unavailable(Vec<ProductId>),
    #[error("not enough stock: {0:?}")]
    OutOfStock(Vec<ProductId>),
}

impl Order {
    /// Builds the order from the current products, capturing their prices. Checks what a read can check; the
    /// conditional write re-checks stock and status atomically.
    pub fn place(
        order_id: OrderId,
        user_id: UserId,
        lines: &CheckoutLines,
        products: &[Product],
        now: OffsetDateTime,
    ) -> Result<Order, PlaceError> {
        let find = |id: &ProductId| products.iter().find(|p| &p.product_id == id);
        let unknown: Vec<ProductId> =
            lines.lines().iter().filter(|(id, _)| find(id).is_none()).map(|(id, _)| id.clone()).collect();
        if !unknown.is_empty() {
            return Err(PlaceError::Unknown(unknown));
        }
        let mut items = Vec::with_capacity(lines.lines().len());
        let (mut unavailable, mut short) = (Vec::new(), Vec::new());
        for (id, quantity) in lines.lines() {
            let Some(product) = find(id) else { continue };
            if !product.is_active() {
                unavailable.push(id.clone());
            } else if product.stock < quantity.get() {
                short.push(id.clone());
            }
            items.push(OrderLine {
                product_id: id.clone(),
                artisan_id: product.artisan_id.clone(),
                title: product.title.clone(),
                quantity: *quantity,
                unit_price: product.price,
                // Bounded: price ≤ 1,000,000.00 × 10 per line × 25 lines fits i64 many times over.
                line_total: product.price.times(quantity.get()).unwrap_or(product.price),
            });
        }
        if !unavailable.is_empty() {
            return Err(PlaceError::Unavailable(unavailable));
        }
        if !short.is_empty() {
            return Err(PlaceError::OutOfStock(short));
        }
        let currency = items.first().map(|l| l.unit_price.currency).unwrap_or(super::Currency::Usd);
        let total = items.iter().fold(Money::zero(currency), |sum, l| sum.plus(l.line_total).unwrap_or(sum));
        Ok(Order {
            order_id,
            user_id,
            status: OrderStatus::Placed,
            items,
            total,
            contact_email: None,
            created_at: now,
            updated_at: now,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::NewProduct;

    fn product(n: u128, artisan: &str, price: i64, stock: i64) -> Product {
        let new = NewProduct::parse("Bowl", "", "ceramics", price, "USD", stock).expect("valid");
        Product::create(
            new,
            ProductId::from_parts(1, n),
            UserId::parse(artisan).expect("id"),
            OffsetDateTime::UNIX_EPOCH,
        )
    }

    fn lines(raw: &[(&ProductId, i64)]) -> CheckoutLines {
        CheckoutLines::parse(&raw.iter().map(|(id, q)| (id.to_string(), *q)).collect::<Vec<_>>()).expect("valid")
    }

    #[test]
    fn the_lifecycle_only_moves_forward() {
        use OrderStatus::*;
        assert!(Placed.can_become(Confirmed) && Confirmed.can_become(Shipped));
        assert!(Placed.can_become(Cancelled) && Confirmed.can_become(Cancelled));
        assert!(!Shipped.can_become(Cancelled) && !Cancelled.can_become(Confirmed) && !Confirmed.can_become(Placed));
        assert_eq!(OrderStatus::sources_of(Cancelled), vec![Placed, Confirmed]);
    }

    #[test]
    fn checkout_lines_are_bounded_distinct_and_sane() {
        let id = ProductId::from_parts(1, 1).to_string();
        assert!(CheckoutLines::parse(&[]).is_err());
        assert!(CheckoutLines::parse(&[(id.clone(), 0)]).is_err());
        assert!(CheckoutLines::parse(&[(id.clone(), 11)]).is_err());
        assert!(CheckoutLines::parse(&[(id.clone(), 1), (id.clone(), 2)]).is_err());
        assert!(CheckoutLines::parse(&[("nope".into(), 1)]).is_err());
        let many: Vec<(String, i64)> = (0..26).map(|n| (ProductId::from_parts(1, n).to_string(), 1)).collect();
        assert!(CheckoutLines::parse(&many).is_err());
        assert!(CheckoutLines::parse(&many[..25]).is_ok());
    }

    #[test]
    fn an_order_captures_prices_and_totals() {
        let (a, b) = (product(1, "ana", 1250, 5), product(2, "bo", 300, 5));
        let order = Order::place(
            ProductId::from_parts(9, 9),
            UserId::parse("alice").expect("id"),
            &lines(&[(&a.product_id, 2), (&b.product_id, 3)]),
            &[a.clone(), b.clone()],
            OffsetDateTime::UNIX_EPOCH,
        )
        .expect("placeable");
        assert_eq!(order.total.amount, 2 * 1250 + 3 * 300);
        assert_eq!(order.items[0].unit_price.amount, 1250);
        assert_eq!(order.artisans().len(), 2);
        assert_eq!(order.for_artisan(&b.artisan_id).total.amount, 900);
    }

    #[test]
    fn unknown_archived_and_short_products_are_named() {
        let (a, mut b) = (product(1, "ana", 100, 1), product(2, "bo", 100, 5));
        let user = UserId::parse("alice").expect("id");
        let id = ProductId::from_parts(9, 9);
        let ghost = ProductId::from_parts(7, 7);
        let err = Order::place(
            id.clone(),
            user.clone(),
            &lines(&[(&ghost, 1)]),
            std::slice::from_ref(&a),
            OffsetDateTime::UNIX_EPOCH,
        );
        assert_eq!(err, Err(PlaceError::Unknown(vec![ghost])));
        let err = Order::place(
            id.clone(),
            user.clone(),
            &lines(&[(&a.product_id, 2)]),
            std::slice::from_ref(&a),
            OffsetDateTime::UNIX_EPOCH,
        );
        assert_eq!(err, Err(PlaceError::OutOfStock(vec![a.product_id.clone()])));
        b = b.archived(OffsetDateTime::UNIX_EPOCH);
        let err = Order::place(id, user, &lines(&[(&b.product_id, 1)]), &[b.clone()], OffsetDateTime::UNIX_EPOCH);
        assert_eq!(err, Err(PlaceError::Unavailable(vec![b.product_id])));
    }
}
