//! Every sample API Gateway event through its function's own binary; a function without its configuration; the
//! functions on sam local's environment file.

use super::*;

struct EventRun {
    status: u16,
    content_type: String,
    /// The body, comparable across stacks (`events::comparable`).
    body: Value,
    stdout: String,
    /// What the function process needed from IAM.
    uses: BTreeSet<Use>,
}

/// Uses the upload URL a function answered with, as the artisan's browser does: the PUT is authorized by the
/// function's own grant (the URL carries its signature), so it counts among the function's uses.
async fn upload_through(answer: &Value, client: &reqwest::Client) {
    let ticket: Value = serde_json::from_str(answer["body"].as_str().expect("body")).expect("JSON");
    let mut request = client.put(ticket["upload_url"].as_str().expect("upload_url")).body(photo());
    for (name, value) in ticket["headers"].as_object().expect("headers") {
        request = request.header(name, value.as_str().expect("header value"));
    }
    let status = request.send().await.expect("PUT sent").status();
    assert!(status.is_success(), "the upload URL took no photo: {status}");
}

/// One API Gateway event through its function's binary against a fresh stack.
async fn run_apigw_event(api: &RuntimeApi, tools: &Tools, event: &str) -> EventRun {
    let app = spawn_app_with(|options| options.in_process_workers = false).await;
    let dir = tempfile::tempdir().expect("temp dir");
    let file = rendered_event(dir.path(), event, &app).await;
    let function = event.split('.').next().expect("function part");
    let running = start(api, tools, function, event, &app.server.lambda_environment()).await;
    let response = cargo_lambda_invoke(api, tools, event, &file).await;
    if event == "request-image-upload.ok" {
        upload_through(&response, &app.client).await;
    }
    let stdout = running.stop().await.stdout;
    let uses = app.server.lambda_calls.take_uses();
    app.server.stop().await;
    let status = response["statusCode"].as_u64().unwrap_or_else(|| panic!("{event}: no statusCode in {response}"));
    let content_type = header(&response, "content-type").unwrap_or_default().to_owned();
    let body = comparable(response["body"].as_str().unwrap_or_default());
    EventRun { status: status as u16, content_type, body, stdout, uses }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_api_event_gets_its_expected_status_from_the_real_function_binary() {
    let tools = tools();
    let api = RuntimeApi::start().await.expect("runtime API starts");
    let events = sample_events();
    let results: BTreeMap<String, EventRun> = futures::stream::iter(events.keys().cloned())
        .map(|name| {
            let (api, tools) = (&api, &tools);
            async move { (name.clone(), run_apigw_event(api, tools, &name).await) }
        })
        .buffer_unordered(4)
        .collect()
        .await;
    for (name, expected) in EXPECTED {
        let run = &results[*name];
        assert_eq!(run.status, *expected, "{name}");
        if run.status >= 400 && !name.starts_with("web-pages.") {
            assert_eq!(run.content_type, "application/problem+json", "{name}");
        }
    }
    // The binary answers exactly what the handler answers in-process (the local server's path), body and all.
    let handled = in_process_runs().await;
    assert_eq!(handled.len(), events.len());
    for (name, (status, content_type, body)) in handled {
        let run = &results[name];
        assert_eq!((run.status, &run.content_type), (*status, content_type), "{name}");
        assert_eq!(&run.body, body, "{name}: the binary's body differs from the handler's");
    }
    let findings: Vec<String> = FUNCTIONS
        .iter()
        .chain(std::iter::once(&storefront_registry::SITE))
        .flat_map(|function| {
            let name = function.route.function;
            let used: BTreeSet<Use> = results
                .iter()
                .filter(|(event, _)| event.split('.').next() == Some(name))
                .flat_map(|(_, run)| run.uses.iter().cloned())
                .collect();
            grant_findings(name, &used)
        })
        .collect();
    assert!(findings.is_empty(), "grants and use disagree:\n{}", findings.join("\n"));
    // The place-order process logged its request as one JSON line (Lambda's JSON log format): route, API Gateway
    // request id, status, latency, the user as a hash; the runtime's span adds Lambda's request id.
    let stdout = &results["place-order.buy-now"].stdout;
    let log: Value = stdout
        .lines()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .find(|doc| doc["fields"]["message"] == "request")
        .unwrap_or_else(|| panic!("no JSON request log line in place-order's stdout:\n{stdout}"));
    let fields = &log["fields"];
    assert_eq!(fields["route"], "POST /orders", "{log}");
    assert_eq!(fields["status"], 201, "{log}");
    assert_eq!(fields["request_id"], "JkHlbgLsoAMEbJg=", "{log}");
    assert!(fields["latency_us"].as_u64().is_some_and(|us| us > 0), "{log}");
    assert_eq!(fields["user"], storefront::api::route::short_hash("alice"), "{log}");
    assert!(!stdout.contains("\"alice\""), "the user id itself is never logged");
    assert!(log["span"]["requestId"].as_str().is_some_and(|id| !id.is_empty()), "{log}");
    // And the CloudWatch EMF line counting its order.
    let emf: Value = stdout
        .lines()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .find(|doc| doc.get("_aws").is_some())
        .unwrap_or_else(|| panic!("no EMF line in place-order's stdout:\n{stdout}"));
    assert_eq!(emf["OrdersPlaced"], 1, "{emf}");
    assert_eq!(emf["Function"], "place-order");
    assert_eq!(emf["_aws"]["CloudWatchMetrics"][0]["Namespace"], "Storefront");
    api.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_function_without_its_configuration_fails_init_naming_the_variable_and_its_invocations_fail() {
    let tools = tools();
    let api = RuntimeApi::start().await.expect("runtime API starts");
    let env: Vec<(String, String)> = vec![("AWS_REGION".into(), "us-east-1".into())];
    let process = api.spawn(&tools.binaries.join("get-product"), "no-config", &env).expect("spawn");
    let output = tokio::time::timeout(Duration::from_secs(20), process.wait()).await.expect("the process exits");
    assert!(output.status.is_some_and(|s| !s.success()), "{output:?}");
    assert!(output.stderr.contains("TABLE_NAME") || output.stdout.contains("TABLE_NAME"), "{output:?}");
    let Outcome::Error(body) = api.invoke("no-config", "{}".into()).await else { panic!("the invocation should fail") };
    assert!(String::from_utf8_lossy(&body).contains("Runtime.ExitError"), "{}", String::from_utf8_lossy(&body));
    api.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_functions_answer_on_the_sam_local_env_file_pointed_at_the_stand_ins() {
    only_on!(DynamoDb, "events/env.json is sam local's environment, the DynamoDB backend's");
    use crate::template::{sam_local_address, sam_local_env_file, stand_in_variable};
    use storefront_local::options::StandIn;

    let tools = tools();
    let api = RuntimeApi::start().await.expect("runtime API starts");
    let app = spawn_app_with(|options| options.in_process_workers = false).await;
    // The file as `sam local` gives it to a container, with make dev's fixed ports moved to where this test's
    // stand-ins listen (free ports: tests run side by side), and the credentials sam local passes from the shell
    // (docs/deploy.md: AWS_ACCESS_KEY_ID=local, as make dev's stand-ins expect).
    let lambda: BTreeMap<String, String> = app.server.lambda_environment().into_iter().collect();
    let moved: Vec<(String, String)> =
        StandIn::ALL.iter().map(|s| (sam_local_address(*s), lambda[stand_in_variable(*s)].clone())).collect();
    let file = sam_local_env_file();
    let environment_of = |logical_id: &str| -> Vec<(String, String)> {
        let given = file["Parameters"].as_object().into_iter().chain(file[logical_id].as_object()).flatten();
        let from_shell =
            [("AWS_REGION", "us-east-1"), ("AWS_ACCESS_KEY_ID", "local"), ("AWS_SECRET_ACCESS_KEY", "local")];
        given
            .map(|(name, value)| {
                let mut value = value.as_str().expect("a string").to_owned();
                for (fixed, here) in &moved {
                    value = value.replace(fixed.as_str(), here);
                }
                (name.clone(), value)
            })
            .chain(from_shell.map(|(name, value)| (name.to_owned(), value.to_owned())))
            .collect()
    };
    // A catalog read (DynamoDB), a checkout (DynamoDB, Secrets Manager, the payment provider), an upload URL (S3).
    let cases = [
        ("GetProductFunction", "get-product.ok", 200),
        ("PlaceOrderFunction", "place-order.buy-now", 201),
        ("RequestImageUploadFunction", "request-image-upload.ok", 201),
    ];
    let dir = tempfile::tempdir().expect("temp dir");
    for (logical_id, event, status) in cases {
        let file = rendered_event(dir.path(), event, &app).await;
        let function = event.split('.').next().expect("function part");
        let running = start(&api, &tools, function, event, &environment_of(logical_id)).await;
        let response = cargo_lambda_invoke(&api, &tools, event, &file).await;
        let stdout = running.stop().await.stdout;
        assert_eq!(response["statusCode"].as_u64(), Some(status), "{event} on events/env.json: {response}\n{stdout}");
    }
    app.server.stop().await;
    api.stop().await;
}
