//! Lambda entry point of `order-worker` (SQS event source, partial batch failures).

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    storefront::worker::serve("order-worker", order_worker::handle).await
}
