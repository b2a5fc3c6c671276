//! Payments after checkout: the webhook's events (verified, deduplicated, queued), what the payment worker does
//! with them (an order paid, or cancelled with its stock back; a refund or a dispute made at the provider taken to
//! the order and its payouts), and settling cancelled orders (their intent cancelled or their money refunded).
//! Payouts are [`super::payouts`]'s, the reconciler [`super::reconciler`]'s, expiry the sweeper's
//! ([`super::sweeper`]). Every provider call is idempotent and every move conditional, so any of this may run
//! twice, late or out of order.

use time::OffsetDateTime;

use crate::domain::{
    Clawback, DisputeStage, IntentState, Order, OrderRef, OrderStatus, PaymentEnd, PaymentEvent, PaymentOutcome,
    Refund, Settlement,
};
use crate::ports::{EventError, PaymentMessage, PaymentProvider, PaymentQueue, PaymentStore, VerifiedEvent};
use crate::telemetry::metrics::{self, Metric};

use super::ServiceError;
use super::orders::{Moved, OrderPorts, move_order};

/// What payment work needs: moving orders, the provider, and the payment records.
pub struct PaymentPorts<'a> {
    pub order: OrderPorts<'a>,
    pub payments: &'a dyn PaymentProvider,
    pub records: &'a dyn PaymentStore,
}

/// How the webhook took a delivery.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Receipt {
    /// Queued for the payment worker.
    Queued(crate::domain::ProviderRef),
    /// Queued before (a redelivery): acknowledged, not queued again.
    Duplicate(crate::domain::ProviderRef),
    /// A type the storefront does not act on.
    Ignored(String),
}

/// The webhook: the signature checked, the event id deduplicated, the event queued. The event is remembered only
/// after it is queued, so a crash in between means a redelivery queues it again (the worker's moves are
/// idempotent), never that it is lost.
pub async fn receive_event(
    provider: &dyn PaymentProvider,
    records: &dyn PaymentStore,
    queue: &dyn PaymentQueue,
    payload: &[u8],
    signature: Option<&str>,
    now: OffsetDateTime,
) -> Result<Receipt, ServiceError> {
    let verified = provider.verify_event(payload, signature, now).await;
    match &verified {
        Ok(_) | Err(EventError::Malformed(_)) => metrics::count(Metric::WebhooksAccepted),
        Err(EventError::Unsigned | EventError::BadSignature | EventError::Stale) => {
            metrics::count(Metric::WebhookSignaturesRefused);
        }
        Err(EventError::Unavailable(_)) => {}
    }
    let event = match verified {
        Ok(VerifiedEvent::Payment(event)) => event,
        Ok(VerifiedEvent::Ignored { event_id, kind }) => {
            tracing::info!(event_id, kind, "payment event of a type we do not act on");
            return Ok(Receipt::Ignored(kind));
        }
        Err(EventError::Unavailable(error)) => return Err(error.into()),
        Err(error) => return Err(ServiceError::BadEvent(error)),
    };
    let id = event.event_id.clone();
    if records.event_seen(&id).await? {
        return Ok(Receipt::Duplicate(id));
    }
    queue.send(&PaymentMessage::Event(event)).await?;
    if let Err(error) = records.remember_event(&id, now).await {
        tracing::warn!(event_id = %id, %error, "event queued but not remembered; a redelivery queues it again");
    }
    Ok(Receipt::Queued(id))
}

/// Tells the order worker a paid order is ready for confirmation (a duplicate is harmless: confirming is
/// idempotent).
pub(super) async fn announce_paid(ports: &OrderPorts<'_>, order: &Order) -> Result<(), ServiceError> {
    if order.status == OrderStatus::Paid {
        let paid = OrderRef { user_id: order.user_id.clone(), order_id: order.order_id.clone() };
        ports.order_queue.order_paid(&paid).await?;
    }
    Ok(())
}

/// The order an event is about: named by its metadata, or (a charge's event) by its intent's, asked of the provider.
async fn order_of(ports: &PaymentPorts<'_>, event: &PaymentEvent) -> Result<Option<OrderRef>, ServiceError> {
    match (&event.order, event.outcome) {
        (Some(order), _) => Ok(Some(order.clone())),
        (None, PaymentOutcome::Refunded { .. } | PaymentOutcome::Dispute(_)) => {
            Ok(ports.payments.read_intent(&event.intent_id).await?.order)
        }
        (None, _) => Ok(None),
    }
}

/// The payment worker's answer to a provider event: paid (then confirmed by the order worker), or cancelled with
/// the stock back; a late success on a cancelled order is refunded at once; a refund or a dispute made at the
/// provider is recorded, cancels an order nothing of which shipped when the money went back in full, and takes back
/// the order's payouts as far as it must ([`Clawback`]). Answers the order as it is now, or `None` for an event
/// that is not about an order of ours (or about another intent than the order's), which changes nothing.
pub async fn apply_event(ports: &PaymentPorts<'_>, event: &PaymentEvent) -> Result<Option<Order>, ServiceError> {
    let Some(order_ref) = order_of(ports, event).await? else {
        tracing::info!(event_id = %event.event_id, intent_id = %event.intent_id, "an event about an intent that is not an order's");
        return Ok(None);
    };
    let intent = &event.intent_id;
    let charge = event.charge_id.as_ref();
    let moved = move_order(&ports.order, &order_ref.user_id, &order_ref.order_id, |order, now| match event.outcome {
        PaymentOutcome::Succeeded => order.payment_succeeded(intent, charge, now),
        PaymentOutcome::Ended(end) => order.payment_ended(intent, end, now),
        PaymentOutcome::Refunded { total } => order.refunded_at_provider(intent, total, charge.unwrap_or(intent), now),
        PaymentOutcome::Dispute(stage) => order.disputed(intent, stage, now),
    })
    .await;
    let moved = match moved {
        Err(ServiceError::NotFound(_)) => {
            tracing::warn!(event_id = %event.event_id, order_id = %order_ref.order_id, "an event about an unknown order");
            return Ok(None);
        }
        other => other?,
    };
    let order = match moved {
        Moved::Done(order) => {
            metrics::count(match event.outcome {
                PaymentOutcome::Succeeded => Metric::PaymentsSucceeded,
                PaymentOutcome::Ended(_) => Metric::PaymentsFailed,
                PaymentOutcome::Refunded { .. } => Metric::PaymentsRefunded,
                PaymentOutcome::Dispute(DisputeStage::Opened) => Metric::PaymentsDisputed,
                PaymentOutcome::Dispute(_) => Metric::DisputesClosed,
            });
            order
        }
        Moved::Already(order) => order,
        Moved::Refused(order, status) => {
            tracing::warn!(event_id = %event.event_id, order_id = %order.order_id, status = status.as_str(), "an event about another intent than the order's, or a payment never made");
            return Ok(None);
        }
    };
    // Applied again on a redelivery too: a clawback that failed half-way (the provider down) is finished then.
    if let Some(clawback) = Clawback::of(event.outcome, order.total) {
        super::payouts::claw_back(ports, &order, clawback).await?;
    }
    announce_paid(&ports.order, &order).await?;
    let order = settle(ports, &order_ref).await?;
    Ok(Some(order))
}

/// Brings a cancelled order's payment in line: its intent cancelled at the provider (if it turns out paid, the
/// money goes back), or what was not refunded yet refunded, once. Returns the order as it ends up; settled orders
/// are left alone.
pub async fn settle(ports: &PaymentPorts<'_>, order_ref: &OrderRef) -> Result<Order, ServiceError> {
    let (user, id) = (&order_ref.user_id, &order_ref.order_id);
    // At most: cancel the intent, learn it was paid, refund it.
    for _ in 0..3 {
        let order = super::orders::get(ports.order.orders, user, id).await?;
        let moved = match order.settlement() {
            None => return Ok(order),
            Some(Settlement::CancelIntent(intent)) => match ports.payments.cancel_intent(&intent).await? {
                IntentState::Canceled => {
                    move_order(&ports.order, user, id, |o, now| o.payment_ended(&intent, PaymentEnd::Canceled, now))
                        .await?
                }
                IntentState::Succeeded => {
                    let moved =
                        move_order(&ports.order, user, id, |o, now| o.payment_succeeded(&intent, None, now)).await?;
                    if matches!(moved, Moved::Done(_)) {
                        metrics::count(Metric::PaymentsSucceeded);
                    }
                    moved
                }
                IntentState::Open | IntentState::Processing => return Err(ServiceError::PaymentPending),
            },
            Some(Settlement::Refund { intent_id, amount }) => {
                let refund_id = ports.payments.refund(id, &intent_id, amount).await?;
                let at = ports.order.clock.now();
                let refund = Refund { refund_id, amount, at };
                let moved = move_order(&ports.order, user, id, |o, now| o.refunded(refund.clone(), now)).await?;
                if matches!(moved, Moved::Done(_)) {
                    metrics::count(Metric::PaymentsRefunded);
                    tracing::info!(order_id = %id, amount = amount.amount, "payment refunded");
                }
                moved
            }
        };
        if let Moved::Refused(order, status) = moved {
            tracing::warn!(order_id = %order.order_id, status = status.as_str(), "settlement refused by the order");
            return Ok(order);
        }
    }
    super::orders::get(ports.order.orders, user, id).await
}

/// One payment message, as the payment worker handles it.
pub async fn handle(ports: &PaymentPorts<'_>, message: &PaymentMessage) -> Result<(), ServiceError> {
    match message {
        PaymentMessage::Event(event) => {
            apply_event(ports, event).await?;
        }
        PaymentMessage::Settle(order) => {
            settle(ports, order).await?;
        }
        PaymentMessage::Payout { artisan_id, order_id } => {
            super::payouts::pay_out(ports, artisan_id, order_id).await?;
        }
        PaymentMessage::PayoutsFor { artisan_id } => {
            if super::payouts::pay_out_waiting(ports, artisan_id).await?.more {
                // The next page is the next message's: one message never runs past its function's timeout.
                ports.order.payment_queue.send(message).await?;
            }
        }
    }
    Ok(())
}
