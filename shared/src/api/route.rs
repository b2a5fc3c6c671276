//! A route and its handler, defined once and called by the Lambda runtime, the local server and the tests.
//! `Function::call` is the boundary: it enforces the route's access rule and its reach, runs the handler, turns
//! errors into problem+json, and writes the one log line per request.

use std::future::Future;
use std::pin::Pin;
use std::time::Instant;

use http::{HeaderValue, header};
use lambda_http::request::RequestContext;
use lambda_http::{Body, Request, RequestExt, Response};
use sha2::{Digest, Sha256};

use super::auth::{Caller, caller_from_claims};
use super::{ApiError, Role};
use crate::AppState;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// No token needed (catalog reads).
    Public,
    /// A valid token whose groups grant the role.
    Role(Role),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Route {
    pub method: &'static str,
    /// API Gateway syntax: `/products/{product_id}`.
    pub path: &'static str,
    /// The function crate and binary name; its SAM logical id is its PascalCase + `Function`.
    pub function: &'static str,
    pub access: Access,
}

/// The path of an HTTP API's default route: it takes every request no other route matches (the web pages).
pub const DEFAULT_ROUTE: &str = "$default";

impl Route {
    /// `GET /products/{product_id}`, the API Gateway route key; `$default` for the default route.
    pub fn key(&self) -> String {
        if self.path == DEFAULT_ROUTE { DEFAULT_ROUTE.to_owned() } else { format!("{} {}", self.method, self.path) }
    }
}

/// Declares the crate's route function as `pub const FUNCTION`: the method and path as API Gateway names them, who
/// may call it (`public`, `shopper` or `artisan`), its handler, an `async fn(AppState, Request)`, and, when it
/// needs more than its store, what else it reaches (`reaches: QUEUES, PAYMENTS`, the [`Reach`] constants): its
/// init builds nothing else; and when a request calls the store several times at once, what it does (`store:
/// Listing` or `store: ReadBesideWrite`, a [`StoreWork`], before `reaches:`; one call at a time unless declared):
/// the store adapter knows what that takes (on DynamoDB, a cold start opens a connection per call early). The
/// function is named after its crate, which is also its binary and, in PascalCase, its SAM logical id.
///
/// `storefront::route!(GET "/products/{product_id}", public, handle);`
/// `storefront::route!(POST "/things", shopper, handle, reaches: PAYMENTS);`
/// `storefront::route!(GET "/products", public, handle, store: Listing);`
/// `storefront::route!(POST "/orders", shopper, handle, store: ReadBesideWrite, reaches: PAYMENTS);`
///
/// [`Reach`]: crate::app::Reach
/// [`StoreWork`]: crate::ports::StoreWork
#[macro_export]
macro_rules! route {
    ($method:ident $path:literal, $access:ident, $handler:path $(, store: $work:ident)?
     $(, reaches: $($reach:ident),+)?) => {
        pub const FUNCTION: $crate::api::Function = $crate::api::Function {
            route: $crate::api::Route {
                method: stringify!($method),
                path: $path,
                function: env!("CARGO_PKG_NAME"),
                access: $crate::route!(@access $access),
            },
            handler: |state, req| Box::pin($handler(state, req)),
            reach: $crate::reach!($($($reach),+)?),
            build: $crate::app::AppState::for_function::<{ $crate::reach!($($($reach),+)?).bits() }>,
            store_work: $crate::route!(@store $($work)?),
        };
    };
    (@store) => {
        $crate::ports::StoreWork::OneCall
    };
    (@store $work:ident) => {
        $crate::ports::StoreWork::$work
    };
    (@access public) => {
        $crate::api::Access::Public
    };
    (@access shopper) => {
        $crate::api::Access::Role($crate::api::Role::Shopper)
    };
    (@access artisan) => {
        $crate::api::Access::Role($crate::api::Role::Artisan)
    };
}

pub type HandlerFuture = Pin<Box<dyn Future<Output = Result<Response<Body>, ApiError>> + Send>>;
pub type Handler = fn(AppState, Request) -> HandlerFuture;

#[derive(Clone, Copy)]
pub struct Function {
    pub route: Route,
    pub handler: Handler,
    /// What it reaches besides its store.
    pub reach: crate::app::Reach,
    /// Its init's state, for that reach.
    pub build: crate::app::Build,
    /// What a request asks of the store at once (and so what a cold start prepares for its first one).
    pub store_work: crate::ports::StoreWork,
}

impl Function {
    pub async fn call(&self, state: AppState, mut req: Request) -> Response<Body> {
        let started = Instant::now();
        let state = state.reaching(self.reach);
        let caller = caller_from_claims(&req);
        let user_hash = caller.as_ref().map(|c| short_hash(c.user_id.as_str()));
        let request_id = request_id(&req);
        let outcome = match authorize(self.route.access, caller) {
            Ok(Some(caller)) => {
                req.extensions_mut().insert(caller);
                (self.handler)(state, req).await
            }
            Ok(None) => (self.handler)(state, req).await,
            Err(error) => Err(error),
        };
        let mut response = match outcome {
            Ok(response) => response,
            Err(error) => {
                if error.status.is_server_error() {
                    tracing::error!(route = %self.route.key(), request_id, problem = error.kind, cause = %error.cause_chain(), "request failed");
                }
                error.into_response()
            }
        };
        if !response.headers().contains_key(header::CACHE_CONTROL) {
            response.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        }
        let latency = started.elapsed();
        crate::telemetry::metrics::observe_request(&self.route.key(), response.status().as_u16(), latency);
        tracing::info!(
            route = %self.route.key(),
            request_id,
            status = response.status().as_u16(),
            latency_us = latency.as_micros() as u64,
            user = user_hash.as_deref().unwrap_or("-"),
            "request"
        );
        response
    }
}

fn authorize(access: Access, caller: Option<Caller>) -> Result<Option<Caller>, ApiError> {
    match access {
        Access::Public => Ok(caller),
        Access::Role(role) => {
            let caller = caller.ok_or_else(|| ApiError::unauthorized("a valid bearer token is required"))?;
            if caller.has(role) {
                Ok(Some(caller))
            } else {
                Err(ApiError::forbidden(format!("this route needs the {} role", role.group())))
            }
        }
    }
}

fn request_id(req: &Request) -> String {
    match req.request_context_ref() {
        Some(RequestContext::ApiGatewayV2(context)) => context.request_id.clone().unwrap_or_default(),
        _ => String::new(),
    }
}

/// Logs identify users by a short hash, never by id.
pub fn short_hash(value: &str) -> String {
    Sha256::digest(value.as_bytes()).iter().take(6).map(|b| format!("{b:02x}")).collect()
}
