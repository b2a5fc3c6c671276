//! Servers the bench starts as processes: the local storefront's release binary, and the hello-world floor.

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

pub struct Process {
    pub url: String,
    child: tokio::process::Child,
    _dir: tempfile::TempDir,
}

impl Process {
    pub async fn stop(mut self) {
        let _ = self.child.kill().await;
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).expect("a free port")
}

async fn wait_until_up(url: &str) {
    let client = reqwest::Client::new();
    for _ in 0..600 {
        if client.get(url).send().await.is_ok_and(|r| r.status().is_success()) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("{url} never answered");
}

/// `storefront-local` on a free port with a fresh data dir (seeded), on the backend `store` names (its `STORE` and
/// `DATABASE_URL`; none: the embedded DynamoDB engine).
pub async fn start_local(binary: &Path, store: &[(String, String)]) -> Process {
    let dir = tempfile::tempdir().expect("temp dir");
    let port = free_port();
    let child = tokio::process::Command::new(binary)
        .env("PORT", port.to_string())
        .env("DATA_DIR", dir.path())
        .env("RUST_LOG", "warn")
        // Its port is free; the six after it, where `make dev` puts the stand-ins, may not be.
        .env("STAND_IN_PORTS", "free")
        .envs(store.iter().map(|(k, v)| (k, v)))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("storefront-local starts");
    let url = format!("http://127.0.0.1:{port}");
    wait_until_up(&format!("{url}/health")).await;
    Process { url, child, _dir: dir }
}

/// The floor: this binary's `hello-http` mode, an axum server answering `hello`.
pub async fn start_hello(bench: &Path) -> Process {
    let dir = tempfile::tempdir().expect("temp dir");
    let port = free_port();
    let child = tokio::process::Command::new(bench)
        .args(["hello-http", &port.to_string()])
        // Its stdin is a pipe it watches: when this process ends, even by a panic (release aborts, dropping
        // nothing), the pipe closes and the server exits instead of holding the caller's terminal.
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("hello server starts");
    let url = format!("http://127.0.0.1:{port}");
    wait_until_up(&url).await;
    Process { url, child, _dir: dir }
}

/// Serves `hello` on 127.0.0.1:`port` until killed or until its stdin closes (the bench that started it ended).
pub async fn serve_hello(port: u16) {
    use tokio::io::AsyncReadExt;
    let app = axum::Router::new().route("/", axum::routing::get(|| async { "hello" }));
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await.expect("bind");
    let parent_gone = async {
        let mut sink = Vec::new();
        let _ = tokio::io::stdin().read_to_end(&mut sink).await;
    };
    axum::serve(listener, app).with_graceful_shutdown(parent_gone).await.expect("serve");
}
