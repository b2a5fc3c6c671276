//! The public pages, rendered here from the catalog (through the function's read cache) and cacheable at the edge:
//! home, category, artisan, product. They are complete without the script; it only adds the bag button's call.

use futures::future::join_all;
use maud::{Markup, html};
use storefront::AppState;
use storefront::api::ApiError;
use storefront::domain::category::{CATEGORIES, CategoryInfo};
use storefront::domain::{Category, Product, ProductId, ProductStatus, UserId};
use storefront::ports::{Page, PageRequest, ProductFilter};
use storefront::services::catalog;

use crate::layout::{Ctx, Main, Meta, page, slug};

/// Products per listing page.
const PAGE_SIZE: usize = 24;

pub fn product_path(product: &Product) -> String {
    let slug = slug(&product.title);
    if slug.is_empty() { format!("/p/{}", product.product_id) } else { format!("/p/{}/{slug}", product.product_id) }
}

/// A photo URL as a link preview or structured data needs it: absolute (photo URLs are relative in AWS, where
/// the same origin serves them).
fn absolute(ctx: &Ctx, url: &str) -> String {
    if url.starts_with('/') { ctx.absolute(url) } else { url.to_owned() }
}

fn money(product: &Product) -> String {
    let amount = product.price.amount;
    format!("${}.{:02}", amount / 100, amount % 100)
}

/// In stock, only a few left, or sold out; archived products are no longer for sale.
fn stock_state(product: &Product) -> (&'static str, String) {
    match (product.status, product.stock) {
        (ProductStatus::Archived, _) => ("out", "No longer available".into()),
        (_, 0) => ("out", "Sold out".into()),
        (_, n) if n <= 3 => ("low", format!("Only {n} left")),
        _ => ("in", "In stock".into()),
    }
}

fn card(product: &Product) -> Markup {
    let (stock_class, stock_text) = stock_state(product);
    html! {
        li.card {
            a href=(product_path(product)) {
                div.ph {
                    @if let Some(image) = product.images.first() {
                        img src=(image.thumb_url) alt=(product.title) width="320" height="240" loading="lazy" decoding="async";
                    } @else {
                        span { "Photo coming" }
                    }
                }
                div.body {
                    h3 { (product.title) }
                    div.row { span.price { (money(product)) } span class={"stock " (stock_class)} { (stock_text) } }
                }
            }
        }
    }
}

fn grid(products: &[Product]) -> Markup {
    html! { ul.grid { @for product in products { (card(product)) } } }
}

/// A listing's "more" link: the next page's position, sealed for this listing.
fn more_link(state: &AppState, scope: &str, path: &str, next: Option<String>) -> Markup {
    html! {
        @if let Some(position) = next {
            p.more { a.button.quiet href={(path) "?cursor=" (state.cursors.seal(scope, &position))} rel="next" { "More" } }
        }
    }
}

fn page_request(state: &AppState, scope: &str, cursor: Option<&str>) -> Result<PageRequest, ApiError> {
    let after = cursor.map(|c| state.cursors.open(scope, c)).transpose()?;
    Ok(PageRequest { limit: PAGE_SIZE, after })
}

pub async fn home(state: &AppState, ctx: &Ctx<'_>) -> Result<Markup, ApiError> {
    let catalog = state.catalog_reads.as_ref();
    let (everything, first_twelve) = (ProductFilter::default(), PageRequest { limit: 12, after: None });
    let newest = catalog.list_products(&everything, &first_twelve);
    // One from every workshop: the newest in stock of each category.
    let featured = join_all(CATEGORIES.iter().map(|info| async move {
        let filter = ProductFilter { category: Category::parse(info.slug), artisan_id: None };
        catalog.list_products(&filter, &PageRequest { limit: 6, after: None }).await
    }));
    let (newest, featured) = futures::join!(newest, featured);
    let newest = newest?.items;
    let mut picks = Vec::new();
    for page in featured {
        if let Some(product) = page?.items.into_iter().find(|p| p.stock > 0) {
            picks.push(product);
        }
    }
    let meta = Meta {
        title: "Handmade, straight from the maker".into(),
        description: "Ceramics, jewelry, textiles, woodwork, prints, glass and leather, made by hand by independent \
                      artisans."
            .into(),
        canonical: Some("/".into()),
        ..Meta::default()
    };
    Ok(page(
        ctx,
        &meta,
        &Main::default(),
        html! {
            h1 { "Handmade, straight from the maker" }
            p.lede { "Every piece here was made by hand, in small batches, by the artisan who sells it." }
            @if !picks.is_empty() {
                h2 { "Featured: one from every workshop" }
                (grid(&picks))
            }
            h2 { "Newest" }
            (grid(&newest))
            p.more { "Browse by craft: "
                @for (n, category) in CATEGORIES.iter().enumerate() {
                    @if n > 0 { ", " }
                    a href={"/c/" (category.slug)} { (category.name) }
                }
            }
        },
    ))
}

pub async fn category(
    state: &AppState,
    ctx: &Ctx<'_>,
    info: &CategoryInfo,
    cursor: Option<&str>,
) -> Result<Markup, ApiError> {
    let scope = format!("page:c/{}", info.slug);
    let filter = ProductFilter { category: Category::parse(info.slug), artisan_id: None };
    let Page { items, next } =
        state.catalog_reads.list_products(&filter, &page_request(state, &scope, cursor)?).await?;
    let path = format!("/c/{}", info.slug);
    let meta = Meta {
        title: info.name.to_owned(),
        description: format!("{}: handmade by independent artisans, newest first.", info.name),
        // The first page is the canonical one; later pages are reached through it.
        canonical: cursor.is_none().then(|| path.clone()),
        ..Meta::default()
    };
    Ok(page(
        ctx,
        &meta,
        &Main::default(),
        html! {
            h1 { (info.name) }
            @if items.is_empty() { p { "Nothing listed here yet." } } @else { (grid(&items)) }
            (more_link(state, &scope, &path, next))
        },
    ))
}

pub async fn artisan(state: &AppState, ctx: &Ctx<'_>, id: &UserId, cursor: Option<&str>) -> Result<Markup, ApiError> {
    let catalog = state.catalog_reads.as_ref();
    let profile = catalog::artisan(catalog, id).await?;
    let scope = format!("page:a/{id}");
    let filter = ProductFilter { category: None, artisan_id: Some(id.clone()) };
    let Page { items, next } = catalog.list_products(&filter, &page_request(state, &scope, cursor)?).await?;
    let path = format!("/a/{id}");
    let meta = Meta {
        title: profile.display_name.clone(),
        description: format!("{} makes things by hand: {} pieces listed.", profile.display_name, profile.product_count),
        canonical: cursor.is_none().then(|| path.clone()),
        kind: "profile",
        ..Meta::default()
    };
    Ok(page(
        ctx,
        &meta,
        &Main::default(),
        html! {
            h1 { (profile.display_name) }
            p.lede { (profile.product_count) " pieces listed" }
            @if items.is_empty() { p { "Nothing listed right now." } } @else { (grid(&items)) }
            (more_link(state, &scope, &path, next))
        },
    ))
}

/// The product's structured data: a `Product` with its `Offer` (price, currency, availability).
fn json_ld(ctx: &Ctx, product: &Product, artisan: &str) -> String {
    let availability = match (product.status, product.stock) {
        (ProductStatus::Archived, _) => "https://schema.org/Discontinued",
        (_, 0) => "https://schema.org/OutOfStock",
        (_, n) if n <= 3 => "https://schema.org/LimitedAvailability",
        _ => "https://schema.org/InStock",
    };
    let amount = product.price.amount;
    serde_json::json!({
        "@context": "https://schema.org",
        "@type": "Product",
        "productID": product.product_id,
        "name": product.title,
        "description": product.description,
        "category": product.category.as_str(),
        "image": product.images.iter().map(|i| absolute(ctx, &i.large_url)).collect::<Vec<_>>(),
        "brand": { "@type": "Brand", "name": artisan },
        "url": ctx.absolute(&product_path(product)),
        "offers": {
            "@type": "Offer",
            "price": format!("{}.{:02}", amount / 100, amount % 100),
            "priceCurrency": product.price.currency.code(),
            "availability": availability,
            "url": ctx.absolute(&product_path(product)),
        },
    })
    .to_string()
}

/// The product page, or where it lives now (a path without, or with an old, slug).
pub enum ProductPage {
    Found(Markup),
    MovedTo(String),
}

pub async fn product(state: &AppState, ctx: &Ctx<'_>, id: &ProductId) -> Result<ProductPage, ApiError> {
    let catalog = state.catalog_reads.as_ref();
    let product = catalog.get_product(id).await?.ok_or_else(|| ApiError::not_found("product"))?;
    let path = product_path(&product);
    if ctx.path != path {
        return Ok(ProductPage::MovedTo(path));
    }
    let artisan = catalog::artisan(catalog, &product.artisan_id).await.ok();
    let artisan_name =
        artisan.as_ref().map(|a| a.display_name.clone()).unwrap_or_else(|| product.artisan_id.to_string());
    let (stock_class, stock_text) = stock_state(&product);
    let category = CATEGORIES.iter().find(|c| c.slug == product.category.as_str());
    let buyable = product.status == ProductStatus::Active && product.stock > 0;
    let description = if product.description.is_empty() {
        format!("{} by {}, handmade. {}.", product.title, artisan_name, money(&product))
    } else {
        product.description.chars().take(155).collect()
    };
    let meta = Meta {
        title: product.title.clone(),
        description,
        canonical: Some(path),
        image: product.images.first().map(|i| absolute(ctx, &i.large_url)),
        kind: "product",
        json_ld: Some(json_ld(ctx, &product, &artisan_name)),
    };
    Ok(ProductPage::Found(page(
        ctx,
        &meta,
        &Main::default(),
        html! {
            div.product {
                div.gallery {
                    @for (n, image) in product.images.iter().enumerate() {
                        // The first photo is the page's largest paint: loaded at once, never lazily.
                        img src=(image.large_url) alt={(product.title) ", photo " (n + 1)} width="1024" height="768"
                            fetchpriority=[(n == 0).then_some("high")] loading=(if n == 0 { "eager" } else { "lazy" });
                    }
                    @if product.images.is_empty() { div.ph { "Photo coming" } }
                }
                div {
                    h1 { (product.title) }
                    p { "by " a href={"/a/" (product.artisan_id)} { (artisan_name) }
                        @if let Some(category) = category { " · " a href={"/c/" (category.slug)} { (category.name) } } }
                    div.buy {
                        p.price { (money(&product)) }
                        p class={"stock " (stock_class)} { (stock_text) }
                        @if buyable {
                            form.row data-add-to-bag=(product.product_id) action="/signin" method="get" {
                                input type="hidden" name="next" value=(ctx.path);
                                label { "Quantity"
                                    select name="quantity" {
                                        @for n in 1..=product.stock.min(10) { option value=(n) { (n) } }
                                    }
                                }
                                button type="submit" { "Add to bag" }
                            }
                            div data-result aria-live="polite" {}
                        }
                    }
                    @if !product.description.is_empty() { h2 { "About this piece" } p { (product.description) } }
                }
            }
        },
    )))
}

/// The products of a sitemap page, and where the next one starts.
pub async fn sitemap_products(
    state: &AppState,
    after: Option<String>,
    limit: usize,
) -> Result<Page<Product>, ApiError> {
    Ok(state.catalog_reads.list_products(&ProductFilter::default(), &PageRequest { limit, after }).await?)
}
