//! What stands in a function's state for a connection the function does not declare (`Reach`), so that its binary
//! need not link that connection's SDK client: every call fails and says which port. In debug builds the call
//! panics, and the local server gives each function this view of its state, so the suites catch a function that
//! uses what it did not declare.

use async_trait::async_trait;
use time::OffsetDateTime;

use crate::app::Reach;
use crate::domain::{IntentState, Money, Order, OrderId, OrderRef, Payout, ProviderRef};
use crate::ports::{
    BlobInfo, BlobStore, CreatedIntent, EventError, IntentRecord, Notifier, NotifyError, OrderQueue, PaymentError,
    PaymentMessage, PaymentProvider, PaymentQueue, PresignedUpload, QueueError, StoreError, VerifiedEvent,
};

/// The connections outside a function's reach (what it declared is kept for the message).
#[derive(Debug, Clone, Copy)]
pub struct NotReached(pub Reach);

/// The error every call answers: a wiring mistake, never a condition to retry.
#[derive(Debug, thiserror::Error)]
#[error("{port} is not in this function's reach ({declared}): declare it where the function is defined")]
pub struct OutOfReach {
    pub port: &'static str,
    pub declared: Reach,
}

impl NotReached {
    fn refuse(&self, port: &'static str) -> OutOfReach {
        let error = OutOfReach { port, declared: self.0 };
        // A wiring mistake: debug builds (the suites, `make dev`) stop at it, so that even a best-effort call (a
        // settlement queued after a cancel) fails a test; a deployed function fails the call and says why.
        if cfg!(debug_assertions) {
            panic!("{error}");
        }
        tracing::error!(%error, "a port outside the function's reach was called");
        error
    }
}

#[async_trait]
impl OrderQueue for NotReached {
    async fn order_paid(&self, _: &OrderRef) -> Result<(), QueueError> {
        Err(QueueError(self.refuse("the order queue").into()))
    }
}

#[async_trait]
impl PaymentQueue for NotReached {
    async fn send(&self, _: &PaymentMessage) -> Result<(), QueueError> {
        Err(QueueError(self.refuse("the payment queue").into()))
    }
}

#[async_trait]
impl Notifier for NotReached {
    async fn order_confirmed(&self, _: &Order) -> Result<(), NotifyError> {
        Err(NotifyError(self.refuse("the notifier").into()))
    }
}

#[async_trait]
impl BlobStore for NotReached {
    async fn presign_put(
        &self,
        _: &str,
        _: &str,
        _: std::time::Duration,
        _: OffsetDateTime,
    ) -> Result<PresignedUpload, StoreError> {
        Err(StoreError::unexpected(self.refuse("the blob store")))
    }

    async fn head(&self, _: &str) -> Result<Option<BlobInfo>, StoreError> {
        Err(StoreError::unexpected(self.refuse("the blob store")))
    }

    async fn get(&self, _: &str, _: u64) -> Result<Option<(Vec<u8>, BlobInfo)>, StoreError> {
        Err(StoreError::unexpected(self.refuse("the blob store")))
    }

    async fn put(&self, _: &str, _: Vec<u8>, _: &str, _: &str) -> Result<(), StoreError> {
        Err(StoreError::unexpected(self.refuse("the blob store")))
    }

    async fn delete(&self, _: &str) -> Result<(), StoreError> {
        Err(StoreError::unexpected(self.refuse("the blob store")))
    }

    async fn list(&self, _: &str) -> Result<Vec<String>, StoreError> {
        Err(StoreError::unexpected(self.refuse("the blob store")))
    }
}

/// Answered as the provider being unavailable: the only failure callers of a provider know (a refusal would
/// read as the provider's word on the payment).
#[async_trait]
impl PaymentProvider for NotReached {
    async fn create_intent(&self, _: &Order) -> Result<CreatedIntent, PaymentError> {
        Err(PaymentError::Unavailable(self.refuse("the payment provider").into()))
    }

    async fn cancel_intent(&self, _: &ProviderRef) -> Result<IntentState, PaymentError> {
        Err(PaymentError::Unavailable(self.refuse("the payment provider").into()))
    }

    async fn read_intent(&self, _: &ProviderRef) -> Result<IntentRecord, PaymentError> {
        Err(PaymentError::Unavailable(self.refuse("the payment provider").into()))
    }

    async fn refund(&self, _: &OrderId, _: &ProviderRef, _: Money) -> Result<ProviderRef, PaymentError> {
        Err(PaymentError::Unavailable(self.refuse("the payment provider").into()))
    }

    async fn transfer(&self, _: &Payout, _: &ProviderRef, _: &ProviderRef) -> Result<ProviderRef, PaymentError> {
        Err(PaymentError::Unavailable(self.refuse("the payment provider").into()))
    }

    async fn reverse_transfer(&self, _: &Payout, _: &ProviderRef) -> Result<ProviderRef, PaymentError> {
        Err(PaymentError::Unavailable(self.refuse("the payment provider").into()))
    }

    async fn verify_event(&self, _: &[u8], _: Option<&str>, _: OffsetDateTime) -> Result<VerifiedEvent, EventError> {
        Err(EventError::Unavailable(PaymentError::Unavailable(self.refuse("the payment provider").into())))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::UserId;

    /// The suites run debug builds, where a call out of reach panics: what they would see.
    #[tokio::test]
    #[should_panic(expected = "the payment queue is not in this function's reach (BLOBS | PAYMENTS)")]
    async fn a_call_out_of_reach_names_the_port_and_what_was_declared() {
        let message = PaymentMessage::PayoutsFor { artisan_id: UserId::parse("a1").expect("a user id") };
        let _ = NotReached(Reach::BLOBS.and(Reach::PAYMENTS)).send(&message).await;
    }
}
