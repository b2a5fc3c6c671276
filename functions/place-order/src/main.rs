fn main() -> storefront::lambda::Result {
    storefront::lambda::run(place_order::FUNCTION)
}
