//! The web pages over HTTP (what a crawler and CloudFront see; tests/e2e/browser.rs drives them in Chromium):
//! caching and validators, security headers, the product page's structured data and canonical URL, the sitemap
//! and robots.txt, 404s that suit who asked, and the assets.

use reqwest::Method;
use storefront_tests::*;

const PRODUCT: &str = crate::events::ORDERED_PRODUCT;

async fn page(app: &TestApp, path: &str) -> reqwest::Response {
    app.client.get(app.url(path)).header("accept", "text/html").send().await.expect("page")
}

fn header<'a>(response: &'a reqwest::Response, name: &str) -> &'a str {
    response.headers().get(name).and_then(|v| v.to_str().ok()).unwrap_or_default()
}

/// The content of `<meta property=…>` or `<link rel=…>` named `name` in `html`.
fn attribute_after<'a>(html: &'a str, marker: &str, attribute: &str) -> Option<&'a str> {
    let at = html.find(marker)?;
    let tag_end = html[at..].find('>')? + at;
    let tag_start = html[..at].rfind('<')?;
    let tag = &html[tag_start..tag_end];
    let value_at = tag.find(&format!("{attribute}=\""))? + attribute.len() + 2;
    tag[value_at..].split('"').next()
}

#[tokio::test]
async fn a_product_page_is_cacheable_crawlable_and_canonical() {
    let app = spawn_app().await;
    // Without its slug (or with an old one), the page moves to its canonical address for good.
    let moved = app
        .client
        .get(app.url(&format!("/p/{PRODUCT}/old-name")))
        .header("accept", "text/html")
        .send()
        .await
        .expect("sent");
    assert_eq!(moved.url().path(), format!("/p/{PRODUCT}/celadon-tea-bowl"), "followed the 301");
    let no_redirects =
        reqwest::Client::builder().no_proxy().redirect(reqwest::redirect::Policy::none()).build().expect("client");
    let first = no_redirects.get(app.url(&format!("/p/{PRODUCT}"))).send().await.expect("sent");
    assert_eq!(first.status(), 301);
    assert_eq!(header(&first, "location"), format!("/p/{PRODUCT}/celadon-tea-bowl"));

    let response = page(&app, &format!("/p/{PRODUCT}/celadon-tea-bowl")).await;
    assert_eq!(response.status(), 200);
    assert_eq!(header(&response, "content-type"), "text/html; charset=utf-8");
    let cache = header(&response, "cache-control");
    assert!(
        cache.contains("s-maxage=") && cache.contains("stale-while-revalidate=") && cache.contains("public"),
        "{cache}"
    );
    let etag = header(&response, "etag").to_owned();
    assert!(etag.starts_with('"'), "{etag}");
    let policy = header(&response, "content-security-policy").to_owned();
    assert!(
        policy.contains("script-src 'self' https://js.stripe.com") && policy.contains("frame-ancestors 'none'"),
        "{policy}"
    );
    assert_eq!(header(&response, "x-content-type-options"), "nosniff");
    let html = response.text().await.expect("html");
    let canonical = attribute_after(&html, "rel=\"canonical\"", "href").expect("a canonical link");
    assert_eq!(canonical, app.url(&format!("/p/{PRODUCT}/celadon-tea-bowl")));
    assert_eq!(attribute_after(&html, "property=\"og:type\"", "content"), Some("product"));
    assert!(attribute_after(&html, "name=\"description\"", "content").is_some_and(|d| !d.is_empty()));
    let json_ld = html
        .split("<script type=\"application/ld+json\">")
        .nth(1)
        .and_then(|rest| rest.split("</script>").next())
        .expect("JSON-LD");
    let product: serde_json::Value = serde_json::from_str(json_ld).expect("valid JSON-LD");
    let api = app.get(&format!("/products/{PRODUCT}")).await.ok(200).clone();
    assert_eq!(product["@type"], "Product");
    assert_eq!(product["name"], api["title"]);
    let amount = api["price"]["amount"].as_i64().expect("price");
    assert_eq!(product["offers"]["price"], format!("{}.{:02}", amount / 100, amount % 100));
    assert_eq!(
        (product["offers"]["priceCurrency"].as_str(), product["offers"]["availability"].as_str()),
        (Some("USD"), Some("https://schema.org/InStock"))
    );
    // The same page again, revalidated: 304, no body.
    let again = app
        .client
        .get(app.url(&format!("/p/{PRODUCT}/celadon-tea-bowl")))
        .header("if-none-match", &etag)
        .send()
        .await
        .expect("sent");
    assert_eq!(again.status(), 304);
    assert!(again.bytes().await.expect("body").is_empty());
    // Sold out shows as such, on the page and in the offer.
    let ana = app.artisan("ana").await;
    let sold_out = app.create_product(&ana, "Last bowl", "ceramics", 4000, 1).await;
    let id = sold_out["product_id"].as_str().expect("id");
    let stock = format!("/products/{id}/stock");
    app.send(Method::POST, &stock, Some(&ana), Some(json!({"delta": -1}))).await.ok(200);
    let html = page(&app, &format!("/p/{id}/last-bowl")).await.text().await.expect("html");
    assert!(html.contains("Sold out") && html.contains("https://schema.org/OutOfStock"), "{html}");
    assert!(!html.contains("data-add-to-bag"), "nothing to add");
}

#[tokio::test]
async fn shells_hold_no_ones_data_and_unknown_pages_suit_who_asked() {
    let app = spawn_app().await;
    for path in ["/bag", "/checkout", "/account/orders", "/sell", "/sell/products/new", "/signin"] {
        let response = page(&app, path).await;
        assert_eq!(response.status(), 200, "{path}");
        assert_eq!(header(&response, "cache-control"), "public, max-age=300, s-maxage=3600", "{path}");
        let html = response.text().await.expect("html");
        assert!(html.contains("name=\"robots\" content=\"noindex\""), "{path}");
        assert!(html.contains("data-page="), "{path}: the script knows the page");
    }
    // An order's shell names the order (from the path), nothing more.
    let order = "01KDVDQ4K00000000001FET0C1";
    let html = page(&app, &format!("/account/orders/{order}")).await.text().await.expect("html");
    assert!(html.contains(&format!("data-order=\"{order}\"")));
    let missing = page(&app, "/no/such/page").await;
    assert_eq!((missing.status().as_u16(), header(&missing, "content-type")), (404, "text/html; charset=utf-8"));
    app.get("/no/such/page").await.problem(404, "not-found");
    app.get("/account/orders/not-an-id").await.problem(404, "not-found");
    let unknown_product = page(&app, "/p/01HZZZZZZZZZZZZZZZZZZZZZZZ").await;
    assert_eq!(unknown_product.status(), 404);
    app.send(Method::POST, "/bag", None, None).await.problem(405, "method-not-allowed");
    let head = app.client.head(app.url("/")).send().await.expect("sent");
    assert_eq!(head.status(), 200);
    assert!(head.bytes().await.expect("body").is_empty());
}

#[tokio::test]
async fn the_sitemap_lists_every_product_and_robots_points_at_it() {
    let app = spawn_app().await;
    let robots = app.client.get(app.url("/robots.txt")).send().await.expect("robots").text().await.expect("text");
    assert!(robots.contains(&format!("Sitemap: {}", app.url("/sitemap.xml"))), "{robots}");
    assert!(robots.contains("Disallow: /checkout") && robots.contains("Disallow: /sell"));
    let index = app.client.get(app.url("/sitemap.xml")).send().await.expect("index");
    assert_eq!(header(&index, "content-type"), "application/xml; charset=utf-8");
    let index = index.text().await.expect("xml");
    assert!(index.contains("<sitemapindex") && index.contains("part=pages"), "{index}");
    let parts: Vec<String> = index
        .split("<loc>")
        .skip(1)
        .filter_map(|rest| rest.split("</loc>").next())
        .map(|loc| loc.replace("&amp;", "&"))
        .filter(|loc| loc.contains("part=products"))
        .collect();
    assert!(!parts.is_empty());
    // The edge keys pages on the parameters they read alone: every part's URL uses only those, and any other
    // parameter is ignored (the same index).
    for part in &parts {
        let url = reqwest::Url::parse(part).expect("a URL");
        for (name, _) in url.query_pairs() {
            assert!(storefront_web::QUERY_PARAMETERS.contains(&name.as_ref()), "{part}: {name} is not in the key");
        }
    }
    let with_junk = app.client.get(app.url("/sitemap.xml?utm_source=x&part2=products")).send().await.expect("index");
    assert_eq!(with_junk.text().await.expect("xml"), index);
    let mut listed = std::collections::BTreeSet::new();
    for part in parts {
        let xml = app.client.get(&part).send().await.expect("part").text().await.expect("xml");
        for loc in xml.split("<loc>").skip(1).filter_map(|rest| rest.split("</loc>").next()) {
            if let Some(id) = loc.split("/p/").nth(1).and_then(|rest| rest.split('/').next()) {
                listed.insert(id.to_owned());
            }
        }
    }
    let every: std::collections::BTreeSet<String> = app
        .list_all("/products?limit=100")
        .await
        .iter()
        .map(|p| p["product_id"].as_str().expect("id").to_owned())
        .collect();
    assert_eq!(listed, every, "every listed product, once");
    let pages =
        app.client.get(app.url("/sitemap.xml?part=pages")).send().await.expect("pages").text().await.expect("xml");
    assert!(pages.contains(&format!("<loc>{}</loc>", app.url("/c/ceramics"))));
    app.get("/sitemap.xml?part=products&after=forged").await.problem(400, "bad-request");
}

#[tokio::test]
async fn assets_are_content_hashed_immutable_and_the_static_floor_serves_a_page_as_is() {
    let app = spawn_app().await;
    let html = page(&app, "/").await.text().await.expect("html");
    let stylesheet = attribute_after(&html, "rel=\"stylesheet\"", "href").expect("a stylesheet").to_owned();
    assert!(
        stylesheet.starts_with("/assets/app.")
            && stylesheet.ends_with(".css")
            && stylesheet.len() > "/assets/app.css".len()
    );
    let css = app.client.get(app.url(&stylesheet)).send().await.expect("css");
    assert_eq!((css.status().as_u16(), header(&css, "cache-control")), (200, "public, max-age=31536000, immutable"));
    assert_eq!(header(&css, "content-type"), "text/css; charset=utf-8");
    app.get("/assets/app.css").await.problem(404, "not-found");
    // The bench's floor: the page rendered once, then the same bytes every time.
    let live = page(&app, &format!("/p/{PRODUCT}/celadon-tea-bowl")).await.text().await.expect("html");
    let fixed =
        app.client.get(app.url(&format!("/dev/static/p/{PRODUCT}/celadon-tea-bowl"))).send().await.expect("static");
    assert_eq!(fixed.text().await.expect("html"), live);
    assert_eq!(app.client.get(app.url("/dev/static/")).send().await.expect("home").status(), 200);
}

#[tokio::test]
async fn every_page_path_the_router_lists_is_a_page_it_serves() {
    let app = spawn_app().await;
    // A real value for each parameter: a category, a seeded artisan and product, any well-formed order id (the
    // order pages are shells that read the order in the browser).
    let value = |name: &str| match name {
        "{category}" => "ceramics".to_owned(),
        "{artisan_id}" => "marta-clay".to_owned(),
        "{product_id}" => PRODUCT.to_owned(),
        "{order_id}" => storefront::domain::OrderId::from_parts(1, 1).to_string(),
        "{slug}" => "celadon-tea-bowl".to_owned(),
        other => other.to_owned(),
    };
    for template in storefront_web::PAGE_PATHS {
        let path: Vec<String> = template.split('/').map(value).collect();
        let path = path.join("/");
        let response = page(&app, &path).await;
        let status = response.status().as_u16();
        let content_type = header(&response, "content-type").to_owned();
        assert_eq!(status, 200, "{template} ({path}) is served: {}", response.text().await.unwrap_or_default());
        assert!(!content_type.contains("problem+json"), "{template} is a page, not the API's: {content_type}");
    }
}
