//! Payments after checkout: the webhook's events (verified, deduplicated, queued), what the payment worker does
//! with them (an order paid, or cancelled with its stock back), settling cancelled orders (their intent cancelled
//! or their money refunded), the artisans' payouts, and reconciling the store with the provider (the reconciler).
//! Expiring unpaid orders is the sweeper's ([`super::sweeper`]). Every provider call is idempotent and every move conditional, so any
//! of this may run twice, late or out of order.

use serde::Serialize;
use time::{Duration, OffsetDateTime};

use crate::domain::{
    FollowUp, IntentState, Order, OrderId, OrderRef, OrderStatus, PaymentEvent, PaymentOutcome, PaymentStatus, Payout,
    PayoutAccount, PayoutStatus, ProviderRef, Refund, Settlement, UserId,
};
use crate::ports::{
    EventError, PageRequest, ParkError, PaymentMessage, PaymentProvider, PaymentQueue, PaymentStore, TransitionError,
    VerifiedEvent,
};
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
    Queued(ProviderRef),
    /// Queued before (a redelivery): acknowledged, not queued again.
    Duplicate(ProviderRef),
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

/// The payment worker's answer to a provider event: paid (then confirmed by the order worker), or cancelled with
/// the stock back; a late success on a cancelled order is refunded at once. Answers the order as it is now, or
/// `None` for an event that is not about an order of ours (or about another intent than the order's), which
/// changes nothing.
pub async fn apply_event(ports: &PaymentPorts<'_>, event: &PaymentEvent) -> Result<Option<Order>, ServiceError> {
    let Some(order_ref) = &event.order else {
        tracing::info!(event_id = %event.event_id, intent_id = %event.intent_id, "an event about an intent that is not an order's");
        return Ok(None);
    };
    let intent = &event.intent_id;
    let moved = move_order(&ports.order, &order_ref.user_id, &order_ref.order_id, |order, now| match event.outcome {
        PaymentOutcome::Succeeded => order.payment_succeeded(intent, now),
        PaymentOutcome::Ended(end) => order.payment_ended(intent, end, now),
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
            });
            order
        }
        Moved::Already(order) => order,
        Moved::Refused(order, status) => {
            tracing::warn!(event_id = %event.event_id, order_id = %order.order_id, status = status.as_str(), "an event about another intent than the order's");
            return Ok(None);
        }
    };
    announce_paid(&ports.order, &order).await?;
    let order = settle(ports, order_ref).await?;
    Ok(Some(order))
}

/// Brings a cancelled order's payment in line: its intent cancelled at the provider (if it turns out paid, the
/// money goes back), or its money refunded, once. Returns the order as it ends up; settled orders are left alone.
pub async fn settle(ports: &PaymentPorts<'_>, order_ref: &OrderRef) -> Result<Order, ServiceError> {
    let (user, id) = (&order_ref.user_id, &order_ref.order_id);
    // At most: cancel the intent, learn it was paid, refund it.
    for _ in 0..3 {
        let order = super::orders::get(ports.order.orders, user, id).await?;
        let moved = match order.settlement() {
            None => return Ok(order),
            Some(Settlement::CancelIntent(intent)) => match ports.payments.cancel_intent(&intent).await? {
                IntentState::Canceled => {
                    move_order(&ports.order, user, id, |o, now| {
                        o.payment_ended(&intent, crate::domain::PaymentEnd::Canceled, now)
                    })
                    .await?
                }
                IntentState::Succeeded => {
                    let moved = move_order(&ports.order, user, id, |o, now| o.payment_succeeded(&intent, now)).await?;
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

/// What became of one payout.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PayoutOutcome {
    Transferred(Payout),
    /// Paid before (a redelivery).
    AlreadyTransferred(Payout),
    /// The artisan has no account yet: kept as accrued, out of the due list until they connect one.
    Parked(Payout),
    /// No such payout (an order that never shipped this artisan's part).
    Unknown,
}

/// Transfers one payout to the artisan's connected account, exactly once: the provider call is named by the
/// payout (a retry transfers nothing more), and the payout is marked under the condition that it was accrued.
pub async fn pay_out(
    ports: &PaymentPorts<'_>,
    artisan: &UserId,
    order: &OrderId,
) -> Result<PayoutOutcome, ServiceError> {
    for _ in 0..3 {
        let Some(payout) = ports.records.get_payout(artisan, order).await? else {
            tracing::warn!(order_id = %order, "a payout that does not exist");
            return Ok(PayoutOutcome::Unknown);
        };
        if payout.status == PayoutStatus::Transferred {
            return Ok(PayoutOutcome::AlreadyTransferred(payout));
        }
        let Some(account) = ports.records.payout_account(artisan).await? else {
            match ports.records.park_payout(&payout).await {
                Ok(()) => return Ok(PayoutOutcome::Parked(payout)),
                // Connected just now: read the account again and transfer.
                Err(ParkError::AccountConnected) => continue,
                Err(ParkError::Store(error)) => return Err(error.into()),
            }
        };
        let transfer_id = ports.payments.transfer(&payout, &account.account_id).await?;
        let next = payout.transferred(transfer_id, ports.order.clock.now());
        match ports.records.save_payout(&payout, &next).await {
            Ok(()) => {
                metrics::count(Metric::PayoutsTransferred);
                tracing::info!(order_id = %order, amount = payout.amount.amount, "payout transferred");
                return Ok(PayoutOutcome::Transferred(next));
            }
            // Marked by a concurrent delivery (with the same transfer: the call is named by the payout).
            Err(TransitionError::Stale) => continue,
            Err(TransitionError::Store(error)) => return Err(error.into()),
        }
    }
    Err(ServiceError::Busy)
}

/// Every accrued payout of an artisan (they just connected an account); returns how many were transferred.
pub async fn pay_out_all(ports: &PaymentPorts<'_>, artisan: &UserId) -> Result<usize, ServiceError> {
    let mut transferred = 0;
    let mut page = PageRequest { limit: 100, after: None };
    loop {
        let accrued = ports.records.list_payouts(artisan, Some(PayoutStatus::Accrued), &page).await?;
        for payout in &accrued.items {
            if let PayoutOutcome::Transferred(_) = pay_out(ports, artisan, &payout.order_id).await? {
                transferred += 1;
            }
        }
        match accrued.next {
            Some(next) => page.after = Some(next),
            None => return Ok(transferred),
        }
    }
}

/// The artisan names the account their shares go to; what accrued so far is transferred by the payment worker.
/// The message must be queued (else the accrued shares would wait for the next connect): a failure is a 503 and
/// the client's retry (the same account again) is harmless.
pub async fn connect_account(
    records: &dyn PaymentStore,
    queue: &dyn PaymentQueue,
    artisan: &UserId,
    account_id: ProviderRef,
    now: OffsetDateTime,
) -> Result<PayoutAccount, ServiceError> {
    let account = PayoutAccount { account_id, connected_at: now };
    records.connect_payout_account(artisan, &account).await?;
    queue.send(&PaymentMessage::PayoutsFor { artisan_id: artisan.clone() }).await?;
    Ok(account)
}

/// An order whose payment and status disagreed, and what the reconciler did about it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Disagreement {
    pub order_id: OrderId,
    pub order_status: &'static str,
    pub payment_status: &'static str,
    /// What the provider said, when it was asked.
    pub provider: Option<&'static str>,
    pub action: String,
}

/// What one reconciliation found and did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Reconciliation {
    pub checked: usize,
    pub fixed: usize,
    pub disagreements: Vec<Disagreement>,
}

fn intent_word(state: IntentState) -> &'static str {
    match state {
        IntentState::Open => "open",
        IntentState::Processing => "processing",
        IntentState::Succeeded => "succeeded",
        IntentState::Canceled => "canceled",
    }
}

fn payment_word(order: &Order) -> &'static str {
    order.payment.as_ref().map_or("none", |p| p.status.as_str())
}

/// The reconciler: every order and payout whose follow-up is overdue is checked against the provider and fixed
/// where that is safe (all of it is idempotent): orders awaiting payment whose intent succeeded (a lost webhook)
/// are made paid, cancelled orders whose payment is still open are settled, accrued payouts are transferred.
/// What it cannot fix (the provider unreachable) is listed and left for the next run.
pub async fn reconcile(ports: &PaymentPorts<'_>, stuck_after: Duration) -> Result<Reconciliation, ServiceError> {
    let before = ports.order.clock.now() - stuck_after;
    let mut report = Reconciliation::default();
    for unpaid in ports.order.orders.orders_due(FollowUp::Payment, before, 100).await? {
        report.checked += 1;
        let order = super::orders::get(ports.order.orders, &unpaid.user_id, &unpaid.order_id).await?;
        let Some(payment) = order.payment.clone().filter(|p| p.status == PaymentStatus::RequiresPayment) else {
            continue;
        };
        let state = match ports.payments.intent_state(&payment.intent_id).await {
            Ok(state) => state,
            Err(error) => {
                report.disagreements.push(disagreement(&order, None, format!("provider unreachable: {error}")));
                continue;
            }
        };
        if !matches!(state, IntentState::Succeeded | IntentState::Canceled) {
            continue;
        }
        let intent = &payment.intent_id;
        let decide = |o: &Order, now| match state {
            IntentState::Succeeded => o.payment_succeeded(intent, now),
            _ => o.payment_ended(intent, crate::domain::PaymentEnd::Canceled, now),
        };
        let moved = move_order(&ports.order, &unpaid.user_id, &unpaid.order_id, decide).await?;
        if let Moved::Done(after) = &moved {
            report.fixed += 1;
            let action = format!("marked {} (the provider's event was lost)", after.status.as_str());
            report.disagreements.push(disagreement(&order, Some(state), action));
            announce_paid(&ports.order, after).await?;
        }
    }
    for cancelled in ports.order.orders.orders_due(FollowUp::Settlement, before, 100).await? {
        report.checked += 1;
        let order = super::orders::get(ports.order.orders, &cancelled.user_id, &cancelled.order_id).await?;
        match settle(ports, &cancelled).await {
            Ok(after) if after.settlement().is_none() => {
                report.fixed += 1;
                let action = format!("settled: payment {}", payment_word(&after));
                report.disagreements.push(disagreement(&order, None, action));
            }
            Ok(_) | Err(ServiceError::PaymentPending) => {
                report.disagreements.push(disagreement(&order, None, "payment still processing; next run".into()));
            }
            Err(error) => report.disagreements.push(disagreement(&order, None, format!("not settled: {error}"))),
        }
    }
    for (artisan, order_id) in ports.records.payouts_due(before, 100).await? {
        report.checked += 1;
        match pay_out(ports, &artisan, &order_id).await {
            Ok(PayoutOutcome::Transferred(_)) => report.fixed += 1,
            Ok(_) => {}
            Err(error) => tracing::warn!(order_id = %order_id, %error, "payout not transferred; next run"),
        }
    }
    Ok(report)
}

fn disagreement(order: &Order, provider: Option<IntentState>, action: String) -> Disagreement {
    Disagreement {
        order_id: order.order_id.clone(),
        order_status: order.status.as_str(),
        payment_status: payment_word(order),
        provider: provider.map(intent_word),
        action,
    }
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
            pay_out(ports, artisan_id, order_id).await?;
        }
        PaymentMessage::PayoutsFor { artisan_id } => {
            pay_out_all(ports, artisan_id).await?;
        }
    }
    Ok(())
}
