//! `export-assets <dir>`: writes the web pages' assets under their content-hashed names (the names the pages link
//! to), for `make deploy` to upload to the media bucket's `assets/` (CloudFront serves them from there).

use std::path::PathBuf;
use std::process::ExitCode;

fn main() -> ExitCode {
    let Some(dir) = std::env::args_os().nth(1).map(PathBuf::from) else {
        eprintln!("usage: export-assets <dir>");
        return ExitCode::FAILURE;
    };
    if let Err(error) = std::fs::create_dir_all(&dir) {
        eprintln!("{}: {error}", dir.display());
        return ExitCode::FAILURE;
    }
    for asset in storefront_web::assets::ASSETS {
        let path = dir.join(asset.hashed);
        if let Err(error) = std::fs::write(&path, asset.bytes) {
            eprintln!("{}: {error}", path.display());
            return ExitCode::FAILURE;
        }
        println!("{}\t{}", asset.hashed, asset.content_type);
    }
    ExitCode::SUCCESS
}
