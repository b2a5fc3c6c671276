//! What building the SDK configuration and clients costs, measured against a store call on clients built once:
//! the price a request would pay if it built its own instead of sharing the init's.

use std::time::Instant;

use storefront::AppState;
use storefront::config::Config;

use crate::report::{Report, Table, ms};
use crate::stats;

/// The clients table; `env` is what the function processes get (its DynamoDB endpoint and configuration).
pub async fn section(env: &[(String, String)], samples: usize, report: &mut Report) {
    let lookup = |name: &str| env.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone());
    let endpoint = lookup("AWS_ENDPOINT_URL_DYNAMODB").expect("the DynamoDB endpoint");
    let config = Config::from_lookup(lookup).expect("the functions' configuration");
    let build = || async {
        let sdk = storefront::adapters::aws::local_sdk_config(&endpoint).await;
        AppState::from_sdk(&sdk, &config).expect("the functions' stores")
    };
    let warm = build().await;
    warm.catalog.ping().await.expect("the stand-in answers");
    let (mut fresh, mut reused) = (Vec::new(), Vec::new());
    for _ in 0..samples {
        let begun = Instant::now();
        build().await.catalog.ping().await.expect("the stand-in answers");
        fresh.push(begun.elapsed());
        let begun = Instant::now();
        warm.catalog.ping().await.expect("the stand-in answers");
        reused.push(begun.elapsed());
    }
    let (fresh, reused) = (stats::millis(&fresh), stats::millis(&reused));
    let mut table = Table::new(
        "Clients built once at init vs per request (ms)",
        &["case", "p50", "p95"],
        "A request that built its own SDK config and clients (AppState::from_sdk: every client a function can reach, \
         as the init of one that reaches everything does) would pay the difference between the rows on top of its \
         store calls.",
    );
    table.row(vec!["store call on the clients built at init".into(), ms(reused.p50), ms(reused.p95)]);
    table.row(vec!["build config + clients, then the same call".into(), ms(fresh.p50), ms(fresh.p95)]);
    report.table(table);
}
