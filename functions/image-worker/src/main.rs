fn main() -> storefront::lambda::Result {
    storefront::lambda::run_worker(image_worker::WORKER)
}
