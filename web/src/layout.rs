//! The page chrome every page shares, the per-request context, and the HTML responses (their caching, validators and
//! security headers).

use http::{HeaderValue, StatusCode, header};
use lambda_http::{Body, Request, Response};
use maud::{DOCTYPE, Markup, PreEscaped, html};
use sha2::{Digest, Sha256};
use storefront::config::SiteConfig;
use storefront::domain::category::CATEGORIES;

use crate::assets;

/// What a page is rendered for: the public origin (canonical URLs) and the site's settings.
pub struct Ctx<'a> {
    pub origin: String,
    pub path: String,
    pub site: &'a SiteConfig,
}

impl<'a> Ctx<'a> {
    /// `SITE_URL` when set (a custom domain); else the viewer's host as CloudFront passes it (`X-Forwarded-Host`,
    /// set by the distribution: the `Host` the function sees is API Gateway's), over HTTPS; else the request's own
    /// host (the local server).
    pub fn new(site: &'a SiteConfig, req: &Request) -> Self {
        let header_value = |name: &str| req.headers().get(name).and_then(|v| v.to_str().ok()).map(str::to_owned);
        let forwarded = header_value("x-forwarded-host").filter(|h| is_host(h)).map(|host| format!("https://{host}"));
        let origin = site.url.clone().or(forwarded).unwrap_or_else(|| {
            let host = header_value(header::HOST.as_str()).filter(|h| is_host(h)).unwrap_or_else(|| "localhost".into());
            format!("http://{host}")
        });
        Self { origin, path: req.uri().path().to_owned(), site }
    }

    pub fn absolute(&self, path: &str) -> String {
        format!("{}{path}", self.origin)
    }

    /// The settings the script reads (a `<meta>`, so the page needs no inline script): where to sign in, whether
    /// to pay with Stripe.
    fn script_config(&self) -> String {
        let sign_in = &self.site.sign_in;
        serde_json::json!({
            "signin": {
                "base": sign_in.base_url,
                "client_id": sign_in.client_id,
                // Cognito's managed login has a logout endpoint to end its session; the local stand-in keeps none.
                "logout": sign_in.base_url.starts_with("https://"),
            },
            "stripe_key": self.site.stripe_publishable_key,
        })
        .to_string()
    }
}

/// A host name with an optional port, nothing that could break out of a URL.
fn is_host(raw: &str) -> bool {
    !raw.is_empty()
        && raw.len() <= 253
        && raw.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | ':'))
}

/// A page's head: what search engines and link previews read.
#[derive(Default)]
pub struct Meta {
    pub title: String,
    pub description: String,
    /// The canonical path (made absolute); pages that must not be indexed have none.
    pub canonical: Option<String>,
    /// An image for link previews (absolute).
    pub image: Option<String>,
    /// `og:type` (`website`, `product`).
    pub kind: &'static str,
    /// A JSON-LD document (`Product`), serialised.
    pub json_ld: Option<String>,
}

/// What the script needs from `<main>`: which page it is, and the id it is about.
#[derive(Default)]
pub struct Main {
    pub page: Option<&'static str>,
    pub order: Option<String>,
    pub product: Option<String>,
}

/// JSON inside a `<script>` element, inert there: `<`, `>` and `&` written as JSON's `\u003c`, `\u003e` and
/// `\u0026` (they can only stand inside strings, so the value is the same), so neither `</script`, nor `<!--`
/// (which makes the parser look for a `-->` and can swallow the rest of the page), nor anything else can end or
/// change the element, whatever a product's title or description holds.
pub fn script_safe(json: &str) -> String {
    let mut safe = String::with_capacity(json.len());
    for c in json.chars() {
        match c {
            '<' => safe.push_str("\\u003c"),
            '>' => safe.push_str("\\u003e"),
            '&' => safe.push_str("\\u0026"),
            c => safe.push(c),
        }
    }
    safe
}

pub fn page(ctx: &Ctx, meta: &Meta, main: &Main, content: Markup) -> Markup {
    let title = format!("{} · Storefront", meta.title);
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) }
                meta name="description" content=(meta.description);
                @if let Some(canonical) = &meta.canonical {
                    link rel="canonical" href=(ctx.absolute(canonical));
                    meta property="og:url" content=(ctx.absolute(canonical));
                } @else {
                    meta name="robots" content="noindex";
                }
                meta property="og:site_name" content="Storefront";
                meta property="og:title" content=(meta.title);
                meta property="og:description" content=(meta.description);
                meta property="og:type" content=(if meta.kind.is_empty() { "website" } else { meta.kind });
                @if let Some(image) = &meta.image { meta property="og:image" content=(image); }
                link rel="icon" type="image/svg+xml" href=(assets::url("favicon.svg"));
                link rel="stylesheet" href=(assets::url("app.css"));
                meta name="storefront" content=(ctx.script_config());
                script type="module" src=(assets::url("app.js")) {}
                @if let Some(json_ld) = &meta.json_ld {
                    script type="application/ld+json" { (PreEscaped(script_safe(json_ld))) }
                }
            }
            body {
                a.skip href="#main" { "Skip to content" }
                header.top {
                    div.bar {
                        a.brand href="/" { "Storefront" }
                        nav aria-label="Account" {
                            ul {
                                li { a href="/bag" aria-current=[(ctx.path == "/bag").then_some("page")] { "Bag" } }
                                li data-when="signed-in" { a href="/account/orders" { "Orders" } }
                                li data-when="artisan" class="hidden" { a href="/sell" { "Workshop" } }
                                li data-when="signed-out" { a href="/signin" { "Sign in" } }
                                li data-when="signed-in" class="hidden" { a href="/signout" { "Sign out " span #who {} } }
                            }
                        }
                    }
                    nav.cats aria-label="Categories" {
                        @for category in CATEGORIES {
                            @let href = format!("/c/{}", category.slug);
                            a href=(href) aria-current=[(ctx.path == href).then_some("page")] { (category.name) }
                        }
                    }
                }
                main #main data-page=[main.page] data-order=[main.order.as_deref()] data-product=[main.product.as_deref()] {
                    (content)
                }
                footer { p { "Storefront · handmade goods, straight from the people who make them." } }
            }
        }
    }
}

/// How long a page may be kept, and by whom.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Caching {
    /// A public page of the catalog: browsers a minute, CloudFront five, and a stale copy served for ten more
    /// while it is refreshed.
    Catalog,
    /// A per-user page's shell: the same for everyone (the script fills it), so it may be kept an hour at the edge.
    Shell,
    /// Never kept (errors that may clear).
    None,
}

impl Caching {
    fn header(self) -> &'static str {
        match self {
            Caching::Catalog => "public, max-age=60, s-maxage=300, stale-while-revalidate=600",
            Caching::Shell => "public, max-age=300, s-maxage=3600",
            Caching::None => "no-store",
        }
    }
}

/// Policy for every page: scripts only from here and Stripe, no framing, forms only to here and the sign-in.
fn content_security_policy(site: &SiteConfig) -> String {
    let sign_in = if site.sign_in.base_url.starts_with("https://") { site.sign_in.base_url.as_str() } else { "" };
    format!(
        "default-src 'self'; img-src 'self' data: https:; style-src 'self'; script-src 'self' https://js.stripe.com; \
         frame-src https://js.stripe.com https://hooks.stripe.com; \
         connect-src 'self' https://api.stripe.com {storage} {sign_in}; form-action 'self' {sign_in}; \
         frame-ancestors 'none'; base-uri 'self'",
        storage = site.storage_origin,
    )
}

/// A response of `body` with its type, caching, an ETag over the bytes (answering `If-None-Match` with 304) and the
/// security headers.
pub fn respond(
    req: &Request,
    site: &SiteConfig,
    status: StatusCode,
    content_type: &'static str,
    body: String,
    caching: Caching,
) -> Response<Body> {
    let tag = format!(
        "\"{}\"",
        Sha256::digest(body.as_bytes()).iter().take(10).map(|b| format!("{b:02x}")).collect::<String>()
    );
    let unchanged = status == StatusCode::OK
        && req
            .headers()
            .get(header::IF_NONE_MATCH)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.split(',').any(|candidate| candidate.trim().trim_start_matches("W/") == tag));
    let head = req.method() == http::Method::HEAD;
    let mut response = if unchanged || head { Response::new(Body::Empty) } else { Response::new(Body::Text(body)) };
    *response.status_mut() = if unchanged { StatusCode::NOT_MODIFIED } else { status };
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static(caching.header()));
    if let Ok(tag) = HeaderValue::from_str(&tag) {
        headers.insert(header::ETAG, tag);
    }
    if let Ok(policy) = HeaderValue::from_str(&content_security_policy(site)) {
        headers.insert(header::CONTENT_SECURITY_POLICY, policy);
    }
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("strict-origin-when-cross-origin"));
    response
}

pub const HTML: &str = "text/html; charset=utf-8";

/// `title` as a URL segment: lower case ASCII letters and digits joined by `-`, at most 60 characters.
pub fn slug(title: &str) -> String {
    let mut slug = String::new();
    for c in title.chars().flat_map(char::to_lowercase) {
        if c.is_ascii_alphanumeric() {
            slug.push(c);
        } else if !slug.is_empty() && !slug.ends_with('-') {
            slug.push('-');
        }
        if slug.len() >= 60 {
            break;
        }
    }
    slug.trim_end_matches('-').to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slugs_are_plain_short_and_stable() {
        assert_eq!(slug("Speckled stoneware mug"), "speckled-stoneware-mug");
        assert_eq!(slug("Porcelain espresso cups (pair)"), "porcelain-espresso-cups-pair");
        assert_eq!(slug("  Café — Crème!  "), "caf-cr-me");
        assert_eq!(slug("!!!"), "");
        assert!(slug(&"word ".repeat(40)).len() <= 60);
    }

    #[test]
    fn json_in_a_script_cannot_close_it_open_a_comment_or_change_its_value() {
        for hostile in ["</script><script>alert(1)</script>", "Mug <!--<script>", "a & b > c", "--> ]]> <![CDATA["] {
            let json = serde_json::json!({"name": hostile, "nested": [hostile]}).to_string();
            let safe = script_safe(&json);
            assert!(!safe.contains(['<', '>', '&']), "{safe}");
            let back: serde_json::Value = serde_json::from_str(&safe).expect("still JSON");
            assert_eq!((back["name"].as_str(), back["nested"][0].as_str()), (Some(hostile), Some(hostile)));
        }
    }
}
