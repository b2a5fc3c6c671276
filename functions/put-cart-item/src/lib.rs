//! PUT /cart/items/{product_id}: sets how many of a product are in the caller's cart (1..=10).

use serde::Deserialize;
use storefront::api::prelude::*;
use storefront::domain::Quantity;
use storefront::services::carts;

storefront::route!(PUT "/cart/items/{product_id}", shopper, handle, store: ReadBesideWrite);

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PutCartItem {
    #[serde(deserialize_with = "storefront::api::dto::integer")]
    quantity: i64,
}

async fn handle(state: AppState, req: Request) -> Result<Response<Body>, ApiError> {
    let caller = caller(&req)?;
    let id = product_id_param(&req)?;
    let body: PutCartItem = json_body(&req)?;
    let quantity = Quantity::parse(body.quantity, "quantity")?;
    let cart = carts::put_item(
        state.catalog.as_ref(),
        state.carts.as_ref(),
        state.clock.as_ref(),
        &caller.user_id,
        id,
        quantity,
    )
    .await?;
    json(StatusCode::OK, &cart)
}
