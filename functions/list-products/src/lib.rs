//! GET /products: active products, newest first, by category or artisan, with signed cursor pagination.

use storefront::api::prelude::*;
use storefront::domain::{Category, UserId};
use storefront::ports::ProductFilter;

// A page is one store call per shard of the catalog, all at once: a cold start opens a connection for each.
storefront::route!(GET "/products", public, handle, store: Listing);

async fn handle(state: AppState, req: Request) -> Result<Response<Body>, ApiError> {
    let category = query_param(&req, "category");
    let artisan = query_param(&req, "artisan_id");
    let filter = ProductFilter {
        category: category.as_deref().map(|c| Category::parse_field(c, "category")).transpose()?,
        artisan_id: artisan.as_deref().map(|a| UserId::parse_field(a, "artisan_id")).transpose()?,
    };
    let scope =
        format!("products?category={}&artisan_id={}", category.unwrap_or_default(), artisan.unwrap_or_default());
    let pages = Pagination::new(&state.cursors, scope);
    let page = state.catalog_reads.list_products(&filter, &pages.request(&req)?).await?;
    let mut response = pages.respond(page)?;
    cache_publicly(&mut response, 30);
    Ok(response)
}
