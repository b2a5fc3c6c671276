//! An artisan's own products: list, edit, archive, restock. Ownership is checked on every write, and another
//! artisan's product is reported as not found.

use crate::domain::{IdempotencyKey, NewProduct, Product, ProductId, ProductPatch, RequestToken, StockDelta, UserId};
use crate::ports::{CatalogStore, Clock, StockAdjustment, StoreError};

use super::ServiceError;

/// Read-modify-write attempts when a concurrent change (a sale, a restock) moved the version underneath us.
const WRITE_ATTEMPTS: usize = 4;

pub async fn create(
    catalog: &dyn CatalogStore,
    clock: &dyn Clock,
    artisan: &UserId,
    display_name: &str,
    new: NewProduct,
) -> Result<Product, ServiceError> {
    let now = clock.now();
    let id = ProductId::generate(now);
    let product = Product::create(new, id, artisan.clone(), now);
    catalog.create_product(&product, display_name).await?;
    Ok(product)
}

async fn owned(catalog: &dyn CatalogStore, id: &ProductId, artisan: &UserId) -> Result<Product, ServiceError> {
    match catalog.get_product(id).await? {
        Some(product) if &product.artisan_id == artisan => Ok(product),
        _ => Err(ServiceError::NotFound("product")),
    }
}

/// Applies `change` to the current product and writes it if nobody changed it meanwhile. With `if_match`, a
/// version mismatch is the client's to resolve (412); without, we re-read and re-apply. A write refused because
/// the product changed may have been our own (a retried write that landed): reading back exactly what we wrote
/// means it did, and it is not applied again.
pub(crate) async fn modify(
    catalog: &dyn CatalogStore,
    id: &ProductId,
    artisan: &UserId,
    if_match: Option<u64>,
    change: impl Fn(&Product) -> Option<Product>,
) -> Result<Product, ServiceError> {
    let mut written: Option<Product> = None;
    for _ in 0..WRITE_ATTEMPTS {
        let current = owned(catalog, id, artisan).await?;
        if written.as_ref() == Some(&current) {
            return Ok(current);
        }
        if let Some(expected) = if_match.filter(|v| *v != current.version) {
            return Err(ServiceError::StaleVersion { expected, current: current.version });
        }
        let Some(next) = change(&current) else {
            return Ok(current);
        };
        match catalog.replace_product(&current, &next).await {
            Ok(()) => return Ok(next),
            Err(StoreError::Conflict(_)) => written = Some(next),
            Err(error) => return Err(error.into()),
        }
    }
    Err(StoreError::Unavailable("product kept changing during the update".into()).into())
}

pub async fn update(
    catalog: &dyn CatalogStore,
    clock: &dyn Clock,
    artisan: &UserId,
    id: &ProductId,
    patch: ProductPatch,
    if_match: Option<u64>,
) -> Result<Product, ServiceError> {
    modify(catalog, id, artisan, if_match, |current| Some(current.patched(patch.clone(), clock.now()))).await
}

/// Archiving an archived product changes nothing and succeeds.
pub async fn archive(
    catalog: &dyn CatalogStore,
    clock: &dyn Clock,
    artisan: &UserId,
    id: &ProductId,
) -> Result<Product, ServiceError> {
    modify(catalog, id, artisan, None, |current| current.is_active().then(|| current.archived(clock.now()))).await
}

/// Moves the stock by `delta`, once per `key` (the client's Idempotency-Key) when one is given; without one, once
/// per call (the SDK's retries of the write are recognised by a token made here).
pub async fn adjust_stock(
    catalog: &dyn CatalogStore,
    clock: &dyn Clock,
    artisan: &UserId,
    id: &ProductId,
    delta: StockDelta,
    key: Option<&IdempotencyKey>,
) -> Result<Product, ServiceError> {
    let now = clock.now();
    let adjustment_id = match key {
        Some(key) => format!("key#{key}"),
        None => format!("call#{}", RequestToken::generate(now)),
    };
    Ok(catalog.adjust_stock(id, artisan, &StockAdjustment { id: adjustment_id, delta }, now).await?)
}
