//! GET /categories: every category with its count of listed products.

use serde_json::json;
use storefront::api::prelude::*;
use storefront::services::catalog;

storefront::route!(GET "/categories", public, handle);

async fn handle(state: AppState, _req: Request) -> Result<Response<Body>, ApiError> {
    let categories = catalog::categories(state.catalog_reads.as_ref()).await?;
    let items: Vec<_> = categories
        .iter()
        .map(|c| json!({ "slug": c.info.slug, "name": c.info.name, "product_count": c.product_count }))
        .collect();
    let mut response = json(StatusCode::OK, &json!({ "items": items }))?;
    cache_publicly(&mut response, 60);
    Ok(response)
}
