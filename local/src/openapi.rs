//! The API contract, `openapi.yaml` at the repository root, compiled into the local server and served as JSON.
//! A test holds its paths against the routes the functions serve.

use std::sync::OnceLock;

pub const YAML: &str = include_str!("../../openapi.yaml");

/// The contract as a JSON document, parsed once.
pub fn document() -> Result<&'static serde_json::Value, String> {
    static DOCUMENT: OnceLock<Result<serde_json::Value, String>> = OnceLock::new();
    DOCUMENT
        .get_or_init(|| serde_yaml::from_str(YAML).map_err(|e| format!("openapi.yaml: {e}")))
        .as_ref()
        .map_err(Clone::clone)
}
