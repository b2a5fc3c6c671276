//! Lambda entry point of `get-product`: the handler lives in lib.rs, shared with the local server.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    storefront::lambda::serve(get_product::FUNCTION).await
}
