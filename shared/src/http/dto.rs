//! Request bodies shared by several routes. Strict: unknown fields are refused (no mass assignment).

use serde::Deserialize;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PriceInput {
    pub amount: i64,
    pub currency: String,
}
