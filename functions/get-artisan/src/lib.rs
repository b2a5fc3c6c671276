//! GET /artisans/{artisan_id}: an artisan's public profile and how many products they list.

use serde_json::json;
use storefront::domain::UserId;
use storefront::http::prelude::*;
use storefront::services::catalog;

pub const FUNCTION: Function = Function {
    route: Route { method: "GET", path: "/artisans/{artisan_id}", function: "get-artisan", access: Access::Public },
    handler: |state, req| Box::pin(handle(state, req)),
};

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
