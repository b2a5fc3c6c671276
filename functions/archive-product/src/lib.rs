//! DELETE /products/{product_id}: archives the product: hidden from listings, kept for past orders.

use storefront::http::prelude::*;
use storefront::services::products;

pub const FUNCTION: Function = Function {
    route: Route {
        method: "DELETE",
        path: "/products/{product_id}",
        function: "archive-product",
        access: Access::Role(Role::Artisan),
    },
    handler: |state, req| Box::pin(handle(state, req)),
};

async fn handle(state: AppState, req: Request) -> Result<Response<Body>, ApiError> {
    let caller = caller(&req)?;
    let id = product_id_param(&req)?;
    products::archive(state.catalog.as_ref(), state.clock.as_ref(), &caller.user_id, &id).await?;
    Ok(no_content())
}
