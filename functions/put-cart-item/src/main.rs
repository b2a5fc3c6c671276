fn main() -> storefront::lambda::Result {
    storefront::lambda::run(put_cart_item::FUNCTION)
}
