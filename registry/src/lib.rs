//! Every function of the storefront, listed once. The local server mounts and runs them, the tests hold them against
//! template.yaml and openapi.yaml and invoke their binaries, and the bench starts them. A new function is one line
//! here and one in this crate's Cargo.toml (docs/contributing.md).

use storefront::api::Function;
use storefront::worker::{QueueWorker, ScheduledJob};

/// The HTTP routes: the catalog, the artisan's products, the cart, orders, the artisan's orders, photos, payments.
pub const FUNCTIONS: &[Function] = &[
    list_products::FUNCTION,
    get_product::FUNCTION,
    get_artisan::FUNCTION,
    list_categories::FUNCTION,
    create_product::FUNCTION,
    update_product::FUNCTION,
    archive_product::FUNCTION,
    adjust_stock::FUNCTION,
    get_cart::FUNCTION,
    put_cart_item::FUNCTION,
    remove_cart_item::FUNCTION,
    place_order::FUNCTION,
    list_orders::FUNCTION,
    get_order::FUNCTION,
    cancel_order::FUNCTION,
    list_artisan_orders::FUNCTION,
    list_artisan_products::FUNCTION,
    ship_order::FUNCTION,
    request_image_upload::FUNCTION,
    payment_webhook::FUNCTION,
    list_payouts::FUNCTION,
    connect_payout_account::FUNCTION,
];

/// The web storefront's pages: the HTTP API's default route (`$default`), every request no route above takes.
pub const SITE: Function = web_pages::FUNCTION;

/// The SQS-triggered workers.
pub const WORKERS: &[QueueWorker] = &[order_worker::WORKER, payment_worker::WORKER, image_worker::WORKER];

/// The functions on a schedule.
pub const JOBS: &[ScheduledJob] = &[order_sweeper::JOB, payment_reconciler::JOB];

/// Every function's name (its crate and binary), routes first.
pub fn names() -> impl Iterator<Item = &'static str> {
    FUNCTIONS
        .iter()
        .map(|f| f.route.function)
        .chain(std::iter::once(SITE.route.function))
        .chain(WORKERS.iter().map(|w| w.function))
        .chain(JOBS.iter().map(|j| j.function))
}
