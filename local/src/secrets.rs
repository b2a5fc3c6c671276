//! Local secrets (the JWT signing key, the cursor key), made once per data dir and kept there, so tokens and
//! cursors survive a restart and two data dirs never share keys.

use std::path::Path;

use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize)]
pub struct LocalSecrets {
    pub jwt_key: String,
    pub cursor_secret: String,
}

fn random_hex() -> std::io::Result<String> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(|e| std::io::Error::other(e.to_string()))?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

pub fn load_or_create(data_dir: &Path) -> std::io::Result<LocalSecrets> {
    let path = data_dir.join("local-secrets.json");
    if path.exists() {
        let text = std::fs::read_to_string(&path)?;
        return serde_json::from_str(&text).map_err(|e| {
            std::io::Error::other(format!("{} is damaged ({e}); delete it to issue new keys", path.display()))
        });
    }
    let secrets = LocalSecrets { jwt_key: random_hex()?, cursor_secret: random_hex()? };
    std::fs::write(&path, serde_json::to_string_pretty(&secrets).map_err(std::io::Error::other)?)?;
    Ok(secrets)
}
