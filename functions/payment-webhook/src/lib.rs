//! POST /webhooks/payments: the payment provider's events. No JWT: the `Stripe-Signature` header is the only
//! authentication (an HMAC of the raw body under the webhook secret, within 5 minutes); anything unsigned, stale
//! or tampered is a 400. A verified event is deduplicated by its id and queued for the payment worker, and the
//! answer is 200 only once it is queued (the provider redelivers anything else).

use serde_json::json;
use storefront::api::prelude::*;
use storefront::services::payments::{self, Receipt};

storefront::route!(POST "/webhooks/payments", public, handle, reaches: QUEUES, PAYMENTS);

/// Larger than any event the storefront acts on (a few KB), smaller than anything worth reading.
const MAX_EVENT_BYTES: usize = 256 * 1024;

async fn handle(state: AppState, req: Request) -> Result<Response<Body>, ApiError> {
    let payload = body_bytes(&req);
    if payload.len() > MAX_EVENT_BYTES {
        return Err(ApiError::payload_too_large(MAX_EVENT_BYTES));
    }
    let signature = req.headers().get("stripe-signature").and_then(|v| v.to_str().ok());
    let (provider, records, queue) =
        (state.payments.as_ref(), state.payment_records.as_ref(), state.payment_queue.as_ref());
    let receipt = payments::receive_event(provider, records, queue, payload, signature, state.clock.now()).await?;
    let body = match receipt {
        Receipt::Queued(id) => json!({ "received": true, "event_id": id }),
        Receipt::Duplicate(id) => json!({ "received": true, "event_id": id, "duplicate": true }),
        Receipt::Ignored(kind) => json!({ "received": true, "ignored": kind }),
    };
    json(StatusCode::OK, &body)
}
