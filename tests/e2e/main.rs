//! End-to-end suites against `storefront-local` and the handlers, in one test binary.

mod artisan_products;
mod auth;
mod bad_input;
mod browser;
mod cart;
mod catalog;
mod conformance;
mod events;
mod faults;
mod grants;
mod images;
mod invocations;
mod on_postgres;
mod operations;
mod orders;
mod payments;
mod persistence;
mod races;
mod recovery;
mod retries;
mod routes;
mod sharding;
mod template;
mod unpaid;
mod web;
mod webhook;
