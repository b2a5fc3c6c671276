//! Business metrics: counters the services bump, read out two ways. A Lambda function prints them after each
//! invocation as one CloudWatch Embedded Metric Format line (CloudWatch turns it into metrics, no API call, no
//! latency); the local server renders them, with per-route request counts and latencies, as Prometheus text.
//!
//! The registry is process-wide: one Lambda execution environment serves one invocation at a time, and the local
//! server is one process, so a counter means "since the last flush" there and "since start" here.

use std::fmt::Write as _;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// CloudWatch namespace of every Storefront metric (the dashboard and alarms in template.yaml read it).
pub const NAMESPACE: &str = "Storefront";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Metric {
    OrdersPlaced,
    /// A checkout refused because a line's stock ran out.
    OutOfStock,
    /// A checkout transaction that lost a race and was tried again.
    ConflictsRetried,
    /// A checkout answered from its idempotency record.
    IdempotentReplays,
    ImagesProcessed,
    ImagesRejected,
    /// A message that failed its last allowed receive: the queue moves it to the dead-letter queue.
    DlqSends,
    /// A public catalog read answered from the in-function cache, or read through it.
    CacheHits,
    CacheMisses,
    /// An order's payment went through (the provider's event, or found paid by the sweeper or the reconciler).
    PaymentsSucceeded,
    /// A payment failed or was cancelled at the provider; the order was cancelled and its stock returned.
    PaymentsFailed,
    /// A cancelled order's payment went back to the shopper.
    PaymentsRefunded,
    /// An artisan's share transferred to their connected account.
    PayoutsTransferred,
    /// An order unpaid after the payment window, cancelled by the sweeper.
    OrdersExpired,
    /// A payment call or webhook refused because the provider's credentials are missing or too short (an alarm).
    PaymentsMisconfigured,
    /// A webhook delivery whose signature held.
    WebhooksAccepted,
    /// A webhook delivery refused for its signature (none, stale, or not ours): a few are noise, a rate is a
    /// misconfigured secret or an attack (an alarm).
    WebhookSignaturesRefused,
    /// A charge disputed by the shopper's bank (its order's unsent payouts held).
    PaymentsDisputed,
    /// A dispute decided, won or lost.
    DisputesClosed,
    /// A payout held, released, cancelled or reversed after a refund or a dispute at the provider.
    PayoutsClawedBack,
    /// A settlement or payout parked for an operator: refused by the provider, or failed too often (an alarm).
    FollowUpsParked,
}

impl Metric {
    pub const ALL: [Metric; 21] = [
        Metric::OrdersPlaced,
        Metric::OutOfStock,
        Metric::ConflictsRetried,
        Metric::IdempotentReplays,
        Metric::ImagesProcessed,
        Metric::ImagesRejected,
        Metric::DlqSends,
        Metric::CacheHits,
        Metric::CacheMisses,
        Metric::PaymentsSucceeded,
        Metric::PaymentsFailed,
        Metric::PaymentsRefunded,
        Metric::PayoutsTransferred,
        Metric::OrdersExpired,
        Metric::PaymentsMisconfigured,
        Metric::WebhooksAccepted,
        Metric::WebhookSignaturesRefused,
        Metric::PaymentsDisputed,
        Metric::DisputesClosed,
        Metric::PayoutsClawedBack,
        Metric::FollowUpsParked,
    ];

    /// The CloudWatch metric name.
    pub fn name(self) -> &'static str {
        match self {
            Metric::OrdersPlaced => "OrdersPlaced",
            Metric::OutOfStock => "OutOfStock",
            Metric::ConflictsRetried => "ConflictsRetried",
            Metric::IdempotentReplays => "IdempotentReplays",
            Metric::ImagesProcessed => "ImagesProcessed",
            Metric::ImagesRejected => "ImagesRejected",
            Metric::DlqSends => "DlqSends",
            Metric::CacheHits => "CacheHits",
            Metric::CacheMisses => "CacheMisses",
            Metric::PaymentsSucceeded => "PaymentsSucceeded",
            Metric::PaymentsFailed => "PaymentsFailed",
            Metric::PaymentsRefunded => "PaymentsRefunded",
            Metric::PayoutsTransferred => "PayoutsTransferred",
            Metric::OrdersExpired => "OrdersExpired",
            Metric::PaymentsMisconfigured => "PaymentsMisconfigured",
            Metric::WebhooksAccepted => "WebhooksAccepted",
            Metric::WebhookSignaturesRefused => "WebhookSignaturesRefused",
            Metric::PaymentsDisputed => "PaymentsDisputed",
            Metric::DisputesClosed => "DisputesClosed",
            Metric::PayoutsClawedBack => "PayoutsClawedBack",
            Metric::FollowUpsParked => "FollowUpsParked",
        }
    }

    /// The Prometheus name: snake case, `_total` for a counter.
    pub fn prometheus_name(self) -> &'static str {
        match self {
            Metric::OrdersPlaced => "storefront_orders_placed_total",
            Metric::OutOfStock => "storefront_out_of_stock_total",
            Metric::ConflictsRetried => "storefront_conflicts_retried_total",
            Metric::IdempotentReplays => "storefront_idempotent_replays_total",
            Metric::ImagesProcessed => "storefront_images_processed_total",
            Metric::ImagesRejected => "storefront_images_rejected_total",
            Metric::DlqSends => "storefront_dlq_sends_total",
            Metric::CacheHits => "storefront_cache_hits_total",
            Metric::CacheMisses => "storefront_cache_misses_total",
            Metric::PaymentsSucceeded => "storefront_payments_succeeded_total",
            Metric::PaymentsFailed => "storefront_payments_failed_total",
            Metric::PaymentsRefunded => "storefront_payments_refunded_total",
            Metric::PayoutsTransferred => "storefront_payouts_transferred_total",
            Metric::OrdersExpired => "storefront_orders_expired_total",
            Metric::PaymentsMisconfigured => "storefront_payments_misconfigured_total",
            Metric::WebhooksAccepted => "storefront_webhooks_accepted_total",
            Metric::WebhookSignaturesRefused => "storefront_webhook_signatures_refused_total",
            Metric::PaymentsDisputed => "storefront_payments_disputed_total",
            Metric::DisputesClosed => "storefront_disputes_closed_total",
            Metric::PayoutsClawedBack => "storefront_payouts_clawed_back_total",
            Metric::FollowUpsParked => "storefront_follow_ups_parked_total",
        }
    }

    fn index(self) -> usize {
        Metric::ALL.iter().position(|m| *m == self).unwrap_or_default()
    }
}

static COUNTERS: [AtomicU64; Metric::ALL.len()] = [const { AtomicU64::new(0) }; Metric::ALL.len()];

/// Adds one to a business counter.
pub fn count(metric: Metric) {
    COUNTERS[metric.index()].fetch_add(1, Ordering::Relaxed);
}

/// The current value of every counter.
pub fn snapshot() -> Vec<(Metric, u64)> {
    Metric::ALL.iter().map(|m| (*m, COUNTERS[m.index()].load(Ordering::Relaxed))).collect()
}

/// Takes the counters (resetting them to zero) for an EMF flush.
fn take() -> Vec<(Metric, u64)> {
    Metric::ALL.iter().map(|m| (*m, COUNTERS[m.index()].swap(0, Ordering::Relaxed))).collect()
}

/// Prints the counters bumped since the last flush as one EMF line on stdout, where CloudWatch Logs picks it up.
/// Nothing is printed when nothing was counted.
pub fn flush_emf(function: &str) {
    if let Some(line) = take_emf(function) {
        println!("{line}");
    }
}

/// The invocation's counts as one EMF line (and the counts reset), or `None` when nothing was counted.
pub fn take_emf(function: &str) -> Option<String> {
    let counts: Vec<(Metric, u64)> = take().into_iter().filter(|(_, n)| *n > 0).collect();
    let timestamp_ms = time::OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000;
    emf_line(function, timestamp_ms as i64, &counts)
}

/// One EMF document: the counts as metrics in [`NAMESPACE`], dimensioned by function.
pub fn emf_line(function: &str, timestamp_ms: i64, counts: &[(Metric, u64)]) -> Option<String> {
    if counts.is_empty() {
        return None;
    }
    let definitions: Vec<serde_json::Value> =
        counts.iter().map(|(m, _)| serde_json::json!({ "Name": m.name(), "Unit": "Count" })).collect();
    let mut document = serde_json::json!({
        "_aws": {
            "Timestamp": timestamp_ms,
            "CloudWatchMetrics": [{ "Namespace": NAMESPACE, "Dimensions": [["Function"]], "Metrics": definitions }],
        },
        "Function": function,
    });
    for (metric, value) in counts {
        document[metric.name()] = serde_json::json!(value);
    }
    Some(document.to_string())
}

/// Upper bounds (seconds) of the request latency histogram buckets.
const LATENCY_BUCKETS: [f64; 10] = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0];

#[derive(Debug, Clone)]
struct RouteStats {
    route: String,
    status: u16,
    count: u64,
    sum_seconds: f64,
    /// Cumulative counts per bucket of `LATENCY_BUCKETS`.
    buckets: [u64; LATENCY_BUCKETS.len()],
}

/// Per-route request counts and latencies, kept by the local server (API Gateway measures them in AWS).
static REQUESTS: Mutex<Vec<RouteStats>> = Mutex::new(Vec::new());

/// Records one answered request.
pub fn observe_request(route: &str, status: u16, latency: Duration) {
    let seconds = latency.as_secs_f64();
    let mut requests = REQUESTS.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    let index = match requests.iter().position(|s| s.route == route && s.status == status) {
        Some(index) => index,
        None => {
            requests.push(RouteStats {
                route: route.to_owned(),
                status,
                count: 0,
                sum_seconds: 0.0,
                buckets: [0; LATENCY_BUCKETS.len()],
            });
            requests.len() - 1
        }
    };
    let stats = &mut requests[index];
    stats.count += 1;
    stats.sum_seconds += seconds;
    for (bucket, bound) in stats.buckets.iter_mut().zip(LATENCY_BUCKETS) {
        if seconds <= bound {
            *bucket += 1;
        }
    }
}

/// Every metric in the Prometheus text exposition format (version 0.0.4).
pub fn prometheus_text() -> String {
    let mut out = String::new();
    for (metric, value) in snapshot() {
        let name = metric.prometheus_name();
        let _ = writeln!(out, "# TYPE {name} counter\n{name} {value}");
    }
    let mut requests = REQUESTS.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).clone();
    requests.sort_by(|a, b| (&a.route, a.status).cmp(&(&b.route, b.status)));
    out.push_str("# TYPE storefront_http_request_duration_seconds histogram\n");
    for stats in &requests {
        let labels = format!("route=\"{}\",status=\"{}\"", escape(&stats.route), stats.status);
        for (count, bound) in stats.buckets.iter().zip(LATENCY_BUCKETS) {
            let _ = writeln!(out, "storefront_http_request_duration_seconds_bucket{{{labels},le=\"{bound}\"}} {count}");
        }
        let _ =
            writeln!(out, "storefront_http_request_duration_seconds_bucket{{{labels},le=\"+Inf\"}} {}", stats.count);
        let _ = writeln!(out, "storefront_http_request_duration_seconds_sum{{{labels}}} {}", stats.sum_seconds);
        let _ = writeln!(out, "storefront_http_request_duration_seconds_count{{{labels}}} {}", stats.count);
    }
    out
}

fn escape(label: &str) -> String {
    label.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_emf_line_declares_each_counted_metric_in_the_namespace_with_its_value() {
        let line = emf_line("place-order", 1_700_000_000_000, &[(Metric::OrdersPlaced, 2), (Metric::OutOfStock, 1)])
            .expect("a line");
        let doc: serde_json::Value = serde_json::from_str(&line).expect("JSON");
        let directive = &doc["_aws"]["CloudWatchMetrics"][0];
        assert_eq!(doc["_aws"]["Timestamp"], 1_700_000_000_000i64);
        assert_eq!(directive["Namespace"], NAMESPACE);
        assert_eq!(directive["Dimensions"], serde_json::json!([["Function"]]));
        let names: Vec<&str> = directive["Metrics"]
            .as_array()
            .expect("metrics")
            .iter()
            .map(|m| m["Name"].as_str().expect("name"))
            .collect();
        assert_eq!(names, ["OrdersPlaced", "OutOfStock"]);
        assert_eq!(doc["Function"], "place-order");
        assert_eq!(doc["OrdersPlaced"], 2);
        assert_eq!(doc["OutOfStock"], 1);
    }

    #[test]
    fn nothing_counted_prints_nothing() {
        assert_eq!(emf_line("get-product", 0, &[]), None);
    }

    #[test]
    fn request_latencies_land_in_cumulative_buckets() {
        observe_request("GET /metrics-test", 200, Duration::from_millis(3));
        observe_request("GET /metrics-test", 200, Duration::from_millis(30));
        let text = prometheus_text();
        let line = |le: &str| {
            let prefix = format!(
                "storefront_http_request_duration_seconds_bucket{{route=\"GET /metrics-test\",status=\"200\",le=\"{le}\"}} "
            );
            text.lines().find_map(|l| l.strip_prefix(&prefix)).map(str::to_owned)
        };
        assert_eq!(line("0.001").as_deref(), Some("0"));
        assert_eq!(line("0.005").as_deref(), Some("1"));
        assert_eq!(line("0.05").as_deref(), Some("2"));
        assert_eq!(line("+Inf").as_deref(), Some("2"));
    }
}
