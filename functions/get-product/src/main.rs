fn main() -> storefront::lambda::Result {
    storefront::lambda::run(get_product::FUNCTION)
}
