fn main() -> storefront::lambda::Result {
    storefront::lambda::run(adjust_stock::FUNCTION)
}
