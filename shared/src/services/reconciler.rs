//! The reconciler: what the store owes is compared with the provider and fixed where that is safe (all of it is
//! idempotent): orders awaiting payment whose intent succeeded or was cancelled (a lost webhook), cancelled orders
//! whose payment is still open (settled), payouts owed (transferred), and the payouts of artisans who connected an
//! account (transferred, whatever became of the message that announced it).
//!
//! Each list is read a page at a time, oldest first, until it ends or its share of the run is spent, so work that
//! cannot be done now never hides newer work. A failed settlement or payout records its failure on itself and waits
//! longer before each next try; one the provider refuses, or that failed too often, is parked with its reason for an
//! operator (`storefront-admin parked`) and counted (`FollowUpsParked`, which alarms).

use std::time::{Duration as StdDuration, Instant};

use futures::StreamExt;
use serde::Serialize;
use time::Duration;

use crate::domain::{
    Decision, FollowUp, IntentState, Order, OrderId, OrderRef, PaymentEnd, PaymentStatus, Payout, Retry, retry,
};
use crate::ports::{Due, PageRequest};
use crate::telemetry::metrics::{self, Metric};

use super::ServiceError;
use super::orders::{Moved, move_order};
use super::payments::{PaymentPorts, announce_paid, settle};
use super::payouts::{self, PayoutOutcome, failure_of};

/// Items read per page of a due list.
const PAGE: usize = 100;
/// Settlements and payouts tried at once: one or two provider calls each.
const CONCURRENCY: usize = 8;

/// How long each of the reconciler's four steps may take in one run; template.yaml gives the function more than
/// their sum (`PaymentReconcilerFunction`'s `Timeout`).
#[derive(Debug, Clone, Copy)]
pub struct ReconcileBudget {
    pub per_step: StdDuration,
}

impl ReconcileBudget {
    pub const DEFAULT: ReconcileBudget = ReconcileBudget { per_step: StdDuration::from_secs(25) };
    /// Payments, settlements, payouts, payouts waiting for an account.
    pub const STEPS: u32 = 4;

    /// The longest a run reads for (a step's last page of work may run past it by a provider call).
    pub fn whole_run(self) -> StdDuration {
        self.per_step * Self::STEPS
    }
}

/// An order or payout found wrong, and what the reconciler did about it.
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
    /// Passed over: their next try is not due yet.
    pub waiting: usize,
    /// Failed now, to be tried again later.
    pub failed: usize,
    /// Parked for an operator by this run.
    pub parked: usize,
    /// Lists left for the next run because a step's share of time ran out.
    pub unfinished: Vec<&'static str>,
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

fn disagreement(order: &Order, provider: Option<IntentState>, action: String) -> Disagreement {
    Disagreement {
        order_id: order.order_id.clone(),
        order_status: order.status.as_str(),
        payment_status: payment_word(order),
        provider: provider.map(intent_word),
        action,
    }
}

impl Reconciliation {
    fn count(&mut self, outcomes: Vec<(Outcome, Option<Disagreement>)>) {
        for (outcome, said) in outcomes {
            match outcome {
                Outcome::Checked => {}
                Outcome::Fixed => self.fixed += 1,
                Outcome::Waiting => self.waiting += 1,
                Outcome::Failed => self.failed += 1,
                Outcome::Parked => self.parked += 1,
            }
            if outcome != Outcome::Waiting {
                self.checked += 1;
            }
            self.disagreements.extend(said);
        }
    }
}

/// How one item ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    /// Looked at; nothing to do.
    Checked,
    Fixed,
    /// Its next try is not due.
    Waiting,
    Failed,
    Parked,
}

/// Reads the list `$read` names page by page, `$work` on every item of a page ([`CONCURRENCY`] at once), until the
/// list ends or the step's share of time is spent (then it is reported unfinished, for the next run).
macro_rules! each_page {
    ($report:ident, $budget:ident, $name:literal, |$page:ident| $read:expr, |$item:ident| $work:expr) => {{
        let deadline = Instant::now() + $budget.per_step;
        let mut $page = PageRequest { limit: PAGE, after: None };
        loop {
            if Instant::now() >= deadline {
                $report.unfinished.push($name);
                break;
            }
            let found = $read.await?;
            let outcomes: Vec<(Outcome, Option<Disagreement>)> = futures::stream::iter(found.items)
                .map(|$item| async move { $work.await })
                .buffer_unordered(CONCURRENCY)
                .collect()
                .await;
            $report.count(outcomes);
            match found.next {
                Some(next) => $page.after = Some(next),
                None => break,
            }
        }
    }};
}

pub async fn reconcile(
    ports: &PaymentPorts<'_>,
    stuck_after: Duration,
    budget: ReconcileBudget,
) -> Result<Reconciliation, ServiceError> {
    let before = ports.order.clock.now() - stuck_after;
    let mut report = Reconciliation::default();
    let (orders, records) = (ports.order.orders, ports.records);
    each_page!(report, budget, "payments", |page| orders.orders_due(FollowUp::Payment, before, &page), |due| {
        check_payment(ports, due)
    });
    each_page!(report, budget, "settlements", |page| orders.orders_due(FollowUp::Settlement, before, &page), |due| {
        settle_one(ports, due)
    });
    each_page!(report, budget, "payouts", |page| records.payouts_due(before, &page), |payout| pay_one(ports, payout));
    each_page!(report, budget, "payouts waiting for an account", |page| records.artisans_to_pay(&page), |artisan| {
        pay_waiting(ports, artisan)
    });
    Ok(report)
}

/// An order awaiting payment for a while: asked of the provider, made paid or cancelled if the provider says so (a
/// lost webhook). Left alone while the intent is open: the sweeper expires it after the window.
async fn check_payment(ports: &PaymentPorts<'_>, due: Due) -> (Outcome, Option<Disagreement>) {
    let unpaid = due.order;
    let order = match super::orders::get(ports.order.orders, &unpaid.user_id, &unpaid.order_id).await {
        Ok(order) => order,
        Err(error) => {
            tracing::warn!(order_id = %unpaid.order_id, %error, "an order awaiting payment could not be read");
            return (Outcome::Failed, None);
        }
    };
    let Some(payment) = order.payment.clone().filter(|p| p.status == PaymentStatus::RequiresPayment) else {
        return (Outcome::Checked, None);
    };
    let read = match ports.payments.read_intent(&payment.intent_id).await {
        Ok(read) => read,
        Err(error) => {
            let said = disagreement(&order, None, format!("provider unreachable: {error}"));
            return (Outcome::Failed, Some(said));
        }
    };
    if !matches!(read.state, IntentState::Succeeded | IntentState::Canceled) {
        return (Outcome::Checked, None);
    }
    let intent = &payment.intent_id;
    let decide = |o: &Order, now| match read.state {
        IntentState::Succeeded => o.payment_succeeded(intent, read.charge_id.as_ref(), now),
        _ => o.payment_ended(intent, PaymentEnd::Canceled, now),
    };
    match move_order(&ports.order, &unpaid.user_id, &unpaid.order_id, decide).await {
        Ok(Moved::Done(after)) => {
            let action = format!("marked {} (the provider's event was lost)", after.status.as_str());
            if let Err(error) = announce_paid(&ports.order, &after).await {
                tracing::warn!(order_id = %after.order_id, %error, "paid order not announced; the sweeper re-sends it");
            }
            (Outcome::Fixed, Some(disagreement(&order, Some(read.state), action)))
        }
        Ok(_) => (Outcome::Checked, None),
        Err(error) => (Outcome::Failed, Some(disagreement(&order, Some(read.state), format!("not moved: {error}")))),
    }
}

/// A cancelled order whose payment is still open: settled, or its failure recorded (backed off, or parked).
async fn settle_one(ports: &PaymentPorts<'_>, due: Due) -> (Outcome, Option<Disagreement>) {
    if !retry::is_due(due.retry.as_ref(), ports.order.clock.now()) {
        return (Outcome::Waiting, None);
    }
    let cancelled = due.order;
    match settle(ports, &cancelled).await {
        Ok(after) if after.settlement().is_none() => {
            (Outcome::Fixed, Some(disagreement(&after, None, format!("settled: payment {}", payment_word(&after)))))
        }
        Ok(after) => (Outcome::Checked, Some(disagreement(&after, None, "settlement refused by the order".into()))),
        Err(ServiceError::PaymentPending) => (Outcome::Checked, None),
        Err(error) => match record_settlement_failure(ports, &cancelled, &error).await {
            Ok(Some(order)) if order.parked() => {
                let said = disagreement(&order, None, format!("parked for an operator: {error}"));
                (Outcome::Parked, Some(said))
            }
            Ok(Some(order)) => (Outcome::Failed, Some(disagreement(&order, None, format!("not settled: {error}")))),
            Ok(None) => (Outcome::Checked, None),
            Err(record) => {
                tracing::warn!(order_id = %cancelled.order_id, %error, %record, "settlement failure not recorded");
                (Outcome::Failed, None)
            }
        },
    }
}

/// Records a failed settlement on the order (as a move that changes nothing else, under the same conditions), if it
/// still owes one; answers the order as written.
async fn record_settlement_failure(
    ports: &PaymentPorts<'_>,
    cancelled: &OrderRef,
    error: &ServiceError,
) -> Result<Option<Order>, ServiceError> {
    let failure = failure_of(error);
    let message = error.to_string();
    let decide = |order: &Order, now| {
        if order.settlement().is_none() {
            return Decision::AlreadyDone;
        }
        Decision::Move(order.with_retry(Retry::after(order.retry.as_ref(), failure, &message, now), now))
    };
    match move_order(&ports.order, &cancelled.user_id, &cancelled.order_id, decide).await? {
        Moved::Done(order) => {
            if order.parked() {
                metrics::count(Metric::FollowUpsParked);
                tracing::error!(order_id = %order.order_id, reason = %message, "settlement parked for an operator (storefront-admin parked)");
            }
            Ok(Some(order))
        }
        Moved::Already(_) | Moved::Refused(..) => Ok(None),
    }
}

/// A payout owed: transferred, or its failure recorded (backed off, or parked).
async fn pay_one(ports: &PaymentPorts<'_>, payout: Payout) -> (Outcome, Option<Disagreement>) {
    if !retry::is_due(payout.retry.as_ref(), ports.order.clock.now()) {
        return (Outcome::Waiting, None);
    }
    let (artisan, order) = (&payout.artisan_id, &payout.order_id);
    match payouts::pay_out(ports, artisan, order).await {
        Ok(PayoutOutcome::Transferred(_)) => (Outcome::Fixed, None),
        Ok(_) => (Outcome::Checked, None),
        Err(error) => match payouts::record_failure(ports, artisan, order, &error).await {
            Ok(Some(retry)) if retry.parked => (Outcome::Parked, None),
            Ok(_) => (Outcome::Failed, None),
            Err(record) => {
                tracing::warn!(order_id = %order, %error, %record, "payout failure not recorded");
                (Outcome::Failed, None)
            }
        },
    }
}

/// An artisan who connected an account while payouts waited for one: a page of them transferred.
async fn pay_waiting(ports: &PaymentPorts<'_>, artisan: crate::domain::UserId) -> (Outcome, Option<Disagreement>) {
    match payouts::pay_out_waiting(ports, &artisan).await {
        Ok(page) if page.transferred > 0 => (Outcome::Fixed, None),
        Ok(page) if page.failed > 0 => (Outcome::Failed, None),
        Ok(_) => (Outcome::Checked, None),
        Err(error) => {
            tracing::warn!(artisan_id = %artisan, %error, "waiting payouts not paid; next run");
            (Outcome::Failed, None)
        }
    }
}
