//! Starting and stopping the local storefront: data dir, secrets, the embedded engine, the table and demo seed,
//! then the HTTP server with every route function mounted.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use axum::Router;
use axum::extract::{Request as AxumRequest, State};
use axum::response::{IntoResponse, Response as AxumResponse};
use axum::routing::{MethodFilter, MethodRouter, get, post};
use serde::Deserialize;
use serde_json::json;
use storefront::AppState;
use storefront::adapters::dynamodb::schema;
use storefront::config::Config;
use storefront::domain::UserId;
use storefront::http::request::parse_json;
use storefront::http::response::json as json_response;
use storefront::http::{ApiError, Role, Route};
use time::OffsetDateTime;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use aws_lambda_events::event::sqs::SqsMessage;
use storefront::adapters::s3::S3BlobStore;
use storefront::worker::{WorkerError, process_batch};

use crate::engine::Engine;
use crate::faults::Faults;
use crate::functions::FUNCTIONS;
use crate::gateway::{Gateway, MAX_LOCAL_BODY_BYTES, invoke, problem, to_axum};
use crate::iam::Service;
use crate::jwt::{Claims, JwtKey};
use crate::outbox::LocalOutbox;
use crate::queue::{LocalQueue, QueueSettings};
use crate::s3::S3Engine;
use crate::sqs_wire::SqsWire;

pub const TABLE_NAME: &str = "storefront";
pub const MEDIA_BUCKET: &str = "storefront-media";
/// The verified sender function processes send confirmations as (through the local SES).
pub const LAMBDA_CONFIRMATION_SENDER: &str = "orders@storefront.test";
/// Access and secret key of the local S3 stand-in (the same dummy pair the local SDK config signs with).
const LOCAL_KEY: &str = "local";
const SEEDED_MARKER: &str = "seeded";

#[derive(Debug, Clone)]
pub struct Options {
    /// 0 picks a free port.
    pub port: u16,
    pub data_dir: PathBuf,
    /// The order queue's SQS-like behaviour (visibility timeout, redrive).
    pub queue: QueueSettings,
    /// How often the sweeper looks for orders stuck in `placed`, and how old they must be.
    pub sweep_every: std::time::Duration,
    pub stuck_after: time::Duration,
    /// Put a fault-injecting proxy between the adapters and the engine (tests).
    pub fault_injection: bool,
    /// Run the workers and the sweeper in-process (off when their Lambda binaries run under the harness).
    pub in_process_workers: bool,
    /// Put the recording proxies between function processes and the stand-ins (tests hold the grants to what they
    /// record); off, function processes reach the stand-ins directly (the bench times them without the extra hop).
    pub record_lambda_calls: bool,
}

impl Options {
    pub fn new(port: u16, data_dir: PathBuf) -> Self {
        Self {
            port,
            data_dir,
            queue: QueueSettings::default(),
            sweep_every: std::time::Duration::from_secs(30),
            stuck_after: storefront::services::orders::STUCK_AFTER,
            fault_injection: false,
            in_process_workers: true,
            record_lambda_calls: true,
        }
    }
}

impl Options {
    /// `PORT` (default 3000) and `DATA_DIR` (default `.storefront`).
    pub fn from_env() -> Result<Self, StartError> {
        let port = match std::env::var("PORT") {
            Ok(raw) => {
                raw.parse().map_err(|_| StartError::Config(format!("PORT must be a port number, got {raw:?}")))?
            }
            Err(_) => 3000,
        };
        let data_dir = std::env::var_os("DATA_DIR").map(PathBuf::from).unwrap_or_else(|| PathBuf::from(".storefront"));
        Ok(Self::new(port, data_dir))
    }
}

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("configuration: {0}")]
    Config(String),
    #[error("data dir: {0}")]
    DataDir(#[from] std::io::Error),
    #[error("embedded DynamoDB engine: {0}")]
    Engine(String),
    #[error("table set-up or seed: {0}")]
    Store(#[from] storefront::ports::StoreError),
}

pub struct LocalServer {
    pub addr: SocketAddr,
    pub data_dir: PathBuf,
    /// Products written by the demo seed at this start (0 when the data dir already had them).
    pub seeded: usize,
    pub app: AppState,
    /// The order queue (tests inspect its dead letters and inject refused sends).
    pub queue: Arc<LocalQueue>,
    /// The queue of upload notifications for the image worker.
    pub image_queue: Arc<LocalQueue>,
    s3: Option<S3Engine>,
    /// Confirmations delivered (the local SES).
    pub outbox: Arc<LocalOutbox>,
    /// Faults to inject into DynamoDB calls, when started with `fault_injection`.
    pub faults: Option<Arc<Faults>>,
    /// The environment a function binary needs to run against this stack (see [`LocalServer::lambda_environment`]).
    lambda_environment: Vec<(String, String)>,
    /// What the function processes needed from IAM, recorded by the proxies they reach every stand-in through
    /// (DynamoDB, S3, SQS, SES), so what they call is told apart from this server's own calls.
    pub lambda_calls: Arc<Faults>,
    lambda_proxies: Vec<JoinHandle<()>>,
    sqs: Option<SqsWire>,
    /// The SES the function processes send through (the order worker's confirmations).
    ses: Option<crate::ses::SesStandIn>,
    engine: Engine,
    proxy: Option<JoinHandle<()>>,
    background: Vec<JoinHandle<()>>,
    shutdown: Option<oneshot::Sender<()>>,
    server: JoinHandle<()>,
}

impl LocalServer {
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// What template.yaml gives a function in AWS, pointed at this stack's stand-ins instead: the table, queues and
    /// bucket behind their AWS-wire endpoints, the same cursor secret. A function binary started with it (under
    /// the Runtime API harness) reads and writes the very data this server shows.
    pub fn lambda_environment(&self) -> Vec<(String, String)> {
        self.lambda_environment.clone()
    }

    /// The emails function processes sent through the local SES.
    pub fn lambda_emails(&self) -> Vec<crate::ses::SentEmail> {
        self.ses.as_ref().map(|ses| ses.sent()).unwrap_or_default()
    }

    /// The embedded DynamoDB engine's own endpoint (no proxy in between), for tests that write items directly.
    pub fn dynamodb_endpoint(&self) -> &str {
        &self.engine.endpoint
    }

    /// Stops accepting requests, finishes those running, and closes the engine (and its SQLite file).
    pub async fn stop(mut self) {
        for task in self.background.drain(..) {
            task.abort();
            let _ = task.await;
        }
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
        let _ = self.server.await;
        if let Some(proxy) = self.proxy.take() {
            proxy.abort();
            let _ = proxy.await;
        }
        for proxy in self.lambda_proxies.drain(..) {
            proxy.abort();
            let _ = proxy.await;
        }
        if let Some(ses) = self.ses.take() {
            ses.stop().await;
        }
        if let Some(s3) = self.s3.take() {
            s3.stop().await;
        }
        if let Some(sqs) = self.sqs.take() {
            sqs.stop().await;
        }
        self.engine.stop().await;
    }
}

/// Runs `handle` on batches from `queue` until aborted: the local event source mapping.
fn spawn_worker<F, Fut>(queue: Arc<LocalQueue>, app: AppState, handle: F) -> JoinHandle<()>
where
    F: Fn(AppState, SqsMessage) -> Fut + Copy + Send + Sync + 'static,
    Fut: std::future::Future<Output = Result<(), WorkerError>> + Send,
{
    tokio::spawn(async move {
        queue
            .consume(|event| {
                let app = app.clone();
                async move { process_batch(event, |message| handle(app.clone(), message)).await }
            })
            .await
    })
}

pub async fn start(options: Options) -> Result<LocalServer, StartError> {
    std::fs::create_dir_all(&options.data_dir)?;
    let secrets = crate::secrets::load_or_create(&options.data_dir)?;
    let engine = Engine::start(&options.data_dir.join("dynamodb.sqlite")).await.map_err(StartError::Engine)?;
    let (endpoint, faults, proxy) = if options.fault_injection {
        let faults = Arc::new(Faults::default());
        let (endpoint, proxy) = crate::faults::start_proxy(&engine.endpoint, Service::DynamoDb, faults.clone())
            .await
            .map_err(StartError::Engine)?;
        (endpoint, Some(faults), Some(proxy))
    } else {
        (engine.endpoint.clone(), None, None)
    };
    let sdk = storefront::adapters::aws::local_sdk_config(&endpoint).await;
    let dynamodb = aws_sdk_dynamodb::Client::new(&sdk);
    schema::ensure_table(&dynamodb, TABLE_NAME).await?;
    let queue = Arc::new(LocalQueue::new("storefront-orders", options.queue));

    // Photos: the S3 stand-in notifies the image queue of every upload, as the bucket notification does in AWS.
    let image_queue = Arc::new(LocalQueue::new("storefront-images", options.queue));
    let notify: crate::s3::Notify = {
        let image_queue = image_queue.clone();
        Arc::new(move |event| {
            if let Err(error) = image_queue.send(event) {
                tracing::warn!(%error, "upload notification lost");
            }
        })
    };
    let s3 = S3Engine::start(&options.data_dir.join("s3"), LOCAL_KEY, LOCAL_KEY, notify)
        .await
        .map_err(StartError::Engine)?;
    let blobs = S3BlobStore::new(
        S3BlobStore::local_client(&storefront::adapters::aws::local_sdk_config(&s3.endpoint).await),
        MEDIA_BUCKET,
    );
    blobs.ensure_bucket().await?;

    // Bound first: the server's own URL is where photos are served from, like the CDN.
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", options.port)).await?;
    let addr = listener.local_addr()?;
    let config = Config {
        table_name: TABLE_NAME.to_owned(),
        cursor_secret: secrets.cursor_secret.into_bytes(),
        order_queue_url: "local://storefront-orders".to_owned(),
        confirmation_sender: None,
        media_bucket: MEDIA_BUCKET.to_owned(),
        cdn_base_url: format!("http://{addr}"),
        s3_force_path_style: true,
        warm_up: true,
        uploads_listable: false,
    };
    let sqs = crate::sqs_wire::start(vec![
        ("storefront-orders".to_owned(), queue.clone()),
        ("storefront-images".to_owned(), image_queue.clone()),
    ])
    .await?;
    // Function processes reach every stand-in through a recording proxy of their own.
    let ses = crate::ses::start().await?;
    let lambda_calls = Arc::new(Faults::default());
    let mut lambda_proxies = Vec::new();
    let record = options.record_lambda_calls;
    let mut recorded = async |upstream: &str, service| {
        if !record {
            return Ok::<_, StartError>(upstream.to_owned());
        }
        let (endpoint, task) =
            crate::faults::start_proxy(upstream, service, lambda_calls.clone()).await.map_err(StartError::Engine)?;
        lambda_proxies.push(task);
        Ok(endpoint)
    };
    let lambda_dynamodb = recorded(&engine.endpoint, Service::DynamoDb).await?;
    let lambda_s3 = recorded(&s3.endpoint, Service::S3).await?;
    let lambda_sqs = recorded(&sqs.endpoint, Service::Sqs).await?;
    let lambda_ses = recorded(&ses.endpoint, Service::Ses).await?;
    let lambda_environment = [
        (storefront::config::TABLE_NAME, config.table_name.clone()),
        (storefront::config::CURSOR_SECRET, String::from_utf8_lossy(&config.cursor_secret).into_owned()),
        (storefront::config::ORDER_QUEUE_URL, format!("{lambda_sqs}/000000000000/storefront-orders")),
        (storefront::config::CONFIRMATION_SENDER, LAMBDA_CONFIRMATION_SENDER.to_owned()),
        (storefront::config::MEDIA_BUCKET, config.media_bucket.clone()),
        (storefront::config::CDN_BASE_URL, config.cdn_base_url.clone()),
        ("AWS_ENDPOINT_URL_DYNAMODB", lambda_dynamodb),
        ("AWS_ENDPOINT_URL_SQS", lambda_sqs),
        ("AWS_ENDPOINT_URL_S3", lambda_s3),
        ("AWS_ENDPOINT_URL_SESV2", lambda_ses),
        (storefront::config::S3_FORCE_PATH_STYLE, "true".to_owned()),
        ("AWS_REGION", "us-east-1".to_owned()),
        ("AWS_ACCESS_KEY_ID", LOCAL_KEY.to_owned()),
        ("AWS_SECRET_ACCESS_KEY", LOCAL_KEY.to_owned()),
    ]
    .into_iter()
    .map(|(name, value)| (name.to_owned(), value))
    .collect();
    let outbox = Arc::new(LocalOutbox::default());
    let mut app = AppState::with_dynamodb(dynamodb.clone(), queue.clone(), Arc::new(blobs), &config);
    app.notifier = outbox.clone();

    // Seeded once per data dir; a seed cut short is finished on the next start (existing products are kept).
    let marker = options.data_dir.join(SEEDED_MARKER);
    let seeded = if marker.exists() { 0 } else { crate::seed::demo_catalog(app.catalog.as_ref()).await? };
    std::fs::write(&marker, b"demo catalog written\n")?;

    let gateway = Gateway { app: app.clone(), jwt: Arc::new(JwtKey::new(secrets.jwt_key.as_bytes())) };
    let (shutdown, stopped) = oneshot::channel::<()>();
    let router = router(gateway);
    let background = if !options.in_process_workers {
        Vec::new()
    } else {
        vec![
            // The event source mappings: each worker gets batches from its queue, as in AWS.
            spawn_worker(queue.clone(), app.clone(), order_worker::handle),
            spawn_worker(image_queue.clone(), app.clone(), image_worker::handle),
            // The schedule that runs the sweeper in AWS.
            tokio::spawn({
                let (app, every, stuck_after) = (app.clone(), options.sweep_every, options.stuck_after);
                async move {
                    let mut ticks = tokio::time::interval(every);
                    loop {
                        ticks.tick().await;
                        if let Err(error) = order_sweeper::sweep(&app, stuck_after).await {
                            tracing::warn!(%error, "sweep failed");
                        }
                    }
                }
            }),
        ]
    };
    let server = tokio::spawn(async move {
        let serve = axum::serve(listener, router).with_graceful_shutdown(async {
            let _ = stopped.await;
        });
        if let Err(error) = serve.await {
            tracing::error!(%error, "local server stopped");
        }
    });
    Ok(LocalServer {
        addr,
        data_dir: options.data_dir,
        seeded,
        app,
        queue,
        image_queue,
        outbox,
        s3: Some(s3),
        faults,
        lambda_environment,
        lambda_calls,
        lambda_proxies,
        sqs: Some(sqs),
        ses: Some(ses),
        engine,
        proxy,
        background,
        shutdown: Some(shutdown),
        server,
    })
}

/// The API routes the local server mounts: those of the Lambda functions (held against template.yaml and
/// openapi.yaml by a test). `POST /dev/token` and `GET /health` are local-only extras.
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
        .route("/health", get(health))
        .route("/metrics", get(metrics))
        .route("/openapi.json", get(openapi))
        .route("/images/{*path}", get(serve_image))
        .fallback(|| async { problem(ApiError::route_not_found()) })
        .with_state(gateway)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TokenRequest {
    user_id: String,
    role: String,
    name: Option<String>,
    email: Option<String>,
    /// Local tokens stand for addresses the developer typed: verified unless said otherwise.
    email_verified: Option<bool>,
}

/// `POST /dev/token`: a token for any user and role, signed with this data dir's key. Local only.
async fn dev_token(State(gateway): State<Gateway>, req: AxumRequest) -> AxumResponse {
    let Ok(bytes) = axum::body::to_bytes(req.into_body(), MAX_LOCAL_BODY_BYTES).await else {
        return problem(ApiError::payload_too_large(storefront::http::request::MAX_BODY_BYTES));
    };
    let body: TokenRequest = match parse_json(&bytes) {
        Ok(body) => body,
        Err(error) => return problem(error),
    };
    let mut errors = storefront::domain::ValidationErrors::default();
    let user = errors.check(UserId::parse_field(&body.user_id, "user_id"));
    let role = match body.role.as_str() {
        "shopper" => Some(Role::Shopper),
        "artisan" => Some(Role::Artisan),
        _ => {
            errors.push("role", "must be \"shopper\" or \"artisan\"");
            None
        }
    };
    let (Some(user), Some(role)) = (user, role) else {
        return problem(ApiError::validation(errors));
    };
    let mut claims = Claims::new(user.as_str(), role, body.name, OffsetDateTime::now_utc().unix_timestamp());
    claims.email_verified = body.email.is_some() && body.email_verified.unwrap_or(true);
    claims.email = body.email;
    let token = gateway.jwt.sign(&claims);
    match json_response(
        http::StatusCode::OK,
        &json!({ "token": token, "user_id": user, "role": body.role, "expires_at": claims.exp }),
    ) {
        Ok(response) => to_axum(response),
        Err(error) => problem(error),
    }
}

/// `GET /images/...`: photo variants from the S3 stand-in, cached like CloudFront serves them (keys are
/// content-hashed, so they never change).
async fn serve_image(
    State(gateway): State<Gateway>,
    axum::extract::Path(path): axum::extract::Path<String>,
    headers: http::HeaderMap,
) -> AxumResponse {
    let key = format!("images/{path}");
    if path.split('/').any(|segment| segment == ".." || segment.is_empty()) {
        return problem(ApiError::not_found("image"));
    }
    let etag = format!("\"{}\"", path.rsplit('/').next().unwrap_or_default());
    if headers.get(http::header::IF_NONE_MATCH).and_then(|v| v.to_str().ok()) == Some(etag.as_str()) {
        return (http::StatusCode::NOT_MODIFIED, [(http::header::ETAG, etag)]).into_response();
    }
    match gateway.app.blobs.get(&key, storefront::domain::image::MAX_UPLOAD_BYTES).await {
        Ok(Some((bytes, info))) => (
            [
                (http::header::CONTENT_TYPE, info.content_type.unwrap_or_else(|| "application/octet-stream".into())),
                (http::header::CACHE_CONTROL, storefront::services::images::IMAGE_CACHE_CONTROL.to_owned()),
                (http::header::ETAG, etag),
            ],
            bytes,
        )
            .into_response(),
        Ok(None) => problem(ApiError::not_found("image")),
        Err(error) => problem(error.into()),
    }
}

/// `GET /metrics`: business counters and per-route latencies, Prometheus text (CloudWatch EMF in AWS).
async fn metrics() -> AxumResponse {
    (
        [(http::header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")],
        storefront::telemetry::metrics::prometheus_text(),
    )
        .into_response()
}

/// `GET /openapi.json`: the API contract (openapi.yaml, compiled in) as JSON.
async fn openapi() -> AxumResponse {
    match crate::openapi::document() {
        Ok(document) => ([(http::header::CONTENT_TYPE, "application/json")], document.to_string()).into_response(),
        Err(error) => problem(ApiError::internal(error)),
    }
}

/// `GET /health`: the server answers and its DynamoDB engine serves the table (the store's own `ping`).
async fn health(State(gateway): State<Gateway>) -> AxumResponse {
    match gateway.app.catalog.ping().await {
        Ok(_) => match json_response(http::StatusCode::OK, &json!({ "status": "ok", "dynamodb": "ok" })) {
            Ok(response) => to_axum(response),
            Err(error) => problem(error),
        },
        Err(error) => problem(ApiError::unavailable(1).with_source(error.to_string())),
    }
}
