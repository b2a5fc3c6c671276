//! The local router: every route function of the registry, mounted at its API Gateway path and called the way API
//! Gateway invokes its Lambda (`gateway.rs`), the web pages as the default route, `/images` and `/assets` as
//! CloudFront serves them from S3, and the local-only endpoints (`endpoints.rs`, `signin.rs`).

use std::collections::BTreeMap;

use axum::Router;
use axum::routing::{MethodFilter, MethodRouter, get, post};
use storefront::api::{ApiError, Route};
use storefront_registry::{FUNCTIONS, SITE};

use crate::endpoints::{
    dev_token, health, metrics, openapi, pay, payment_page, serve_asset, serve_image, static_snapshot,
};
use crate::gateway::{Gateway, invoke, problem};
use crate::signin;

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
        .route("/dev/oauth2/authorize", get(signin::authorize_form).post(signin::authorize))
        .route("/dev/oauth2/token", post(signin::token))
        .route("/images/{*path}", get(serve_image))
        .route("/assets/{*path}", get(serve_asset))
        .route("/dev/static/", get(static_snapshot))
        .route("/dev/static/{*path}", get(static_snapshot))
        // Everything else is the HTTP API's default route: the web pages (which answer an unknown API path with
        // problem+json, as the API does).
        .fallback(|state, req| invoke(SITE, state, Ok(axum::extract::Path(Default::default())), req))
        .with_state(gateway)
}
