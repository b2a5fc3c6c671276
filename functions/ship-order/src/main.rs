fn main() -> storefront::lambda::Result {
    storefront::lambda::run(ship_order::FUNCTION)
}
