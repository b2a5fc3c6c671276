//! `storefront-local`: every function of the registry in one process, on stand-ins reached through the production
//! adapters over the AWS wire protocols (`stack`): DynamoDB (dynoxide on SQLite), S3 (s3s-fs), SQS-like queues
//! feeding the workers, SES and Secrets Manager for function processes; the payment provider (`payments`: Stripe's
//! calls, signed webhooks); a local JWT issuer standing in for Cognito and the API
//! Gateway authorizer (`jwt`, `gateway`); the router and local-only endpoints (`router`, `endpoints`); the Lambda
//! Runtime API that runs the real function binaries (`runtime_api`); the fault and IAM-recording proxies
//! (`faults`, `iam`).

pub mod endpoints;
pub mod engine;
pub mod faults;
pub mod gateway;
pub mod iam;
pub mod jwt;
pub mod openapi;
pub mod options;
pub mod outbox;
pub mod payments;
pub mod queue;
pub mod router;
pub mod runtime_api;
pub mod s3;
pub mod secrets;
pub mod secrets_manager;
pub mod seed;
pub mod server;
pub mod ses;
pub mod signin;
pub mod sqs_wire;
pub mod stack;

pub use options::{LocalShard, LocalStore, Options, ShardTuning, StartError};
pub use server::{LocalServer, start};
pub use stack::{LAMBDA_CONFIRMATION_SENDER, MEDIA_BUCKET, TABLE_NAME};
