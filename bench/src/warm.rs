//! Warm overhead: the time a request spends in our code (routing, auth, parsing, domain rules, serialising,
//! logging) beyond its store calls. The handler runs in-process against the local stack; a tracing layer times
//! every AWS SDK operation span (`rpc.system = aws-api`) and the overhead is the handler's wall time minus the
//! union of those spans.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use storefront::AppState;
use storefront::http::Function;
use tracing::span::{Attributes, Id};
use tracing_subscriber::Layer;
use tracing_subscriber::layer::{Context, SubscriberExt};
use tracing_subscriber::registry::LookupSpan;

use crate::stats::{Summary, millis};

/// Store-call intervals of the request being measured.
static STORE_CALLS: Mutex<Vec<(Instant, Instant)>> = Mutex::new(Vec::new());

struct Started(Instant);

struct StoreTimer;

impl<S: tracing::Subscriber + for<'a> LookupSpan<'a>> Layer<S> for StoreTimer {
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        if attrs.metadata().fields().field("rpc.system").is_some()
            && let Some(span) = ctx.span(id)
        {
            span.extensions_mut().insert(Started(Instant::now()));
        }
    }

    fn on_close(&self, id: Id, ctx: Context<'_, S>) {
        if let Some(span) = ctx.span(&id)
            && let Some(Started(at)) = span.extensions().get::<Started>()
        {
            STORE_CALLS.lock().unwrap_or_else(|p| p.into_inner()).push((*at, Instant::now()));
        }
    }
}

/// Installs the timer as the process's only subscriber (no log output: logging is measured as part of the
/// handler by `Function::call`'s own line, which goes nowhere here).
pub fn install() {
    let filter = tracing_subscriber::filter::filter_fn(|m| m.is_span() && m.fields().field("rpc.system").is_some());
    let subscriber = tracing_subscriber::registry().with(StoreTimer.with_filter(filter));
    let _ = tracing::subscriber::set_global_default(subscriber);
}

fn union_length(mut intervals: Vec<(Instant, Instant)>) -> Duration {
    intervals.sort();
    let mut total = Duration::ZERO;
    let mut current: Option<(Instant, Instant)> = None;
    for (start, end) in intervals {
        current = match current {
            Some((s, e)) if start <= e => Some((s, e.max(end))),
            Some((s, e)) => {
                total += e - s;
                Some((start, end))
            }
            None => Some((start, end)),
        };
    }
    total + current.map(|(s, e)| e - s).unwrap_or_default()
}

#[derive(Debug, Clone)]
pub struct WarmResult {
    pub name: String,
    pub total: Summary,
    pub store: Summary,
    pub overhead: Summary,
    pub statuses: Vec<u16>,
}

/// Runs `make_request` through `function` `iterations` times (after a few unmeasured warm-up calls).
pub async fn measure(
    name: &str,
    function: Function,
    state: &AppState,
    iterations: usize,
    make_request: impl Fn(usize) -> lambda_http::Request,
) -> WarmResult {
    for i in 0..20 {
        let _ = function.call(state.clone(), make_request(iterations + i)).await;
    }
    let (mut totals, mut stores, mut overheads, mut statuses) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for i in 0..iterations {
        let request = make_request(i);
        STORE_CALLS.lock().unwrap_or_else(|p| p.into_inner()).clear();
        let started = Instant::now();
        let response = function.call(state.clone(), request).await;
        let total = started.elapsed();
        let calls = std::mem::take(&mut *STORE_CALLS.lock().unwrap_or_else(|p| p.into_inner()));
        let store = union_length(calls);
        totals.push(total);
        stores.push(store);
        overheads.push(total.saturating_sub(store));
        let status = response.status().as_u16();
        if !statuses.contains(&status) {
            statuses.push(status);
        }
    }
    WarmResult {
        name: name.to_owned(),
        total: millis(&totals),
        store: millis(&stores),
        overhead: millis(&overheads),
        statuses,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overlapping_store_calls_count_once() {
        let t = Instant::now();
        let ms = Duration::from_millis;
        let calls = vec![(t, t + ms(10)), (t + ms(5), t + ms(12)), (t + ms(20), t + ms(25))];
        assert_eq!(union_length(calls), ms(17));
    }
}
