//! The web storefront in a real browser (headless Chromium through chromedriver, `storefront_tests::browser`): a
//! shopper browses, signs in, fills a bag, checks out, pays on the test-card page and sees the order confirmed; an
//! artisan signs in, lists a product, uploads a real photo and sees its thumbnail; a shopper is kept out of the
//! workshop. axe-core checks every page on the way (serious or critical violations fail the test), and the main
//! pages are saved to target/screenshots/, or to docs/screenshots/ (the README's) with `make screenshots`.

use std::path::PathBuf;

use serde_json::json;
use storefront_tests::browser::{Browser, axe_source};
use storefront_tests::*;

const WIDTH: u32 = 1280;
const HEIGHT: u32 = 900;

/// Where the pages are saved: the README's own pictures only when asked (`UPDATE_SCREENSHOTS=1`, `make
/// screenshots`), so that a test run leaves the tree as it found it.
fn screenshots() -> PathBuf {
    let dir = match std::env::var_os("UPDATE_SCREENSHOTS") {
        Some(_) => repo_root().join("docs/screenshots"),
        None => repo_root().join("target/screenshots"),
    };
    std::fs::create_dir_all(&dir).expect("the screenshots' folder");
    dir
}

/// The page as it is now passes axe-core (no serious or critical violation); saved as `name` when given.
async fn check(browser: &Browser, axe: &str, page: &str, shot: Option<&str>) {
    let violations = browser.accessibility_violations(axe).await;
    assert!(violations.is_empty(), "{page} ({}): accessibility:\n{}", browser.url().await, violations.join("\n"));
    if let Some(name) = shot {
        let png = browser.full_page_screenshot(WIDTH).await;
        assert!(png.starts_with(b"\x89PNG"), "a PNG");
        std::fs::write(screenshots().join(format!("{name}.png")), png).expect("screenshot saved");
    }
}

/// Signs in through the sign-in page (the local stand-in of Cognito's managed login), back to `next`.
async fn sign_in(browser: &Browser, app: &TestApp, axe: &str, user: &str, artisan: bool, next: &str) {
    browser.goto(&app.url(&format!("/signin?next={next}"))).await;
    browser.wait_for("input[name=user_id]", 10).await;
    check(browser, axe, "the sign-in form", None).await;
    browser.fill("input[name=user_id]", user).await;
    browser.fill("input[name=email]", &format!("{user}@example.com")).await;
    if artisan {
        browser.click("input[value=artisan]").await;
    }
    browser.click("form button[type=submit]").await;
    browser.wait_for_path(next, 10).await;
    browser.wait_for("[data-when=signed-in] a[href='/signout']", 10).await;
}

/// A real photo, as a phone would take it.
fn photo_file() -> tempfile::NamedTempFile {
    let pixels = image::ImageBuffer::from_fn(800, 600, |x, y| {
        let inside = ((x as i64 - 400).pow(2) / 3 + (y as i64 - 330).pow(2)) < 200 * 200;
        if inside { image::Rgb([40 + (y / 6) as u8, 70, 150]) } else { image::Rgb([236, 226, 212 - (y / 10) as u8]) }
    });
    let file = tempfile::Builder::new().suffix(".jpg").tempfile().expect("temp file");
    image::DynamicImage::ImageRgb8(pixels).save_with_format(file.path(), image::ImageFormat::Jpeg).expect("a JPEG");
    file
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_shopper_buys_a_seeded_product_and_sees_the_order_confirmed() {
    let axe = axe_source();
    // The demo shop as `make dev` has it, photos and all.
    let app = spawn_app_with(|o| o.seed_photos = true).await;
    let browser = Browser::start(WIDTH, HEIGHT).await;
    browser.goto(&app.url("/")).await;
    browser.wait_for(".grid .card", 10).await;
    check(&browser, &axe, "home", Some("home")).await;
    browser.goto(&app.url("/c/ceramics")).await;
    check(&browser, &axe, "category", Some("category")).await;
    browser.click(&format!(".card a[href^='/p/{}']", crate::events::ORDERED_PRODUCT)).await;
    browser.wait_for("form[data-add-to-bag] button", 10).await;
    check(&browser, &axe, "product", Some("product")).await;
    let product_path = browser.wait_for_path("/p/", 5).await;
    let stock = app.stock_of(crate::events::ORDERED_PRODUCT).await;

    // Adding to the bag signed out goes through sign-in and back to the product.
    browser.click("form[data-add-to-bag] button").await;
    browser.wait_for("input[name=user_id]", 10).await;
    check(&browser, &axe, "the sign-in form", Some("signin")).await;
    browser.fill("input[name=user_id]", "web-shopper").await;
    browser.fill("input[name=email]", "web-shopper@example.com").await;
    browser.click("form button[type=submit]").await;
    browser.wait_for_path(&product_path, 10).await;
    browser.select("form[data-add-to-bag] select", "2").await;
    browser.click("form[data-add-to-bag] button").await;
    browser.wait_for_text("[data-result]", "Added to your bag", 10).await;

    browser.click("[data-result] a[href='/bag']").await;
    browser.wait_for("#bag table", 10).await;
    check(&browser, &axe, "bag", Some("bag")).await;
    browser.click("#to-checkout").await;
    browser.wait_for("#place-order:not([disabled])", 10).await;
    check(&browser, &axe, "checkout", Some("checkout")).await;
    // A double click places one order (the button is disabled by the first, the Idempotency-Key covers a reload).
    browser.run("const b = document.querySelector('#place-order'); b.click(); b.click();", json!([])).await;

    // Locally the payment is the stand-in's test-card page; paid, it comes back to the order.
    browser.wait_for_path("/dev/pay/", 10).await;
    browser.wait_for("button[value=succeed]", 10).await;
    check(&browser, &axe, "the test-card page", Some("pay")).await;
    browser.click("button[value=succeed]").await;
    let order_path = browser.wait_for_path("/account/orders/", 10).await;
    browser.wait_for_text("#order-status", "confirmed", 15).await;
    check(&browser, &axe, "order", Some("order")).await;
    browser.goto(&app.url("/account/orders")).await;
    browser.wait_for("#orders table", 10).await;
    check(&browser, &axe, "orders", Some("orders")).await;

    let token = app.shopper("web-shopper").await;
    let orders = app.get_as("/orders", &token).await.ok(200)["items"].clone();
    assert_eq!(orders.as_array().map(Vec::len), Some(1), "one order: {orders}");
    assert_eq!(format!("/account/orders/{}", orders[0]["order_id"].as_str().expect("id")), order_path);
    assert_eq!(
        (orders[0]["status"].as_str(), orders[0]["items"][0]["quantity"].as_i64()),
        (Some("confirmed"), Some(2))
    );
    assert_eq!(app.stock_of(crate::events::ORDERED_PRODUCT).await, stock - 2);
    assert_eq!(app.server.outbox.delivered().len(), 1, "the confirmation went out after payment");
    browser.quit().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_artisan_lists_a_product_with_a_photo_and_a_shopper_cannot_open_the_workshop() {
    let axe = axe_source();
    let app = spawn_app().await;
    let browser = Browser::start(WIDTH, HEIGHT).await;

    // A shopper is told the workshop is not theirs.
    sign_in(&browser, &app, &axe, "web-browser-shopper", false, "/sell").await;
    browser.wait_for_text("#products", "This workshop is for artisans", 10).await;
    check(&browser, &axe, "the workshop, as a shopper", None).await;
    browser.goto(&app.url("/signout")).await;
    browser.wait_for_text("main", "signed out", 10).await;

    sign_in(&browser, &app, &axe, "web-ana", true, "/sell").await;
    browser.wait_for_text("#products", "No products yet", 10).await;
    browser.click("a[href='/sell/products/new']").await;
    browser.wait_for("form input[name=title]", 10).await;
    check(&browser, &axe, "new product", Some("sell-new")).await;
    browser.fill("input[name=title]", "Ash-glazed pitcher").await;
    browser.fill("textarea[name=description]", "Wheel-thrown stoneware, one litre.").await;
    browser.select("select[name=category]", "ceramics").await;
    browser.fill("input[name=price]", "64.50").await;
    browser.fill("input[name=stock]", "3").await;
    browser.click("form button[type=submit]").await;
    browser.wait_for_text("#stock-now", "3", 10).await;
    let edit_path = browser.wait_for_path("/sell/products/", 1).await;
    let product_id = edit_path.trim_start_matches("/sell/products/").to_owned();
    assert!(storefront::domain::ProductId::parse(&product_id).is_some(), "the new product's page: {edit_path}");

    // The photo goes straight from the browser to storage (the presigned upload), then the worker makes the
    // variants the page shows.
    let photo = photo_file();
    browser.fill("#photo", &photo.path().display().to_string()).await;
    browser.wait_for("#photos img", 20).await;
    browser.wait_for_text("#upload-status", "Photo added", 10).await;
    let loaded = browser
        .run(
            "const i = document.querySelector('#photos img'); return i.complete && i.naturalWidth > 0 && i.src;",
            json!([]),
        )
        .await;
    assert!(loaded.as_str().is_some_and(|src| src.contains("/images/")), "the thumbnail loads: {loaded}");
    check(&browser, &axe, "edit product", Some("sell-product")).await;

    browser.goto(&app.url("/sell")).await;
    browser.wait_for_text("#products", "Ash-glazed pitcher", 10).await;
    check(&browser, &axe, "workshop", Some("sell")).await;
    browser.goto(&app.url("/sell/orders")).await;
    browser.wait_for_text("#orders", "No orders yet", 10).await;
    check(&browser, &axe, "orders to ship", None).await;
    browser.goto(&app.url("/sell/payouts")).await;
    browser.wait_for_text("#payouts", "Nothing owed yet", 10).await;
    check(&browser, &axe, "payouts", None).await;

    // Shoppers see it, photo and all.
    browser.goto(&app.url(&format!("/p/{product_id}"))).await;
    browser.wait_for(".gallery img", 10).await;
    let product = app.get(&format!("/products/{product_id}")).await.ok(200).clone();
    assert_eq!(
        (product["title"].as_str(), product["price"]["amount"].as_i64()),
        (Some("Ash-glazed pitcher"), Some(6450))
    );
    assert_eq!(product["images"].as_array().map(Vec::len), Some(1));
    browser.quit().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_text_never_breaks_its_page_and_signing_in_never_leaves_the_site() {
    let axe = axe_source();
    let app = spawn_app().await;
    let artisan = app.artisan("ana").await;
    let (title, description) =
        ("Mug <!--<script>", "</script><script>document.body.dataset.owned = 1</script> & <!-- ]]>");
    let body = json!({"title": title, "description": description, "category": "ceramics",
                      "price": {"amount": 2800, "currency": "USD"}, "stock": 2});
    let created = app.send(reqwest::Method::POST, "/products", Some(&artisan), Some(body)).await;
    let id = created.ok(201)["product_id"].as_str().expect("id").to_owned();
    let browser = Browser::start(WIDTH, HEIGHT).await;
    browser.goto(&app.url(&format!("/p/{id}"))).await;
    browser.wait_for("footer", 10).await;
    let seen = browser
        .run(
            "const ld = document.querySelector('script[type=\"application/ld+json\"]'); \
             return { h1: document.querySelector('h1').textContent, ld: JSON.parse(ld.textContent), \
                      owned: document.body.dataset.owned || null, buy: !!document.querySelector('form[data-add-to-bag]'), \
                      footer: document.querySelector('footer').textContent.length > 0 };",
            json!([]),
        )
        .await;
    assert_eq!((seen["h1"].as_str(), seen["ld"]["name"].as_str()), (Some(title), Some(title)), "{seen}");
    assert_eq!(seen["ld"]["description"], description, "the structured data holds the text as typed");
    assert_eq!(
        (seen["owned"].clone(), seen["buy"].clone(), seen["footer"].clone()),
        (json!(null), json!(true), json!(true))
    );
    check(&browser, &axe, "a product with a hostile title", None).await;

    // A `next` that leaves the site, however spelled, lands on the home page after signing in.
    for next in ["//example.invalid/x", "/\\example.invalid/x", "https://example.invalid/x", "javascript:alert(1)"] {
        let encoded: String = url::form_urlencoded::byte_serialize(next.as_bytes()).collect();
        browser.goto(&app.url(&format!("/signin?next={encoded}"))).await;
        browser.wait_for("input[name=user_id]", 10).await;
        browser.fill("input[name=user_id]", "web-wanderer").await;
        browser.click("form button[type=submit]").await;
        browser.wait_for("[data-when=signed-in] a[href='/signout']", 10).await;
        assert_eq!(browser.url().await, app.url("/"), "signed in with next={next}");
        browser.goto(&app.url("/signout")).await;
        browser.wait_for_text("main", "signed out", 10).await;
    }
    browser.quit().await;
}
