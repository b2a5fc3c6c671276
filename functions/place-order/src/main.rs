//! Lambda entry point of `place-order`: the handler lives in lib.rs, shared with the local server.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    storefront::lambda::serve(place_order::FUNCTION).await
}
