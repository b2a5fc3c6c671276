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

    async fn intent_state(&self, intent: &ProviderRef) -> Result<IntentState, PaymentError>;

    /// Refunds `amount` of the order's payment, once per order whatever the number of calls.
    async fn refund(&self, order: &OrderId, intent: &ProviderRef, amount: Money) -> Result<ProviderRef, PaymentError>;

    /// Transfers the payout to the artisan's connected account, once per payout whatever the number of calls,
    /// grouped with the order's charge.
    async fn transfer(&self, payout: &Payout, account: &ProviderRef) -> Result<ProviderRef, PaymentError>;

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
    /// Every accrued share of an artisan who just connected an account.
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

    /// Sets (or replaces) the account the artisan's shares are transferred to.
    async fn connect_payout_account(&self, artisan: &UserId, account: &PayoutAccount) -> Result<(), StoreError>;

    async fn get_payout(&self, artisan: &UserId, order: &OrderId) -> Result<Option<Payout>, StoreError>;

    /// The artisan's payouts, newest order first, optionally only those in `status`.
    async fn list_payouts(
        &self,
        artisan: &UserId,
        status: Option<PayoutStatus>,
        page: &PageRequest,
    ) -> Result<Page<Payout>, StoreError>;

    /// Moves a payout from `current` (as read) to `next`; `Stale` if it changed meanwhile.
    async fn save_payout(&self, current: &Payout, next: &Payout) -> Result<(), TransitionError>;

    /// Takes an accrued payout out of the due list while its artisan has no account (connecting one brings them
    /// all back); `AccountConnected` if the artisan has one by now.
    async fn park_payout(&self, payout: &Payout) -> Result<(), ParkError>;

    /// Payouts due (accrued, not parked) since before `before`, oldest first: (artisan, order).
    async fn payouts_due(&self, before: OffsetDateTime, limit: usize) -> Result<Vec<(UserId, OrderId)>, StoreError>;
}
