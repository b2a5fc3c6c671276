fn main() -> storefront::lambda::Result {
    storefront::lambda::run_job(payment_reconciler::JOB)
}
