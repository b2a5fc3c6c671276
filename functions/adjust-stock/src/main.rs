//! Lambda entry point of `adjust-stock`: the handler lives in lib.rs, shared with the local server.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    storefront::lambda::serve(adjust_stock::FUNCTION).await
}
