//! The local router: every route function of the registry, mounted at its API Gateway path and called the way API
//! Gateway invokes its Lambda (`gateway.rs`), beside the local-only endpoints (`endpoints.rs`).

use std::collections::BTreeMap;

use axum::Router;
use axum::routing::{MethodFilter, MethodRouter, get, post};
use storefront::api::{ApiError, Route};
use storefront_registry::FUNCTIONS;

use crate::endpoints::{dev_token, health, metrics, openapi, pay, payment_page, serve_image};
use crate::gateway::{Gateway, invoke, problem};

/// The API routes the local server mounts: those of the Lambda functions (held against template.yaml and
/// openapi.yaml by a test). The local-only endpoints are not among them.
pub fn routes() -> Vec<Route> {
    FUNCTIONS.iter().map(|f| f.route).collect()
}

fn method_filter(method: &str) -> MethodFilter {
    match method {
        "GET" => MethodFilter::GET,
        "POST" => MethodFilter::POST,
        "PUT" => MethodFilter::PUT,
        "PATCH" => MethodFilter::PATCH,
        "DELETE" => MethodFilter::DELETE,
        other => panic!("route method {other} is not supported by the local server"),
    }
}

pub fn router(gateway: Gateway) -> Router {
    let mut paths: BTreeMap<&str, MethodRouter<Gateway>> = BTreeMap::new();
    for function in FUNCTIONS.iter().copied() {
        let methods = paths.remove(function.route.path).unwrap_or_default();
        let methods = methods
            .on(method_filter(function.route.method), move |state, path, req| invoke(function, state, path, req));
        paths.insert(function.route.path, methods);
    }
    let mut router = Router::new();
    for (path, methods) in paths {
        router = router.route(path, methods.fallback(|| async { problem(ApiError::method_not_allowed()) }));
    }
    router
        .route("/dev/token", post(dev_token))
        .route("/dev/pay/{intent_id}", get(payment_page).post(pay))
        .route("/health", get(health))
        .route("/metrics", get(metrics))
        .route("/openapi.json", get(openapi))
        .route("/images/{*path}", get(serve_image))
        .fallback(|| async { problem(ApiError::route_not_found()) })
        .with_state(gateway)
}
