//! GET /products/{product_id}: one product (archived ones too, for past orders), with ETag / If-None-Match.

use http::header;
use storefront::http::prelude::*;

pub const FUNCTION: Function = Function {
    route: Route { method: "GET", path: "/products/{product_id}", function: "get-product", access: Access::Public },
    handler: |state, req| Box::pin(handle(state, req)),
};

async fn handle(state: AppState, req: Request) -> Result<Response<Body>, ApiError> {
    let id = product_id_param(&req)?;
    let product = state.catalog_reads.get_product(&id).await?.ok_or_else(|| ApiError::not_found("product"))?;
    let tag = etag(product.version);
    let unchanged = req
        .headers()
        .get_all(header::IF_NONE_MATCH)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .any(|candidate| candidate.trim().trim_start_matches("W/") == tag || candidate.trim() == "*");
    let mut response = if unchanged {
        let mut response = Response::new(Body::Empty);
        *response.status_mut() = StatusCode::NOT_MODIFIED;
        response
    } else {
        json(StatusCode::OK, &product)?
    };
    response.headers_mut().insert(header::ETAG, tag);
    cache_publicly(&mut response, 30);
    Ok(response)
}
