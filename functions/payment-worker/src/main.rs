fn main() -> storefront::lambda::Result {
    storefront::lambda::run_worker(payment_worker::WORKER)
}
