//! The shopper's cart: lines stored per user, priced from the catalog on every read. Calls that do not wait on
//! each other's answers go out together: a cart change makes two round trips to the store, not three or four
//! (the routes declare it: `StoreWork::ReadBesideWrite`).

use futures::future::try_join;

use crate::domain::{CartLine, CartView, MAX_CART_LINES, Product, ProductId, Quantity, UserId, ValidationErrors};
use crate::ports::{CartLineError, CartStore, CatalogStore, Clock, StoreError};

use super::ServiceError;

/// The products of `lines`, read strongly consistent (one batch), less those already in `known`.
async fn products_of(
    catalog: &dyn CatalogStore,
    lines: &[CartLine],
    known: &[&ProductId],
) -> Result<Vec<Product>, StoreError> {
    let ids: Vec<ProductId> =
        lines.iter().filter(|l| !known.contains(&&l.product_id)).map(|l| l.product_id.clone()).collect();
    if ids.is_empty() { Ok(Vec::new()) } else { catalog.get_products(&ids).await }
}

async fn priced(catalog: &dyn CatalogStore, lines: &[CartLine]) -> Result<CartView, ServiceError> {
    Ok(CartView::price(lines, &products_of(catalog, lines, &[]).await?))
}

pub async fn view(catalog: &dyn CatalogStore, carts: &dyn CartStore, user: &UserId) -> Result<CartView, ServiceError> {
    let lines = carts.cart_lines(user).await?;
    priced(catalog, &lines).await
}

fn cart_full() -> ServiceError {
    ValidationErrors::single("product_id", format!("a cart holds at most {MAX_CART_LINES} products")).into()
}

/// Sets the quantity of a product in the cart. Only active products go in; at most `MAX_CART_LINES` products:
/// decided here from the cart as read, and held by the store's write when adds run at once.
pub async fn put_item(
    catalog: &dyn CatalogStore,
    carts: &dyn CartStore,
    clock: &dyn Clock,
    user: &UserId,
    product_id: ProductId,
    quantity: Quantity,
) -> Result<CartView, ServiceError> {
    let (product, mut lines) = try_join(catalog.get_product(&product_id), carts.cart_lines(user)).await?;
    let product = product.ok_or(ServiceError::NotFound("product"))?;
    if !product.is_active() {
        return Err(ServiceError::ProductUnavailable(product_id));
    }
    let line = CartLine { product_id, quantity };
    let full = lines.len() >= MAX_CART_LINES;
    match lines.iter_mut().find(|l| l.product_id == line.product_id) {
        Some(existing) => existing.quantity = quantity,
        None if full => return Err(cart_full()),
        None => lines.push(line.clone()),
    }
    // The write beside the prices of the other lines: this product's price is the one just read.
    let written = async {
        carts.put_cart_line(user, &line, clock.now()).await.map_err(|error| match error {
            CartLineError::Full => cart_full(),
            CartLineError::Store(error) => error.into(),
        })
    };
    let others = async { Ok::<_, ServiceError>(products_of(catalog, &lines, &[&line.product_id]).await?) };
    let ((), mut products) = try_join(written, others).await?;
    products.push(product);
    Ok(CartView::price(&lines, &products))
}

pub async fn remove_item(
    catalog: &dyn CatalogStore,
    carts: &dyn CartStore,
    user: &UserId,
    product_id: &ProductId,
) -> Result<CartView, ServiceError> {
    // The removal beside the read of the cart: whether the read sees the line or not, it is left out below.
    let ((), mut lines) = try_join(carts.remove_cart_line(user, product_id), carts.cart_lines(user)).await?;
    lines.retain(|l| &l.product_id != product_id);
    priced(catalog, &lines).await
}
