fn main() -> storefront::lambda::Result {
    storefront::lambda::run(request_image_upload::FUNCTION)
}
