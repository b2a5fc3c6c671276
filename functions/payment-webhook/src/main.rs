fn main() -> storefront::lambda::Result {
    storefront::lambda::run(payment_webhook::FUNCTION)
}
