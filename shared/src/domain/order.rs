//! Orders: what a checkout captures (lines with the prices of that moment) and the moves an order may make.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use super::{MAX_CART_LINES, Money, OrderId, Product, ProductId, Quantity, UserId, ValidationErrors};

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
}

/// What a requested move of an order comes to. The store writes a `Move` under the condition that the order is
/// still as it was read; the other two answers write nothing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// The order after the move.
    Move(Order),
    /// The order is already where the move would take it (a retried or repeated request): answer as if it moved.
    AlreadyDone,
    /// The move is not allowed from here; the order (or the part) is in this status.
    Refused(OrderStatus),
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
    /// Artisans whose part has shipped, in the order they shipped it. The order is `shipped` with the last one.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub shipped_artisans: Vec<UserId>,
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

    /// The order as one artisan sees it: only their lines, their total, their part's status; nothing of the
    /// shopper's contact or of the other artisans.
    pub fn for_artisan(&self, artisan: &UserId) -> Order {
        let items: Vec<OrderLine> = self.items.iter().filter(|l| &l.artisan_id == artisan).cloned().collect();
        let total = items.iter().fold(Money::zero(self.total.currency), |sum, l| sum.plus(l.line_total).unwrap_or(sum));
        Order {
            items,
            total,
            status: self.part_status(artisan),
            shipped_artisans: Vec::new(),
            contact_email: None,
            ..self.clone()
        }
    }

    /// Whether `artisan` has lines in the order.
    pub fn involves(&self, artisan: &UserId) -> bool {
        self.items.iter().any(|l| &l.artisan_id == artisan)
    }

    /// The status of one artisan's part: `shipped` once they shipped it, the order's status until then.
    pub fn part_status(&self, artisan: &UserId) -> OrderStatus {
        if self.shipped_artisans.contains(artisan) { OrderStatus::Shipped } else { self.status }
    }

    fn moved(&self, status: OrderStatus, now: OffsetDateTime) -> Order {
        Order { status, updated_at: now, ..self.clone() }
    }

    /// The worker confirms a placed order, once.
    pub fn confirm(&self, now: OffsetDateTime) -> Decision {
        match self.status {
            OrderStatus::Placed => Decision::Move(self.moved(OrderStatus::Confirmed, now)),
            OrderStatus::Confirmed | OrderStatus::Shipped => Decision::AlreadyDone,
            OrderStatus::Cancelled => Decision::Refused(OrderStatus::Cancelled),
        }
    }

    /// The shopper cancels while nothing has shipped; a cancelled order stays cancelled.
    pub fn cancel(&self, now: OffsetDateTime) -> Decision {
        match self.status {
            OrderStatus::Cancelled => Decision::AlreadyDone,
            _ if !self.shipped_artisans.is_empty() => Decision::Refused(OrderStatus::Shipped),
            OrderStatus::Placed | OrderStatus::Confirmed => Decision::Move(self.moved(OrderStatus::Cancelled, now)),
            OrderStatus::Shipped => Decision::Refused(OrderStatus::Shipped),
        }
    }

    /// `artisan` ships their part of a confirmed order; the last part to ship ships the order. The caller has
    /// checked that the artisan has lines in it (another artisan's order is not found, not refused).
    pub fn ship_part(&self, artisan: &UserId, now: OffsetDateTime) -> Decision {
        if self.shipped_artisans.contains(artisan) {
            return Decision::AlreadyDone;
        }
        if self.status != OrderStatus::Confirmed {
            return Decision::Refused(self.status);
        }
        let mut next = self.moved(OrderStatus::Confirmed, now);
        next.shipped_artisans.push(artisan.clone());
        if self.artisans().iter().all(|a| next.shipped_artisans.contains(a)) {
            next.status = OrderStatus::Shipped;
        }
        Decision::Move(next)
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

/// What a checkout buys: the lines sent (buy now), or the shopper's cart when none are sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Purchase {
    Cart,
    Lines(CheckoutLines),
}

impl Purchase {
    /// `items` as the request sent them; no `items` at all means the cart.
    pub fn parse(items: Option<&[(String, i64)]>) -> Result<Self, ValidationErrors> {
        match items {
            None => Ok(Purchase::Cart),
            Some(raw) => CheckoutLines::parse(raw).map(Purchase::Lines),
        }
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
            shipped_artisans: Vec::new(),
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

    fn two_artisan_order() -> Order {
        let (a, b) = (product(1, "ana", 100, 5), product(2, "bo", 200, 5));
        Order::place(
            OrderId::from_parts(9, 9),
            UserId::parse("alice").expect("id"),
            &lines(&[(&a.product_id, 1), (&b.product_id, 1)]),
            &[a, b],
            OffsetDateTime::UNIX_EPOCH,
        )
        .expect("placeable")
    }

    fn moved(decision: Decision) -> Order {
        match decision {
            Decision::Move(order) => order,
            other => panic!("expected a move, got {other:?}"),
        }
    }

    #[test]
    fn the_lifecycle_only_moves_forward() {
        let now = OffsetDateTime::UNIX_EPOCH + time::Duration::minutes(1);
        let placed = two_artisan_order();
        let confirmed = moved(placed.confirm(now));
        assert_eq!((confirmed.status, confirmed.updated_at), (OrderStatus::Confirmed, now));
        assert_eq!(confirmed.confirm(now), Decision::AlreadyDone, "a duplicate message changes nothing");
        let cancelled = moved(confirmed.cancel(now));
        assert_eq!(cancelled.status, OrderStatus::Cancelled);
        assert_eq!(cancelled.cancel(now), Decision::AlreadyDone, "a repeated cancel answers as the first");
        assert_eq!(cancelled.confirm(now), Decision::Refused(OrderStatus::Cancelled));
        let ana = UserId::parse("ana").expect("id");
        assert_eq!(placed.ship_part(&ana, now), Decision::Refused(OrderStatus::Placed), "ships only once confirmed");
        assert_eq!(cancelled.ship_part(&ana, now), Decision::Refused(OrderStatus::Cancelled));
    }

    #[test]
    fn the_last_part_to_ship_ships_the_order_and_nothing_cancels_it_after_the_first() {
        let now = OffsetDateTime::UNIX_EPOCH;
        let (ana, bo) = (UserId::parse("ana").expect("id"), UserId::parse("bo").expect("id"));
        let confirmed = moved(two_artisan_order().confirm(now));
        let half = moved(confirmed.ship_part(&ana, now));
        assert_eq!(half.status, OrderStatus::Confirmed, "bo has not shipped");
        assert_eq!((half.part_status(&ana), half.part_status(&bo)), (OrderStatus::Shipped, OrderStatus::Confirmed));
        assert_eq!(half.ship_part(&ana, now), Decision::AlreadyDone);
        assert_eq!(half.cancel(now), Decision::Refused(OrderStatus::Shipped), "a part is on its way");
        let shipped = moved(half.ship_part(&bo, now));
        assert_eq!(shipped.status, OrderStatus::Shipped);
        assert_eq!(shipped.shipped_artisans, vec![ana.clone(), bo.clone()]);
        assert_eq!(shipped.cancel(now), Decision::Refused(OrderStatus::Shipped));
        let view = half.for_artisan(&ana);
        assert_eq!((view.status, view.items.len(), view.total.amount), (OrderStatus::Shipped, 1, 100));
        assert!(view.shipped_artisans.is_empty() && view.contact_email.is_none());
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
            OrderId::from_parts(9, 9),
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
        let id = OrderId::from_parts(9, 9);
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
