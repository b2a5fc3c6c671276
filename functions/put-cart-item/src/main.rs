//! Lambda entry point of `put-cart-item`: the handler lives in lib.rs, shared with the local server.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    storefront::lambda::serve(put_cart_item::FUNCTION).await
}
