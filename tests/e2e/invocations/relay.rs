//! What a function opens and sends to DynamoDB, seen through a TCP relay: the warm-up's connections and the round
//! trips a request makes.

use super::*;
use storefront::adapters::dynamodb::connections_for;
use storefront::ports::StoreWork;

/// A TCP relay in front of an endpoint that keeps, per connection, the bytes the client sent and whether an
/// answer came back: what a function opened, in what order, and what it sent on each. It also keeps what crossed
/// it in order (`Crossing`), holding each answer back a little so that calls sent together are seen together.
struct Relay {
    endpoint: String,
    connections: std::sync::Arc<std::sync::Mutex<Vec<RelayedConnection>>>,
    crossings: std::sync::Arc<std::sync::Mutex<Vec<Crossing>>>,
    task: tokio::task::JoinHandle<()>,
}

#[derive(Debug, Default, Clone)]
struct RelayedConnection {
    sent: Vec<u8>,
    answered: bool,
}

/// Through the relay, in the order it happened: a call going out (the DynamoDB operation its `X-Amz-Target`
/// names), or an answer handed back.
#[derive(Debug, Clone)]
enum Crossing {
    Call(String),
    Answer,
}

/// How long the relay holds an answer back: far longer than a function takes to send the calls it makes together.
const ANSWER_DELAY: Duration = Duration::from_millis(50);

impl Relay {
    async fn start(upstream: &str) -> Self {
        let upstream = upstream.trim_start_matches("http://").to_owned();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("a port");
        let endpoint = format!("http://{}", listener.local_addr().expect("address"));
        let connections = std::sync::Arc::new(std::sync::Mutex::new(Vec::<RelayedConnection>::new()));
        let crossings = std::sync::Arc::new(std::sync::Mutex::new(Vec::<Crossing>::new()));
        let (seen, crossed) = (connections.clone(), crossings.clone());
        let task = tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let index = {
                    let mut all = seen.lock().expect("lock");
                    all.push(RelayedConnection::default());
                    all.len() - 1
                };
                let server = tokio::net::TcpStream::connect(&upstream).await.expect("the upstream answers");
                let ((client_read, client_write), (server_read, server_write)) =
                    (client.into_split(), server.into_split());
                let (up, down, calls, answers) = (seen.clone(), seen.clone(), crossed.clone(), crossed.clone());
                tokio::spawn(pump(client_read, server_write, Duration::ZERO, move |bytes| {
                    up.lock().expect("lock")[index].sent.extend_from_slice(bytes);
                    if let Some(operation) = operation_of(bytes) {
                        calls.lock().expect("lock").push(Crossing::Call(operation));
                    }
                }));
                // Marked before the client can read the answer: whatever the client did next, the mark is there.
                tokio::spawn(pump(server_read, client_write, ANSWER_DELAY, move |_| {
                    down.lock().expect("lock")[index].answered = true;
                    answers.lock().expect("lock").push(Crossing::Answer);
                }));
            }
        });
        Self { endpoint, connections, crossings, task }
    }

    fn connections(&self) -> Vec<RelayedConnection> {
        self.connections.lock().expect("lock").clone()
    }

    /// The DynamoDB calls made through the relay, in round trips: a call sent after an answer came back starts the
    /// next round; the calls of a round went out together (sorted by name here).
    fn rounds(&self) -> Vec<Vec<String>> {
        let mut rounds: Vec<Vec<String>> = Vec::new();
        let mut answered = true;
        for crossing in self.crossings.lock().expect("lock").iter() {
            match crossing {
                Crossing::Call(operation) if answered => rounds.push(vec![operation.clone()]),
                Crossing::Call(operation) => rounds.last_mut().expect("a round").push(operation.clone()),
                Crossing::Answer => {}
            }
            answered = matches!(crossing, Crossing::Answer);
        }
        rounds.iter_mut().for_each(|round| round.sort());
        rounds
    }
}

/// The DynamoDB operation a request's head names (`X-Amz-Target: DynamoDB_20120810.GetItem`), if these bytes hold one.
fn operation_of(bytes: &[u8]) -> Option<String> {
    let text = String::from_utf8_lossy(bytes);
    let target = text.lines().find(|line| line.to_ascii_lowercase().starts_with("x-amz-target:"))?;
    target.rsplit('.').next().map(|operation| operation.trim().to_owned())
}

/// Copies `from` to `to` until either side closes, each chunk `delay` late, showing `seen` each chunk before it is
/// passed on.
async fn pump(
    mut from: impl tokio::io::AsyncRead + Unpin,
    mut to: impl tokio::io::AsyncWrite + Unpin,
    delay: Duration,
    mut seen: impl FnMut(&[u8]),
) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut buffer = [0u8; 8192];
    while let Ok(n @ 1..) = from.read(&mut buffer).await {
        tokio::time::sleep(delay).await;
        seen(&buffer[..n]);
        if to.write_all(&buffer[..n]).await.is_err() {
            break;
        }
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// A function started under the harness with its DynamoDB traffic through a [`Relay`], as Lambda starts it with
/// `AWS_LAMBDA_INITIALIZATION_TYPE=<initialization>`, ready for its first event (`event`, rendered into `file`).
struct RelayedStart {
    event: &'static str,
    tools: Tools,
    api: RuntimeApi,
    app: TestApp,
    _dir: tempfile::TempDir,
    file: PathBuf,
    relay: Relay,
    running: FunctionProcess,
}

async fn behind_a_relay(function: &str, event: &'static str, initialization: &str) -> RelayedStart {
    let tools = tools();
    let api = RuntimeApi::start().await.expect("runtime API starts");
    let app = spawn_app_with(|options| options.in_process_workers = false).await;
    let dir = tempfile::tempdir().expect("temp dir");
    let file = rendered_event(dir.path(), event, &app).await;
    let mut env = app.server.lambda_environment();
    let dynamodb = env.iter_mut().find(|(name, _)| name == "AWS_ENDPOINT_URL_DYNAMODB").expect("DynamoDB endpoint");
    let relay = Relay::start(&dynamodb.1).await;
    dynamodb.1 = relay.endpoint.clone();
    env.push((storefront::config::LAMBDA_INITIALIZATION_TYPE.into(), initialization.into()));
    let running = start(&api, &tools, function, event, &env).await;
    RelayedStart { event, tools, api, app, _dir: dir, file, relay, running }
}

/// Waits (up to 5 s) for init to open `count` connections through `relay` by itself, before any event, and holds
/// them to exactly `count` with nothing sent on any; a failure stops `running` and shows its output.
async fn bare_connections(relay: &Relay, count: usize, running: FunctionProcess) -> FunctionProcess {
    let mut opened = relay.connections();
    for _ in 0..500 {
        if opened.len() >= count {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
        opened = relay.connections();
    }
    if !(opened.len() == count && opened.iter().all(|c| c.sent.is_empty())) {
        let stdout = running.stop().await.stdout;
        panic!("init did not open {count} bare connections: {opened:?}\n{stdout}");
    }
    running
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dynamodb_warm_up_on_demand_opens_a_bare_connection_the_first_request_takes() {
    only_on!(DynamoDb, "DynamoDB's warm-up connections");
    let RelayedStart { event, tools, api, app, _dir, file, relay, running } =
        behind_a_relay("get-product", "get-product.ok", "on-demand").await;
    // Before any event: the connection opens by itself, and nothing is sent on it.
    let running = bare_connections(&relay, 1, running).await;
    let response = cargo_lambda_invoke(&api, &tools, event, &file).await;
    let stdout = running.stop().await.stdout;
    assert_eq!(response["statusCode"].as_u64(), Some(200), "{response}\n{stdout}");
    let connections = relay.connections();
    assert_eq!(connections.len(), 1, "the first request opened a connection of its own: {connections:?}");
    let sent = String::from_utf8_lossy(&connections[0].sent).into_owned();
    assert!(sent.starts_with("POST / HTTP/1.1\r\n") && sent.contains("GetItem"), "no warm-up request: {sent}");
    app.server.stop().await;
    api.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dynamodb_warm_up_on_demand_opens_a_connection_for_each_of_a_listings_first_calls() {
    only_on!(DynamoDb, "DynamoDB's warm-up connections");
    let calls = connections_for(StoreWork::Listing);
    let RelayedStart { event, tools, api, app, _dir, file, relay, running } =
        behind_a_relay("list-products", "list-products.ok", "on-demand").await;
    let running = bare_connections(&relay, calls, running).await;
    let response = cargo_lambda_invoke(&api, &tools, event, &file).await;
    let stdout = running.stop().await.stdout;
    assert_eq!(response["statusCode"].as_u64(), Some(200), "{response}\n{stdout}");
    let connections = relay.connections();
    assert_eq!(connections.len(), calls, "the first page opened connections of its own: {connections:?}");
    for connection in &connections {
        let sent = String::from_utf8_lossy(&connection.sent).into_owned();
        let requests = sent.matches(" HTTP/1.1\r\n").count();
        assert!(requests == 1 && sent.contains("DynamoDB_20120810.Query"), "one shard's Query each: {sent}");
    }
    app.server.stop().await;
    api.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dynamodb_warm_up_opens_the_connection_the_first_request_uses_and_calls_no_api() {
    only_on!(DynamoDb, "DynamoDB's warm-up connections");
    // As under provisioned concurrency, where `WARM_UP`'s default opens the connection in init.
    let RelayedStart { event, tools, api, app, _dir, file, relay, running } =
        behind_a_relay("get-product", "get-product.ok", "provisioned-concurrency").await;
    let opened = relay.connections();
    assert!(opened.len() == 1 && opened[0].answered, "init did not open the connection: {opened:?}");
    let response = cargo_lambda_invoke(&api, &tools, event, &file).await;
    let stdout = running.stop().await.stdout;
    assert_eq!(response["statusCode"].as_u64(), Some(200), "{response}\n{stdout}");
    assert!(!stdout.contains("warm-up failed"), "{stdout}");

    let connections = relay.connections();
    assert_eq!(connections.len(), 1, "the first request opened a connection of its own: {connections:?}");
    let sent = String::from_utf8_lossy(&connections[0].sent).into_owned();
    let requests: Vec<&str> = sent.split("\r\n\r\n").filter(|head| head.contains(" HTTP/1.1")).collect();
    assert!(requests[0].starts_with("GET / HTTP/1.1\r\n"), "the warm-up is the health check: {sent}");
    let unsigned = !requests[0].to_ascii_lowercase().contains("authorization:");
    assert!(unsigned && !requests[0].contains("X-Amz-Target"), "the warm-up calls no API: {sent}");
    assert!(requests[1].starts_with("POST / HTTP/1.1\r\n") && requests[1].contains("GetItem"), "{sent}");
    let uses = app.server.lambda_calls.take_uses();
    let actions: BTreeSet<&str> = uses.iter().map(|u| u.action.as_str()).collect();
    assert_eq!(actions, BTreeSet::from(["dynamodb:GetItem"]), "{uses:?}");
    app.server.stop().await;
    api.stop().await;
}

/// Starts `function` behind a relay (on demand), checks init opened `connections` bare ones, answers its event
/// with `status` and gives the DynamoDB round trips the event took.
async fn round_trips_of(function: &str, event: &'static str, connections: usize, status: u64) -> Vec<Vec<String>> {
    let RelayedStart { event, tools, api, app, _dir, file, relay, running } =
        behind_a_relay(function, event, "on-demand").await;
    let running = bare_connections(&relay, connections, running).await;
    let response = cargo_lambda_invoke(&api, &tools, event, &file).await;
    let stdout = running.stop().await.stdout;
    assert_eq!(response["statusCode"].as_u64(), Some(status), "{event}: {response}\n{stdout}");
    let opened = relay.connections();
    assert_eq!(opened.len(), connections, "{event} opened connections of its own: {opened:?}");
    app.server.stop().await;
    api.stop().await;
    relay.rounds()
}

fn calls(rounds: &[&[&str]]) -> Vec<Vec<String>> {
    rounds.iter().map(|round| round.iter().map(|call| (*call).to_owned()).collect()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cart_change_makes_two_dynamodb_round_trips_on_connections_opened_at_init() {
    only_on!(DynamoDb, "the round trips a request makes to DynamoDB");
    // alice's cart holds another product (put) or keeps one (remove): its price is read beside the write, or after.
    let put =
        round_trips_of("put-cart-item", "put-cart-item.ok", connections_for(StoreWork::ReadBesideWrite), 200).await;
    // Each line is written with the cart's tally of products in one transaction (the cart's limit holds under races).
    assert_eq!(put, calls(&[&["GetItem", "Query"], &["BatchGetItem", "TransactWriteItems"]]), "put-cart-item");
    let removed =
        round_trips_of("remove-cart-item", "remove-cart-item.ok", connections_for(StoreWork::ReadBesideWrite), 200)
            .await;
    assert_eq!(removed, calls(&[&["Query", "TransactWriteItems"], &["BatchGetItem"]]), "remove-cart-item");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_checkout_claims_its_key_beside_its_reads_in_dynamodb_round_trips() {
    only_on!(DynamoDb, "the round trips a request makes to DynamoDB");
    let placed =
        round_trips_of("place-order", "place-order.buy-now", connections_for(StoreWork::ReadBesideWrite), 201).await;
    assert_eq!(placed, calls(&[&["BatchGetItem", "PutItem"], &["TransactWriteItems"], &["TransactWriteItems"]]));
    // The refused claim answers with the record that refused it: no GetItem of it, only of the order.
    let replayed =
        round_trips_of("place-order", "place-order.replay", connections_for(StoreWork::ReadBesideWrite), 201).await;
    assert_eq!(replayed, calls(&[&["BatchGetItem", "PutItem"], &["GetItem"]]), "place-order.replay");
}
