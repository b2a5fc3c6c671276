//! Logs and metrics, one place for every binary. In Lambda, `AWS_LAMBDA_LOG_FORMAT=JSON` (set in template.yaml)
//! makes every log line a JSON object CloudWatch can query, and business metrics leave as Embedded Metric Format
//! lines; locally the log lines stay readable and the same metrics are served as Prometheus text.

pub mod metrics;

/// Level from `AWS_LAMBDA_LOG_LEVEL` or `RUST_LOG`, default INFO.
pub fn init() {
    lambda_http::tracing::init_default_subscriber();
}
