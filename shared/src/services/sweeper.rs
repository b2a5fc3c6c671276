//! The order sweeper's work: orders unpaid after the payment window are expired (their intent cancelled first; a
//! payment that won the race makes them paid instead), and paid orders not confirmed after a while are sent to the
//! order worker again. Expiry keeps up with any backlog: it takes the due orders a page at a time, several at once
//! (within the provider's rate limit), until none is left or its share of the run is spent; what is left is the
//! next run's. Each later step has a share of its own, so a backlog of one never starves the others.

use std::time::{Duration as StdDuration, Instant};

use futures::StreamExt;
use serde::Serialize;
use time::Duration;

use crate::domain::{FollowUp, OrderRef, OrderStatus};
use crate::ports::PageRequest;
use crate::telemetry::metrics::{self, Metric};

use super::ServiceError;
use super::orders::{Moved, move_order};
use super::payments::{PaymentPorts, announce_paid};

/// Orders read per page of the due list.
const PAGE: usize = 100;
/// Orders expired at once: each makes one provider call (cancelling its intent), so this many at ~0.1-0.3 s each
/// stays well within Stripe's 100 write operations a second (a 429 is retried once, then the order expires with
/// its intent left for the reconciler).
pub const EXPIRY_CONCURRENCY: usize = 8;

/// How long each step of one run may take: expiry gets most of it; re-sending confirmations what it needs.
/// template.yaml gives the function more than their sum (`OrderSweeperFunction`'s `Timeout`).
#[derive(Debug, Clone, Copy)]
pub struct SweepBudget {
    pub expiry: StdDuration,
}

impl SweepBudget {
    /// The deployed function's: it runs for at most 120 s.
    pub const DEFAULT: SweepBudget = SweepBudget { expiry: StdDuration::from_secs(80) };
}

/// What one sweep did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Sweep {
    /// Unpaid past the window: cancelled, stock returned.
    pub expired: usize,
    /// Found paid when asked to cancel (the payment beat the expiry): kept, sent to confirmation.
    pub paid_late: usize,
    /// Due orders that could not be moved this run (the store failing): the next run takes them again.
    pub failed: usize,
    /// Whether due orders were left for the next run because this one's share of time ran out.
    pub backlog_left: bool,
    /// Paid orders whose confirmation was sent again (their message was lost).
    pub resent: usize,
}

/// How one due order ended.
enum Expiry {
    Expired,
    PaidLate,
    /// Moved meanwhile by someone else (paid, cancelled): nothing to do.
    Gone,
    Failed,
}

/// The sweeper: expiry, then confirmations re-sent, each within its share of `budget`.
pub async fn sweep(
    ports: &PaymentPorts<'_>,
    window: Duration,
    stuck_after: Duration,
    budget: SweepBudget,
) -> Result<Sweep, ServiceError> {
    let mut report = Sweep::default();
    expire_due(ports, window, Instant::now() + budget.expiry, &mut report).await?;
    let now = ports.order.clock.now();
    let page = PageRequest { limit: PAGE, after: None };
    for paid in ports.order.orders.orders_due(FollowUp::Confirmation, now - stuck_after, &page).await?.items {
        match ports.order.order_queue.order_paid(&paid.order).await {
            Ok(()) => report.resent += 1,
            Err(error) => {
                tracing::warn!(order_id = %paid.order.order_id, %error, "re-send failed; the next sweep retries")
            }
        }
    }
    Ok(report)
}

/// Expires every order unpaid for longer than `window`, a page at a time, [`EXPIRY_CONCURRENCY`] at once, until
/// the list ends or `deadline` passes. An order that fails stays due for the next run (the pages read on past it).
async fn expire_due(
    ports: &PaymentPorts<'_>,
    window: Duration,
    deadline: Instant,
    report: &mut Sweep,
) -> Result<(), ServiceError> {
    let before = ports.order.clock.now() - window;
    let mut page = PageRequest { limit: PAGE, after: None };
    loop {
        if Instant::now() >= deadline {
            report.backlog_left = true;
            return Ok(());
        }
        let due = ports.order.orders.orders_due(FollowUp::Payment, before, &page).await?;
        let ends: Vec<Expiry> = futures::stream::iter(due.items)
            .map(|unpaid| async move { expire(ports, &unpaid.order).await })
            .buffer_unordered(EXPIRY_CONCURRENCY)
            .collect()
            .await;
        for end in ends {
            match end {
                Expiry::Expired => report.expired += 1,
                Expiry::PaidLate => report.paid_late += 1,
                Expiry::Gone => {}
                Expiry::Failed => report.failed += 1,
            }
        }
        match due.next {
            Some(next) => page.after = Some(next),
            None => return Ok(()),
        }
    }
}

/// One order unpaid past the window: its intent cancelled at the provider first, then the order expired (or made
/// paid, if the provider says the payment won).
async fn expire(ports: &PaymentPorts<'_>, unpaid: &OrderRef) -> Expiry {
    match try_expire(ports, unpaid).await {
        Ok(end) => end,
        Err(error) => {
            tracing::warn!(order_id = %unpaid.order_id, %error, "unpaid order not expired; the next sweep retries");
            Expiry::Failed
        }
    }
}

async fn try_expire(ports: &PaymentPorts<'_>, unpaid: &OrderRef) -> Result<Expiry, ServiceError> {
    let (user, id) = (&unpaid.user_id, &unpaid.order_id);
    let order = super::orders::get(ports.order.orders, user, id).await?;
    if order.status != OrderStatus::AwaitingPayment {
        return Ok(Expiry::Gone);
    }
    let intent = match &order.payment {
        None => None,
        Some(payment) => match ports.payments.cancel_intent(&payment.intent_id).await {
            Ok(state) => Some(state),
            Err(error) => {
                // Expire anyway: the stock must come back; a payment landing later is refunded.
                tracing::warn!(order_id = %id, %error, "could not cancel the intent; expiring the order regardless");
                None
            }
        },
    };
    let order = match move_order(&ports.order, user, id, |o, now| o.expire(intent, now)).await? {
        Moved::Done(order) => order,
        Moved::Already(_) | Moved::Refused(..) => return Ok(Expiry::Gone),
    };
    if order.status == OrderStatus::Paid {
        metrics::count(Metric::PaymentsSucceeded);
        announce_paid(&ports.order, &order).await?;
        Ok(Expiry::PaidLate)
    } else {
        // An intent the provider could not cancel just now is settled by the reconciler (cancelled, or refunded
        // if it gets paid meanwhile).
        metrics::count(Metric::OrdersExpired);
        Ok(Expiry::Expired)
    }
}
