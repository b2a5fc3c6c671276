//! GET /products: active products, newest first, by category or artisan, with signed cursor pagination.

use storefront::api::prelude::*;
use storefront::api::response::ListPage;
use storefront::domain::{Category, UserId};
use storefront::ports::{PageRequest, ProductFilter};

storefront::route!(GET "/products", public, handle);

async fn handle(state: AppState, req: Request) -> Result<Response<Body>, ApiError> {
    let category = query_param(&req, "category");
    let artisan = query_param(&req, "artisan_id");
    let filter = ProductFilter {
        category: category.as_deref().map(|c| Category::parse_field(c, "category")).transpose()?,
        artisan_id: artisan.as_deref().map(|a| UserId::parse_field(a, "artisan_id")).transpose()?,
    };
    let limit = page_limit(&req)?;
    // A cursor is only valid for the listing it came from.
    let scope =
        format!("products?category={}&artisan_id={}", category.unwrap_or_default(), artisan.unwrap_or_default());
    let after = query_param(&req, "cursor").map(|cursor| state.cursors.open(&scope, &cursor)).transpose()?;
    let page = state.catalog_reads.list_products(&filter, &PageRequest { limit, after }).await?;
    let next_cursor = page.next.map(|position| state.cursors.seal(&scope, &position));
    let mut response = json(StatusCode::OK, &ListPage { items: page.items, next_cursor })?;
    cache_publicly(&mut response, 30);
    Ok(response)
}
