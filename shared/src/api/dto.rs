//! Request bodies shared by several routes, and the number rule every integer field of a body follows. Strict:
//! unknown fields are refused (no mass assignment).

use serde::Deserialize;
use serde::de::{self, Deserializer, Visitor};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PriceInput {
    #[serde(deserialize_with = "integer")]
    pub amount: i64,
    pub currency: String,
}

/// An optional field that, when sent, must hold a value: `"price": null` is a wrong type (400), not "no change"
/// (absent is; the contract's schema says the same).
pub fn present<'de, D: Deserializer<'de>, T: Deserialize<'de>>(deserializer: D) -> Result<Option<T>, D::Error> {
    T::deserialize(deserializer).map(Some)
}

/// An integer field of a request body: a JSON number without a fractional part, within `i64`. JSON has one number
/// type and JSON Schema's `integer` (openapi.yaml) includes `2.0` and `2e3`, so they are the integers 2 and 2000;
/// `1.5`, a number past `i64`, a string or `null` are refused (400) before any rule sees them.
pub fn integer<'de, D: Deserializer<'de>>(deserializer: D) -> Result<i64, D::Error> {
    struct Integer;

    impl Visitor<'_> for Integer {
        type Value = i64;

        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("an integer")
        }

        fn visit_i64<E: de::Error>(self, value: i64) -> Result<i64, E> {
            Ok(value)
        }

        fn visit_u64<E: de::Error>(self, value: u64) -> Result<i64, E> {
            i64::try_from(value)
                .map_err(|_| E::invalid_value(de::Unexpected::Unsigned(value), &"an integer within i64"))
        }

        fn visit_f64<E: de::Error>(self, value: f64) -> Result<i64, E> {
            // 2^63 is exactly representable; every integral f64 below it in magnitude converts without loss.
            const BOUND: f64 = 9_223_372_036_854_775_808.0;
            if value.fract() == 0.0 && (-BOUND..BOUND).contains(&value) {
                Ok(value as i64)
            } else {
                Err(E::invalid_value(de::Unexpected::Float(value), &"an integer within i64"))
            }
        }
    }

    deserializer.deserialize_any(Integer)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Deserialize)]
    struct Body {
        #[serde(deserialize_with = "integer")]
        n: i64,
    }

    fn parse(raw: &str) -> Option<i64> {
        serde_json::from_str::<Body>(&format!("{{\"n\": {raw}}}")).ok().map(|b| b.n)
    }

    #[test]
    fn an_optional_field_sent_as_null_is_refused() {
        #[derive(Debug, Deserialize)]
        struct Patch {
            #[serde(default, deserialize_with = "present")]
            title: Option<String>,
        }
        assert_eq!(serde_json::from_str::<Patch>("{}").ok().map(|p| p.title), Some(None));
        assert_eq!(
            serde_json::from_str::<Patch>(r#"{"title": "Mug"}"#).ok().map(|p| p.title),
            Some(Some("Mug".into()))
        );
        assert!(serde_json::from_str::<Patch>(r#"{"title": null}"#).is_err());
    }

    #[test]
    fn integral_numbers_in_any_spelling_are_integers_and_nothing_else_is() {
        assert_eq!(parse("2"), Some(2));
        assert_eq!(parse("2.0"), Some(2));
        assert_eq!(parse("2e3"), Some(2000));
        assert_eq!(parse("-0.0"), Some(0));
        assert_eq!(parse("-9223372036854775808"), Some(i64::MIN));
        assert_eq!(parse("9223372036854775807"), Some(i64::MAX));
        for bad in [
            "1.5",
            "1e-3",
            "9223372036854775808",
            "18446744073709551616",
            "1e19",
            "-1e19",
            "1e400",
            "\"5\"",
            "null",
            "true",
            "[]",
        ] {
            assert_eq!(parse(bad), None, "{bad}");
        }
    }
}
