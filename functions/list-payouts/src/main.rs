fn main() -> storefront::lambda::Result {
    storefront::lambda::run(list_payouts::FUNCTION)
}
