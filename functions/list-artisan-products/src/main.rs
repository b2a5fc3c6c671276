//! Lambda entry point of `list-artisan-products`: the handler lives in lib.rs, shared with the local server.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    storefront::lambda::serve(list_artisan_products::FUNCTION).await
}
