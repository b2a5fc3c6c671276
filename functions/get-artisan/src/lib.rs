//! GET /artisans/{artisan_id}: an artisan's public profile and how many products they list.

use serde_json::json;
use storefront::api::prelude::*;
use storefront::domain::UserId;
use storefront::services::catalog;

storefront::route!(GET "/artisans/{artisan_id}", public, handle);

async fn handle(state: AppState, req: Request) -> Result<Response<Body>, ApiError> {
    let id = path_param(&req, "artisan_id")
        .and_then(|raw| UserId::parse(&raw))
        .ok_or_else(|| ApiError::not_found("artisan"))?;
    let profile = catalog::artisan(state.catalog_reads.as_ref(), &id).await?;
    let mut response = json(
        StatusCode::OK,
        &json!({
            "artisan_id": profile.artisan_id,
            "display_name": profile.display_name,
            "product_count": profile.product_count,
        }),
    )?;
    cache_publicly(&mut response, 60);
    Ok(response)
}
