//! Logging set-up, one place for every binary. In Lambda, `AWS_LAMBDA_LOG_FORMAT=JSON` (set in template.yaml)
//! makes every line a JSON object CloudWatch can query; locally the lines stay readable. Level from
//! `AWS_LAMBDA_LOG_LEVEL` or `RUST_LOG`, default INFO.

pub fn init() {
    lambda_http::tracing::init_default_subscriber();
}
