//! The web pages: how fast the local server's release binary renders them beside the same page served as fixed
//! bytes by the same server (`/dev/static/...`, the floor), how much a first visit transfers (HTML, CSS and
//! JavaScript, compressed as CloudFront compresses them; photos apart), and the Largest Contentful Paint Chromium
//! measures for home and product pages, each beside its static copy.

use std::time::Duration;

use storefront_tests::browser::Browser;

use crate::load::{self, Samples};
use crate::process::Process;
use crate::report::{Report, Table, ms, ratio};
use crate::stats::{Summary, millis};

/// Every page's first load within this, photos apart (the issue's budget).
pub const PAGE_BUDGET_BYTES: u64 = 100 * 1024;
/// All JavaScript within this, compressed.
pub const SCRIPT_BUDGET_BYTES: u64 = 30 * 1024;

pub struct WebFigures {
    /// (page, bytes transferred on a first load, compressed, photos apart)
    pub transfer: Vec<(String, u64)>,
    pub script_bytes: u64,
    /// (page, LCP p50 ms rendered, LCP p50 ms static)
    pub lcp: Vec<(String, f64, f64)>,
}

/// `bytes` as gzip -9 compresses them (CloudFront serves gzip or brotli; brotli is smaller still).
fn gzipped(bytes: &[u8]) -> u64 {
    use std::io::Write as _;
    let mut child = std::process::Command::new("gzip")
        .args(["-9", "-c"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("gzip runs");
    let mut stdin = child.stdin.take().expect("stdin");
    let input = bytes.to_vec();
    let writer = std::thread::spawn(move || stdin.write_all(&input));
    let output = child.wait_with_output().expect("gzip output");
    let _ = writer.join();
    output.stdout.len() as u64
}

/// The assets a page links to (`/assets/...` in `href` or `src`).
fn linked_assets(html: &str) -> Vec<String> {
    html.split(['"', '\''])
        .filter(|part| part.starts_with("/assets/"))
        .map(str::to_owned)
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect()
}

async fn body(client: &reqwest::Client, url: &str) -> Vec<u8> {
    let response = client.get(url).header("accept", "text/html").send().await.expect("page");
    assert!(response.status().is_success(), "{url}: {}", response.status());
    response.bytes().await.expect("body").to_vec()
}

pub async fn section(
    local: &Process,
    connections: usize,
    seconds: u64,
    lcp_runs: usize,
    report: &mut Report,
) -> WebFigures {
    let client = reqwest::Client::builder().no_proxy().build().expect("client");
    let product = {
        let page: serde_json::Value = client
            .get(format!("{}/products?limit=1", local.url))
            .send()
            .await
            .expect("list")
            .json()
            .await
            .expect("JSON");
        let id = page["items"][0]["product_id"].as_str().expect("a product").to_owned();
        let response = client.get(format!("{}/p/{id}", local.url)).send().await.expect("product page");
        response.url().path().to_owned()
    };
    let pages = [
        ("home", "/".to_owned()),
        ("category", "/c/ceramics".to_owned()),
        ("product", product.clone()),
        ("bag (shell)", "/bag".to_owned()),
        ("checkout (shell)", "/checkout".to_owned()),
        ("workshop (shell)", "/sell".to_owned()),
    ];

    // What a first visit transfers, compressed.
    let mut transfer = Vec::new();
    let mut script_bytes = 0;
    let mut sizes = Table::new(
        "Web pages: first-load transfer, compressed (gzip -9), photos apart",
        &["page", "HTML", "CSS + JS + icon", "total", "budget"],
        "What a browser with an empty cache downloads for the page itself: the HTML and every asset it links \
         (photos are served by size from /images and not counted). Budget: 100 KB per page, 30 KB of JavaScript.",
    );
    for (name, path) in &pages {
        let html = body(&client, &format!("{}{path}", local.url)).await;
        let html_bytes = gzipped(&html);
        let mut assets_bytes = 0;
        for asset in linked_assets(&String::from_utf8_lossy(&html)) {
            let bytes = body(&client, &format!("{}{asset}", local.url)).await;
            let compressed = gzipped(&bytes);
            if asset.ends_with(".js") {
                script_bytes = script_bytes.max(compressed);
            }
            assets_bytes += compressed;
        }
        let total = html_bytes + assets_bytes;
        sizes.row(vec![
            (*name).to_owned(),
            format!("{:.1} KB", html_bytes as f64 / 1024.0),
            format!("{:.1} KB", assets_bytes as f64 / 1024.0),
            format!("{:.1} KB", total as f64 / 1024.0),
            if total <= PAGE_BUDGET_BYTES { "within".into() } else { "**over**".into() },
        ]);
        transfer.push(((*name).to_owned(), total));
    }
    report.table(sizes);

    // Server time: the rendered page beside the same bytes served fixed, alternating slices.
    let mut throughput_table = Table::new(
        &format!("Web pages: rendered vs the same page as fixed bytes, {connections} connections"),
        &["page", "requests/s", "× static", "p50 ms", "p99 ms", "static p50 ms", "errors"],
        "storefront-local (release), the catalog read through the function's cache as in Lambda; the floor is the \
         page rendered once and then served as bytes by the same server (/dev/static). Alternating slices.",
    );
    for (name, path) in [("home", "/".to_owned()), ("product", product.clone())] {
        let rendered = vec![format!("{}{path}", local.url)];
        let fixed = vec![format!("{}/dev/static{path}", local.url)];
        let (mut live, mut floor) = (Samples::default(), Samples::default());
        let slice = Duration::from_secs(seconds) / 4;
        for _ in 0..4 {
            floor.add(load::run(&fixed, connections, slice).await);
            live.add(load::run(&rendered, connections, slice).await);
        }
        let (l, f) = (live.latency(), floor.latency());
        throughput_table.row(vec![
            name.into(),
            format!("{:.0}", live.per_second()),
            ratio(live.per_second(), floor.per_second()),
            ms(l.p50),
            ms(l.p99),
            ms(f.p50),
            (live.errors + floor.errors).to_string(),
        ]);
    }
    report.table(throughput_table);

    // Largest Contentful Paint in Chromium: a fresh browser (empty cache) per load, the page and its static copy
    // alternately.
    let mut lcp_table = Table::new(
        "Web pages: Largest Contentful Paint in headless Chromium (ms, empty cache)",
        &["page", "LCP p50", "LCP p95", "static copy p50", "× static"],
        "Each load in a new browser with an empty cache, 1280 × 900, on loopback (no network latency): what the \
         page costs beyond the bytes, against the same bytes served fixed.",
    );
    let mut lcp = Vec::new();
    for (name, path) in [("home", "/".to_owned()), ("product", product.clone())] {
        let (mut live, mut floor) = (Vec::new(), Vec::new());
        for _ in 0..lcp_runs {
            for (url, into) in
                [(format!("{}/dev/static{path}", local.url), &mut floor), (format!("{}{path}", local.url), &mut live)]
            {
                let browser = Browser::start(1280, 900).await;
                browser.goto(&url).await;
                let paint = browser.largest_contentful_paint().await;
                browser.quit().await;
                if paint >= 0.0 {
                    into.push(Duration::from_secs_f64(paint / 1000.0));
                }
            }
        }
        let (l, f): (Summary, Summary) = (millis(&live), millis(&floor));
        lcp_table.row(vec![name.into(), ms(l.p50), ms(l.p95), ms(f.p50), ratio(l.p50, f.p50)]);
        lcp.push((name.to_owned(), l.p50, f.p50));
    }
    report.table(lcp_table);
    WebFigures { transfer, script_bytes, lcp }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_assets_a_page_links_are_found_once_each() {
        let html = r#"<link rel="stylesheet" href="/assets/app.1.css"><script src="/assets/app.2.js"></script><a href="/assets/app.1.css">x</a><img src="/images/a.jpg">"#;
        assert_eq!(linked_assets(html), ["/assets/app.1.css", "/assets/app.2.js"]);
    }

    #[test]
    fn compression_is_measured_not_assumed() {
        let repetitive = vec![b'a'; 10_000];
        assert!(gzipped(&repetitive) < 200);
        assert!(gzipped(b"") < 40);
    }
}
