//! `storefront-local`: every route and (later) every worker in one process, on embedded stand-ins reached through
//! the production adapters: an embedded DynamoDB engine (dynoxide on SQLite) served on a loopback port and driven
//! by `aws-sdk-dynamodb`, and a local JWT issuer standing in for Cognito + the API Gateway authorizer.

pub mod engine;
pub mod faults;
pub mod functions;
pub mod gateway;
pub mod iam;
pub mod jwt;
pub mod openapi;
pub mod outbox;
pub mod queue;
pub mod runtime_api;
pub mod s3;
pub mod secrets;
pub mod seed;
pub mod server;
pub mod ses;
pub mod sqs_wire;

pub use server::{LocalServer, Options, StartError, start};
