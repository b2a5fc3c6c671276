//! Mapping between domain values and DynamoDB items, in one place. Reading is strict (a malformed item is an
//! error naming the attribute); lists skip what they cannot read ([`readable`]) rather than fail whole.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::keys::*;
use crate::domain::{
    CartLine, Category, Currency, Money, Order, OrderId, OrderLine, OrderStatus, Payment, Payout, PayoutAccount,
    PayoutStatus, Product, ProductId, ProductImage, ProductStatus, ProviderRef, Quantity, UserId,
};
use crate::ports::{ArtisanProfile, StoreError};

pub fn s(value: impl Into<String>) -> AttributeValue {
    AttributeValue::S(value.into())
}

pub fn n(value: impl ToString) -> AttributeValue {
    AttributeValue::N(value.to_string())
}

pub fn timestamp(value: OffsetDateTime) -> AttributeValue {
    // RFC 3339 formatting of a valid UTC time cannot fail.
    s(value.format(&Rfc3339).unwrap_or_default())
}

fn malformed(item: &Item, what: &str) -> StoreError {
    let kind = item.get(PK).and_then(|v| v.as_s().ok()).map(String::as_str).unwrap_or("?");
    StoreError::unexpected(format!("malformed item {kind}: {what}"))
}

pub fn get_s<'a>(item: &'a Item, name: &str) -> Result<&'a str, StoreError> {
    item.get(name).and_then(|v| v.as_s().ok()).map(String::as_str).ok_or_else(|| malformed(item, name))
}

pub fn get_n<T: std::str::FromStr>(item: &Item, name: &str) -> Result<T, StoreError> {
    item.get(name).and_then(|v| v.as_n().ok()).and_then(|v| v.parse().ok()).ok_or_else(|| malformed(item, name))
}

fn get_time(item: &Item, name: &str) -> Result<OffsetDateTime, StoreError> {
    OffsetDateTime::parse(get_s(item, name)?, &Rfc3339).map_err(|_| malformed(item, name))
}

fn get_json<T: serde::de::DeserializeOwned>(item: &Item, name: &str) -> Result<T, StoreError> {
    serde_json::from_str(get_s(item, name)?).map_err(|_| malformed(item, name))
}

/// A JSON attribute that may be absent.
fn optional_json<T: serde::de::DeserializeOwned>(item: &Item, name: &str) -> Result<Option<T>, StoreError> {
    item.get(name).map(|_| get_json(item, name)).transpose()
}

fn json(value: &impl serde::Serialize) -> AttributeValue {
    // Serialising plain domain values (strings, numbers, vectors of them) cannot fail.
    s(serde_json::to_string(value).unwrap_or_default())
}

/// The items a list maps, without the ones it cannot: each is logged (with its key, never its content) and left
/// out, so one corrupt item never turns a whole listing, cart or order history into an error.
pub fn readable<'a, T>(
    items: impl IntoIterator<Item = &'a Item>,
    map: impl Fn(&Item) -> Result<T, StoreError>,
) -> Vec<T> {
    items
        .into_iter()
        .filter_map(|item| {
            map(item)
                .inspect_err(|error| {
                    let pk = item.get(PK).and_then(|v| v.as_s().ok()).map(String::as_str).unwrap_or("?");
                    let sk = item.get(SK).and_then(|v| v.as_s().ok()).map(String::as_str).unwrap_or("?");
                    tracing::error!(pk, sk, ?error, "stored item cannot be read; left out");
                })
                .ok()
        })
        .collect()
}

// ---------------------------------------------------------------- products

/// The whole product item, with its index keys when it is listed (active); archived products carry none, so the
/// sparse indexes simply stop returning them.
pub fn product_item(product: &Product) -> Item {
    let mut item = product_key(&product.product_id);
    item.insert("entity".into(), s("product"));
    item.insert("product_id".into(), s(product.product_id.as_str()));
    item.insert("artisan_id".into(), s(product.artisan_id.as_str()));
    item.insert("title".into(), s(&product.title));
    item.insert("description".into(), s(&product.description));
    item.insert("category".into(), s(product.category.as_str()));
    item.insert("price_amount".into(), n(product.price.amount));
    item.insert("currency".into(), s(product.price.currency.code()));
    item.insert("stock".into(), n(product.stock));
    item.insert("status".into(), s(product.status.as_str()));
    let images = product
        .images
        .iter()
        .map(|image| {
            AttributeValue::M(HashMap::from([
                ("thumb_url".to_owned(), s(&image.thumb_url)),
                ("large_url".to_owned(), s(&image.large_url)),
            ]))
        })
        .collect();
    item.insert("images".into(), AttributeValue::L(images));
    if !product.image_errors.is_empty() {
        item.insert("image_errors".into(), json(&product.image_errors));
    }
    item.insert("version".into(), n(product.version));
    item.insert("created_at".into(), timestamp(product.created_at));
    item.insert("updated_at".into(), timestamp(product.updated_at));
    if product.is_active() {
        let id = s(product.product_id.as_str());
        let shard = shard_of(product.product_id.as_str());
        item.insert(SHARDED_INDEX_PK.into(), s(catalog_shard_key(shard)));
        item.insert(SHARDED_INDEX_SK.into(), id.clone());
        item.insert(CATEGORY_INDEX_PK.into(), s(category_shard_key(&product.category, shard)));
        item.insert(CATEGORY_INDEX_SK.into(), id.clone());
        item.insert(ARTISAN_INDEX_PK.into(), s(artisan_pk(&product.artisan_id)));
        item.insert(ARTISAN_INDEX_SK.into(), id);
    }
    item
}

pub fn product_from_item(item: &Item) -> Result<Product, StoreError> {
    let images = match item.get("images") {
        Some(AttributeValue::L(list)) => list
            .iter()
            .map(|entry| {
                let map = entry.as_m().map_err(|_| malformed(item, "images"))?;
                Ok(ProductImage {
                    thumb_url: get_s(map, "thumb_url")?.to_owned(),
                    large_url: get_s(map, "large_url")?.to_owned(),
                })
            })
            .collect::<Result<Vec<_>, StoreError>>()?,
        _ => Vec::new(),
    };
    Ok(Product {
        product_id: ProductId::parse(get_s(item, "product_id")?).ok_or_else(|| malformed(item, "product_id"))?,
        artisan_id: UserId::parse(get_s(item, "artisan_id")?).ok_or_else(|| malformed(item, "artisan_id"))?,
        title: get_s(item, "title")?.to_owned(),
        description: get_s(item, "description")?.to_owned(),
        category: Category::parse(get_s(item, "category")?).ok_or_else(|| malformed(item, "category"))?,
        price: Money::new(
            get_n(item, "price_amount")?,
            Currency::parse(get_s(item, "currency")?).ok_or_else(|| malformed(item, "currency"))?,
        ),
        stock: get_n(item, "stock")?,
        status: ProductStatus::parse(get_s(item, "status")?).ok_or_else(|| malformed(item, "status"))?,
        images,
        image_errors: match item.get("image_errors") {
            Some(_) => get_json(item, "image_errors")?,
            None => Vec::new(),
        },
        version: get_n(item, "version")?,
        created_at: get_time(item, "created_at")?,
        updated_at: get_time(item, "updated_at")?,
    })
}

// ---------------------------------------------------------------- carts, artisans, categories

/// A cart line with when it was first added (for ordering) and when it expires (epoch seconds).
pub fn cart_line_from_item(item: &Item) -> Result<(CartLine, String, Option<i64>), StoreError> {
    let product_id = ProductId::parse(get_s(item, "product_id")?).ok_or_else(|| malformed(item, "product_id"))?;
    let quantity = Quantity::parse(get_n(item, "quantity")?, "quantity").map_err(|_| malformed(item, "quantity"))?;
    let added_at = get_s(item, "added_at")?.to_owned();
    let expires_at = get_n(item, TTL).ok();
    Ok((CartLine { product_id, quantity }, added_at, expires_at))
}

pub fn artisan_from_item(artisan_id: &UserId, item: &Item) -> Result<ArtisanProfile, StoreError> {
    Ok(ArtisanProfile {
        artisan_id: artisan_id.clone(),
        display_name: get_s(item, "display_name")?.to_owned(),
        product_count: get_n::<i64>(item, "product_count")?.max(0).unsigned_abs(),
    })
}

pub fn category_count_from_item(item: &Item) -> Option<(String, u64)> {
    let slug = get_s(item, PK).ok()?.strip_prefix("CATEGORY#")?.to_owned();
    let count = get_n::<i64>(item, "product_count").ok()?.max(0).unsigned_abs();
    Some((slug, count))
}

// ---------------------------------------------------------------- orders

fn order_attributes(order: &Order, item: &mut Item) {
    item.insert("order_id".into(), s(order.order_id.as_str()));
    item.insert("user_id".into(), s(order.user_id.as_str()));
    item.insert("status".into(), s(order.status.as_str()));
    // Lines never change after checkout; one JSON attribute keeps them whole.
    item.insert("items".into(), json(&order.items));
    item.insert("total_amount".into(), n(order.total.amount));
    item.insert("currency".into(), s(order.total.currency.code()));
    item.insert("created_at".into(), timestamp(order.created_at));
    item.insert("updated_at".into(), timestamp(order.updated_at));
    if let Some(email) = &order.contact_email {
        item.insert("contact_email".into(), s(email));
    }
}

/// What the moves condition on besides the status: the payment's status, `none` before there is one.
pub fn payment_status_of(order: &Order) -> &'static str {
    order.payment_status_name()
}

/// The order's place in GSI1 while it owes work ([`Order::follow_up`]): under its kind, sorted by when it entered
/// that state; or, parked for an operator, in the parked list, sorted by when it was parked.
pub fn open_keys(order: &Order) -> Option<(String, String)> {
    let kind = follow_up_kind(order.follow_up()?);
    let shard = shard_of(order.order_id.as_str());
    let since = open_sort_key(order.updated_at, order.order_id.as_str());
    Some(if order.parked() {
        (parked_shard_key(PARKED_ORDER, shard), since)
    } else {
        (open_shard_key(kind, shard), since)
    })
}

/// The shopper's order item. `shipped_parts` counts `shipped_artisans`: the moves condition on it.
pub fn order_item(order: &Order) -> Item {
    let mut item = order_key(&order.user_id, &order.order_id);
    item.insert("entity".into(), s("order"));
    order_attributes(order, &mut item);
    item.insert("artisan_count".into(), n(order.artisans().len()));
    item.insert("shipped_parts".into(), n(order.shipped_artisans.len()));
    item.insert("shipped_artisans".into(), json(&order.shipped_artisans));
    item.insert("payment_status".into(), s(payment_status_of(order)));
    if let Some(payment) = &order.payment {
        item.insert("payment".into(), json(payment));
    }
    item.insert("shares".into(), json(&order.shares));
    if let Some(retry) = &order.retry {
        item.insert("retry".into(), json(retry));
    }
    if let Some((pk, sk)) = open_keys(order) {
        item.insert(SHARDED_INDEX_PK.into(), s(pk));
        item.insert(SHARDED_INDEX_SK.into(), s(sk));
    }
    item
}

/// One artisan's part: their view of the order ([`Order::for_artisan`]).
pub fn artisan_order_item(order: &Order, artisan: &UserId) -> Result<Item, StoreError> {
    let mut item = artisan_order_key(artisan, &order.order_id);
    item.insert("entity".into(), s("artisan_order"));
    order_attributes(&order.for_artisan(artisan).map_err(StoreError::unexpected)?, &mut item);
    Ok(item)
}

pub fn order_from_item(item: &Item) -> Result<Order, StoreError> {
    let items: Vec<OrderLine> = get_json(item, "items")?;
    Ok(Order {
        order_id: OrderId::parse(get_s(item, "order_id")?).ok_or_else(|| malformed(item, "order_id"))?,
        user_id: UserId::parse(get_s(item, "user_id")?).ok_or_else(|| malformed(item, "user_id"))?,
        status: OrderStatus::parse(get_s(item, "status")?).ok_or_else(|| malformed(item, "status"))?,
        items,
        total: Money::new(
            get_n(item, "total_amount")?,
            Currency::parse(get_s(item, "currency")?).ok_or_else(|| malformed(item, "currency"))?,
        ),
        shipped_artisans: optional_json(item, "shipped_artisans")?.unwrap_or_default(),
        contact_email: item.get("contact_email").and_then(|v| v.as_s().ok()).cloned(),
        payment: optional_json::<Payment>(item, "payment")?,
        shares: optional_json(item, "shares")?.unwrap_or_default(),
        retry: optional_json(item, "retry")?,
        created_at: get_time(item, "created_at")?,
        updated_at: get_time(item, "updated_at")?,
    })
}

pub fn json_value(value: &impl serde::Serialize) -> AttributeValue {
    json(value)
}

// ---------------------------------------------------------------- payouts

/// One payout in the artisan's ledger; in GSI1's due list while it is owed (accrued, not parked), or in the parked
/// list once parked for an operator. Waiting for an account is [`DynamoStore::await_account`]'s doing, undone by
/// the next write of the whole payout (made once the artisan has an account).
pub fn payout_item(payout: &Payout) -> Item {
    let mut item = payout_key(&payout.artisan_id, &payout.order_id);
    item.insert("entity".into(), s("payout"));
    item.insert("artisan_id".into(), s(payout.artisan_id.as_str()));
    item.insert("order_id".into(), s(payout.order_id.as_str()));
    item.insert("amount".into(), n(payout.amount.amount));
    item.insert("currency".into(), s(payout.amount.currency.code()));
    item.insert("status".into(), s(payout.status.as_str()));
    let references = [
        ("transfer_id", &payout.transfer_id),
        ("reversal_id", &payout.reversal_id),
        ("destination", &payout.destination),
        ("intent_id", &payout.intent_id),
        ("charge_id", &payout.charge_id),
    ];
    for (name, value) in references {
        if let Some(value) = value {
            item.insert(name.into(), s(value.as_str()));
        }
    }
    if let Some(reason) = &payout.reason {
        item.insert("reason".into(), s(reason));
    }
    if let Some(retry) = &payout.retry {
        item.insert("retry".into(), json(retry));
    }
    item.insert("version".into(), n(payout.version));
    item.insert("created_at".into(), timestamp(payout.created_at));
    item.insert("updated_at".into(), timestamp(payout.updated_at));
    let id = format!("{}#{}", payout.order_id, payout.artisan_id);
    let shard = shard_of(&id);
    if payout.retry.as_ref().is_some_and(|r| r.parked) {
        item.insert(SHARDED_INDEX_PK.into(), s(parked_shard_key(PARKED_PAYOUT, shard)));
        item.insert(SHARDED_INDEX_SK.into(), s(open_sort_key(payout.updated_at, &id)));
    } else if payout.is_owed() {
        item.insert(SHARDED_INDEX_PK.into(), s(open_shard_key(PAYOUT_KIND, shard)));
        item.insert(SHARDED_INDEX_SK.into(), s(open_sort_key(payout.created_at, &id)));
    }
    item
}

pub fn payout_from_item(item: &Item) -> Result<Payout, StoreError> {
    Ok(Payout {
        artisan_id: UserId::parse(get_s(item, "artisan_id")?).ok_or_else(|| malformed(item, "artisan_id"))?,
        order_id: OrderId::parse(get_s(item, "order_id")?).ok_or_else(|| malformed(item, "order_id"))?,
        amount: Money::new(
            get_n(item, "amount")?,
            Currency::parse(get_s(item, "currency")?).ok_or_else(|| malformed(item, "currency"))?,
        ),
        status: PayoutStatus::parse(get_s(item, "status")?).ok_or_else(|| malformed(item, "status"))?,
        transfer_id: optional_reference(item, "transfer_id")?,
        reason: item.get("reason").map(|_| get_s(item, "reason").map(str::to_owned)).transpose()?,
        reversal_id: optional_reference(item, "reversal_id")?,
        destination: optional_reference(item, "destination")?,
        intent_id: optional_reference(item, "intent_id")?,
        charge_id: optional_reference(item, "charge_id")?,
        // Payouts written before versions were kept read as version 0 (and are written only while still without one).
        version: item.get("version").map(|_| get_n(item, "version")).transpose()?.unwrap_or(0),
        retry: optional_json(item, "retry")?,
        created_at: get_time(item, "created_at")?,
        updated_at: get_time(item, "updated_at")?,
    })
}

/// A provider id that may be absent.
fn optional_reference(item: &Item, name: &str) -> Result<Option<ProviderRef>, StoreError> {
    item.get(name).map(|_| ProviderRef::parse(get_s(item, name)?).ok_or_else(|| malformed(item, name))).transpose()
}

pub fn payout_account_item(artisan: &UserId, account: &PayoutAccount) -> Item {
    let mut item = payout_account_key(artisan);
    item.insert("entity".into(), s("payout_account"));
    item.insert("account_id".into(), s(account.account_id.as_str()));
    item.insert("connected_at".into(), timestamp(account.connected_at));
    item
}

pub fn payout_account_from_item(item: &Item) -> Result<PayoutAccount, StoreError> {
    Ok(PayoutAccount {
        account_id: ProviderRef::parse(get_s(item, "account_id")?).ok_or_else(|| malformed(item, "account_id"))?,
        connected_at: get_time(item, "connected_at")?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{CheckoutLines, NewProduct};

    fn product() -> Product {
        let new = NewProduct::parse("Vase", "Blue", "glass", 4200, "USD", 7).expect("valid");
        let mut product = Product::create(
            new,
            ProductId::from_parts(1_700_000_000_000, 42),
            UserId::parse("ana").expect("id"),
            OffsetDateTime::from_unix_timestamp(1_700_000_000).expect("time"),
        );
        product.images.push(ProductImage { thumb_url: "t".into(), large_url: "l".into() });
        product
    }

    #[test]
    fn a_product_survives_the_round_trip() {
        let product = product();
        assert_eq!(product_from_item(&product_item(&product)).expect("maps back"), product);
    }

    #[test]
    fn an_order_survives_the_round_trip_with_its_shipped_parts() {
        let product = product();
        let lines = CheckoutLines::parse(&[(product.product_id.to_string(), 2)]).expect("lines");
        let at = OffsetDateTime::from_unix_timestamp(1_700_000_000).expect("time");
        let fee = crate::domain::FeeRate::DEFAULT;
        let mut order =
            Order::place(OrderId::from_parts(1, 1), UserId::parse("al").expect("id"), &lines, &[product], fee, at)
                .expect("placed");
        assert!(open_keys(&order).is_some_and(|(pk, _)| pk.starts_with("OPEN#payment#")), "awaiting payment");
        let intent = ProviderRef::parse("pi_1").expect("id");
        let crate::domain::Decision::Move(attached) = order.attach_payment(&intent, "pi_1_secret", at) else {
            panic!("attached")
        };
        order = attached;
        order.shipped_artisans.push(UserId::parse("ana").expect("id"));
        order.contact_email = Some("al@example.com".into());
        assert_eq!(order.shares.len(), 1);
        assert_eq!(order_from_item(&order_item(&order)).expect("maps back"), order);
    }

    #[test]
    fn only_listed_products_carry_index_keys() {
        let active = product();
        assert!(product_item(&active).contains_key(SHARDED_INDEX_PK));
        let archived = active.archived(active.updated_at);
        let item = product_item(&archived);
        for key in [SHARDED_INDEX_PK, CATEGORY_INDEX_PK, ARTISAN_INDEX_PK] {
            assert!(!item.contains_key(key), "{key} left on an archived product");
        }
    }

    #[test]
    fn a_malformed_item_is_an_error_not_a_panic_and_lists_leave_it_out() {
        let good = product_item(&product());
        for (attribute, value) in [
            ("stock", s("lots")),
            ("stock", n("-9223372036854775808")),
            ("stock", n("4294967296")),
            ("price_amount", n("1e400")),
            ("version", n("-1")),
        ] {
            let mut bad = good.clone();
            bad.insert(attribute.into(), value.clone());
            assert!(product_from_item(&bad).is_err(), "{attribute} = {value:?}");
            assert_eq!(readable([&good, &bad, &good], product_from_item).len(), 2);
        }
    }
}
