//! `storefront-local`: the whole storefront on this machine. `PORT` (3000), `DATA_DIR` (.storefront),
//! `PAYMENT_WINDOW_SECONDS` (900), `BIND_ADDRESS` (127.0.0.1) and `STORE` (storefront_local::Options::from_env).

use std::process::ExitCode;

use storefront_local::options::StandIn;

#[tokio::main]
async fn main() -> ExitCode {
    storefront::telemetry::init();
    let mut stand_ins = None;
    let server = match storefront_local::Options::from_env() {
        Ok(options) => {
            let port = |s| options.stand_in_address(s).port();
            stand_ins = Some((port(StandIn::ALL[0]), port(StandIn::ALL[StandIn::ALL.len() - 1]), options.bind));
            storefront_local::start(options).await
        }
        Err(error) => Err(error),
    };
    let server = match server {
        Ok(server) => server,
        Err(error) => {
            eprintln!("storefront-local could not start: {error}");
            return ExitCode::FAILURE;
        }
    };
    let url = server.url();
    println!("Storefront listening on {url} (data in {})", server.data_dir.display());
    if server.seeded > 0 {
        println!("Seeded a demo catalog of {} products.", server.seeded);
    }
    println!("  browse:    curl {url}/products");
    println!("  a token:   curl -X POST {url}/dev/token -d '{{\"user_id\":\"alice\",\"role\":\"shopper\"}}'");
    println!("  then:      curl -H \"Authorization: Bearer $TOKEN\" {url}/cart");
    println!("  pay:       open {url}/dev/pay/<payment.intent_id of an order> (the local test-card page)");
    if let Some((first, last, bind)) = stand_ins {
        println!(
            "  sam local: the AWS stand-ins listen on {bind}, ports {first}-{last} (events/env.json, docs/deploy.md)"
        );
    }
    wait_for_stop().await;
    println!("Stopping…");
    server.stop().await;
    ExitCode::SUCCESS
}

async fn wait_for_stop() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let Ok(mut term) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) else {
            let _ = ctrl_c.await;
            return;
        };
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
}
