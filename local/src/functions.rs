//! Every route function the local server mounts: the same `Function` values the Lambda binaries run.

use storefront::http::Function;

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
];
