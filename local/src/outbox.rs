//! The local stand-in for SES: confirmations go to the log and are kept in memory, and a delivery can be made
//! to fail (as an SES outage would) to exercise the worker's retry.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU32, Ordering};

use async_trait::async_trait;
use storefront::adapters::notify::confirmation_text;
use storefront::domain::{Order, OrderId};
use storefront::ports::{Notifier, NotifyError};

#[derive(Default)]
pub struct LocalOutbox {
    sent: Mutex<Vec<OrderId>>,
    fail_next: AtomicU32,
}

impl LocalOutbox {
    /// The orders whose confirmation was delivered, in delivery order.
    pub fn delivered(&self) -> Vec<OrderId> {
        self.sent.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    pub fn fail_next_deliveries(&self, count: u32) {
        self.fail_next.store(count, Ordering::SeqCst);
    }
}

#[async_trait]
impl Notifier for LocalOutbox {
    async fn order_confirmed(&self, order: &Order) -> Result<(), NotifyError> {
        if self.fail_next.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1)).is_ok() {
            return Err(NotifyError("the local outbox refused the delivery (injected fault)".into()));
        }
        let (subject, body) = confirmation_text(order);
        tracing::info!(order_id = %order.order_id, to = order.contact_email.as_deref().unwrap_or("(no email claim)"), %subject, "confirmation email\n{body}");
        self.sent.lock().unwrap_or_else(|p| p.into_inner()).push(order.order_id.clone());
        Ok(())
    }
}
