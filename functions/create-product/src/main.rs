fn main() -> storefront::lambda::Result {
    storefront::lambda::run(create_product::FUNCTION)
}
