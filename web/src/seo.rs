//! For search engines: `robots.txt`, and a sitemap index over the catalog (`/sitemap.xml`), whose parts list the
//! pages of the site and the products, a thousand at a time, from the same listing the pages use.

use std::collections::BTreeSet;
use std::fmt::Write as _;

use storefront::AppState;
use storefront::api::ApiError;
use storefront::domain::category::CATEGORIES;

use crate::layout::Ctx;
use crate::public::{product_path, sitemap_products};

/// Products per sitemap part (the protocol allows 50,000; a thousand keeps each part one query).
const PER_PART: usize = 1000;
/// At most this many parts (a million products) in the index.
const MAX_PARTS: usize = 1000;
const SCOPE: &str = "page:sitemap";

fn escape(url: &str) -> String {
    url.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}

pub fn robots(ctx: &Ctx) -> String {
    format!(
        "User-agent: *\nAllow: /\nDisallow: /bag\nDisallow: /checkout\nDisallow: /account/\nDisallow: /sell\n\
         Disallow: /signin\nDisallow: /signout\nDisallow: /dev/\n\nSitemap: {}\n",
        ctx.absolute("/sitemap.xml")
    )
}

/// The index: the pages part, then one part per thousand products (each part's start sealed in its URL).
pub async fn index(state: &AppState, ctx: &Ctx<'_>) -> Result<String, ApiError> {
    let mut xml = String::from(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<sitemapindex xmlns=\"http://www.sitemaps.org/schemas/sitemap/0.9\">\n",
    );
    let mut part = |loc: String| {
        let _ = writeln!(xml, "  <sitemap><loc>{}</loc></sitemap>", escape(&loc));
    };
    part(ctx.absolute("/sitemap.xml?part=pages"));
    let mut after: Option<String> = None;
    for _ in 0..MAX_PARTS {
        let page = sitemap_products(state, after.clone(), PER_PART).await?;
        if page.items.is_empty() {
            break;
        }
        part(match &after {
            None => ctx.absolute("/sitemap.xml?part=products"),
            Some(position) => {
                ctx.absolute(&format!("/sitemap.xml?part=products&after={}", state.cursors.seal(SCOPE, position)))
            }
        });
        match page.next {
            Some(next) => after = Some(next),
            None => break,
        }
    }
    xml.push_str("</sitemapindex>\n");
    Ok(xml)
}

fn urlset(entries: impl IntoIterator<Item = (String, Option<String>)>) -> String {
    let mut xml = String::from(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<urlset xmlns=\"http://www.sitemaps.org/schemas/sitemap/0.9\">\n",
    );
    for (loc, lastmod) in entries {
        let _ = match lastmod {
            Some(date) => writeln!(xml, "  <url><loc>{}</loc><lastmod>{date}</lastmod></url>", escape(&loc)),
            None => writeln!(xml, "  <url><loc>{}</loc></url>", escape(&loc)),
        };
    }
    xml.push_str("</urlset>\n");
    xml
}

/// The home page and the categories.
pub fn pages(ctx: &Ctx) -> String {
    let paths = std::iter::once("/".to_owned()).chain(CATEGORIES.iter().map(|c| format!("/c/{}", c.slug)));
    urlset(paths.map(|path| (ctx.absolute(&path), None)))
}

/// A thousand products from `after` (a sealed position from the index), with their artisans' pages.
pub async fn products(state: &AppState, ctx: &Ctx<'_>, after: Option<&str>) -> Result<String, ApiError> {
    let after = after.map(|sealed| state.cursors.open(SCOPE, sealed)).transpose()?;
    let page = sitemap_products(state, after, PER_PART).await?;
    let date = |p: &storefront::domain::Product| {
        let d = p.updated_at.date();
        format!("{:04}-{:02}-{:02}", d.year(), u8::from(d.month()), d.day())
    };
    let artisans: BTreeSet<String> = page.items.iter().map(|p| format!("/a/{}", p.artisan_id)).collect();
    let entries = page
        .items
        .iter()
        .map(|p| (ctx.absolute(&product_path(p)), Some(date(p))))
        .chain(artisans.into_iter().map(|path| (ctx.absolute(&path), None)));
    Ok(urlset(entries))
}
