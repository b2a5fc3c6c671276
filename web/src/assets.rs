//! The static assets (`web/assets/`), content-hashed at build time (`build.rs`): pages link to
//! `/assets/<name>.<hash>.<ext>`, served with a year's `immutable` cache, from S3 behind CloudFront in AWS (uploaded by
//! `make deploy`) and from memory by the local server. A changed file is a new URL, so no cache ever serves a stale one.

/// One asset.
#[derive(Debug, Clone, Copy)]
pub struct Asset {
    /// Its name in `web/assets/` (`app.css`).
    pub name: &'static str,
    /// Its name with its content hash (`app.3f2a9c1b7e.css`): the URL path under `/assets/`.
    pub hashed: &'static str,
    pub content_type: &'static str,
    pub bytes: &'static [u8],
}

include!(concat!(env!("OUT_DIR"), "/assets.rs"));

/// How an asset is cached: forever, its name changes with its bytes.
pub const IMMUTABLE: &str = "public, max-age=31536000, immutable";

/// The URL path of the asset named `name` (`/assets/app.3f2a9c1b7e.css`).
pub fn url(name: &str) -> String {
    match ASSETS.iter().find(|asset| asset.name == name) {
        Some(asset) => format!("/assets/{}", asset.hashed),
        // A page naming an asset that does not exist is a bug the tests catch (every linked asset is fetched).
        None => format!("/assets/{name}"),
    }
}

/// The asset served at `/assets/<hashed>`.
pub fn by_hashed(hashed: &str) -> Option<&'static Asset> {
    ASSETS.iter().find(|asset| asset.hashed == hashed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_asset_has_a_hash_in_its_name_and_is_found_by_it() {
        assert!(ASSETS.len() >= 3, "app.css, app.js, favicon.svg");
        for asset in ASSETS {
            assert_ne!(asset.name, asset.hashed);
            assert!(asset.hashed.len() == asset.name.len() + 11, "{}: ten hex digits and a dot", asset.hashed);
            assert_eq!(by_hashed(asset.hashed).map(|a| a.name), Some(asset.name));
            assert_eq!(url(asset.name), format!("/assets/{}", asset.hashed));
        }
        assert!(by_hashed("app.css").is_none(), "only the hashed name is served");
    }
}
