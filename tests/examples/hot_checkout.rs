//! Checkout throughput on one hot product, against `storefront-local` on its embedded engine, at several
//! concurrency levels, with the oversell check printed beside each figure.
//! Run: `cargo run -p storefront-tests --example hot_checkout [--release]` (`make bench-checkout`).

use std::time::Instant;

use storefront_tests::*;

#[tokio::main]
async fn main() {
    let app = spawn_app().await;
    let artisan = app.artisan("bench-artisan").await;
    println!(
        "{:>7} {:>9} {:>8} {:>12} {:>10} {:>9}",
        "buyers", "checkouts", "seconds", "checkouts/s", "p99 ms", "oversold"
    );
    for buyers in [1usize, 8, 64] {
        let per_buyer = if buyers == 1 { 200 } else { 1600 / buyers };
        let total = (buyers * per_buyer) as i64;
        // Stock for exactly 90% of the attempts: the last 10% must all be refused.
        let stock = total * 9 / 10;
        let product = app.create_product(&artisan, "Hot item", "glass", 1000, stock.min(100_000)).await["product_id"]
            .as_str()
            .expect("id")
            .to_owned();
        let tokens: Vec<String> =
            futures::future::join_all((0..buyers).map(|n| app.shopper_owned(format!("b{buyers}-{n}")))).await;
        let started = Instant::now();
        let runs = tokens.iter().enumerate().map(|(n, token)| {
            let (app, product) = (&app, product.clone());
            async move {
                let mut outcomes = Vec::with_capacity(per_buyer);
                for i in 0..per_buyer {
                    let begun = Instant::now();
                    let body = json!({"items": [{"product_id": product, "quantity": 1}]});
                    let status = app.order(token, format!("hot-{n}-{i}"), body).await.status;
                    outcomes.push((status, begun.elapsed()));
                }
                outcomes
            }
        });
        let outcomes: Vec<_> = futures::future::join_all(runs).await.into_iter().flatten().collect();
        let seconds = started.elapsed().as_secs_f64();
        let sold = outcomes.iter().filter(|(s, _)| *s == 201).count() as i64;
        let mut latencies: Vec<_> = outcomes.iter().map(|(_, d)| d.as_secs_f64() * 1000.0).collect();
        latencies.sort_by(f64::total_cmp);
        let p99 = latencies[(latencies.len() * 99 / 100).min(latencies.len() - 1)];
        let remaining = app.stock_of(&product).await;
        // Units sold beyond the stock, or lost from it: both must be zero.
        let oversold = (sold - stock).max(0) + (-remaining).max(0);
        let drift = stock - (remaining + sold);
        println!(
            "{buyers:>7} {:>9} {seconds:>8.2} {:>12.0} {p99:>10.1} {:>9}",
            outcomes.len(),
            outcomes.len() as f64 / seconds,
            if oversold != 0 || drift != 0 { format!("{oversold} (drift {drift})") } else { "0".into() }
        );
    }
}
