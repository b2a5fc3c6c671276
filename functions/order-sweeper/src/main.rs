fn main() -> storefront::lambda::Result {
    storefront::lambda::run_job(order_sweeper::JOB)
}
