//! A real browser for the tests: Debian's Chromium, headless, driven through chromedriver over the W3C WebDriver
//! protocol (the few commands the suites need, on the HTTP client the tests already use), with axe-core injected
//! to check accessibility. `make test` installs chromium, chromium-driver and axe-core (tests/browser); without
//! them these tests fail, saying how to get them: they never pass having checked nothing.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

/// The W3C name of an element reference in WebDriver answers.
const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

fn which(binary: &str) -> Option<PathBuf> {
    std::env::var_os("PATH")?.to_str()?.split(':').map(|dir| Path::new(dir).join(binary)).find(|path| path.exists())
}

/// The axe-core script (tests/browser/node_modules, installed by `make test`).
pub fn axe_source() -> String {
    let path = crate::repo_root().join("tests/browser/node_modules/axe-core/axe.min.js");
    std::fs::read_to_string(&path).unwrap_or_else(|_| {
        panic!("{} is missing: run `npm ci --prefix tests/browser` (make test does)", path.display())
    })
}

/// A chromedriver process and one headless Chromium session on it; both end when dropped.
pub struct Browser {
    driver: tokio::process::Child,
    /// The window's size, restored after a full-page screenshot.
    size: (u32, u32),
    base: String,
    session: String,
    client: reqwest::Client,
}

impl Browser {
    /// Starts chromedriver on a free port and a headless Chromium (a fresh profile, no background traffic: this
    /// machine's network is closed), `width` × `height` pixels.
    pub async fn start(width: u32, height: u32) -> Browser {
        let chromedriver = which("chromedriver").unwrap_or_else(|| {
            panic!("chromedriver is not installed: `apt-get install chromium chromium-driver` (make test does)")
        });
        let chromium = which("chromium").unwrap_or_else(|| {
            panic!("chromium is not installed: `apt-get install chromium chromium-driver` (make test does)")
        });
        let port = std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("a free port").port();
        let driver = tokio::process::Command::new(chromedriver)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("chromedriver starts");
        let base = format!("http://127.0.0.1:{port}");
        let client = reqwest::Client::builder().no_proxy().timeout(Duration::from_secs(60)).build().expect("client");
        let deadline = Instant::now() + Duration::from_secs(20);
        while client.get(format!("{base}/status")).send().await.is_err() {
            assert!(Instant::now() < deadline, "chromedriver did not answer within 20 s");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let profile = tempfile::tempdir().expect("profile dir").keep();
        let capabilities = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": chromium,
                "args": [
                    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                    "--disable-background-networking", "--disable-component-update", "--disable-sync",
                    "--disable-dev-shm-usage", format!("--window-size={width},{height}"),
                    format!("--user-data-dir={}", profile.display()),
                ],
            },
        }}});
        let answer: Value = client
            .post(format!("{base}/session"))
            .json(&capabilities)
            .send()
            .await
            .expect("session")
            .json()
            .await
            .expect("JSON");
        let session = answer["value"]["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("no WebDriver session: {answer}"))
            .to_owned();
        let browser = Browser { driver, size: (width, height), base, session, client };
        browser.command("POST", "timeouts", json!({"script": 30_000, "pageLoad": 30_000, "implicit": 0})).await;
        browser
    }

    async fn command(&self, method: &str, path: &str, body: Value) -> Value {
        self.try_command(method, path, body).await.unwrap_or_else(|error| panic!("WebDriver {method} {path}: {error}"))
    }

    /// A command whose WebDriver error is the caller's to judge (a page that re-renders while a test polls it
    /// leaves it holding a stale element: the next poll finds the new one).
    async fn try_command(&self, method: &str, path: &str, body: Value) -> Result<Value, Value> {
        let url = format!("{}/session/{}/{path}", self.base, self.session);
        let request = match method {
            "GET" => self.client.get(url),
            "DELETE" => self.client.delete(url),
            _ => self.client.post(url).json(&body),
        };
        let answer: Value = request.send().await.expect("WebDriver answers").json().await.expect("JSON");
        if answer["value"]["error"].is_string() {
            return Err(answer["value"].clone());
        }
        Ok(answer["value"].clone())
    }

    /// Whether a command failed only because the element it named was replaced since it was found.
    fn is_stale(error: &Value) -> bool {
        error["error"] == "stale element reference"
    }

    /// `GET element/{element}/{property}`, or None when the page replaced the element meanwhile.
    async fn element_property(&self, element: &str, property: &str) -> Option<Value> {
        match self.try_command("GET", &format!("element/{element}/{property}"), Value::Null).await {
            Ok(value) => Some(value),
            Err(error) if Self::is_stale(&error) => None,
            Err(error) => panic!("WebDriver GET element/{element}/{property}: {error}"),
        }
    }

    pub async fn goto(&self, url: &str) {
        self.command("POST", "url", json!({ "url": url })).await;
    }

    pub async fn url(&self) -> String {
        self.command("GET", "url", Value::Null).await.as_str().unwrap_or_default().to_owned()
    }

    /// Runs `script` (a function body; `arguments` are `args`) and returns its value.
    pub async fn run(&self, script: &str, args: Value) -> Value {
        self.command("POST", "execute/sync", json!({ "script": script, "args": args })).await
    }

    /// The first element matching `css`, if there is one.
    pub async fn find(&self, css: &str) -> Option<String> {
        let url = format!("{}/session/{}/element", self.base, self.session);
        let answer: Value = self
            .client
            .post(url)
            .json(&json!({"using": "css selector", "value": css}))
            .send()
            .await
            .expect("WebDriver answers")
            .json()
            .await
            .expect("JSON");
        answer["value"][ELEMENT].as_str().map(str::to_owned)
    }

    /// Waits up to `seconds` for an element matching `css` that is displayed.
    pub async fn wait_for(&self, css: &str, seconds: u64) -> String {
        let deadline = Instant::now() + Duration::from_secs(seconds);
        loop {
            if let Some(element) = self.find(css).await
                && self.element_property(&element, "displayed").await == Some(Value::Bool(true))
            {
                return element;
            }
            if Instant::now() > deadline {
                let html = self.run("return document.body ? document.body.innerText : ''", json!([])).await;
                panic!("no visible {css} after {seconds} s at {}; the page says:\n{html}", self.url().await);
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Waits up to `seconds` for the text of `css` to contain `text`.
    pub async fn wait_for_text(&self, css: &str, text: &str, seconds: u64) {
        let deadline = Instant::now() + Duration::from_secs(seconds);
        loop {
            if let Some(element) = self.find(css).await
                && let Some(now) = self.element_property(&element, "text").await
                && now.as_str().is_some_and(|t| t.contains(text))
            {
                return;
            }
            if Instant::now() > deadline {
                let html = self.run("return document.body ? document.body.innerText : ''", json!([])).await;
                panic!("{css} never said {text:?} at {}; the page says:\n{html}", self.url().await);
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Waits up to `seconds` until the address is `path` (on any origin).
    pub async fn wait_for_path(&self, path_prefix: &str, seconds: u64) -> String {
        let deadline = Instant::now() + Duration::from_secs(seconds);
        loop {
            let url = self.url().await;
            let path = url.splitn(4, '/').nth(3).map(|p| format!("/{p}")).unwrap_or_default();
            if path.starts_with(path_prefix) {
                return path;
            }
            assert!(Instant::now() < deadline, "never reached {path_prefix} (at {url})");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    pub async fn click(&self, css: &str) {
        for _ in 0..10 {
            let element = self.wait_for(css, 10).await;
            match self.try_command("POST", &format!("element/{element}/click"), json!({})).await {
                Ok(_) => return,
                Err(error) if Self::is_stale(&error) => continue,
                Err(error) => panic!("WebDriver click on {css}: {error}"),
            }
        }
        panic!("{css} was replaced each time it was about to be clicked");
    }

    /// Replaces what the field matching `css` holds with `text` (a file input takes a file's path).
    pub async fn fill(&self, css: &str, text: &str) {
        let element = self.wait_for(css, 10).await;
        let is_file = self.run("return arguments[0].type === 'file'", json!([{ ELEMENT: element }])).await == true;
        if !is_file {
            self.command("POST", &format!("element/{element}/clear"), json!({})).await;
        }
        self.command("POST", &format!("element/{element}/value"), json!({ "text": text })).await;
    }

    /// Picks `value` in the `<select>` matching `css`.
    pub async fn select(&self, css: &str, value: &str) {
        let element = self.wait_for(css, 10).await;
        self.run(
            "arguments[0].value = arguments[1]; arguments[0].dispatchEvent(new Event('change', {bubbles: true}));",
            json!([{ ELEMENT: element }, value]),
        )
        .await;
    }

    /// A PNG of the viewport.
    pub async fn screenshot(&self) -> Vec<u8> {
        use base64::Engine;
        let data = self.command("GET", "screenshot", Value::Null).await;
        base64::engine::general_purpose::STANDARD.decode(data.as_str().unwrap_or_default()).expect("a base64 PNG")
    }

    /// A PNG of the whole page, however long (the window stretched to it for the shot).
    pub async fn full_page_screenshot(&self, width: u32) -> Vec<u8> {
        let height = self.run("return Math.ceil(document.documentElement.scrollHeight)", json!([])).await;
        let height = height.as_u64().unwrap_or(900).clamp(600, 4000);
        self.command("POST", "window/rect", json!({"width": width, "height": height + 100})).await;
        tokio::time::sleep(Duration::from_millis(200)).await;
        let png = self.screenshot().await;
        self.command("POST", "window/rect", json!({"width": self.size.0, "height": self.size.1})).await;
        png
    }

    /// axe-core's serious and critical violations on the page as it is now: `id: help (targets)` each.
    pub async fn accessibility_violations(&self, axe: &str) -> Vec<String> {
        self.run(axe, json!([])).await;
        let results = self
            .command(
                "POST",
                "execute/async",
                json!({
                    "script": "const done = arguments[arguments.length - 1]; axe.run(document, {resultTypes: ['violations']}).then(r => done(r.violations), e => done([{id: 'axe-error', help: String(e), impact: 'critical', nodes: []}]));",
                    "args": [],
                }),
            )
            .await;
        results
            .as_array()
            .into_iter()
            .flatten()
            .filter(|v| matches!(v["impact"].as_str(), Some("serious" | "critical")))
            .map(|v| {
                let targets: Vec<String> =
                    v["nodes"].as_array().into_iter().flatten().map(|n| n["target"].to_string()).collect();
                format!(
                    "{}: {} ({})",
                    v["id"].as_str().unwrap_or("?"),
                    v["help"].as_str().unwrap_or("?"),
                    targets.join(", ")
                )
            })
            .collect()
    }

    /// The page's Largest Contentful Paint in milliseconds, as Chromium measured it.
    pub async fn largest_contentful_paint(&self) -> f64 {
        let value = self
            .command(
                "POST",
                "execute/async",
                json!({
                    "script": "const done = arguments[arguments.length - 1]; new PerformanceObserver((list) => { const e = list.getEntries(); done(e[e.length - 1].startTime); }).observe({type: 'largest-contentful-paint', buffered: true}); setTimeout(() => done(-1), 5000);",
                    "args": [],
                }),
            )
            .await;
        value.as_f64().unwrap_or(-1.0)
    }

    /// Ends the session and chromedriver.
    pub async fn quit(mut self) {
        let _ = self.client.delete(format!("{}/session/{}", self.base, self.session)).send().await;
        let _ = self.driver.kill().await;
    }
}
