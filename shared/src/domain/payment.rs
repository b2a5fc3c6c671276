//! Payments as the order keeps them: the provider's intent, charge, refunds and disputes, and the marketplace's
//! split of an order into artisans' shares (each share's payout is in [`super::payout`]). The provider itself is a
//! port (`ports::PaymentProvider`); these are the facts and rules the store and the services share.

use std::fmt;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use super::{Money, OrderId, UserId, ValidationErrors};

/// The smallest total the provider charges (Stripe's minimum for USD): a smaller order is refused at checkout,
/// before any stock is reserved.
pub const MIN_CHARGE_MINOR: i64 = 50;

/// An id the payment provider made (an intent, a refund, a transfer, an event, a connected account): opaque to us,
/// but held to characters that can never break a key, a header or a URL path.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct ProviderRef(String);

impl ProviderRef {
    pub const MAX_LEN: usize = 255;

    pub fn parse(raw: &str) -> Option<Self> {
        let valid =
            !raw.is_empty() && raw.len() <= Self::MAX_LEN && raw.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
        valid.then(|| Self(raw.to_owned()))
    }

    pub fn parse_field(raw: &str, field: &str) -> Result<Self, ValidationErrors> {
        Self::parse(raw)
            .ok_or_else(|| ValidationErrors::single(field, "must be 1 to 255 characters of letters, digits and '_'"))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for ProviderRef {
    type Error = String;
    fn try_from(raw: String) -> Result<Self, Self::Error> {
        Self::parse(&raw).ok_or_else(|| format!("not a provider id: {raw:?}"))
    }
}

impl From<ProviderRef> for String {
    fn from(id: ProviderRef) -> Self {
        id.0
    }
}

impl fmt::Display for ProviderRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Where the order's payment stands, as far as the store knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PaymentStatus {
    /// The intent waits for the shopper to pay it.
    RequiresPayment,
    Succeeded,
    /// An attempt failed; the order was cancelled and the intent is cancelled after it.
    Failed,
    Canceled,
    /// Paid, then the whole amount went back (a cancellation after payment, a payment after expiry, or a refund
    /// made at the provider).
    Refunded,
    /// Paid, then part of it went back at the provider (`refunded` says how much in all).
    PartiallyRefunded,
    /// Paid, and the shopper's bank disputes the charge: the money is held by the provider until it decides.
    Disputed,
    /// The shopper's bank upheld a dispute: the charge went back to the shopper.
    DisputeLost,
}

impl PaymentStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            PaymentStatus::RequiresPayment => "requires_payment",
            PaymentStatus::Succeeded => "succeeded",
            PaymentStatus::Failed => "failed",
            PaymentStatus::Canceled => "canceled",
            PaymentStatus::Refunded => "refunded",
            PaymentStatus::PartiallyRefunded => "partially_refunded",
            PaymentStatus::Disputed => "disputed",
            PaymentStatus::DisputeLost => "dispute_lost",
        }
    }

    /// Whether the money was taken (and may have gone back since, in part or in full).
    pub fn was_paid(self) -> bool {
        matches!(
            self,
            PaymentStatus::Succeeded
                | PaymentStatus::Refunded
                | PaymentStatus::PartiallyRefunded
                | PaymentStatus::Disputed
                | PaymentStatus::DisputeLost
        )
    }
}

/// The money that went back to the shopper.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Refund {
    pub refund_id: ProviderRef,
    pub amount: Money,
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
}

/// The order's payment: the provider's intent for its total, and what became of it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Payment {
    pub intent_id: ProviderRef,
    /// What the shopper's browser confirms the intent with; only kept (and shown, to the owner) while the order
    /// awaits payment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_secret: Option<String>,
    pub status: PaymentStatus,
    /// What went back to the shopper so far, in all (the last refund's id).
    pub refunded: Option<Refund>,
    /// The charge the payment made (the artisans' transfers are funded from it), once the provider told us.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub charge_id: Option<ProviderRef>,
    /// How far a dispute of the charge went, if there was one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dispute: Option<DisputeStage>,
}

impl Payment {
    /// How much went back to the shopper so far.
    pub fn refunded_amount(&self) -> i64 {
        self.refunded.as_ref().map_or(0, |refund| refund.amount.amount)
    }
}

/// An intent as the provider reports it (a cancel call's answer, or a status read).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IntentState {
    /// Not paid yet (waiting for a payment method, or for the shopper's confirmation).
    Open,
    /// A payment is being processed; it may still succeed.
    Processing,
    Succeeded,
    Canceled,
}

/// What ended a payment that did not succeed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PaymentEnd {
    Failed,
    Canceled,
}

impl PaymentEnd {
    pub fn status(self) -> PaymentStatus {
        match self {
            PaymentEnd::Failed => PaymentStatus::Failed,
            PaymentEnd::Canceled => PaymentStatus::Canceled,
        }
    }
}

/// What the provider told us happened to an intent, or to the charge it made.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PaymentOutcome {
    Succeeded,
    Ended(PaymentEnd),
    /// The charge was refunded at the provider (from its dashboard, or our own refund), this much in all so far.
    Refunded {
        total: Money,
    },
    /// The shopper's bank disputed the charge, and how that ended.
    Dispute(DisputeStage),
}

/// Where a dispute (a chargeback) stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DisputeStage {
    Opened,
    /// Closed in the marketplace's favour (or withdrawn): the money stays.
    Won,
    /// Closed in the shopper's favour: the charge went back.
    Lost,
}

/// A verified provider event about an intent of ours (or a charge an intent of ours made), as the webhook queues it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PaymentEvent {
    pub event_id: ProviderRef,
    pub intent_id: ProviderRef,
    pub outcome: PaymentOutcome,
    /// The order the intent was made for (from the metadata); absent for an intent that is not ours, and for a
    /// charge's event, whose order the payment worker asks the provider for.
    pub order: Option<OrderRef>,
    /// The charge the event is about, or that the payment made.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub charge_id: Option<ProviderRef>,
}

/// An order named by its owner and id (its key).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OrderRef {
    pub user_id: UserId,
    pub order_id: OrderId,
}

/// The marketplace's cut, in basis points of each artisan's part of an order (`PLATFORM_FEE_BPS`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FeeRate(u16);

impl FeeRate {
    pub const DEFAULT: FeeRate = FeeRate(1000);

    /// 0 to 10,000 basis points (0 % to 100 %).
    pub fn from_bps(bps: u32) -> Option<Self> {
        u16::try_from(bps).ok().filter(|b| *b <= 10_000).map(FeeRate)
    }

    pub fn bps(self) -> u16 {
        self.0
    }

    /// The artisan's share of `part`: the part minus the fee, the fee rounded down (a fraction of a cent goes to
    /// the artisan).
    pub fn share_of(self, part: Money) -> Money {
        let fee = i128::from(part.amount) * i128::from(self.0) / 10_000;
        Money::new(part.amount - i64::try_from(fee).unwrap_or(part.amount), part.currency)
    }
}

/// One artisan's share of an order: their lines' total minus the platform fee, fixed at checkout.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Share {
    pub artisan_id: UserId,
    pub amount: Money,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::Currency;

    #[test]
    fn provider_ids_cannot_carry_separators() {
        assert!(ProviderRef::parse("pi_3MtwBwLkdIwHu7ix28a3tqPa").is_some());
        for bad in ["", "pi 1", "pi#1", "../x", "pi/1", &"x".repeat(256)] {
            assert!(ProviderRef::parse(bad).is_none(), "{bad:?}");
        }
        assert!(serde_json::from_str::<ProviderRef>("\"a#b\"").is_err(), "checked when read back too");
    }

    #[test]
    fn the_fee_is_rounded_down_and_bounded() {
        let usd = |amount| Money::new(amount, Currency::Usd);
        assert_eq!(FeeRate::DEFAULT.share_of(usd(1000)), usd(900));
        assert_eq!(FeeRate::DEFAULT.share_of(usd(1005)), usd(905), "the half cent stays with the artisan");
        assert_eq!(FeeRate::from_bps(0).map(|f| f.share_of(usd(7))), Some(usd(7)));
        assert_eq!(FeeRate::from_bps(10_000).map(|f| f.share_of(usd(7))), Some(usd(0)));
        assert_eq!(FeeRate::from_bps(10_001), None);
        assert_eq!(FeeRate::DEFAULT.share_of(usd(i64::MAX)).amount, i64::MAX - i64::MAX / 10, "no overflow");
    }
}
