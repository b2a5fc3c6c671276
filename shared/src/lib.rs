//! Storefront library: everything the Lambda functions and the local server share.
//!
//! Layers, each using only those before it: `domain` (values and every business rule, no I/O) → `ports` (the
//! traits the use cases need, in domain terms) → `services` (use cases: read, let the domain decide, write through
//! ports) → `adapters` (the ports on DynamoDB, S3, SQS, SES, and Stripe with its key from Secrets Manager). Around
//! them: `api` turns HTTP requests into service calls and errors into problem+json (`route!` declares a route
//! function); `worker` does the same for queue messages and schedules; `app` wires adapters into the `AppState`
//! built once per cold start; `lambda` runs a function as a Lambda; `config` and `telemetry` are read and set up
//! once. `imaging` is the pure photo processing the image service uses.

pub mod adapters;
pub mod api;
pub mod app;
pub mod config;
pub mod domain;
pub mod imaging;
pub mod lambda;
pub mod ports;
pub mod services;
pub mod telemetry;
pub mod worker;

pub use app::{AppState, OtherPorts};
