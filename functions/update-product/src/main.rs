fn main() -> storefront::lambda::Result {
    storefront::lambda::run(update_product::FUNCTION)
}
