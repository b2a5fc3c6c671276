//! Each artisan's payout: their share of one order, owed once they ship their part, transferred to their connected
//! account exactly once, and taken back (held, cancelled or reversed) when the provider tells us the shopper's money
//! went back: a refund made outside the storefront, or a dispute (docs/payments.md, "Refunds and disputes from
//! outside").

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use super::payment::{DisputeStage, Payment, PaymentOutcome, ProviderRef, Share};
use super::retry::Retry;
use super::{Money, OrderId, UserId};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PayoutStatus {
    /// Owed to the artisan; transferred as soon as they have a connected account.
    Accrued,
    Transferred,
    /// Not sent while the order's payment is disputed or was refunded at the provider (`reason` says which).
    Held,
    /// Sent, then taken back from the artisan's account (the shopper's money went back in full).
    Reversed,
    /// Never to be sent: the shopper's money went back before it was.
    Cancelled,
}

impl PayoutStatus {
    pub const ALL: [PayoutStatus; 5] = [
        PayoutStatus::Accrued,
        PayoutStatus::Transferred,
        PayoutStatus::Held,
        PayoutStatus::Reversed,
        PayoutStatus::Cancelled,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            PayoutStatus::Accrued => "accrued",
            PayoutStatus::Transferred => "transferred",
            PayoutStatus::Held => "held",
            PayoutStatus::Reversed => "reversed",
            PayoutStatus::Cancelled => "cancelled",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        PayoutStatus::ALL.into_iter().find(|status| status.as_str() == raw)
    }
}

/// An artisan's share of one order, owed from the moment they ship their part: one per (artisan, order), so it
/// is paid exactly once. Serialized whole (a sharded store carries it between databases); what its artisan is shown
/// is [`Payout::for_artisan`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Payout {
    pub artisan_id: UserId,
    pub order_id: OrderId,
    pub amount: Money,
    pub status: PayoutStatus,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub transfer_id: Option<ProviderRef>,
    /// Why it is held, cancelled or reversed, as the artisan reads it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The provider's reversal of the transfer, once reversed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reversal_id: Option<ProviderRef>,
    /// The connected account the first transfer was sent to: every later attempt goes there too (the transfer's
    /// idempotency key names it), so an account changed meanwhile can never receive a second transfer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub destination: Option<ProviderRef>,
    /// The order's payment, which funds the transfer: its intent, and its charge once known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub intent_id: Option<ProviderRef>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub charge_id: Option<ProviderRef>,
    /// Bumped by every change: a write holds only while the payout is still the one read.
    #[serde(default)]
    pub version: u64,
    /// The failed transfers so far, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry: Option<Retry>,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
}

/// Why a payout is held while its order's charge is disputed (a won dispute releases exactly these).
pub const DISPUTED: &str = "the shopper's bank disputes the charge; held until the dispute is decided";
const PARTLY_REFUNDED: &str =
    "part of the order was refunded at the payment provider; held until the platform decides each artisan's part";
const REFUNDED: &str = "the order was refunded in full at the payment provider";
const DISPUTE_LOST: &str = "the shopper's bank upheld a dispute of the charge";

/// What the shopper's money going back (or being disputed) does to an order's payouts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Clawback {
    /// Not sent for now: a dispute is open, or part of the order was refunded (an operator decides).
    Hold(&'static str),
    /// A dispute was won: what it held is owed again.
    Release,
    /// The money went back in full: what was not sent never will be, what was sent is reversed.
    TakeBack(&'static str),
}

impl Clawback {
    /// What a provider event about an order of `total` does to its payouts, if anything.
    pub fn of(outcome: PaymentOutcome, total: Money) -> Option<Clawback> {
        match outcome {
            PaymentOutcome::Refunded { total: refunded } if refunded.amount >= total.amount => {
                Some(Clawback::TakeBack(REFUNDED))
            }
            PaymentOutcome::Refunded { .. } => Some(Clawback::Hold(PARTLY_REFUNDED)),
            PaymentOutcome::Dispute(DisputeStage::Opened) => Some(Clawback::Hold(DISPUTED)),
            PaymentOutcome::Dispute(DisputeStage::Won) => Some(Clawback::Release),
            PaymentOutcome::Dispute(DisputeStage::Lost) => Some(Clawback::TakeBack(DISPUTE_LOST)),
            PaymentOutcome::Succeeded | PaymentOutcome::Ended(_) => None,
        }
    }

    /// The clawback a payout accrued now starts under, given where its order's payment stands (a part shipped
    /// after a refund or while a dispute is open is not paid out either).
    pub fn standing(payment: Option<&Payment>) -> Option<Clawback> {
        use super::PaymentStatus;
        match payment?.status {
            PaymentStatus::Disputed => Some(Clawback::Hold(DISPUTED)),
            PaymentStatus::PartiallyRefunded => Some(Clawback::Hold(PARTLY_REFUNDED)),
            PaymentStatus::Refunded => Some(Clawback::TakeBack(REFUNDED)),
            PaymentStatus::DisputeLost => Some(Clawback::TakeBack(DISPUTE_LOST)),
            PaymentStatus::RequiresPayment
            | PaymentStatus::Succeeded
            | PaymentStatus::Failed
            | PaymentStatus::Canceled => None,
        }
    }
}

/// What a clawback asks of one payout.
// One per payout, made and matched at once, never kept in bulk (as `Decision` for orders): boxing buys nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PayoutMove {
    /// Store this payout instead.
    Save(Payout),
    /// Reverse its transfer at the provider, then store [`Payout::reversed`].
    Reverse { transfer_id: ProviderRef, reason: &'static str },
}

impl Payout {
    /// The payout that shipping `share` starts, funded by the order's `payment`: owed, or held at once when that
    /// payment was refunded or is disputed.
    pub fn accrue(order_id: &OrderId, share: &Share, payment: Option<&Payment>, now: OffsetDateTime) -> Payout {
        let payout = Payout {
            artisan_id: share.artisan_id.clone(),
            order_id: order_id.clone(),
            amount: share.amount,
            status: PayoutStatus::Accrued,
            transfer_id: None,
            reason: None,
            reversal_id: None,
            destination: None,
            intent_id: payment.map(|p| p.intent_id.clone()),
            charge_id: payment.and_then(|p| p.charge_id.clone()),
            version: 0,
            retry: None,
            created_at: now,
            updated_at: now,
        };
        let standing = Clawback::standing(payment).and_then(|clawback| payout.after(clawback, now));
        match standing {
            Some(PayoutMove::Save(held)) => Payout { version: 0, ..held },
            Some(PayoutMove::Reverse { .. }) | None => payout,
        }
    }

    /// The payout as its artisan sees it: what it is, where it stands and why; not how it is funded or retried.
    pub fn for_artisan(&self) -> ArtisanPayout<'_> {
        ArtisanPayout {
            artisan_id: &self.artisan_id,
            order_id: &self.order_id,
            amount: self.amount,
            status: self.status,
            transfer_id: self.transfer_id.as_ref(),
            reason: self.reason.as_deref(),
            reversal_id: self.reversal_id.as_ref(),
            created_at: self.created_at,
            updated_at: self.updated_at,
        }
    }

    /// One change later.
    fn changed(&self, now: OffsetDateTime) -> Payout {
        Payout { version: self.version.saturating_add(1), updated_at: now, ..self.clone() }
    }

    /// Whether the artisan is owed it now (transferred when they have an account).
    pub fn is_owed(&self) -> bool {
        self.status == PayoutStatus::Accrued
    }

    /// The first transfer attempt's account recorded (before the attempt), so every later attempt goes there.
    pub fn sent_to(&self, destination: ProviderRef, now: OffsetDateTime) -> Payout {
        Payout { destination: Some(destination), ..self.changed(now) }
    }

    pub fn transferred(&self, transfer_id: ProviderRef, now: OffsetDateTime) -> Payout {
        Payout { status: PayoutStatus::Transferred, transfer_id: Some(transfer_id), retry: None, ..self.changed(now) }
    }

    /// A failed transfer recorded (its next try, or parked).
    pub fn with_retry(&self, retry: Retry, now: OffsetDateTime) -> Payout {
        Payout { retry: Some(retry), ..self.changed(now) }
    }

    /// Put back in the due list by an operator: tried again at the next run, its failures forgotten; with a new
    /// destination when the first one will never work (the transfer to it was refused, so none was made).
    pub fn unparked(&self, new_destination: Option<ProviderRef>, now: OffsetDateTime) -> Payout {
        let destination = new_destination.or_else(|| self.destination.clone());
        Payout { retry: None, destination, ..self.changed(now) }
    }

    /// Transfer taken back at the provider.
    pub fn reversed(&self, reversal_id: ProviderRef, reason: &str, now: OffsetDateTime) -> Payout {
        let reason = Some(reason.to_owned());
        Payout { status: PayoutStatus::Reversed, reversal_id: Some(reversal_id), reason, ..self.changed(now) }
    }

    /// What `clawback` asks of this payout, if anything.
    pub fn after(&self, clawback: Clawback, now: OffsetDateTime) -> Option<PayoutMove> {
        let with = |status, reason: Option<&str>| {
            PayoutMove::Save(Payout { status, reason: reason.map(str::to_owned), retry: None, ..self.changed(now) })
        };
        match (clawback, self.status) {
            (Clawback::Hold(reason), PayoutStatus::Accrued) => Some(with(PayoutStatus::Held, Some(reason))),
            (Clawback::Release, PayoutStatus::Held) if self.reason.as_deref() == Some(DISPUTED) => {
                Some(with(PayoutStatus::Accrued, None))
            }
            (Clawback::TakeBack(reason), PayoutStatus::Accrued | PayoutStatus::Held) => {
                Some(with(PayoutStatus::Cancelled, Some(reason)))
            }
            (Clawback::TakeBack(reason), PayoutStatus::Transferred) => {
                self.transfer_id.clone().map(|transfer_id| PayoutMove::Reverse { transfer_id, reason })
            }
            _ => None,
        }
    }
}

/// A payout as its artisan is shown it (`GET /artisan/payouts`).
#[derive(Debug, Serialize)]
pub struct ArtisanPayout<'a> {
    pub artisan_id: &'a UserId,
    pub order_id: &'a OrderId,
    pub amount: Money,
    pub status: PayoutStatus,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub transfer_id: Option<&'a ProviderRef>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reversal_id: Option<&'a ProviderRef>,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
}

/// Where an artisan's shares are transferred (a connected account at the provider).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PayoutAccount {
    pub account_id: ProviderRef,
    #[serde(with = "time::serde::rfc3339")]
    pub connected_at: OffsetDateTime,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{Currency, PaymentStatus};

    fn share() -> Share {
        Share { artisan_id: UserId::parse("ana").expect("id"), amount: Money::new(900, Currency::Usd) }
    }

    fn payment(status: PaymentStatus) -> Payment {
        Payment {
            intent_id: ProviderRef::parse("pi_1").expect("id"),
            client_secret: None,
            status,
            refunded: None,
            charge_id: ProviderRef::parse("ch_1"),
            dispute: None,
        }
    }

    fn saved(step: Option<PayoutMove>) -> Payout {
        match step {
            Some(PayoutMove::Save(payout)) => payout,
            other => panic!("expected a save, got {other:?}"),
        }
    }

    #[test]
    fn a_payout_is_owed_and_funded_by_its_orders_charge_or_held_from_the_start() {
        let now = OffsetDateTime::UNIX_EPOCH;
        let order = OrderId::from_parts(1, 1);
        let owed = Payout::accrue(&order, &share(), Some(&payment(PaymentStatus::Succeeded)), now);
        assert_eq!((owed.status, owed.charge_id.as_ref().map(|c| c.as_str())), (PayoutStatus::Accrued, Some("ch_1")));
        assert!(owed.is_owed() && owed.version == 0);
        let disputed = Payout::accrue(&order, &share(), Some(&payment(PaymentStatus::Disputed)), now);
        assert_eq!((disputed.status, disputed.reason.as_deref()), (PayoutStatus::Held, Some(DISPUTED)));
        let refunded = Payout::accrue(&order, &share(), Some(&payment(PaymentStatus::Refunded)), now);
        assert_eq!(refunded.status, PayoutStatus::Cancelled, "a share of money that went back is never owed");
    }

    #[test]
    fn a_dispute_holds_what_is_unsent_and_its_outcome_releases_or_takes_back() {
        let now = OffsetDateTime::UNIX_EPOCH;
        let total = Money::new(1000, Currency::Usd);
        let owed = Payout::accrue(&OrderId::from_parts(1, 1), &share(), None, now);
        let opened = Clawback::of(PaymentOutcome::Dispute(DisputeStage::Opened), total).expect("a hold");
        let held = saved(owed.after(opened, now));
        assert_eq!((held.status, held.version), (PayoutStatus::Held, 1));
        assert_eq!(held.after(opened, now), None, "held once");
        let won = Clawback::of(PaymentOutcome::Dispute(DisputeStage::Won), total).expect("a release");
        let released = saved(held.after(won, now));
        assert!(released.is_owed() && released.reason.is_none());
        let lost = Clawback::of(PaymentOutcome::Dispute(DisputeStage::Lost), total).expect("a take-back");
        assert_eq!(saved(held.after(lost, now)).status, PayoutStatus::Cancelled);
        let sent = owed.transferred(ProviderRef::parse("tr_1").expect("id"), now);
        assert_eq!(sent.after(opened, now), None, "sent money stays with the artisan while the dispute is open");
        let Some(PayoutMove::Reverse { transfer_id, .. }) = sent.after(lost, now) else { panic!("a reversal") };
        assert_eq!(transfer_id.as_str(), "tr_1");
    }

    #[test]
    fn a_full_refund_takes_back_and_a_partial_one_holds_for_an_operator() {
        let now = OffsetDateTime::UNIX_EPOCH;
        let total = Money::new(1000, Currency::Usd);
        let refunded =
            |amount| Clawback::of(PaymentOutcome::Refunded { total: Money::new(amount, Currency::Usd) }, total);
        assert_eq!(refunded(1000), Some(Clawback::TakeBack(REFUNDED)));
        let partly = refunded(300).expect("a hold");
        let owed = Payout::accrue(&OrderId::from_parts(1, 1), &share(), None, now);
        let held = saved(owed.after(partly, now));
        assert_eq!(held.status, PayoutStatus::Held);
        assert_eq!(held.after(Clawback::Release, now), None, "a won dispute does not release a refund's hold");
        assert_eq!(Clawback::of(PaymentOutcome::Succeeded, total), None);
        let reversed = owed.transferred(ProviderRef::parse("tr_1").expect("id"), now).reversed(
            ProviderRef::parse("trr_1").expect("id"),
            REFUNDED,
            now,
        );
        assert_eq!(
            (reversed.status, reversed.after(Clawback::TakeBack(REFUNDED), now)),
            (PayoutStatus::Reversed, None)
        );
    }

    #[test]
    fn every_status_reads_back() {
        for status in PayoutStatus::ALL {
            assert_eq!(PayoutStatus::parse(status.as_str()), Some(status));
        }
        assert_eq!(PayoutStatus::parse("parked"), None);
    }
}
