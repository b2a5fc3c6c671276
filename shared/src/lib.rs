//! Storefront library: everything the Lambda functions and the local server share.
//!
//! Dependencies point inwards: `domain` (pure rules) ← `services` (use cases) ← `ports` (traits) ← `adapters`
//! (DynamoDB, …). `http` turns requests into service calls and errors into problem+json; `app` wires adapters into
//! the `AppState` built once per cold start; `lambda` runs one route as a Lambda function.

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

pub use app::AppState;
