//! A Lambda Runtime API of our own, for running the real function binaries on this machine (the `sam local
//! invoke` path without Docker): each function process polls `/2018-06-01/runtime/invocation/next` under its own
//! base path (`AWS_LAMBDA_RUNTIME_API=http://127.0.0.1:<port>/fn/<name>`), and invocations arrive on the Lambda
//! Invoke API (`POST /2015-03-31/functions/<name>/invocations`), which is what `cargo lambda invoke` calls.
//!
//! It also timestamps each function's first poll: the init benchmark's "ready" moment.

use std::collections::HashMap;
use std::path::Path;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path as UrlPath, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use tokio::sync::{Notify, mpsc, oneshot};
use tokio::task::JoinHandle;

/// How long an invocation may wait for its function before the caller gets a timeout error.
const INVOKE_TIMEOUT: Duration = Duration::from_secs(30);

/// What a function answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Response(Bytes),
    /// The function reported an error (`/error` or `/init/error`); the body is the error document.
    Error(Bytes),
}

struct Invocation {
    id: String,
    payload: Bytes,
    reply: oneshot::Sender<Outcome>,
}

/// Where a function's invocations wait for its next poll (one poller at a time, as in Lambda).
type Inbox = Arc<tokio::sync::Mutex<mpsc::UnboundedReceiver<Invocation>>>;

#[derive(Default)]
struct Slot {
    sender: Option<mpsc::UnboundedSender<Invocation>>,
    receiver: Option<Inbox>,
    in_flight: HashMap<String, oneshot::Sender<Outcome>>,
    first_poll: Option<Instant>,
    /// Set when the function reported an init error or its process exited: it takes no more invocations.
    init_error: Option<Bytes>,
    polled: Arc<Notify>,
}

impl Slot {
    fn channel(&mut self) -> (mpsc::UnboundedSender<Invocation>, Inbox) {
        if self.sender.is_none() {
            let (sender, receiver) = mpsc::unbounded_channel();
            self.sender = Some(sender);
            self.receiver = Some(Arc::new(tokio::sync::Mutex::new(receiver)));
        }
        (self.sender.clone().expect("set above"), self.receiver.clone().expect("set above"))
    }
}

#[derive(Default)]
struct Registry {
    slots: Mutex<HashMap<String, Slot>>,
    next_id: std::sync::atomic::AtomicU64,
}

impl Registry {
    fn with_slot<T>(&self, name: &str, f: impl FnOnce(&mut Slot) -> T) -> T {
        let mut slots = self.slots.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        f(slots.entry(name.to_owned()).or_default())
    }
}

/// A function process started by [`RuntimeApi::spawn`].
pub struct FunctionProcess {
    pid: Option<u32>,
    kill: Option<oneshot::Sender<()>>,
    exited: JoinHandle<ProcessOutput>,
}

#[derive(Debug, Default)]
pub struct ProcessOutput {
    pub status: Option<std::process::ExitStatus>,
    pub stdout: String,
    pub stderr: String,
}

impl FunctionProcess {
    pub fn pid(&self) -> Option<u32> {
        self.pid
    }

    /// Peak resident memory so far (`VmHWM`), in KiB, while the process runs (Linux).
    pub fn peak_rss_kib(&self) -> Option<u64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid?)).ok()?;
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmHWM:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
    }

    /// CPU time its threads have run so far (Linux: each thread's `schedstat`, in nanoseconds), read once every
    /// thread is asleep, so that none is part-way through a slice the kernel has not counted yet; None if a thread
    /// is still running after 50 ms.
    pub async fn cpu_time(&self) -> Option<Duration> {
        let tasks = format!("/proc/{}/task", self.pid?);
        for _ in 0..50 {
            let threads: Vec<std::path::PathBuf> =
                std::fs::read_dir(&tasks).ok()?.filter_map(|entry| entry.ok().map(|e| e.path())).collect();
            let asleep = threads.iter().all(|thread| {
                let stat = std::fs::read_to_string(thread.join("stat")).unwrap_or_default();
                // The state follows the command's closing parenthesis: `S` sleeping, `D` waiting on I/O.
                matches!(stat.rsplit_once(") ").and_then(|(_, rest)| rest.chars().next()), Some('S' | 'D'))
            });
            if asleep {
                let ran = threads.iter().map(|thread| {
                    let schedstat = std::fs::read_to_string(thread.join("schedstat")).unwrap_or_default();
                    schedstat.split_whitespace().next().and_then(|ns| ns.parse::<u64>().ok()).unwrap_or_default()
                });
                return Some(Duration::from_nanos(ran.sum()));
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        None
    }

    /// Kills the process and returns what it printed.
    pub async fn stop(mut self) -> ProcessOutput {
        if let Some(kill) = self.kill.take() {
            let _ = kill.send(());
        }
        (&mut self.exited).await.unwrap_or_default()
    }

    /// Waits for the process to end by itself.
    pub async fn wait(mut self) -> ProcessOutput {
        let output = (&mut self.exited).await.unwrap_or_default();
        drop(self.kill.take());
        output
    }
}

fn collect<R: tokio::io::AsyncRead + Unpin + Send + 'static>(pipe: Option<R>) -> JoinHandle<String> {
    tokio::spawn(async move {
        let mut text = Vec::new();
        if let Some(mut pipe) = pipe {
            let _ = tokio::io::AsyncReadExt::read_to_end(&mut pipe, &mut text).await;
        }
        String::from_utf8_lossy(&text).into_owned()
    })
}

/// A running Runtime API.
pub struct RuntimeApi {
    pub port: u16,
    registry: Arc<Registry>,
    task: JoinHandle<()>,
}

impl RuntimeApi {
    pub async fn start() -> std::io::Result<Self> {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0)).await?;
        let port = listener.local_addr()?.port();
        let registry = Arc::new(Registry::default());
        let router = Router::new()
            .route("/fn/{name}/2018-06-01/runtime/invocation/next", get(next))
            .route("/fn/{name}/2018-06-01/runtime/invocation/{id}/response", post(respond))
            .route("/fn/{name}/2018-06-01/runtime/invocation/{id}/error", post(fail))
            .route("/fn/{name}/2018-06-01/runtime/init/error", post(init_error))
            .route("/2015-03-31/functions/{name}/invocations", post(invoke_over_http))
            .with_state(registry.clone());
        let task = tokio::spawn(async move {
            if let Err(error) = axum::serve(listener, router).await {
                tracing::error!(%error, "runtime API stopped");
            }
        });
        Ok(Self { port, registry, task })
    }

    /// `AWS_LAMBDA_RUNTIME_API` for the function registered as `name`.
    pub fn runtime_api_for(&self, name: &str) -> String {
        format!("http://127.0.0.1:{}/fn/{name}", self.port)
    }

    /// Starts a function binary the way Lambda does: its environment plus the runtime's variables. If the process
    /// exits, its queued and later invocations fail with `Runtime.ExitError`, as in Lambda.
    pub fn spawn(
        &self,
        binary: &Path,
        name: &str,
        environment: &[(String, String)],
    ) -> std::io::Result<FunctionProcess> {
        // A new process under a used name starts clean (a benchmark restarts the same function many times).
        self.registry.slots.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).remove(name);
        let mut child = tokio::process::Command::new(binary)
            // Only what Lambda gives a function: its configured environment and the runtime's variables, never
            // this process's (a test's `STORE` or `DATABASE_URL` would reach the function unconfigured).
            .env_clear()
            .env("PATH", "/usr/local/bin:/usr/bin:/bin")
            .env("LANG", "en_US.UTF-8")
            .env("TZ", ":UTC")
            // How Lambda started the instance; a caller's environment may say otherwise (provisioned concurrency).
            .env("AWS_LAMBDA_INITIALIZATION_TYPE", "on-demand")
            .envs(environment.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .env("AWS_LAMBDA_RUNTIME_API", self.runtime_api_for(name))
            .env("AWS_LAMBDA_FUNCTION_NAME", name)
            .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "256")
            .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
            .env("AWS_LAMBDA_LOG_GROUP_NAME", format!("/aws/lambda/{name}"))
            .env("AWS_LAMBDA_LOG_STREAM_NAME", "local")
            // What `LoggingConfig.LogFormat: JSON` in template.yaml makes Lambda set.
            .env("AWS_LAMBDA_LOG_FORMAT", "JSON")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()?;
        let pid = child.id();
        let stdout = collect(child.stdout.take());
        let stderr = collect(child.stderr.take());
        let (kill, killed) = oneshot::channel::<()>();
        let (registry, function) = (self.registry.clone(), name.to_owned());
        let exited = tokio::spawn(async move {
            let status = tokio::select! {
                status = child.wait() => status.ok(),
                _ = killed => {
                    let _ = child.start_kill();
                    child.wait().await.ok()
                }
            };
            let message = format!("the function process exited ({status:?})");
            exit(&registry, &function, error_document("Runtime.ExitError", &message)).await;
            ProcessOutput { status, stdout: stdout.await.unwrap_or_default(), stderr: stderr.await.unwrap_or_default() }
        });
        Ok(FunctionProcess { pid, kill: Some(kill), exited })
    }

    /// Waits until `name` asks for its first invocation (its init is over); returns when that happened.
    pub async fn ready(&self, name: &str, timeout: Duration) -> Option<Instant> {
        let deadline = Instant::now() + timeout;
        loop {
            let (first_poll, polled) = self.registry.with_slot(name, |slot| (slot.first_poll, slot.polled.clone()));
            if first_poll.is_some() {
                return first_poll;
            }
            if self.registry.with_slot(name, |slot| slot.init_error.is_some()) {
                return None;
            }
            let wait = polled.notified();
            // Re-check: the poll may have landed between the read and the wait.
            if let Some(at) = self.registry.with_slot(name, |slot| slot.first_poll) {
                return Some(at);
            }
            if tokio::time::timeout(deadline.saturating_duration_since(Instant::now()), wait).await.is_err() {
                return None;
            }
        }
    }

    /// Hands `payload` to the function `name` and waits for its answer.
    pub async fn invoke(&self, name: &str, payload: Bytes) -> Outcome {
        invoke(&self.registry, name, payload).await
    }

    pub async fn stop(self) {
        self.task.abort();
        let _ = self.task.await;
    }
}

async fn invoke(registry: &Registry, name: &str, payload: Bytes) -> Outcome {
    let id = format!("{:08}-local", registry.next_id.fetch_add(1, std::sync::atomic::Ordering::Relaxed));
    let (reply, answer) = oneshot::channel();
    let queued = registry.with_slot(name, |slot| {
        if let Some(error) = &slot.init_error {
            return Err(error.clone());
        }
        let (sender, _) = slot.channel();
        sender.send(Invocation { id, payload, reply }).map_err(|_| Bytes::from_static(b"{\"errorType\":\"Closed\"}"))
    });
    if let Err(error) = queued {
        return Outcome::Error(error);
    }
    match tokio::time::timeout(INVOKE_TIMEOUT, answer).await {
        Ok(Ok(outcome)) => outcome,
        Ok(Err(_)) => Outcome::Error(error_document("Runtime.ExitError", "the function exited during the invocation")),
        Err(_) => Outcome::Error(error_document("Sandbox.Timedout", "the function did not answer in time")),
    }
}

fn error_document(kind: &str, message: &str) -> Bytes {
    Bytes::from(serde_json::json!({ "errorType": kind, "errorMessage": message }).to_string())
}

/// The Invoke API: a function error answers 200 with `X-Amz-Function-Error`, as Lambda does.
async fn invoke_over_http(
    State(registry): State<Arc<Registry>>,
    UrlPath(name): UrlPath<String>,
    payload: Bytes,
) -> Response {
    match invoke(&registry, &name, payload).await {
        Outcome::Response(body) => ([("content-type", "application/json")], body).into_response(),
        Outcome::Error(body) => {
            ([("content-type", "application/json"), ("x-amz-function-error", "Unhandled")], body).into_response()
        }
    }
}

async fn next(State(registry): State<Arc<Registry>>, UrlPath(name): UrlPath<String>) -> Response {
    let (receiver, polled) = registry.with_slot(&name, |slot| {
        slot.first_poll.get_or_insert_with(Instant::now);
        (slot.channel().1, slot.polled.clone())
    });
    polled.notify_waiters();
    let Some(invocation) = receiver.lock().await.recv().await else {
        return StatusCode::GONE.into_response();
    };
    if let Some(error) = registry.with_slot(&name, |slot| slot.init_error.clone()) {
        let _ = invocation.reply.send(Outcome::Error(error));
        return StatusCode::GONE.into_response();
    }
    registry.with_slot(&name, |slot| slot.in_flight.insert(invocation.id.clone(), invocation.reply));
    let deadline_ms = time::OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000 + 10_000;
    let mut headers = HeaderMap::new();
    let header = |value: String| HeaderValue::from_str(&value).unwrap_or_else(|_| HeaderValue::from_static(""));
    headers.insert("lambda-runtime-aws-request-id", header(invocation.id));
    headers.insert("lambda-runtime-deadline-ms", header(deadline_ms.to_string()));
    headers.insert(
        "lambda-runtime-invoked-function-arn",
        header(format!("arn:aws:lambda:us-east-1:000000000000:function:{name}")),
    );
    headers.insert(
        "lambda-runtime-trace-id",
        HeaderValue::from_static("Root=1-00000000-000000000000000000000000;Sampled=0"),
    );
    (headers, invocation.payload).into_response()
}

fn complete(registry: &Registry, name: &str, id: &str, outcome: Outcome) -> StatusCode {
    match registry.with_slot(name, |slot| slot.in_flight.remove(id)) {
        Some(reply) => {
            let _ = reply.send(outcome);
            StatusCode::ACCEPTED
        }
        None => StatusCode::NOT_FOUND,
    }
}

async fn respond(
    State(registry): State<Arc<Registry>>,
    UrlPath((name, id)): UrlPath<(String, String)>,
    body: Bytes,
) -> StatusCode {
    complete(&registry, &name, &id, Outcome::Response(body))
}

async fn fail(
    State(registry): State<Arc<Registry>>,
    UrlPath((name, id)): UrlPath<(String, String)>,
    body: Bytes,
) -> StatusCode {
    complete(&registry, &name, &id, Outcome::Error(body))
}

/// Init failed: the process exits next; every queued and later invocation gets the error.
async fn init_error(State(registry): State<Arc<Registry>>, UrlPath(name): UrlPath<String>, body: Bytes) -> StatusCode {
    exit(&registry, &name, body).await;
    StatusCode::ACCEPTED
}

/// The function is gone (init error or exit): in-flight, queued and later invocations fail with `error`.
async fn exit(registry: &Registry, name: &str, error: Bytes) {
    let (receiver, in_flight) = registry.with_slot(name, |slot| {
        slot.init_error.get_or_insert(error.clone());
        slot.polled.notify_waiters();
        (slot.receiver.clone(), std::mem::take(&mut slot.in_flight))
    });
    for (_, reply) in in_flight {
        let _ = reply.send(Outcome::Error(error.clone()));
    }
    // A poll the dead process left open may hold the receiver; `next` answers what it takes then.
    if let Some(mut receiver) = receiver.as_ref().and_then(|r| r.try_lock().ok()) {
        while let Ok(invocation) = receiver.try_recv() {
            let _ = invocation.reply.send(Outcome::Error(error.clone()));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A process that burns `loops` iterations of a shell loop, then waits to be stopped, as a function waits for
    /// its next event.
    async fn started(api: &RuntimeApi, dir: &Path, name: &str, loops: u32) -> FunctionProcess {
        let script = dir.join(name);
        let body = format!("#!/bin/sh\ni=0\nwhile [ $i -lt {loops} ]; do i=$((i+1)); done\nexec sleep 30\n");
        std::fs::write(&script, body).expect("script written");
        std::fs::set_permissions(&script, std::os::unix::fs::PermissionsExt::from_mode(0o755)).expect("executable");
        let process = api.spawn(&script, name, &[]).expect("started");
        // Past the loop: the shell has become `sleep`.
        let comm = format!("/proc/{}/comm", process.pid().expect("a pid"));
        let deadline = Instant::now() + Duration::from_secs(20);
        while std::fs::read_to_string(&comm).unwrap_or_default().trim() != "sleep" && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        process
    }

    #[tokio::test]
    async fn cpu_time_counts_what_the_process_ran_not_how_long_it_lived() {
        let api = RuntimeApi::start().await.expect("runtime API");
        let dir = std::env::temp_dir().join(format!("cpu-time-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let busy = started(&api, &dir, "busy", 300_000).await;
        let idle = started(&api, &dir, "idle", 0).await;
        tokio::time::sleep(Duration::from_millis(100)).await;
        let (busy_ran, idle_ran) = (busy.cpu_time().await.expect("asleep"), idle.cpu_time().await.expect("asleep"));
        assert!(busy_ran >= Duration::from_millis(50), "the loop's CPU went uncounted: {busy_ran:?}");
        assert!(idle_ran < Duration::from_millis(50), "waiting counted as running: {idle_ran:?}");
        assert!(busy_ran > idle_ran * 3, "{busy_ran:?} against {idle_ran:?}");
        busy.stop().await;
        idle.stop().await;
        api.stop().await;
        let _ = std::fs::remove_dir_all(&dir);
    }
}
