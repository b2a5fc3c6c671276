//! Product photos: presigned upload → S3 stand-in → notification → image worker → variants on the product →
//! served like CloudFront. Bad uploads are refused with a reason and leave nothing behind.

use std::io::Cursor;
use std::time::Duration;

use image::{DynamicImage, ImageBuffer, ImageFormat, Rgb};
use reqwest::Method;
use storefront_tests::*;

fn picture(width: u32, height: u32, format: ImageFormat) -> Vec<u8> {
    let pixels = ImageBuffer::from_fn(width, height, |x, y| Rgb([(x * 7 % 256) as u8, (y * 5 % 256) as u8, 90]));
    let mut bytes = Vec::new();
    DynamicImage::ImageRgb8(pixels).write_to(&mut Cursor::new(&mut bytes), format).expect("encodes");
    bytes
}

struct Ticket {
    url: String,
    headers: Vec<(String, String)>,
}

async fn ticket(app: &TestApp, token: &str, product: &str, content_type: &str) -> Ticket {
    let path = format!("/products/{product}/images");
    let response = app.send(Method::POST, &path, Some(token), Some(json!({"content_type": content_type}))).await;
    let body = response.ok(201);
    assert_eq!(body["method"], "PUT");
    assert!(body["expires_at"].is_string() && body["upload_id"].is_string());
    let headers = body["headers"]
        .as_object()
        .expect("headers")
        .iter()
        .map(|(k, v)| (k.clone(), v.as_str().expect("header value").to_owned()))
        .collect();
    Ticket { url: body["upload_url"].as_str().expect("url").to_owned(), headers }
}

async fn upload(app: &TestApp, ticket: &Ticket, bytes: Vec<u8>) -> u16 {
    let mut request = app.client.put(&ticket.url).body(bytes);
    for (name, value) in &ticket.headers {
        request = request.header(name, value);
    }
    request.send().await.expect("PUT sent").status().as_u16()
}

async fn product_now(app: &TestApp, id: &str) -> serde_json::Value {
    app.get(&format!("/products/{id}")).await.ok(200).clone()
}

/// The product as its artisan sees it (`GET /artisan/products`), with the uploads that were refused.
async fn owned_product(app: &TestApp, token: &str, id: &str) -> serde_json::Value {
    let page = app.get_as("/artisan/products?limit=100", token).await.ok(200).clone();
    let items = page["items"].as_array().expect("items");
    items.iter().find(|p| p["product_id"] == id).cloned().expect("the artisan's own product is listed")
}

async fn dimensions(app: &TestApp, url: &str) -> (u32, u32) {
    let response = app.client.get(url).send().await.expect("GET image");
    assert_eq!(response.status(), 200, "{url}");
    let headers = response.headers().clone();
    assert_eq!(headers["content-type"], "image/jpeg");
    assert!(headers["cache-control"].to_str().expect("ascii").contains("immutable"));
    let bytes = response.bytes().await.expect("body");
    let image = image::load_from_memory_with_format(&bytes, ImageFormat::Jpeg).expect("a JPEG");
    (image.width(), image.height())
}

#[tokio::test]
async fn photos_of_every_accepted_type_become_thumbnails_on_the_product() {
    let app = spawn_app().await;
    let ana = app.artisan("ana").await;
    let product =
        app.create_product(&ana, "Vase", "glass", 5000, 3).await["product_id"].as_str().expect("id").to_owned();
    let cases = [
        ("image/jpeg", picture(2000, 1500, ImageFormat::Jpeg), (320, 240), (1024, 768)),
        ("image/png", picture(800, 600, ImageFormat::Png), (320, 240), (800, 600)),
        ("image/webp", picture(1500, 1000, ImageFormat::WebP), (320, 213), (1024, 682)),
    ];
    for (n, (content_type, bytes, thumb, large)) in cases.into_iter().enumerate() {
        let ticket = ticket(&app, &ana, &product, content_type).await;
        assert_eq!(upload(&app, &ticket, bytes).await, 200, "{content_type}");
        let shown =
            eventually(10, || async { product_now(&app, &product).await["images"].as_array().map_or(0, Vec::len) > n })
                .await;
        assert!(shown, "{content_type} was not processed");
        let images = product_now(&app, &product).await["images"].clone();
        let image = &images[n];
        assert_eq!(dimensions(&app, image["thumb_url"].as_str().expect("thumb")).await, thumb, "{content_type} thumb");
        assert_eq!(dimensions(&app, image["large_url"].as_str().expect("large")).await, large, "{content_type} large");
    }
    assert!(app.server.app.blobs.list("uploads/").await.expect("list").is_empty(), "processed uploads are removed");
    assert_eq!(owned_product(&app, &ana, &product).await["image_errors"], json!([]));
}

#[tokio::test]
async fn bad_uploads_are_refused_with_a_reason_and_leave_nothing_behind() {
    let app = spawn_app().await;
    let ana = app.artisan("ana").await;
    let product =
        app.create_product(&ana, "Vase", "glass", 5000, 3).await["product_id"].as_str().expect("id").to_owned();
    let mut truncated = picture(400, 300, ImageFormat::Jpeg);
    truncated.truncate(truncated.len() / 3);
    let mut oversized = picture(10, 10, ImageFormat::Jpeg);
    oversized.resize(10 * 1024 * 1024 + 1, 0);
    let bad = [
        ("image/png", b"this is a text file, not a picture".to_vec(), "image/png"),
        ("image/jpeg", truncated, "decoded"),
        ("image/jpeg", oversized, "10 MB"),
    ];
    for (n, (content_type, bytes, reason)) in bad.into_iter().enumerate() {
        let ticket = ticket(&app, &ana, &product, content_type).await;
        assert_eq!(upload(&app, &ticket, bytes).await, 200);
        let refused = eventually(10, || async {
            owned_product(&app, &ana, &product).await["image_errors"].as_array().map_or(0, Vec::len) > n
        })
        .await;
        assert!(refused, "upload {n} was not refused");
        let error = owned_product(&app, &ana, &product).await["image_errors"][n].clone();
        assert!(error["reason"].as_str().expect("reason").contains(reason), "{error}");
    }
    // The reasons are the artisan's: the public product and listings never carry them, nor do other artisans see them.
    assert!(product_now(&app, &product).await.get("image_errors").is_none());
    let listed = app.list_all("/products?artisan_id=ana").await;
    assert!(listed.iter().all(|p| p.get("image_errors").is_none()), "{listed:?}");
    let bo = app.artisan("bo").await;
    let theirs = app.get_as("/artisan/products", &bo).await.ok(200).clone();
    assert_eq!(theirs["items"], json!([]), "another artisan sees none of ana's products");
    let now = product_now(&app, &product).await;
    assert_eq!(now["images"], json!([]));
    assert!(app.server.app.blobs.list("uploads/").await.expect("list").is_empty(), "refused uploads are deleted");
    assert!(app.server.app.blobs.list(&format!("images/{product}")).await.expect("list").is_empty());

    // A type we do not take is refused before any URL is made.
    let path = format!("/products/{product}/images");
    app.send(Method::POST, &path, Some(&ana), Some(json!({"content_type": "image/gif"})))
        .await
        .problem(422, "validation");
    app.send(Method::POST, &path, Some(&ana), Some(json!({"content_type": "image/png", "key": "x"})))
        .await
        .problem(422, "validation");
    // The signed content type is enforced by the store: another one is refused and nothing is written.
    let ticket = ticket(&app, &ana, &product, "image/png").await;
    let mut request = app.client.put(&ticket.url).body(picture(10, 10, ImageFormat::Png));
    for (name, value) in &ticket.headers {
        request = request.header(name, if name == "content-type" { "text/html" } else { value });
    }
    assert_eq!(request.send().await.expect("PUT").status(), 403);
    assert!(app.server.app.blobs.list("uploads/").await.expect("list").is_empty());
}

#[tokio::test]
async fn an_expired_upload_url_is_refused() {
    let app = spawn_app().await;
    let blobs = app.server.app.blobs.clone();
    let key = "uploads/ana/01HZZZZZZZZZZZZZZZZZZZZZZZ/01HZZZZZZZZZZZZZZZZZZZZZZY";
    let presigned = blobs
        .presign_put(key, "image/png", Duration::from_secs(1), app.server.app.clock.now())
        .await
        .expect("presigned");
    tokio::time::sleep(Duration::from_millis(2100)).await;
    let ticket = Ticket { url: presigned.url, headers: vec![("content-type".into(), "image/png".into())] };
    assert_eq!(upload(&app, &ticket, picture(10, 10, ImageFormat::Png)).await, 403);
    assert_eq!(blobs.head(key).await.expect("head"), None);
}

#[tokio::test]
async fn only_the_owner_may_ask_for_an_upload_url() {
    let app = spawn_app().await;
    let (ana, bo, sam) = (app.artisan("ana").await, app.artisan("bo").await, app.shopper("sam").await);
    let product =
        app.create_product(&ana, "Vase", "glass", 5000, 3).await["product_id"].as_str().expect("id").to_owned();
    let path = format!("/products/{product}/images");
    let body = json!({"content_type": "image/jpeg"});
    app.send(Method::POST, &path, Some(&bo), Some(body.clone())).await.problem(404, "not-found");
    app.send(Method::POST, &path, Some(&sam), Some(body.clone())).await.problem(403, "forbidden");
    app.send(Method::POST, &path, None, Some(body.clone())).await.problem(401, "unauthorized");
    app.send(Method::POST, "/products/01HZZZZZZZZZZZZZZZZZZZZZZZ/images", Some(&ana), Some(body))
        .await
        .problem(404, "not-found");
    app.get("/images/nothing/here.jpg").await.problem(404, "not-found");
}

#[tokio::test]
async fn a_repeated_notification_adds_the_photo_once() {
    let app = spawn_app().await;
    let ana = app.artisan("ana").await;
    let product =
        app.create_product(&ana, "Vase", "glass", 5000, 3).await["product_id"].as_str().expect("id").to_owned();
    // Stop the worker from racing us: process the upload by hand, twice.
    let key = format!("uploads/ana/{product}/01HZZZZZZZZZZZZZZZZZZZZZZZ");
    let blobs = app.server.app.blobs.clone();
    blobs.put(&key, picture(600, 400, ImageFormat::Png), "image/png", "no-store").await.expect("stored");
    let ports = app.server.app.image_ports();
    let first = storefront::services::images::process_upload(&ports, &key).await.expect("processed");
    let second = storefront::services::images::process_upload(&ports, &key).await.expect("processed");
    assert!(matches!(first, storefront::services::images::UploadOutcome::Added(_)), "{first:?}");
    assert_eq!(second, storefront::services::images::UploadOutcome::AlreadyHandled);
    assert_eq!(product_now(&app, &product).await["images"].as_array().expect("images").len(), 1);
}

#[tokio::test]
async fn the_sample_bucket_notification_attaches_its_upload_through_the_worker() {
    let app = spawn_app().await;
    let text = std::fs::read_to_string(repo_root().join("events/sqs/image-worker.object-created.json")).expect("event");
    let event: aws_lambda_events::event::sqs::SqsEvent = serde_json::from_str(&text).expect("an SQS event");
    let notification: serde_json::Value =
        serde_json::from_str(event.records[0].body.as_deref().expect("body")).expect("S3 event");
    let key = notification["Records"][0]["s3"]["object"]["key"].as_str().expect("key").to_owned();
    let product = key.split('/').nth(2).expect("product segment").to_owned();
    app.server.app.blobs.put(&key, picture(640, 480, ImageFormat::Png), "image/png", "no-store").await.expect("stored");
    let state = app.server.app.clone();
    let response = worker("image-worker").batch(&state, event).await;
    assert!(response.batch_item_failures.is_empty(), "the upload and the test event both succeed");
    let images = product_now(&app, &product).await["images"].clone();
    assert_eq!(images.as_array().expect("images").len(), 1, "seed product {product} got its photo");
    assert_eq!(dimensions(&app, images[0]["thumb_url"].as_str().expect("thumb")).await, (320, 240));
}

#[tokio::test]
async fn a_forbidden_read_means_gone_only_where_the_bucket_may_be_listed() {
    use storefront::adapters::s3::S3BlobStore;
    use storefront::ports::BlobStore;
    let app = spawn_app().await;
    let endpoint = app
        .server
        .lambda_environment()
        .into_iter()
        .find(|(name, _)| name == "AWS_ENDPOINT_URL_S3")
        .map(|(_, value)| value)
        .expect("the S3 stand-in's endpoint");
    // A caller the stand-in refuses with 403, as S3 refuses a read of a missing key to one that may not list.
    let config = aws_sdk_s3::Config::builder()
        .behavior_version(aws_sdk_s3::config::BehaviorVersion::latest())
        .region(aws_sdk_s3::config::Region::new("us-east-1"))
        .endpoint_url(endpoint)
        .force_path_style(true)
        .credentials_provider(aws_sdk_s3::config::Credentials::new("someone-else", "wrong", None, None, "test"))
        .build();
    let client = aws_sdk_s3::Client::from_conf(config);
    let key = "uploads/ana/01KDVDQ4K00000000001FET001/01KDVDQ4K00000000001FET002";
    let strict = S3BlobStore::new(client.clone(), storefront_local::MEDIA_BUCKET);
    assert!(strict.head(key).await.is_err(), "a 403 is an error where it may be a real denial");
    assert!(strict.get(key, 1024).await.is_err());
    let listable = strict.forbidden_means_missing(true);
    assert_eq!(listable.head(key).await.expect("gone"), None, "with the list grant, 403 can only mean gone");
    assert_eq!(listable.get(key, 1024).await.expect("gone"), None);
}

#[tokio::test]
async fn reading_an_upload_stops_past_the_limit_whatever_its_size_says() {
    let app = spawn_app().await;
    let blobs = app.server.app.blobs.clone();
    // Outside uploads/, so the image worker leaves it alone while the test reads it.
    let key = "scratch/large-object";
    blobs.put(key, vec![7u8; 3 * 1024 * 1024], "image/jpeg", "no-store").await.expect("stored");
    let (bytes, _) = blobs.get(key, 1024 * 1024).await.expect("read").expect("there");
    assert_eq!(bytes.len(), 1024 * 1024 + 1, "one byte past the limit says 'too large'; the rest is never read");
    let (whole, _) = blobs.get(key, 4 * 1024 * 1024).await.expect("read").expect("there");
    assert_eq!(whole.len(), 3 * 1024 * 1024);
    blobs.put(key, Vec::new(), "image/jpeg", "no-store").await.expect("stored");
    assert_eq!(blobs.get(key, 1024).await.expect("read").expect("there").0, Vec::<u8>::new(), "an empty upload");
}

/// Every function is called through the reach it declares (`reaches:`): the upload route declared without the
/// bucket stops at its first S3 call, on the local server's state that holds everything. That is how the suites
/// catch a function whose declaration misses a port its binary would not link.
#[tokio::test]
async fn a_route_calling_a_port_it_did_not_declare_fails_in_the_suites() {
    let app = spawn_app_with(|options| options.in_process_workers = false).await;
    let declared = storefront_registry::FUNCTIONS
        .iter()
        .find(|f| f.route.function == "request-image-upload")
        .copied()
        .expect("the upload route");
    assert!(declared.reach.includes(storefront::app::Reach::BLOBS));
    let event = std::fs::read_to_string(repo_root().join("events/apigw/request-image-upload.ok.json")).expect("event");
    let call = |function: storefront::api::Function| {
        let (state, request) = (app.server.app.clone(), lambda_http::request::from_str(&event).expect("an event"));
        tokio::spawn(async move { function.call(state, request).await })
    };
    let answered = call(declared).await.expect("the declared route answers");
    assert_eq!(answered.status(), 201);
    let undeclared = storefront::api::Function { reach: storefront::app::Reach::QUEUES, ..declared };
    let stopped = call(undeclared).await.expect_err("the undeclared call stops");
    let message = stopped.into_panic();
    let message = message.downcast_ref::<String>().expect("a message");
    assert_eq!(
        message,
        "the blob store is not in this function's reach (QUEUES): declare it where the function is defined"
    );
    app.server.stop().await;
}
