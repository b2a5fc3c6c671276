//! `lambda-invoke <event.json>`: `sam local invoke` without Docker. Starts the local stack, runs the function the
//! event is named for (`events/<source>/<function>.<case>.json`) from its own binary (built beside this one) under
//! the Runtime API harness, sends the event, and prints the function's answer and its log lines.
//! `make invoke EVENT=get-product.ok` builds both and runs it.

use std::path::PathBuf;
use std::time::Duration;

use storefront_local::runtime_api::{Outcome, RuntimeApi};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let Some(event) = std::env::args().nth(1).map(PathBuf::from) else {
        return Err("usage: lambda-invoke <events/.../function.case.json>".into());
    };
    let file = event.file_name().and_then(|n| n.to_str()).ok_or("an event file name")?;
    let function = file.split('.').next().ok_or("an event named <function>.<case>.json")?.to_owned();
    let payload = std::fs::read(&event)?;
    let binary = std::env::current_exe()?.with_file_name(&function);
    if !binary.exists() {
        return Err(format!("{} is not built (cargo build --bin {function})", binary.display()).into());
    }

    // A fresh data dir: the stack is seeded like a new `make dev`.
    let data = std::env::temp_dir().join(format!("storefront-invoke-{}", std::process::id()));
    let stack = storefront_local::start(storefront_local::Options::new(0, data.clone())).await?;
    let api = RuntimeApi::start().await?;
    let process = api.spawn(&binary, &function, &stack.lambda_environment())?;
    let outcome = match api.ready(&function, Duration::from_secs(30)).await {
        Some(_) => api.invoke(&function, payload.into()).await,
        None => Outcome::Error("the function never became ready".into()),
    };
    let output = process.stop().await;
    eprint!("{}{}", output.stdout, output.stderr);
    stack.stop().await;
    api.stop().await;
    let _ = std::fs::remove_dir_all(&data);
    match outcome {
        Outcome::Response(body) => {
            let text = String::from_utf8_lossy(&body);
            match serde_json::from_str::<serde_json::Value>(&text) {
                Ok(json) => println!("{}", serde_json::to_string_pretty(&json)?),
                Err(_) => println!("{text}"),
            }
            Ok(())
        }
        Outcome::Error(body) => Err(format!("function error: {}", String::from_utf8_lossy(&body)).into()),
    }
}
