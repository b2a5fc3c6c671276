fn main() -> storefront::lambda::Result {
    storefront::lambda::run(archive_product::FUNCTION)
}
