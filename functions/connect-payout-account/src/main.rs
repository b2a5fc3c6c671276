fn main() -> storefront::lambda::Result {
    storefront::lambda::run(connect_payout_account::FUNCTION)
}
