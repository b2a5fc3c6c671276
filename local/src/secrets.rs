//! Local secrets (the JWT signing key, the cursor key, the payment provider stand-in's API key and webhook
//! secret), made once per data dir and kept there, so tokens, cursors and signed webhooks survive a restart and two
//! data dirs never share keys.

use std::path::Path;

use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize)]
pub struct LocalSecrets {
    pub jwt_key: String,
    pub cursor_secret: String,
    /// Added with payments: a data dir from before gets its pair on its next start.
    #[serde(default = "PaymentSecrets::generate")]
    pub payments: PaymentSecrets,
}

#[derive(Clone, Serialize, Deserialize)]
pub struct PaymentSecrets {
    pub api_key: String,
    pub webhook_secret: String,
}

impl PaymentSecrets {
    fn generate() -> Self {
        let hex = || random_hex().expect("the OS random source is available");
        Self { api_key: format!("sk_test_local_{}", hex()), webhook_secret: format!("whsec_local_{}", hex()) }
    }
}

fn random_hex() -> std::io::Result<String> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(|e| std::io::Error::other(e.to_string()))?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

pub fn load_or_create(data_dir: &Path) -> std::io::Result<LocalSecrets> {
    let path = data_dir.join("local-secrets.json");
    let existing = if path.exists() { Some(std::fs::read_to_string(&path)?) } else { None };
    let secrets = match &existing {
        Some(text) => serde_json::from_str(text).map_err(|e| {
            std::io::Error::other(format!("{} is damaged ({e}); delete it to issue new keys", path.display()))
        })?,
        None => {
            LocalSecrets { jwt_key: random_hex()?, cursor_secret: random_hex()?, payments: PaymentSecrets::generate() }
        }
    };
    let text = serde_json::to_string_pretty(&secrets).map_err(std::io::Error::other)?;
    // Written when new, or when a key was added to an older file.
    if existing
        .is_none_or(|old| serde_json::from_str::<serde_json::Value>(&old).ok() != serde_json::from_str(&text).ok())
    {
        std::fs::write(&path, text)?;
    }
    Ok(secrets)
}
