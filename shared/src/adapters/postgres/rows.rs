//! Mapping between domain values and rows, in one place. Reading is strict (a malformed row is an error naming
//! the table and the column); lists skip what they cannot read ([`readable`]) rather than fail whole, as the
//! DynamoDB adapter's do.

use super::sqlx::{Decode, Json, PgRow, Postgres, Row, Type};
use serde::de::DeserializeOwned;
use time::OffsetDateTime;

use crate::domain::{
    Category, Currency, Money, Order, OrderId, OrderRef, OrderStatus, Payout, PayoutAccount, PayoutStatus, Product,
    ProductId, ProductStatus, ProviderRef, UserId,
};
use crate::ports::{ArtisanProfile, StoreError};

/// The columns a product is read from (the order [`product`] expects them in).
pub const PRODUCT_COLUMNS: &str = "product_id, artisan_id, title, description, category, price_amount, currency, \
     stock, status, images, image_errors, version, created_at, updated_at";

/// The columns an order is read from (the order [`order`] expects them in).
pub const ORDER_COLUMNS: &str = "order_id, user_id, status, items, total_amount, currency, contact_email, \
     shipped_artisans, payment, shares, created_at, updated_at, retry";

pub const PAYOUT_COLUMNS: &str = "artisan_id, order_id, amount, currency, status, transfer_id, reason, reversal_id, \
     destination, intent_id, charge_id, version, retry, created_at, updated_at";

fn malformed(table: &str, column: &str) -> StoreError {
    StoreError::unexpected(format!("malformed row in {table}: {column}"))
}

/// One column, or an error naming it.
fn get<'r, T>(row: &'r PgRow, table: &str, column: &str) -> Result<T, StoreError>
where
    T: Decode<'r, Postgres> + Type<Postgres>,
{
    row.try_get(column).map_err(|_| malformed(table, column))
}

/// A JSON column; SQL `NULL` reads as JSON `null` (what an absent optional value is stored as).
fn json<T: DeserializeOwned>(row: &PgRow, table: &str, column: &str) -> Result<T, StoreError> {
    let stored = get::<Option<Json<serde_json::Value>>>(row, table, column)?;
    serde_json::from_value(stored.map_or(serde_json::Value::Null, |Json(value)| value))
        .map_err(|_| malformed(table, column))
}

/// A text column that must parse into a domain value.
fn parsed<T>(row: &PgRow, table: &str, column: &str, parse: impl Fn(&str) -> Option<T>) -> Result<T, StoreError> {
    parse(&get::<String>(row, table, column)?).ok_or_else(|| malformed(table, column))
}

fn money(row: &PgRow, table: &str, amount: &str) -> Result<Money, StoreError> {
    Ok(Money::new(get(row, table, amount)?, parsed(row, table, "currency", Currency::parse)?))
}

/// An integer column that must fit `T` (a negative or oversized value is malformed, not wrapped).
fn bounded<T: TryFrom<i64>>(row: &PgRow, table: &str, column: &str) -> Result<T, StoreError> {
    T::try_from(get::<i64>(row, table, column)?).map_err(|_| malformed(table, column))
}

/// The rows a list maps, without the ones it cannot: each is logged (by table, never its content) and left out.
pub fn readable<T>(rows: &[PgRow], map: impl Fn(&PgRow) -> Result<T, StoreError>) -> Vec<T> {
    rows.iter()
        .filter_map(|row| {
            map(row).inspect_err(|error| tracing::error!(?error, "stored row cannot be read; left out")).ok()
        })
        .collect()
}

/// A JSON value to bind (serialising plain domain values cannot fail).
pub fn to_json(value: &impl serde::Serialize) -> serde_json::Value {
    serde_json::to_value(value).unwrap_or_default()
}

/// A user's (or artisan's, by `owner_column`) id and an order id from a row of a due list; `None` (logged) when
/// either cannot be read.
pub fn order_ref_of(row: &PgRow, owner_column: &str) -> Option<(UserId, OrderId)> {
    let id = |column: &str| row.try_get::<String, _>(column).unwrap_or_default();
    let (owner, order) = (id(owner_column), id("order_id"));
    let read = UserId::parse(&owner).zip(OrderId::parse(&order));
    if read.is_none() {
        tracing::error!(owner, order, "stored due item cannot be read; left out");
    }
    read
}

/// A user's order from a row of a due list.
pub fn order_ref(row: &PgRow) -> Option<OrderRef> {
    order_ref_of(row, "user_id").map(|(user_id, order_id)| OrderRef { user_id, order_id })
}

pub fn product(row: &PgRow) -> Result<Product, StoreError> {
    const T: &str = "products";
    Ok(Product {
        product_id: parsed(row, T, "product_id", ProductId::parse)?,
        artisan_id: parsed(row, T, "artisan_id", UserId::parse)?,
        title: get(row, T, "title")?,
        description: get(row, T, "description")?,
        category: parsed(row, T, "category", Category::parse)?,
        price: money(row, T, "price_amount")?,
        stock: bounded(row, T, "stock")?,
        status: parsed(row, T, "status", ProductStatus::parse)?,
        images: json(row, T, "images")?,
        image_errors: json(row, T, "image_errors")?,
        version: bounded(row, T, "version")?,
        created_at: get(row, T, "created_at")?,
        updated_at: get(row, T, "updated_at")?,
    })
}

pub fn artisan(row: &PgRow) -> Result<ArtisanProfile, StoreError> {
    const T: &str = "artisans";
    Ok(ArtisanProfile {
        artisan_id: parsed(row, T, "artisan_id", UserId::parse)?,
        display_name: get(row, T, "display_name")?,
        product_count: get::<i64>(row, T, "product_count")?.max(0).unsigned_abs(),
    })
}

pub fn order(row: &PgRow) -> Result<Order, StoreError> {
    const T: &str = "orders";
    Ok(Order {
        order_id: parsed(row, T, "order_id", OrderId::parse)?,
        user_id: parsed(row, T, "user_id", UserId::parse)?,
        status: parsed(row, T, "status", OrderStatus::parse)?,
        items: json(row, T, "items")?,
        total: money(row, T, "total_amount")?,
        shipped_artisans: json(row, T, "shipped_artisans")?,
        contact_email: get(row, T, "contact_email")?,
        payment: json(row, T, "payment")?,
        shares: json(row, T, "shares")?,
        retry: json(row, T, "retry")?,
        created_at: get(row, T, "created_at")?,
        updated_at: get(row, T, "updated_at")?,
    })
}

pub fn payout(row: &PgRow) -> Result<Payout, StoreError> {
    const T: &str = "payouts";
    Ok(Payout {
        artisan_id: parsed(row, T, "artisan_id", UserId::parse)?,
        order_id: parsed(row, T, "order_id", OrderId::parse)?,
        amount: money(row, T, "amount")?,
        status: parsed(row, T, "status", PayoutStatus::parse)?,
        transfer_id: reference(row, T, "transfer_id")?,
        reason: get(row, T, "reason")?,
        reversal_id: reference(row, T, "reversal_id")?,
        destination: reference(row, T, "destination")?,
        intent_id: reference(row, T, "intent_id")?,
        charge_id: reference(row, T, "charge_id")?,
        version: bounded(row, T, "version")?,
        retry: json(row, T, "retry")?,
        created_at: get(row, T, "created_at")?,
        updated_at: get(row, T, "updated_at")?,
    })
}

/// A provider id column that may be `NULL`.
fn reference(row: &PgRow, table: &str, column: &str) -> Result<Option<ProviderRef>, StoreError> {
    get::<Option<String>>(row, table, column)?
        .map(|id| ProviderRef::parse(&id).ok_or_else(|| malformed(table, column)))
        .transpose()
}

pub fn payout_account(row: &PgRow) -> Result<PayoutAccount, StoreError> {
    const T: &str = "payout_accounts";
    Ok(PayoutAccount {
        account_id: parsed(row, T, "account_id", ProviderRef::parse)?,
        connected_at: get::<OffsetDateTime>(row, T, "connected_at")?,
    })
}
