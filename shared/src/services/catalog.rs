//! Browsing: categories with counts, artisan pages.

use crate::domain::UserId;
use crate::domain::category::{CATEGORIES, CategoryInfo};
use crate::ports::{ArtisanProfile, CatalogReads};

use super::ServiceError;

pub struct CategorySummary {
    pub info: CategoryInfo,
    pub product_count: u64,
}

/// Every category of the catalog, in navigation order, with its count of listed products.
pub async fn categories(catalog: &dyn CatalogReads) -> Result<Vec<CategorySummary>, ServiceError> {
    let counts = catalog.category_counts().await?;
    Ok(CATEGORIES
        .iter()
        .map(|info| CategorySummary { info: *info, product_count: counts.get(info.slug).copied().unwrap_or(0) })
        .collect())
}

pub async fn artisan(catalog: &dyn CatalogReads, id: &UserId) -> Result<ArtisanProfile, ServiceError> {
    catalog.get_artisan(id).await?.ok_or(ServiceError::NotFound("artisan"))
}
