//! Orders: what a checkout captures (lines with the prices of that moment) and the moves an order may make.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use super::payment::{
    DisputeStage, FeeRate, IntentState, Payment, PaymentEnd, PaymentStatus, ProviderRef, Refund, Share,
};
use super::payout::Payout;
use super::retry::Retry;
use super::{MAX_CART_LINES, Money, OrderId, Product, ProductId, Quantity, UserId, ValidationErrors};

/// Most orders one shopper may hold awaiting payment at once. Each holds its stock for the payment window (and costs
/// the provider a PaymentIntent), so without a cap one shopper, or a script, could keep any product off the shelf
/// with orders nobody pays. The stores enforce it in the checkout's own write.
pub const MAX_UNPAID_ORDERS: usize = 3;

/// Where an order is: `awaiting_payment → paid → confirmed → shipped`, or `cancelled` (DESIGN §4b).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OrderStatus {
    /// Stock reserved; the shopper has not paid yet (expires after the payment window).
    AwaitingPayment,
    /// Paid; the order worker confirms it and sends the confirmation.
    Paid,
    Confirmed,
    Shipped,
    Cancelled,
}

impl OrderStatus {
    pub const ALL: [OrderStatus; 5] = [
        OrderStatus::AwaitingPayment,
        OrderStatus::Paid,
        OrderStatus::Confirmed,
        OrderStatus::Shipped,
        OrderStatus::Cancelled,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            OrderStatus::AwaitingPayment => "awaiting_payment",
            OrderStatus::Paid => "paid",
            OrderStatus::Confirmed => "confirmed",
            OrderStatus::Shipped => "shipped",
            OrderStatus::Cancelled => "cancelled",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        match raw {
            "awaiting_payment" => Some(OrderStatus::AwaitingPayment),
            "paid" => Some(OrderStatus::Paid),
            "confirmed" => Some(OrderStatus::Confirmed),
            "shipped" => Some(OrderStatus::Shipped),
            "cancelled" => Some(OrderStatus::Cancelled),
            _ => None,
        }
    }
}

/// What is still owed on an order by the background functions, if anything: the store keeps such orders where the
/// sweeper and the reconciler find them, by the time they entered that state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FollowUp {
    /// Awaiting payment: paid, or expired after the payment window.
    Payment,
    /// Paid: to be confirmed by the order worker.
    Confirmation,
    /// Cancelled with its payment still open: the intent to cancel, or the money to refund.
    Settlement,
}

impl FollowUp {
    pub const ALL: [FollowUp; 3] = [FollowUp::Payment, FollowUp::Confirmation, FollowUp::Settlement];

    /// The name the stores file owed work under.
    pub fn as_str(self) -> &'static str {
        match self {
            FollowUp::Payment => "payment",
            FollowUp::Confirmation => "confirmation",
            FollowUp::Settlement => "settlement",
        }
    }
}

/// What a cancelled order's payment still needs at the provider.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Settlement {
    /// The intent is still payable: cancel it (if it turns out paid, the money goes back).
    CancelIntent(ProviderRef),
    /// The payment went through: refund the whole amount.
    Refund { intent_id: ProviderRef, amount: Money },
}

/// What a requested move of an order comes to. The store writes a `Move` under the condition that the order is
/// still as it was read; the other two answers write nothing.
// One decision per move, made and matched at once, never kept in bulk: boxing the order would buy nothing.
#[allow(clippy::large_enum_variant)]
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
    /// The provider's intent for the total, once made (right after the stock is reserved); never shown to artisans.
    #[serde(default)]
    pub payment: Option<Payment>,
    /// Each artisan's share, fixed at checkout; kept by the store, not shown to anyone with the order.
    #[serde(default, skip_serializing)]
    pub shares: Vec<Share>,
    /// The failed tries at what the order owes (its settlement), if any; forgotten with its next move.
    #[serde(default, skip_serializing)]
    pub retry: Option<Retry>,
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
    /// shopper's contact or of the other artisans. An order whose lines cannot be summed (not one [`Order::place`]
    /// made: a damaged record) is an error, never a total that leaves a line out.
    pub fn for_artisan(&self, artisan: &UserId) -> Result<Order, LinesDoNotSum> {
        let items: Vec<OrderLine> = self.items.iter().filter(|l| &l.artisan_id == artisan).cloned().collect();
        let total = Money::sum(self.total.currency, items.iter().map(|l| l.line_total)).ok_or(LinesDoNotSum)?;
        Ok(Order {
            items,
            total,
            status: self.part_status(artisan),
            shipped_artisans: Vec::new(),
            contact_email: None,
            payment: None,
            shares: Vec::new(),
            ..self.clone()
        })
    }

    /// Whether `next` changes what the artisans see of the order ([`Order::for_artisan`]): its status or one of
    /// their parts' statuses. A payment attached or moving without them does not.
    pub fn changes_artisan_view(&self, next: &Order) -> bool {
        self.status != next.status || self.artisans().iter().any(|a| self.part_status(a) != next.part_status(a))
    }

    /// Where the payment stands (`none` before there is one): a move is conditional on it, as on the status.
    pub fn payment_status_name(&self) -> &'static str {
        self.payment.as_ref().map_or("none", |p| p.status.as_str())
    }

    /// Whether `artisan` has lines in the order.
    pub fn involves(&self, artisan: &UserId) -> bool {
        self.items.iter().any(|l| &l.artisan_id == artisan)
    }

    /// The status of one artisan's part: `shipped` once they shipped it, the order's status until then.
    pub fn part_status(&self, artisan: &UserId) -> OrderStatus {
        if self.shipped_artisans.contains(artisan) { OrderStatus::Shipped } else { self.status }
    }

    /// `artisan`'s share of the order, fixed at checkout.
    pub fn share_of(&self, artisan: &UserId) -> Option<&Share> {
        self.shares.iter().find(|share| &share.artisan_id == artisan)
    }

    /// What the background functions still owe this order ([`FollowUp`]).
    pub fn follow_up(&self) -> Option<FollowUp> {
        match self.status {
            OrderStatus::AwaitingPayment => Some(FollowUp::Payment),
            OrderStatus::Paid => Some(FollowUp::Confirmation),
            OrderStatus::Cancelled => self.settlement().map(|_| FollowUp::Settlement),
            OrderStatus::Confirmed | OrderStatus::Shipped => None,
        }
    }

    /// What a cancelled order's payment still needs at the provider: an intent that could still be paid is
    /// cancelled, money taken is refunded. `None` for an order that is not cancelled or whose payment is settled.
    pub fn settlement(&self) -> Option<Settlement> {
        let payment = self.payment.as_ref().filter(|_| self.status == OrderStatus::Cancelled)?;
        match payment.status {
            PaymentStatus::RequiresPayment | PaymentStatus::Failed => {
                Some(Settlement::CancelIntent(payment.intent_id.clone()))
            }
            // What was not refunded yet (part of it may have gone back at the provider already).
            PaymentStatus::Succeeded | PaymentStatus::PartiallyRefunded => {
                let left = self.total.amount.saturating_sub(payment.refunded_amount());
                (left > 0).then(|| Settlement::Refund {
                    intent_id: payment.intent_id.clone(),
                    amount: Money::new(left, self.total.currency),
                })
            }
            // A disputed charge cannot be refunded; the dispute's end decides (won: refunded then; lost: gone back).
            PaymentStatus::Canceled
            | PaymentStatus::Refunded
            | PaymentStatus::Disputed
            | PaymentStatus::DisputeLost => None,
        }
    }

    /// The payouts a move from `self` to `next` makes owed: each part shipped by it owes its artisan their share.
    pub fn payouts_owed(&self, next: &Order) -> Vec<Payout> {
        next.shipped_artisans
            .iter()
            .filter(|artisan| !self.shipped_artisans.contains(artisan))
            .filter_map(|artisan| self.share_of(artisan))
            .map(|share| Payout::accrue(&self.order_id, share, next.payment.as_ref(), next.updated_at))
            .collect()
    }

    /// Whether a move from `self` to `next` confirms the order (its confirmation notice is recorded with it).
    pub fn confirms(&self, next: &Order) -> bool {
        self.status == OrderStatus::Paid && next.status == OrderStatus::Confirmed
    }

    /// Whether the order counts against its shopper's [`MAX_UNPAID_ORDERS`].
    pub fn awaits_payment(&self) -> bool {
        self.status == OrderStatus::AwaitingPayment
    }

    /// Whether a move from `self` to `next` ends the order's wait for payment (paid, expired or cancelled): from
    /// then on it no longer counts against the cap.
    pub fn stops_awaiting_payment(&self, next: &Order) -> bool {
        self.awaits_payment() && !next.awaits_payment()
    }

    /// Whether a move from `self` to `next` puts the order's units back on the shelf (any move into `cancelled`).
    pub fn returns_stock(&self, next: &Order) -> bool {
        self.status != OrderStatus::Cancelled && next.status == OrderStatus::Cancelled
    }

    /// Whether what the order owes was parked for an operator (out of the due lists).
    pub fn parked(&self) -> bool {
        self.retry.as_ref().is_some_and(|r| r.parked)
    }

    /// The same order with a failed try at its follow-up recorded (written as a move that changes nothing else).
    pub fn with_retry(&self, retry: Retry, now: OffsetDateTime) -> Order {
        Order { retry: Some(retry), updated_at: now, ..self.clone() }
    }

    /// Put back in the due lists by an operator, its failures forgotten.
    pub fn unparked(&self, now: OffsetDateTime) -> Order {
        Order { retry: None, updated_at: now, ..self.clone() }
    }

    fn moved(&self, status: OrderStatus, now: OffsetDateTime) -> Order {
        // A move starts what the order owes next afresh.
        let mut next = Order { status, updated_at: now, retry: None, ..self.clone() };
        if status != OrderStatus::AwaitingPayment
            && let Some(payment) = &mut next.payment
        {
            // The secret only confirms an intent that awaits payment; past that it is of no use to anyone.
            payment.client_secret = None;
        }
        next
    }

    /// The same order with its payment set to `status` (and `refunded`), keeping its charge and dispute.
    fn with_payment(mut self, intent_id: &ProviderRef, status: PaymentStatus, refunded: Option<Refund>) -> Order {
        let before = self.payment.take();
        let client_secret =
            before.as_ref().and_then(|p| p.client_secret.clone()).filter(|_| status == PaymentStatus::RequiresPayment);
        let (charge_id, dispute) = before.map_or((None, None), |p| (p.charge_id, p.dispute));
        self.payment =
            Some(Payment { intent_id: intent_id.clone(), client_secret, status, refunded, charge_id, dispute });
        self
    }

    /// Whether an event about `intent_id` is about this order's payment (or could be its first news: an intent is
    /// only attached after it was made, so its success may be told before the attachment landed).
    fn pays_with(&self, intent_id: &ProviderRef) -> bool {
        self.payment.as_ref().is_none_or(|p| &p.intent_id == intent_id)
    }

    /// Checkout attaches the intent it made for the order's total (once; a retried attach finds it there).
    pub fn attach_payment(&self, intent_id: &ProviderRef, client_secret: &str, now: OffsetDateTime) -> Decision {
        match &self.payment {
            Some(payment) if &payment.intent_id == intent_id => Decision::AlreadyDone,
            Some(_) => Decision::Refused(self.status),
            None if self.status != OrderStatus::AwaitingPayment => Decision::Refused(self.status),
            None => {
                let mut next = self.moved(OrderStatus::AwaitingPayment, now);
                next.payment = Some(Payment {
                    intent_id: intent_id.clone(),
                    client_secret: Some(client_secret.to_owned()),
                    status: PaymentStatus::RequiresPayment,
                    refunded: None,
                    charge_id: None,
                    dispute: None,
                });
                Decision::Move(next)
            }
        }
    }

    /// The provider took the money (with `charge`, when it said which). An order awaiting it is paid; a cancelled
    /// (expired) one keeps its status and its payment becomes one to refund ([`Order::settlement`]). Told again,
    /// out of order or late, nothing moves.
    pub fn payment_succeeded(
        &self,
        intent_id: &ProviderRef,
        charge: Option<&ProviderRef>,
        now: OffsetDateTime,
    ) -> Decision {
        if !self.pays_with(intent_id) {
            return Decision::Refused(self.status);
        }
        if self.payment.as_ref().is_some_and(|p| p.status.was_paid()) {
            return Decision::AlreadyDone;
        }
        let status = match self.status {
            OrderStatus::AwaitingPayment => OrderStatus::Paid,
            OrderStatus::Cancelled => OrderStatus::Cancelled,
            // Paid or beyond with a payment that is not `succeeded` cannot be reached; refuse rather than guess.
            other => return Decision::Refused(other),
        };
        let mut next = self.moved(status, now).with_payment(intent_id, PaymentStatus::Succeeded, None);
        if let Some(payment) = &mut next.payment {
            payment.charge_id = charge.cloned().or(payment.charge_id.take());
        }
        Decision::Move(next)
    }

    /// The provider says `total` of the charge went back to the shopper in all so far (a refund made in its
    /// dashboard, or our own, told back). The payment records it; a full refund of an order nothing of which has
    /// shipped cancels it (its stock returns), as a shopper's cancel would; a shipped or partly shipped order keeps
    /// its status (its payouts are taken back: [`crate::domain::Clawback`]). Told again or out of order: a smaller
    /// total than recorded changes nothing.
    pub fn refunded_at_provider(
        &self,
        intent_id: &ProviderRef,
        total: Money,
        refund_id: &ProviderRef,
        now: OffsetDateTime,
    ) -> Decision {
        let Some(payment) = self.payment.as_ref().filter(|p| &p.intent_id == intent_id) else {
            return Decision::Refused(self.status);
        };
        if !payment.status.was_paid() {
            return Decision::Refused(self.status);
        }
        if total.amount <= payment.refunded_amount() {
            return Decision::AlreadyDone;
        }
        let full = total.amount >= self.total.amount;
        let payment_status = match payment.status {
            // The dispute's own end decides those.
            PaymentStatus::Disputed | PaymentStatus::DisputeLost => payment.status,
            _ if full => PaymentStatus::Refunded,
            _ => PaymentStatus::PartiallyRefunded,
        };
        let unshipped =
            self.shipped_artisans.is_empty() && matches!(self.status, OrderStatus::Paid | OrderStatus::Confirmed);
        let status = if full && unshipped { OrderStatus::Cancelled } else { self.status };
        let refund = Refund { refund_id: refund_id.clone(), amount: total, at: now };
        Decision::Move(self.moved(status, now).with_payment(intent_id, payment_status, Some(refund)))
    }

    /// The shopper's bank disputed the charge, or decided the dispute. Stages only move forward (opened, then won
    /// or lost), so a late or repeated event changes nothing; won, the payment is back where the refunds left it.
    pub fn disputed(&self, intent_id: &ProviderRef, stage: DisputeStage, now: OffsetDateTime) -> Decision {
        let Some(payment) = self.payment.as_ref().filter(|p| &p.intent_id == intent_id) else {
            return Decision::Refused(self.status);
        };
        if !payment.status.was_paid() {
            return Decision::Refused(self.status);
        }
        let reached = |s: Option<DisputeStage>| match s {
            None => 0,
            Some(DisputeStage::Opened) => 1,
            Some(DisputeStage::Won | DisputeStage::Lost) => 2,
        };
        if reached(Some(stage)) <= reached(payment.dispute) {
            return Decision::AlreadyDone;
        }
        let refunded = payment.refunded_amount();
        let status = match stage {
            DisputeStage::Opened => PaymentStatus::Disputed,
            DisputeStage::Lost => PaymentStatus::DisputeLost,
            DisputeStage::Won if refunded >= self.total.amount => PaymentStatus::Refunded,
            DisputeStage::Won if refunded > 0 => PaymentStatus::PartiallyRefunded,
            DisputeStage::Won => PaymentStatus::Succeeded,
        };
        let mut next = self.moved(self.status, now).with_payment(intent_id, status, payment.refunded.clone());
        if let Some(payment) = &mut next.payment {
            payment.dispute = Some(stage);
        }
        Decision::Move(next)
    }

    /// The payment failed or was cancelled at the provider: an order awaiting it is cancelled (its stock returns);
    /// a cancelled one records it. A late or reordered event about a payment that succeeded changes nothing.
    pub fn payment_ended(&self, intent_id: &ProviderRef, end: PaymentEnd, now: OffsetDateTime) -> Decision {
        if !self.pays_with(intent_id) {
            return Decision::Refused(self.status);
        }
        let status = self.payment.as_ref().map(|p| p.status);
        let open = matches!(status, None | Some(PaymentStatus::RequiresPayment | PaymentStatus::Failed));
        match self.status {
            OrderStatus::AwaitingPayment => {
                Decision::Move(self.moved(OrderStatus::Cancelled, now).with_payment(intent_id, end.status(), None))
            }
            OrderStatus::Cancelled if open && status != Some(end.status()) => {
                Decision::Move(self.moved(OrderStatus::Cancelled, now).with_payment(intent_id, end.status(), None))
            }
            _ => Decision::AlreadyDone,
        }
    }

    /// The sweeper ends an order unpaid after the payment window, having asked the provider to cancel its intent
    /// (`intent`: what the provider answered, `None` when it could not be reached). An intent that succeeded
    /// meanwhile makes the order paid instead; an intent still open (provider unreachable) leaves a settlement,
    /// so a payment that lands later is refunded.
    pub fn expire(&self, intent: Option<IntentState>, now: OffsetDateTime) -> Decision {
        if self.status != OrderStatus::AwaitingPayment {
            return Decision::AlreadyDone;
        }
        let Some(payment) = &self.payment else {
            return Decision::Move(self.moved(OrderStatus::Cancelled, now));
        };
        match intent {
            Some(IntentState::Succeeded) => self.payment_succeeded(&payment.intent_id, None, now),
            Some(IntentState::Canceled) => self.payment_ended(&payment.intent_id, PaymentEnd::Canceled, now),
            Some(IntentState::Open | IntentState::Processing) | None => {
                Decision::Move(self.moved(OrderStatus::Cancelled, now))
            }
        }
    }

    /// The money went back to the shopper (a cancelled order that had been paid): `refund` is what our refund
    /// sent, on top of what went back before.
    pub fn refunded(&self, refund: Refund, now: OffsetDateTime) -> Decision {
        let Some(payment) = &self.payment else { return Decision::Refused(self.status) };
        match (self.status, payment.status) {
            (_, PaymentStatus::Refunded) => Decision::AlreadyDone,
            (OrderStatus::Cancelled, PaymentStatus::Succeeded | PaymentStatus::PartiallyRefunded) => {
                let amount = refund.amount.plus(Money::new(payment.refunded_amount(), refund.amount.currency));
                let refund = Refund { amount: amount.unwrap_or(self.total), ..refund };
                Decision::Move(self.moved(OrderStatus::Cancelled, now).with_payment(
                    &payment.intent_id,
                    PaymentStatus::Refunded,
                    Some(refund),
                ))
            }
            (status, _) => Decision::Refused(status),
        }
    }

    /// The worker confirms a paid order, once.
    pub fn confirm(&self, now: OffsetDateTime) -> Decision {
        match self.status {
            OrderStatus::Paid => Decision::Move(self.moved(OrderStatus::Confirmed, now)),
            OrderStatus::Confirmed | OrderStatus::Shipped => Decision::AlreadyDone,
            other => Decision::Refused(other),
        }
    }

    /// The shopper cancels while nothing has shipped; a cancelled order stays cancelled. A paid order's money is
    /// then owed back ([`Order::settlement`]), an unpaid order's intent is cancelled.
    pub fn cancel(&self, now: OffsetDateTime) -> Decision {
        match self.status {
            OrderStatus::Cancelled => Decision::AlreadyDone,
            _ if !self.shipped_artisans.is_empty() => Decision::Refused(OrderStatus::Shipped),
            OrderStatus::AwaitingPayment | OrderStatus::Paid | OrderStatus::Confirmed => {
                Decision::Move(self.moved(OrderStatus::Cancelled, now))
            }
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

/// An order's lines are in more than one currency or sum past `i64`: never the case for an order
/// [`Order::place`] made, so a stored one that does is damaged.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the order's lines do not sum to one amount")]
pub struct LinesDoNotSum;

/// Why the products cannot be bought as asked.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlaceError {
    #[error("unknown products: {0:?}")]
    Unknown(Vec<ProductId>),
    #[error("products not for sale: {0:?}")]
    Unavailable(Vec<ProductId>),
    #[error("not enough stock: {0:?}")]
    OutOfStock(Vec<ProductId>),
    /// The total is under what the payment provider can charge.
    #[error("the total {0:?} is under the smallest charge")]
    BelowMinimumCharge(Money),
    /// These products are priced in another currency than the order's first line: one order, one currency.
    #[error("products priced in another currency: {0:?}")]
    MixedCurrencies(Vec<ProductId>),
    /// A line or the total would leave the range of an amount.
    #[error("the order's total is out of range")]
    TotalOutOfRange,
}

impl Order {
    /// Builds the order from the current products, capturing their prices. Checks what a read can check; the
    /// conditional write re-checks stock and status atomically.
    pub fn place(
        order_id: OrderId,
        user_id: UserId,
        lines: &CheckoutLines,
        products: &[Product],
        fee: FeeRate,
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
                line_total: product.price.times(quantity.get()).ok_or(PlaceError::TotalOutOfRange)?,
            });
        }
        if !unavailable.is_empty() {
            return Err(PlaceError::Unavailable(unavailable));
        }
        if !short.is_empty() {
            return Err(PlaceError::OutOfStock(short));
        }
        let currency = items.first().map(|l| l.unit_price.currency).unwrap_or(super::Currency::Usd);
        let mixed: Vec<ProductId> =
            items.iter().filter(|l| l.unit_price.currency != currency).map(|l| l.product_id.clone()).collect();
        if !mixed.is_empty() {
            return Err(PlaceError::MixedCurrencies(mixed));
        }
        let sum = |lines: &mut dyn Iterator<Item = &OrderLine>| {
            Money::sum(currency, lines.map(|l| l.line_total)).ok_or(PlaceError::TotalOutOfRange)
        };
        let total = sum(&mut items.iter())?;
        if total.amount < super::payment::MIN_CHARGE_MINOR {
            return Err(PlaceError::BelowMinimumCharge(total));
        }
        let mut order = Order {
            order_id,
            user_id,
            status: OrderStatus::AwaitingPayment,
            items,
            total,
            shipped_artisans: Vec::new(),
            contact_email: None,
            payment: None,
            shares: Vec::new(),
            retry: None,
            created_at: now,
            updated_at: now,
        };
        order.shares = order
            .artisans()
            .into_iter()
            .map(|artisan| {
                let part = sum(&mut order.items.iter().filter(|l| l.artisan_id == artisan))?;
                Ok(Share { amount: fee.share_of(part), artisan_id: artisan })
            })
            .collect::<Result<_, PlaceError>>()?;
        Ok(order)
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

    fn place(lines: &CheckoutLines, products: &[Product]) -> Result<Order, PlaceError> {
        let user = UserId::parse("alice").expect("id");
        Order::place(OrderId::from_parts(9, 9), user, lines, products, FeeRate::DEFAULT, OffsetDateTime::UNIX_EPOCH)
    }

    fn two_artisan_order() -> Order {
        let (a, b) = (product(1, "ana", 100, 5), product(2, "bo", 200, 5));
        place(&lines(&[(&a.product_id, 1), (&b.product_id, 1)]), &[a, b]).expect("placeable")
    }

    fn intent() -> ProviderRef {
        ProviderRef::parse("pi_1").expect("id")
    }

    fn moved(decision: Decision) -> Order {
        match decision {
            Decision::Move(order) => order,
            other => panic!("expected a move, got {other:?}"),
        }
    }

    fn awaiting() -> Order {
        moved(two_artisan_order().attach_payment(&intent(), "pi_1_secret_x", OffsetDateTime::UNIX_EPOCH))
    }

    fn paid() -> Order {
        moved(awaiting().payment_succeeded(&intent(), None, OffsetDateTime::UNIX_EPOCH))
    }

    fn payment_status(order: &Order) -> Option<PaymentStatus> {
        order.payment.as_ref().map(|p| p.status)
    }

    #[test]
    fn an_order_is_paid_then_confirmed_and_the_secret_goes_with_the_wait() {
        let now = OffsetDateTime::UNIX_EPOCH + time::Duration::minutes(1);
        let awaiting = awaiting();
        assert_eq!(awaiting.status, OrderStatus::AwaitingPayment);
        assert_eq!(awaiting.payment.as_ref().and_then(|p| p.client_secret.as_deref()), Some("pi_1_secret_x"));
        assert_eq!(awaiting.attach_payment(&intent(), "pi_1_secret_x", now), Decision::AlreadyDone);
        let other = ProviderRef::parse("pi_2").expect("id");
        assert_eq!(awaiting.attach_payment(&other, "s", now), Decision::Refused(OrderStatus::AwaitingPayment));
        assert_eq!(awaiting.confirm(now), Decision::Refused(OrderStatus::AwaitingPayment), "not before payment");
        let paid = moved(awaiting.payment_succeeded(&intent(), None, now));
        assert_eq!((paid.status, payment_status(&paid)), (OrderStatus::Paid, Some(PaymentStatus::Succeeded)));
        assert_eq!(paid.payment.as_ref().and_then(|p| p.client_secret.clone()), None);
        assert_eq!(paid.payment_succeeded(&intent(), None, now), Decision::AlreadyDone, "a duplicate event");
        assert_eq!(paid.payment_ended(&intent(), PaymentEnd::Failed, now), Decision::AlreadyDone, "a stale failure");
        assert_eq!(awaiting.payment_succeeded(&other, None, now), Decision::Refused(OrderStatus::AwaitingPayment));
        let confirmed = moved(paid.confirm(now));
        assert_eq!((confirmed.status, confirmed.updated_at), (OrderStatus::Confirmed, now));
        assert_eq!(confirmed.confirm(now), Decision::AlreadyDone, "a duplicate message changes nothing");
        assert_eq!(confirmed.follow_up(), None);
        assert_eq!(paid.follow_up(), Some(FollowUp::Confirmation));
        assert_eq!(awaiting.follow_up(), Some(FollowUp::Payment));
    }

    #[test]
    fn the_artisans_view_changes_with_a_status_or_a_part_never_with_the_payment_alone() {
        let now = OffsetDateTime::UNIX_EPOCH + time::Duration::minutes(1);
        let paid = moved(awaiting().payment_succeeded(&intent(), None, now));
        let confirmed = moved(paid.confirm(now));
        assert!(paid.changes_artisan_view(&confirmed));
        let mut payment_moved = confirmed.clone();
        payment_moved.payment = None;
        assert!(!confirmed.changes_artisan_view(&payment_moved));
        let mut part_shipped = confirmed.clone();
        part_shipped.shipped_artisans.push(confirmed.items[0].artisan_id.clone());
        assert!(confirmed.changes_artisan_view(&part_shipped));
        assert!(!confirmed.changes_artisan_view(&confirmed.clone()));
    }

    #[test]
    fn an_order_counts_as_unpaid_until_it_is_paid_expired_or_cancelled() {
        let now = OffsetDateTime::UNIX_EPOCH;
        let awaiting = awaiting();
        assert!(two_artisan_order().awaits_payment() && awaiting.awaits_payment());
        assert!(!awaiting.stops_awaiting_payment(&awaiting), "attaching the intent is still waiting");
        for next in [
            moved(awaiting.payment_succeeded(&intent(), None, now)),
            moved(awaiting.expire(None, now)),
            moved(awaiting.cancel(now)),
            moved(awaiting.payment_ended(&intent(), PaymentEnd::Failed, now)),
        ] {
            assert!(awaiting.stops_awaiting_payment(&next), "{:?}", next.status);
            assert!(!next.stops_awaiting_payment(&next), "once");
        }
        let confirmed = moved(paid().confirm(now));
        assert!(!paid().stops_awaiting_payment(&confirmed));
    }

    #[test]
    fn a_failed_payment_cancels_and_a_late_success_is_refunded() {
        let now = OffsetDateTime::UNIX_EPOCH;
        let awaiting = awaiting();
        let failed = moved(awaiting.payment_ended(&intent(), PaymentEnd::Failed, now));
        assert!(awaiting.returns_stock(&failed));
        assert_eq!((failed.status, payment_status(&failed)), (OrderStatus::Cancelled, Some(PaymentStatus::Failed)));
        assert_eq!(failed.settlement(), Some(Settlement::CancelIntent(intent())), "a failed intent can be retried");
        let canceled = moved(failed.payment_ended(&intent(), PaymentEnd::Canceled, now));
        assert_eq!((canceled.settlement(), canceled.follow_up()), (None, None));
        assert_eq!(canceled.payment_ended(&intent(), PaymentEnd::Canceled, now), Decision::AlreadyDone);
        let late = moved(canceled.payment_succeeded(&intent(), None, now));
        assert_eq!((late.status, payment_status(&late)), (OrderStatus::Cancelled, Some(PaymentStatus::Succeeded)));
        assert!(!canceled.returns_stock(&late), "the stock came back once");
        let amount = late.total;
        assert_eq!(late.settlement(), Some(Settlement::Refund { intent_id: intent(), amount }));
        assert_eq!(late.follow_up(), Some(FollowUp::Settlement));
        let refund = Refund { refund_id: ProviderRef::parse("re_1").expect("id"), amount, at: now };
        let refunded = moved(late.refunded(refund.clone(), now));
        assert_eq!(payment_status(&refunded), Some(PaymentStatus::Refunded));
        assert_eq!((refunded.settlement(), refunded.refunded(refund.clone(), now)), (None, Decision::AlreadyDone));
        assert_eq!(refunded.payment_succeeded(&intent(), None, now), Decision::AlreadyDone, "no second refund");
        assert_eq!(paid().refunded(refund, now), Decision::Refused(OrderStatus::Paid), "only a cancelled order");
    }

    #[test]
    fn expiry_follows_what_the_provider_said_about_the_intent() {
        let now = OffsetDateTime::UNIX_EPOCH;
        let awaiting = awaiting();
        let expired = moved(awaiting.expire(Some(IntentState::Canceled), now));
        assert_eq!((expired.status, expired.settlement()), (OrderStatus::Cancelled, None));
        let paid_meanwhile = moved(awaiting.expire(Some(IntentState::Succeeded), now));
        assert_eq!(paid_meanwhile.status, OrderStatus::Paid, "a payment that won the race is kept");
        let unreachable = moved(awaiting.expire(None, now));
        assert_eq!(unreachable.status, OrderStatus::Cancelled);
        assert_eq!(unreachable.settlement(), Some(Settlement::CancelIntent(intent())), "cancelled when reachable");
        assert_eq!(paid().expire(None, now), Decision::AlreadyDone);
        let never_attached = moved(two_artisan_order().expire(None, now));
        assert_eq!((never_attached.status, never_attached.settlement()), (OrderStatus::Cancelled, None));
    }

    #[test]
    fn cancelling_after_payment_owes_a_refund_and_before_it_cancels_the_intent() {
        let now = OffsetDateTime::UNIX_EPOCH;
        let unpaid = moved(awaiting().cancel(now));
        assert_eq!(unpaid.settlement(), Some(Settlement::CancelIntent(intent())));
        assert_eq!(unpaid.payment.as_ref().and_then(|p| p.client_secret.clone()), None);
        let confirmed = moved(paid().confirm(now));
        let cancelled = moved(confirmed.cancel(now));
        assert!(confirmed.returns_stock(&cancelled));
        assert!(matches!(cancelled.settlement(), Some(Settlement::Refund { .. })));
        assert_eq!(cancelled.cancel(now), Decision::AlreadyDone, "a repeated cancel answers as the first");
        assert_eq!(cancelled.confirm(now), Decision::Refused(OrderStatus::Cancelled));
        let ana = UserId::parse("ana").expect("id");
        assert_eq!(awaiting().ship_part(&ana, now), Decision::Refused(OrderStatus::AwaitingPayment));
        assert_eq!(paid().ship_part(&ana, now), Decision::Refused(OrderStatus::Paid), "ships only once confirmed");
        assert_eq!(cancelled.ship_part(&ana, now), Decision::Refused(OrderStatus::Cancelled));
    }

    #[test]
    fn the_last_part_to_ship_ships_the_order_and_nothing_cancels_it_after_the_first() {
        let now = OffsetDateTime::UNIX_EPOCH;
        let (ana, bo) = (UserId::parse("ana").expect("id"), UserId::parse("bo").expect("id"));
        let confirmed = moved(paid().confirm(now));
        let half = moved(confirmed.ship_part(&ana, now));
        assert_eq!(half.status, OrderStatus::Confirmed, "bo has not shipped");
        assert_eq!((half.part_status(&ana), half.part_status(&bo)), (OrderStatus::Shipped, OrderStatus::Confirmed));
        assert_eq!(half.ship_part(&ana, now), Decision::AlreadyDone);
        assert_eq!(half.cancel(now), Decision::Refused(OrderStatus::Shipped), "a part is on its way");
        let owed = confirmed.payouts_owed(&half);
        assert_eq!(owed.iter().map(|p| (p.artisan_id.as_str(), p.amount.amount)).collect::<Vec<_>>(), [("ana", 90)]);
        let shipped = moved(half.ship_part(&bo, now));
        assert_eq!(half.payouts_owed(&shipped).len(), 1, "bo's share, and ana's not again");
        assert_eq!(shipped.status, OrderStatus::Shipped);
        assert_eq!(shipped.shipped_artisans, vec![ana.clone(), bo.clone()]);
        assert_eq!(shipped.cancel(now), Decision::Refused(OrderStatus::Shipped));
        let view = half.for_artisan(&ana).expect("a placed order's part sums");
        assert_eq!((view.status, view.items.len(), view.total.amount), (OrderStatus::Shipped, 1, 100));
        assert!(view.shipped_artisans.is_empty() && view.contact_email.is_none());
        assert!(view.payment.is_none() && view.shares.is_empty(), "nothing of the payment or the split");
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
    fn an_order_captures_prices_totals_and_each_artisans_share() {
        let (a, b, c) = (product(1, "ana", 1250, 5), product(2, "bo", 300, 5), product(3, "ana", 5, 5));
        let order = place(
            &lines(&[(&a.product_id, 2), (&b.product_id, 3), (&c.product_id, 1)]),
            &[a.clone(), b.clone(), c.clone()],
        )
        .expect("placeable");
        assert_eq!(order.total.amount, 2 * 1250 + 3 * 300 + 5);
        assert_eq!((order.status, order.payment.clone()), (OrderStatus::AwaitingPayment, None));
        assert_eq!(order.items[0].unit_price.amount, 1250);
        assert_eq!(order.artisans().len(), 2);
        assert_eq!(order.for_artisan(&b.artisan_id).map(|part| part.total.amount), Ok(900));
        // 10 %, rounded down: ana's 2505 pays 250, bo's 900 pays 90.
        assert_eq!(order.share_of(&a.artisan_id).map(|s| s.amount.amount), Some(2505 - 250));
        assert_eq!(order.share_of(&b.artisan_id).map(|s| s.amount.amount), Some(810));
        assert!(serde_json::to_value(&order).expect("json").get("shares").is_none(), "the split is not shown");
    }

    #[test]
    fn a_total_out_of_range_is_refused_never_short_of_a_line() {
        let (mut a, mut b) = (product(1, "ana", 100, 5), product(2, "bo", 100, 5));
        a.price.amount = i64::MAX / 2;
        b.price.amount = i64::MAX / 2;
        let err = place(&lines(&[(&a.product_id, 3)]), std::slice::from_ref(&a));
        assert_eq!(err, Err(PlaceError::TotalOutOfRange), "a line past i64");
        let err = place(&lines(&[(&a.product_id, 1), (&b.product_id, 2)]), &[a.clone(), b.clone()]);
        assert_eq!(err, Err(PlaceError::TotalOutOfRange), "lines that fit, a total that does not");
        let mut damaged = two_artisan_order();
        damaged.items[0].line_total.amount = i64::MAX;
        damaged.items.push(damaged.items[0].clone());
        assert_eq!(damaged.for_artisan(&damaged.items[0].artisan_id.clone()), Err(LinesDoNotSum));
    }

    #[test]
    fn unknown_archived_and_short_products_are_named() {
        let (a, mut b) = (product(1, "ana", 100, 1), product(2, "bo", 100, 5));
        let ghost = ProductId::from_parts(7, 7);
        let err = place(&lines(&[(&ghost, 1)]), std::slice::from_ref(&a));
        assert_eq!(err, Err(PlaceError::Unknown(vec![ghost])));
        let err = place(&lines(&[(&a.product_id, 2)]), std::slice::from_ref(&a));
        assert_eq!(err, Err(PlaceError::OutOfStock(vec![a.product_id.clone()])));
        let cheap = product(3, "ana", 49, 5);
        let err = place(&lines(&[(&cheap.product_id, 1)]), std::slice::from_ref(&cheap));
        assert_eq!(err, Err(PlaceError::BelowMinimumCharge(cheap.price)), "under the provider's smallest charge");
        assert!(place(&lines(&[(&cheap.product_id, 2)]), std::slice::from_ref(&cheap)).is_ok(), "98 cents is enough");
        b = b.archived(OffsetDateTime::UNIX_EPOCH);
        let err = place(&lines(&[(&b.product_id, 1)]), &[b.clone()]);
        assert_eq!(err, Err(PlaceError::Unavailable(vec![b.product_id])));
    }
}
