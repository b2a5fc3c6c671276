fn main() -> storefront::lambda::Result {
    storefront::lambda::run(cancel_order::FUNCTION)
}
