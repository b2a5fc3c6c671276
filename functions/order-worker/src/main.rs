fn main() -> storefront::lambda::Result {
    storefront::lambda::run_worker(order_worker::WORKER)
}
