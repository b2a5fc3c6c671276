//! Lambda entry point of `request-image-upload`: the handler lives in lib.rs, shared with the local server.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    storefront::lambda::serve(request_image_upload::FUNCTION).await
}
