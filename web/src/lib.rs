//! The web storefront: HTML for people, beside the JSON API on the same origin and at the paths of docs/api.md,
//! "Pages".
//!
//! One function renders every page (`functions/web-pages`, the HTTP API's default route): the public pages
//! (home, category, artisan, product) from the catalog, cacheable at CloudFront; the per-user pages as shells the
//! script fills from the JSON API with the user's token; `sitemap.xml` and `robots.txt`. Why one function and not
//! one per page: docs/architecture.md, "Web".

pub mod assets;
mod layout;
mod public;
mod seo;
mod shells;

use http::{StatusCode, header};
use lambda_http::{Body, Request, RequestExt, Response};
use storefront::AppState;
use storefront::api::ApiError;
use storefront::domain::category::CATEGORIES;
use storefront::domain::{OrderId, ProductId, UserId};

pub use layout::slug;
use layout::{Caching, Ctx, HTML, respond};

/// Every page path, as docs/api.md names them (for the docs and the tests; the function answers whatever the API's
/// other routes do not).
pub const PAGE_PATHS: &[&str] = &[
    "/",
    "/c/{category}",
    "/a/{artisan_id}",
    "/p/{product_id}/{slug}",
    "/bag",
    "/checkout",
    "/account/orders",
    "/account/orders/{order_id}",
    "/sell",
    "/sell/products/new",
    "/sell/products/{product_id}",
    "/sell/orders",
    "/sell/payouts",
    "/signin",
    "/signout",
    "/sitemap.xml",
    "/robots.txt",
];

/// The query parameters pages read: a listing's `cursor`, the sitemap's `part` and `after`. CloudFront keys pages
/// on these alone and forwards no other (template.yaml, `PagesCachePolicy`): `?anything` else is the same page,
/// from the cache.
pub const QUERY_PARAMETERS: &[&str] = &["cursor", "part", "after"];

/// Paths that belong to the JSON API (or the local server's own endpoints): an unknown one there is answered as
/// the API answers, with problem+json, never with an HTML page. Held to the registry's routes by
/// `tests/e2e/routes.rs` (every route under one, every one a route's but the local server's own).
pub const API_PREFIXES: &[&str] = &[
    "/products",
    "/categories",
    "/artisans",
    "/cart",
    "/orders",
    "/artisan/",
    "/webhooks/",
    "/dev/",
    "/images/",
    "/assets/",
];

/// Whether `path` belongs to the JSON API (see [`API_PREFIXES`]).
pub fn is_api_path(path: &str) -> bool {
    API_PREFIXES.iter().any(|prefix| path == prefix.trim_end_matches('/') || path.starts_with(prefix))
}

fn accepts_html(req: &Request) -> bool {
    req.headers().get(header::ACCEPT).and_then(|v| v.to_str().ok()).is_some_and(|accept| accept.contains("text/html"))
}

/// What a page request came to.
enum Outcome {
    Page(maud::Markup, Caching),
    Text(&'static str, String, Caching),
    Redirect(String),
    NotFound,
}

/// The pages function's handler: every GET the API's other routes do not take.
pub async fn handle(state: AppState, req: Request) -> Result<Response<Body>, ApiError> {
    let path = req.uri().path().to_owned();
    if is_api_path(&path) {
        return Err(ApiError::route_not_found());
    }
    if req.method() != http::Method::GET && req.method() != http::Method::HEAD {
        return Err(ApiError::method_not_allowed());
    }
    let ctx = Ctx::new(&state.site, &req);
    let query = req.query_string_parameters();
    let param = |name: &str| {
        debug_assert!(QUERY_PARAMETERS.contains(&name), "{name} is not in the pages' cache key");
        query.first(name)
    };
    let cursor = param("cursor");
    let segments: Vec<&str> = path.trim_matches('/').split('/').filter(|s| !s.is_empty()).collect();
    let outcome = match segments.as_slice() {
        [] => Outcome::Page(public::home(&state, &ctx).await?, Caching::Catalog),
        ["c", slug] => match CATEGORIES.iter().find(|c| c.slug == *slug) {
            Some(info) => Outcome::Page(public::category(&state, &ctx, info, cursor).await?, Caching::Catalog),
            None => Outcome::NotFound,
        },
        ["a", id] => match UserId::parse(id) {
            Some(id) => match public::artisan(&state, &ctx, &id, cursor).await {
                Ok(markup) => Outcome::Page(markup, Caching::Catalog),
                Err(error) if error.status == StatusCode::NOT_FOUND => Outcome::NotFound,
                Err(error) => return Err(error),
            },
            None => Outcome::NotFound,
        },
        ["p", id] | ["p", id, _] => match ProductId::parse(id) {
            Some(id) => match public::product(&state, &ctx, &id).await {
                Ok(public::ProductPage::Found(markup)) => Outcome::Page(markup, Caching::Catalog),
                Ok(public::ProductPage::MovedTo(path)) => Outcome::Redirect(path),
                Err(error) if error.status == StatusCode::NOT_FOUND => Outcome::NotFound,
                Err(error) => return Err(error),
            },
            None => Outcome::NotFound,
        },
        ["bag"] => Outcome::Page(shells::bag(&ctx), Caching::Shell),
        ["checkout"] => Outcome::Page(shells::checkout(&ctx), Caching::Shell),
        ["account", "orders"] => Outcome::Page(shells::orders(&ctx), Caching::Shell),
        ["account", "orders", id] => match OrderId::parse(id) {
            Some(id) => Outcome::Page(shells::order(&ctx, &id), Caching::Shell),
            None => Outcome::NotFound,
        },
        ["sell"] => Outcome::Page(shells::sell(&ctx), Caching::Shell),
        ["sell", "products", "new"] => Outcome::Page(shells::sell_new(&ctx), Caching::Shell),
        ["sell", "products", id] => match ProductId::parse(id) {
            Some(id) => Outcome::Page(shells::sell_edit(&ctx, &id), Caching::Shell),
            None => Outcome::NotFound,
        },
        ["sell", "orders"] => Outcome::Page(shells::sell_orders(&ctx), Caching::Shell),
        ["sell", "payouts"] => Outcome::Page(shells::sell_payouts(&ctx), Caching::Shell),
        ["signin"] => Outcome::Page(shells::signin(&ctx), Caching::Shell),
        ["signout"] => Outcome::Page(shells::signout(&ctx), Caching::Shell),
        ["robots.txt"] => Outcome::Text("text/plain; charset=utf-8", seo::robots(&ctx), Caching::Catalog),
        ["sitemap.xml"] => {
            let xml = match param("part") {
                None => seo::index(&state, &ctx).await?,
                Some("pages") => seo::pages(&ctx),
                Some("products") => seo::products(&state, &ctx, param("after")).await?,
                Some(_) => return Err(ApiError::not_found("sitemap part")),
            };
            Outcome::Text("application/xml; charset=utf-8", xml, Caching::Catalog)
        }
        _ => Outcome::NotFound,
    };
    Ok(match outcome {
        Outcome::Page(markup, caching) => {
            respond(&req, &state.site, StatusCode::OK, HTML, markup.into_string(), caching)
        }
        Outcome::Text(content_type, text, caching) => {
            respond(&req, &state.site, StatusCode::OK, content_type, text, caching)
        }
        Outcome::Redirect(to) => {
            let mut response = Response::new(Body::Empty);
            *response.status_mut() = StatusCode::MOVED_PERMANENTLY;
            if let Ok(location) = http::HeaderValue::from_str(&to) {
                response.headers_mut().insert(header::LOCATION, location);
            }
            response
                .headers_mut()
                .insert(header::CACHE_CONTROL, http::HeaderValue::from_static("public, max-age=3600"));
            response
        }
        // A person's browser gets a page; an API client problem+json, as from every API route.
        Outcome::NotFound if !accepts_html(&req) => return Err(ApiError::route_not_found()),
        Outcome::NotFound => {
            let markup = shells::not_found(&ctx).into_string();
            respond(&req, &state.site, StatusCode::NOT_FOUND, HTML, markup, Caching::None)
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn api_paths_are_never_pages_and_pages_never_api_paths() {
        for api in [
            "/products",
            "/products/X",
            "/categories",
            "/cart",
            "/cart/items/X",
            "/orders",
            "/artisan/orders",
            "/artisans/ana",
            "/webhooks/payments",
            "/dev/token",
            "/images/a.jpg",
            "/assets/app.css",
        ] {
            assert!(is_api_path(api), "{api}");
        }
        for page in PAGE_PATHS {
            assert!(!is_api_path(page), "{page}");
        }
        assert!(!is_api_path("/a/ana") && !is_api_path("/p/X/slug") && !is_api_path("/sell/orders"));
    }
}
