//! Ports of the payment side: the provider (intents, refunds, transfers, signed events), the queue of payment
//! work, and what the store keeps of it (events seen, artisans' accounts, payouts).

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use super::{Page, PageRequest, QueueError, StoreError, TransitionError};
use crate::domain::{
    IntentState, Money, Order, OrderId, OrderRef, PaymentEvent, Payout, PayoutAccount, PayoutStatus, ProviderRef,
    UserId,
};

/// An intent as the provider holds it: where it stands, the charge it made, and the order its metadata names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IntentRecord {
    pub state: IntentState,
    pub charge_id: Option<ProviderRef>,
    pub order: Option<OrderRef>,
}

/// An intent made for an order's total.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreatedIntent {
    pub intent_id: ProviderRef,
    pub client_secret: String,
}

#[derive(Debug, thiserror::Error)]
pub enum PaymentError {
    /// The provider could not be reached, timed out, throttled or failed on its side; worth retrying later.
    #[error("the payment provider is unavailable")]
    Unavailable(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// The provider refused the call (a 4xx other than throttling): retrying the same call will not help.
    #[error("the payment provider refused: {0}")]
    Refused(String),
    /// Our credentials for the provider are missing or unusable (a secret never filled in): nothing is sent and
    /// nothing is verified until an operator sets them; worth retrying later, as for `Unavailable`.
    #[error("payments are not configured: {0}")]
    Misconfigured(String),
}

/// Why a webhook delivery is not accepted.
#[derive(Debug, thiserror::Error)]
pub enum EventError {
    #[error("no signature")]
    Unsigned,
    /// Signed, but by no key we hold, or over another body.
    #[error("the signature does not match")]
    BadSignature,
    /// Signed longer ago than the tolerance (a replay).
    #[error("the signature is too old")]
    Stale,
    #[error("the event cannot be read: {0}")]
    Malformed(String),
    /// The webhook secret could not be loaded.
    #[error(transparent)]
    Unavailable(PaymentError),
}

/// A delivery whose signature holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VerifiedEvent {
    /// About one of our intents.
    Payment(PaymentEvent),
    /// Of a type the storefront does not act on; acknowledged and dropped.
    Ignored { event_id: String, kind: String },
}

#[async_trait]
pub trait PaymentProvider: Send + Sync {
    /// Makes the intent for the order's total, named by the order: asked again for the same order (a retry, a
    /// replayed checkout), the provider answers with the same intent.
    async fn create_intent(&self, order: &Order) -> Result<CreatedIntent, PaymentError>;

    /// Cancels the intent unless it is paid already; answers where it is after the call.
    async fn cancel_intent(&self, intent: &ProviderRef) -> Result<IntentState, PaymentError>;

    /// The intent as the provider holds it now.
    async fn read_intent(&self, intent: &ProviderRef) -> Result<IntentRecord, PaymentError>;

    /// Refunds `amount` of the order's payment, once per order whatever the number of calls.
    async fn refund(&self, order: &OrderId, intent: &ProviderRef, amount: Money) -> Result<ProviderRef, PaymentError>;

    /// Transfers the payout to `destination` (the artisan's connected account), funded from `charge` (the order's
    /// charge: the transfer never waits for the platform's balance), once per payout and destination whatever the
    /// number of calls.
    async fn transfer(
        &self,
        payout: &Payout,
        destination: &ProviderRef,
        charge: &ProviderRef,
    ) -> Result<ProviderRef, PaymentError>;

    /// Takes the payout's transfer back from the artisan's account in full, once whatever the number of calls.
    async fn reverse_transfer(&self, payout: &Payout, transfer: &ProviderRef) -> Result<ProviderRef, PaymentError>;

    /// Checks a webhook delivery's signature (`signature` is the header as received) and reads its event.
    async fn verify_event(
        &self,
        payload: &[u8],
        signature: Option<&str>,
        now: OffsetDateTime,
    ) -> Result<VerifiedEvent, EventError>;
}

/// Payment work, done by the payment worker (the only function holding the provider's key).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum PaymentMessage {
    /// A verified provider event, from the webhook.
    Event(PaymentEvent),
    /// A cancelled order whose payment is still open: cancel its intent or refund it.
    Settle(OrderRef),
    /// A shipped part's share, to transfer.
    Payout { artisan_id: UserId, order_id: OrderId },
    /// The accrued shares of an artisan who just connected an account, a page at a time (the message is sent
    /// again for the next page).
    PayoutsFor { artisan_id: UserId },
}

#[async_trait]
pub trait PaymentQueue: Send + Sync {
    async fn send(&self, message: &PaymentMessage) -> Result<(), QueueError>;
}

/// Why a payout stays in the due list.
#[derive(Debug, thiserror::Error)]
pub enum ParkError {
    /// The artisan connected an account meanwhile: transfer it instead.
    #[error("the artisan has a payout account now")]
    AccountConnected,
    #[error(transparent)]
    Store(#[from] StoreError),
}

#[async_trait]
pub trait PaymentStore: Send + Sync {
    /// Whether a webhook delivery of this event was queued before.
    async fn event_seen(&self, event_id: &ProviderRef) -> Result<bool, StoreError>;

    /// Remembers that the event was queued (for as long as the provider may redeliver it).
    async fn remember_event(&self, event_id: &ProviderRef, now: OffsetDateTime) -> Result<(), StoreError>;

    async fn payout_account(&self, artisan: &UserId) -> Result<Option<PayoutAccount>, StoreError>;

    /// Sets (or replaces) the account the artisan's shares are transferred to. In the same write, every payout
    /// that waited for an account is due ([`PaymentStore::artisans_to_pay`] names the artisan until none waits).
    async fn connect_payout_account(&self, artisan: &UserId, account: &PayoutAccount) -> Result<(), StoreError>;

    async fn get_payout(&self, artisan: &UserId, order: &OrderId) -> Result<Option<Payout>, StoreError>;

    /// The artisan's payouts, newest order first, optionally only those in `status`. A page holds at most
    /// `page.limit`, and may hold fewer (even none) with a `next` when a filter leaves many out: every read is
    /// bounded, whatever the artisan's history.
    async fn list_payouts(
        &self,
        artisan: &UserId,
        status: Option<PayoutStatus>,
        page: &PageRequest,
    ) -> Result<Page<Payout>, StoreError>;

    /// Stores `next` in place of `current` (as read: the same version); `Stale` if it changed meanwhile. Where it
    /// stands decides which list it is in: due (accrued, not parked), parked (its retry says so), or none.
    async fn save_payout(&self, current: &Payout, next: &Payout) -> Result<(), TransitionError>;

    /// Takes an accrued payout out of the due list while its artisan has no account (connecting one makes it due
    /// again); `AccountConnected` if the artisan has one by now.
    async fn await_account(&self, payout: &Payout) -> Result<(), ParkError>;

    /// Payouts due (accrued, not waiting for an account, not parked) since before `before`, oldest first, a page
    /// at a time: the caller reads on from `next`, so work it cannot do now never hides newer work.
    async fn payouts_due(&self, before: OffsetDateTime, page: &PageRequest) -> Result<Page<Payout>, StoreError>;

    /// Artisans who connected an account while payouts of theirs waited for one, a page at a time.
    async fn artisans_to_pay(&self, page: &PageRequest) -> Result<Page<UserId>, StoreError>;

    /// Up to `limit` of the artisan's accrued payouts that wait for an account, oldest first.
    async fn payouts_awaiting_account(&self, artisan: &UserId, limit: usize) -> Result<Vec<Payout>, StoreError>;

    /// Payouts parked for an operator (their retry says why), most recently parked first.
    async fn parked_payouts(&self, page: &PageRequest) -> Result<Page<Payout>, StoreError>;
}
