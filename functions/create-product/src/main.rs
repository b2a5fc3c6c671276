//! Lambda entry point of `create-product`: the handler lives in lib.rs, shared with the local server.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    storefront::lambda::serve(create_product::FUNCTION).await
}
