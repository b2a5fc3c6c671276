//! Money in integer minor units with an ISO currency. Never floats.

use serde::{Deserialize, Serialize};

use super::ValidationErrors;

/// The currencies the marketplace settles in. One for now: every price and total is USD, so carts never mix.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Currency {
    #[serde(rename = "USD")]
    Usd,
}

impl Currency {
    pub fn code(self) -> &'static str {
        match self {
            Currency::Usd => "USD",
        }
    }

    pub fn parse(code: &str) -> Option<Self> {
        match code {
            "USD" => Some(Currency::Usd),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Money {
    /// Minor units (cents).
    pub amount: i64,
    pub currency: Currency,
}

/// The highest price one item may have: 1,000,000.00. Keeps every line and cart total far inside `i64`.
pub const MAX_PRICE_MINOR: i64 = 100_000_000;

impl Money {
    pub const fn new(amount: i64, currency: Currency) -> Self {
        Self { amount, currency }
    }

    pub const fn zero(currency: Currency) -> Self {
        Self { amount: 0, currency }
    }

    /// A product price: strictly positive and at most [`MAX_PRICE_MINOR`].
    pub fn price(amount: i64, currency_code: &str, field: &str) -> Result<Self, ValidationErrors> {
        let mut errors = ValidationErrors::default();
        let currency = Currency::parse(currency_code);
        if currency.is_none() {
            errors.push(format!("{field}.currency"), "must be \"USD\"");
        }
        if !(1..=MAX_PRICE_MINOR).contains(&amount) {
            errors.push(format!("{field}.amount"), format!("must be between 1 and {MAX_PRICE_MINOR} minor units"));
        }
        match currency {
            Some(currency) if errors.is_empty() => Ok(Self { amount, currency }),
            _ => Err(errors),
        }
    }

    pub fn times(self, quantity: u32) -> Option<Self> {
        self.amount.checked_mul(i64::from(quantity)).map(|amount| Self { amount, ..self })
    }

    pub fn plus(self, other: Self) -> Option<Self> {
        if self.currency != other.currency {
            return None;
        }
        self.amount.checked_add(other.amount).map(|amount| Self { amount, ..self })
    }

    /// The sum of `amounts` in `currency`: `None` when one is in another currency or the sum leaves `i64`, never a
    /// sum that quietly left one out.
    pub fn sum(currency: Currency, amounts: impl IntoIterator<Item = Money>) -> Option<Money> {
        amounts.into_iter().try_fold(Money::zero(currency), Money::plus)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_price_must_be_positive_and_bounded() {
        assert!(Money::price(0, "USD", "price").is_err());
        assert!(Money::price(-5, "USD", "price").is_err());
        assert!(Money::price(MAX_PRICE_MINOR + 1, "USD", "price").is_err());
        assert_eq!(Money::price(1999, "USD", "price"), Ok(Money::new(1999, Currency::Usd)));
    }

    #[test]
    fn an_unknown_currency_is_named_in_the_error() {
        let errors = Money::price(100, "EUR", "price").expect_err("EUR is not accepted");
        assert_eq!(errors.0[0].field, "price.currency");
    }

    #[test]
    fn money_serialises_as_amount_and_currency() {
        let json = serde_json::to_value(Money::new(1250, Currency::Usd)).expect("serialises");
        assert_eq!(json, serde_json::json!({"amount": 1250, "currency": "USD"}));
    }

    #[test]
    fn line_totals_and_sums_are_exact() {
        let price = Money::new(333, Currency::Usd);
        assert_eq!(price.times(3), Some(Money::new(999, Currency::Usd)));
        assert_eq!(price.plus(Money::new(1, Currency::Usd)), Some(Money::new(334, Currency::Usd)));
        assert_eq!(Money::sum(Currency::Usd, [price, price]), Some(Money::new(666, Currency::Usd)));
        assert_eq!(Money::sum(Currency::Usd, []), Some(Money::zero(Currency::Usd)));
        let huge = Money::new(i64::MAX, Currency::Usd);
        assert_eq!(Money::sum(Currency::Usd, [huge, price]), None, "an overflow is no sum, never a line left out");
        assert_eq!(price.times(u32::MAX).map(|m| m.amount), Some(333 * i64::from(u32::MAX)));
        assert_eq!(huge.times(2), None);
    }
}
