//! GET /artisan/products: the caller's own listed products, newest first, with what only their owner sees (the
//! uploads that were refused, and why).

use storefront::api::prelude::*;
use storefront::api::response::ListPage;
use storefront::domain::OwnedProduct;
use storefront::ports::{PageRequest, ProductFilter};

storefront::route!(GET "/artisan/products", artisan, handle);

async fn handle(state: AppState, req: Request) -> Result<Response<Body>, ApiError> {
    let caller = caller(&req)?;
    let limit = page_limit(&req)?;
    let scope = format!("artisan-products:{}", caller.user_id);
    let after = query_param(&req, "cursor").map(|cursor| state.cursors.open(&scope, &cursor)).transpose()?;
    let filter = ProductFilter { artisan_id: Some(caller.user_id.clone()), category: None };
    // The store itself, not the public read cache: an artisan sees their own change at once.
    let page = state.catalog.list_products(&filter, &PageRequest { limit, after }).await?;
    let next_cursor = page.next.map(|position| state.cursors.seal(&scope, &position));
    let items: Vec<OwnedProduct> = page.items.iter().map(OwnedProduct::from).collect();
    json(StatusCode::OK, &ListPage { items, next_cursor })
}
