fn main() -> storefront::lambda::Result {
    storefront::lambda::run(web_pages::FUNCTION)
}
