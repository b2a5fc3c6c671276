//! Adapters: the ports implemented on real services. Only this module imports AWS crates.

pub mod aws;
pub mod cache;
pub mod dynamodb;
pub mod notify;
pub mod s3;
pub mod sqs;
