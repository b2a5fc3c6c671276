//! The shopper's cart: lines stored per user, priced from the catalog on every read.

use crate::domain::{CartLine, CartView, MAX_CART_LINES, ProductId, Quantity, UserId, ValidationErrors};
use crate::ports::{CartStore, CatalogStore, Clock};

use super::ServiceError;

async fn priced(catalog: &dyn CatalogStore, lines: &[CartLine]) -> Result<CartView, ServiceError> {
    let ids: Vec<ProductId> = lines.iter().map(|l| l.product_id.clone()).collect();
    let products = if ids.is_empty() { Vec::new() } else { catalog.get_products(&ids).await? };
    Ok(CartView::price(lines, &products))
}

pub async fn view(catalog: &dyn CatalogStore, carts: &dyn CartStore, user: &UserId) -> Result<CartView, ServiceError> {
    let lines = carts.cart_lines(user).await?;
    priced(catalog, &lines).await
}

/// Sets the quantity of a product in the cart. Only active products go in; at most `MAX_CART_LINES` products.
pub async fn put_item(
    catalog: &dyn CatalogStore,
    carts: &dyn CartStore,
    clock: &dyn Clock,
    user: &UserId,
    product_id: ProductId,
    quantity: Quantity,
) -> Result<CartView, ServiceError> {
    let product = catalog.get_product(&product_id).await?.ok_or(ServiceError::NotFound("product"))?;
    if !product.is_active() {
        return Err(ServiceError::ProductUnavailable(product_id));
    }
    let mut lines = carts.cart_lines(user).await?;
    let line = CartLine { product_id, quantity };
    let full = lines.len() >= MAX_CART_LINES;
    match lines.iter_mut().find(|l| l.product_id == line.product_id) {
        Some(existing) => existing.quantity = quantity,
        None if full => {
            return Err(ValidationErrors::single(
                "product_id",
                format!("a cart holds at most {MAX_CART_LINES} products"),
            )
            .into());
        }
        None => lines.push(line.clone()),
    }
    carts.put_cart_line(user, &line, clock.now()).await?;
    priced(catalog, &lines).await
}

pub async fn remove_item(
    catalog: &dyn CatalogStore,
    carts: &dyn CartStore,
    user: &UserId,
    product_id: &ProductId,
) -> Result<CartView, ServiceError> {
    carts.remove_cart_line(user, product_id).await?;
    let mut lines = carts.cart_lines(user).await?;
    lines.retain(|l| &l.product_id != product_id);
    priced(catalog, &lines).await
}
