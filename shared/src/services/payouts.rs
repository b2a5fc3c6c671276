//! The artisans' payouts: each shipped part's share transferred to its artisan's connected account exactly once,
//! funded from the order's own charge; shares that wait for an account, paid once one is connected, a page at a
//! time, each on its own; and a refund or a dispute at the provider taken back from them (held, cancelled,
//! reversed) as the domain decides ([`Clawback`]).

use time::OffsetDateTime;

use crate::domain::{
    Clawback, Failure, Order, OrderId, Payout, PayoutAccount, PayoutMove, PayoutStatus, ProviderRef, Retry, UserId,
};
use crate::ports::{ParkError, PaymentError, PaymentMessage, PaymentQueue, PaymentStore, TransitionError};
use crate::telemetry::metrics::{self, Metric};

use super::ServiceError;
use super::payments::PaymentPorts;

/// Payouts waiting for an account that one message (or one reconciler step) transfers: each is a provider call,
/// and the worker's timeout holds this many with room to spare.
pub const WAITING_PAGE: usize = 25;
/// Read-decide-write rounds on one payout before a caller meeting concurrent changes gives up for now.
const ROUNDS: usize = 4;

/// What became of one payout.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PayoutOutcome {
    Transferred(Payout),
    /// Paid before (a redelivery).
    AlreadyTransferred(Payout),
    /// Not owed now: held, cancelled or reversed (a refund or a dispute at the provider).
    NotOwed(Payout),
    /// The artisan has no account yet: kept as accrued, out of the due list until they connect one.
    AwaitingAccount(Payout),
    /// No such payout (an order that never shipped this artisan's part).
    Unknown,
}

/// Transfers one payout to the artisan's connected account, exactly once: the account of the first attempt is
/// recorded before it (so an account changed later never gets a second transfer), the provider call is named by
/// the payout and that account (a retry transfers nothing more), and the payout is marked under the condition that
/// it is still as read. The transfer is funded from the order's charge, so it never waits for the platform's
/// balance.
pub async fn pay_out(
    ports: &PaymentPorts<'_>,
    artisan: &UserId,
    order: &OrderId,
) -> Result<PayoutOutcome, ServiceError> {
    for _ in 0..ROUNDS {
        let Some(payout) = ports.records.get_payout(artisan, order).await? else {
            tracing::warn!(order_id = %order, "a payout that does not exist");
            return Ok(PayoutOutcome::Unknown);
        };
        match payout.status {
            PayoutStatus::Transferred => return Ok(PayoutOutcome::AlreadyTransferred(payout)),
            PayoutStatus::Held | PayoutStatus::Reversed | PayoutStatus::Cancelled => {
                return Ok(PayoutOutcome::NotOwed(payout));
            }
            PayoutStatus::Accrued => {}
        }
        let Some(destination) = payout.destination.clone() else {
            let Some(account) = ports.records.payout_account(artisan).await? else {
                match ports.records.await_account(&payout).await {
                    Ok(()) => return Ok(PayoutOutcome::AwaitingAccount(payout)),
                    // Connected just now: read the account again and transfer.
                    Err(ParkError::AccountConnected) => continue,
                    Err(ParkError::Store(error)) => return Err(error.into()),
                }
            };
            // Recorded before the first attempt, then read back: every attempt from now on goes there.
            let next = payout.sent_to(account.account_id, ports.order.clock.now());
            match ports.records.save_payout(&payout, &next).await {
                Ok(()) | Err(TransitionError::Stale) => continue,
                Err(TransitionError::Store(error)) => return Err(error.into()),
            }
        };
        let charge = source_charge(ports, &payout).await?;
        let transfer_id = ports.payments.transfer(&payout, &destination, &charge).await?;
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

/// The charge that funds the payout: the one its order's payment made, recorded with it, or (a payout from before
/// charges were recorded) found through the order's intent at the provider.
async fn source_charge(ports: &PaymentPorts<'_>, payout: &Payout) -> Result<ProviderRef, ServiceError> {
    if let Some(charge) = &payout.charge_id {
        return Ok(charge.clone());
    }
    let intent = match &payout.intent_id {
        Some(intent) => intent.clone(),
        None => {
            let part = ports.order.orders.get_artisan_order(&payout.artisan_id, &payout.order_id).await?;
            let order = match part {
                Some(part) => ports.order.orders.get_order(&part.user_id, &payout.order_id).await?,
                None => None,
            };
            let payment = order.and_then(|o| o.payment).ok_or_else(|| refused("the payout's order has no payment"))?;
            if let Some(charge) = payment.charge_id {
                return Ok(charge);
            }
            payment.intent_id
        }
    };
    let read = ports.payments.read_intent(&intent).await?;
    read.charge_id.ok_or_else(|| refused("the order's payment made no charge to fund the transfer").into())
}

fn refused(what: &str) -> PaymentError {
    PaymentError::Refused(what.to_owned())
}

/// What one page of waiting payouts came to.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WaitingPage {
    pub transferred: usize,
    /// Failed, recorded on the payout to be tried again later (or parked).
    pub failed: usize,
    /// Whether more payouts wait (this page was full).
    pub more: bool,
}

/// A page of the payouts of `artisan` that waited for an account (they just connected one): each tried on its own,
/// a failure recorded on that payout (which leaves the waiting list for the due list, its next try backed off)
/// and never keeping the others from their transfer.
pub async fn pay_out_waiting(ports: &PaymentPorts<'_>, artisan: &UserId) -> Result<WaitingPage, ServiceError> {
    let waiting = ports.records.payouts_awaiting_account(artisan, WAITING_PAGE).await?;
    let mut page = WaitingPage::default();
    for payout in &waiting {
        match pay_out(ports, artisan, &payout.order_id).await {
            Ok(PayoutOutcome::Transferred(_)) => page.transferred += 1,
            Ok(_) => {}
            Err(error) => {
                page.failed += 1;
                record_failure(ports, artisan, &payout.order_id, &error).await?;
            }
        }
    }
    // Each one tried has left the list (transferred, or due with its failure recorded): asked again, the store
    // says whether more wait, and lets the artisan go from its list when none does.
    page.more = !ports.records.payouts_awaiting_account(artisan, 1).await?.is_empty();
    Ok(page)
}

/// Records a failed transfer on the payout: its next try backed off, or parked for an operator when the provider
/// refused it or it failed too often (counted, logged as an error: an alarm). Answers the retry recorded.
pub async fn record_failure(
    ports: &PaymentPorts<'_>,
    artisan: &UserId,
    order: &OrderId,
    error: &ServiceError,
) -> Result<Option<Retry>, ServiceError> {
    for _ in 0..ROUNDS {
        let Some(payout) = ports.records.get_payout(artisan, order).await? else { return Ok(None) };
        if !payout.is_owed() {
            return Ok(None);
        }
        let now = ports.order.clock.now();
        let retry = Retry::after(payout.retry.as_ref(), failure_of(error), &error.to_string(), now);
        match ports.records.save_payout(&payout, &payout.with_retry(retry.clone(), now)).await {
            Ok(()) => {
                if retry.parked {
                    metrics::count(Metric::FollowUpsParked);
                    tracing::error!(order_id = %order, artisan_id = %artisan, attempts = retry.attempts, reason = %retry.last_error, "payout parked for an operator (storefront-admin parked)");
                }
                return Ok(Some(retry));
            }
            Err(TransitionError::Stale) => continue,
            Err(TransitionError::Store(store)) => return Err(store.into()),
        }
    }
    Err(ServiceError::Busy)
}

/// Whether trying again can help: a refusal by the provider will be refused again.
pub(super) fn failure_of(error: &ServiceError) -> Failure {
    match error {
        ServiceError::Payment(PaymentError::Refused(_)) => Failure::Permanent,
        _ => Failure::Transient,
    }
}

/// Takes the order's payouts back as `clawback` asks: held, released (and sent to the payment worker again),
/// cancelled, or reversed at the provider (named by the payout: reversed once, whatever the number of calls).
pub async fn claw_back(ports: &PaymentPorts<'_>, order: &Order, clawback: Clawback) -> Result<(), ServiceError> {
    for artisan in order.artisans() {
        for round in 0..=ROUNDS {
            if round == ROUNDS {
                return Err(ServiceError::Busy);
            }
            let Some(payout) = ports.records.get_payout(&artisan, &order.order_id).await? else { break };
            let now = ports.order.clock.now();
            let next = match payout.after(clawback, now) {
                None => break,
                Some(PayoutMove::Save(next)) => next,
                Some(PayoutMove::Reverse { transfer_id, reason }) => {
                    let reversal = ports.payments.reverse_transfer(&payout, &transfer_id).await?;
                    payout.reversed(reversal, reason, now)
                }
            };
            match ports.records.save_payout(&payout, &next).await {
                Ok(()) => {
                    metrics::count(Metric::PayoutsClawedBack);
                    tracing::warn!(order_id = %order.order_id, artisan_id = %artisan, from = payout.status.as_str(), to = next.status.as_str(), "payout taken back");
                    if next.is_owed() {
                        let message =
                            PaymentMessage::Payout { artisan_id: artisan.clone(), order_id: order.order_id.clone() };
                        if let Err(error) = ports.order.payment_queue.send(&message).await {
                            tracing::warn!(%error, "released payout not queued; the reconciler pays it");
                        }
                    }
                    break;
                }
                Err(TransitionError::Stale) => continue,
                Err(TransitionError::Store(error)) => return Err(error.into()),
            }
        }
    }
    Ok(())
}

/// The artisan names the account their shares go to: stored, and with it every share that waited for one is due
/// (one write), so nothing depends on the message queued after it (the reconciler finds them whatever the queue
/// holds). The message starts the transfers at once; a failure to queue it is a 503 and the client's retry (the
/// same account again) is harmless.
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
