//! Lambda entry point of `remove-cart-item`: the handler lives in lib.rs, shared with the local server.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    storefront::lambda::serve(remove_cart_item::FUNCTION).await
}
