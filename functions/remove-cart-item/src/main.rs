fn main() -> storefront::lambda::Result {
    storefront::lambda::run(remove_cart_item::FUNCTION)
}
