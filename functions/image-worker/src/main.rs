//! Lambda entry point of `image-worker` (SQS fed by the bucket's ObjectCreated notifications).

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    storefront::worker::serve("image-worker", image_worker::handle).await
}
