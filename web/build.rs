//! Content-hashes every file under `assets/` into the manifest the pages link to (`/assets/<name>.<hash>.<ext>`),
//! so an asset's URL changes with its bytes and every asset can be cached forever (`immutable`).

use std::fmt::Write as _;
use std::path::Path;

use sha2::{Digest, Sha256};

fn content_type(name: &str) -> &'static str {
    match name.rsplit('.').next() {
        Some("css") => "text/css; charset=utf-8",
        Some("js") => "text/javascript; charset=utf-8",
        Some("svg") => "image/svg+xml",
        Some("png") => "image/png",
        Some("ico") => "image/x-icon",
        Some("webmanifest") => "application/manifest+json",
        _ => "application/octet-stream",
    }
}

fn main() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("assets");
    println!("cargo:rerun-if-changed={}", dir.display());
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .expect("web/assets exists")
        .filter_map(|entry| entry.ok())
        .filter(|entry| entry.path().is_file())
        .map(|entry| entry.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    let mut manifest = String::from(
        "/// Every asset: its name, its content-hashed name, its type and its bytes.\npub static ASSETS: &[Asset] = &[\n",
    );
    for name in names {
        let path = dir.join(&name);
        println!("cargo:rerun-if-changed={}", path.display());
        let bytes = std::fs::read(&path).expect("readable asset");
        let hash: String = Sha256::digest(&bytes).iter().take(5).map(|b| format!("{b:02x}")).collect();
        let hashed = match name.rsplit_once('.') {
            Some((stem, ext)) => format!("{stem}.{hash}.{ext}"),
            None => format!("{name}.{hash}"),
        };
        let _ = writeln!(
            manifest,
            "    Asset {{ name: {name:?}, hashed: {hashed:?}, content_type: {:?}, bytes: include_bytes!({:?}) }},",
            content_type(&name),
            path.display().to_string()
        );
    }
    manifest.push_str("];\n");
    let out = Path::new(&std::env::var("OUT_DIR").expect("OUT_DIR")).join("assets.rs");
    std::fs::write(out, manifest).expect("manifest written");
}
