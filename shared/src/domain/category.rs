//! The closed set of catalog categories. Part of the product (navigation, seed, validation), not of the data:
//! a deployed stack needs no seeding to know them, and their counts live in the store.

use serde::{Deserialize, Serialize};

use super::ValidationErrors;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct CategoryInfo {
    pub slug: &'static str,
    pub name: &'static str,
}

pub const CATEGORIES: &[CategoryInfo] = &[
    CategoryInfo { slug: "ceramics", name: "Ceramics & Pottery" },
    CategoryInfo { slug: "jewelry", name: "Jewelry" },
    CategoryInfo { slug: "textiles", name: "Textiles & Weaving" },
    CategoryInfo { slug: "woodwork", name: "Woodwork" },
    CategoryInfo { slug: "prints", name: "Prints & Paper" },
    CategoryInfo { slug: "glass", name: "Glass" },
    CategoryInfo { slug: "leather", name: "Leather Goods" },
];

/// A category slug known to [`CATEGORIES`].
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Category(String);

impl Category {
    pub fn parse(slug: &str) -> Option<Self> {
        CATEGORIES.iter().any(|c| c.slug == slug).then(|| Self(slug.to_owned()))
    }

    pub fn parse_field(slug: &str, field: &str) -> Result<Self, ValidationErrors> {
        Self::parse(slug).ok_or_else(|| {
            let known: Vec<&str> = CATEGORIES.iter().map(|c| c.slug).collect();
            ValidationErrors::single(field, format!("must be one of: {}", known.join(", ")))
        })
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_known_slugs_are_categories() {
        assert!(Category::parse("ceramics").is_some());
        assert!(Category::parse("Ceramics").is_none());
        assert!(Category::parse("weapons").is_none());
    }
}
