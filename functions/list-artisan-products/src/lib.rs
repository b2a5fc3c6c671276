//! GET /artisan/products: the caller's own listed products, newest first, with what only their owner sees (the
//! uploads that were refused, and why).

use storefront::api::prelude::*;
use storefront::domain::OwnedProduct;
use storefront::ports::{Page, ProductFilter};

storefront::route!(GET "/artisan/products", artisan, handle);

async fn handle(state: AppState, req: Request) -> Result<Response<Body>, ApiError> {
    let caller = caller(&req)?;
    let pages = Pagination::new(&state.cursors, format!("artisan-products:{}", caller.user_id));
    let filter = ProductFilter { artisan_id: Some(caller.user_id.clone()), category: None };
    // The store itself, not the public read cache: an artisan sees their own change at once.
    let page = state.catalog.list_products(&filter, &pages.request(&req)?).await?;
    let owned: Vec<OwnedProduct> = page.items.iter().map(OwnedProduct::from).collect();
    pages.respond(Page { items: owned, next: page.next })
}
