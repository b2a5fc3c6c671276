//! Adapters: the ports implemented on real services (DynamoDB or Postgres, S3, SQS, SES and Secrets Manager through the AWS
//! SDK, Stripe over HTTPS) and the catalog read cache in front of a catalog port. Of the library, only this module and the wiring that builds them
//! (`app`) use the AWS SDK; the Lambda runtime crates are used by the entry points (`lambda`, `worker`) and the
//! HTTP plumbing (`api`). `domain`, `ports` and `services` use neither.

pub mod aws;
pub mod cache;
pub mod dynamodb;
pub mod not_reached;
pub mod notify;
pub mod postgres;
pub mod retention;
pub mod s3;
pub mod sqs;
pub mod stripe;
