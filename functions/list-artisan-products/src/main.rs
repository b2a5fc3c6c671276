fn main() -> storefront::lambda::Result {
    storefront::lambda::run(list_artisan_products::FUNCTION)
}
