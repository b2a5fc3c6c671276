//! GET /products/{product_id}: one product (archived ones too, for past orders), with ETag / If-None-Match.

use http::header;
use storefront::api::prelude::*;

storefront::route!(GET "/products/{product_id}", public, handle);

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
