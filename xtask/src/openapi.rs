//! `cargo xtask openapi`: writes the Manager's OpenAPI description (the one
//! it serves at `/api-docs/openapi.json`) to `docs/openapi/manager.json`.
//! The Decision Maker's description is written by hand from its spec
//! (`crates/rest/src/dm/openapi.json`, served at the same path), so it has no
//! generated file.

use std::fs;
use std::path::PathBuf;

use anyhow::{Context, ensure};
use clap::Args;
use utoipa::OpenApi;

#[derive(Debug, Args)]
pub struct OpenapiArgs {
    /// Fail if the file is not up to date instead of writing it (for CI).
    #[arg(long)]
    check: bool,
}

/// Where the Manager's description is kept, relative to the workspace root.
const MANAGER_FILE: &str = "docs/openapi/manager.json";

pub fn run(args: OpenapiArgs) -> anyhow::Result<()> {
    let path = manager_path();
    let current = manager_document()?;
    if args.check {
        ensure!(
            is_current(&current)?,
            "{MANAGER_FILE} is out of date: run `cargo xtask openapi`"
        );
        println!("{MANAGER_FILE} is up to date");
        return Ok(());
    }
    let dir = path.parent().context("the file has a directory")?;
    fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    fs::write(&path, &current).with_context(|| format!("writing {}", path.display()))?;
    println!(
        "wrote {} (gthulhu_rest::manager::ApiDoc, {} bytes)",
        path.display(),
        current.len()
    );
    println!("the Decision Maker's description is hand-written: crates/rest/src/dm/openapi.json");
    Ok(())
}

fn manager_path() -> PathBuf {
    crate::workspace_root().join(MANAGER_FILE)
}

/// Pretty JSON with a final newline, as committed.
fn manager_document() -> anyhow::Result<String> {
    let mut json = gthulhu_rest::manager::ApiDoc::openapi()
        .to_pretty_json()
        .context("serialising the Manager's OpenAPI description")?;
    json.push('\n');
    Ok(json)
}

/// Whether the committed file holds exactly `current` (a missing file is not).
fn is_current(current: &str) -> anyhow::Result<bool> {
    match fs::read_to_string(manager_path()) {
        Ok(committed) => Ok(committed == current),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(e).with_context(|| format!("reading {MANAGER_FILE}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The committed description follows the code: a changed handler or DTO
    /// fails here until `cargo xtask openapi` is run and the file committed.
    #[test]
    fn committed_manager_openapi_is_current() {
        let current = manager_document().unwrap();
        assert!(
            is_current(&current).unwrap(),
            "{MANAGER_FILE} is out of date: run `cargo xtask openapi` and commit the result"
        );
    }

    #[test]
    fn manager_document_is_openapi_3_with_the_login_route() {
        let document: serde_json::Value = serde_json::from_str(&manager_document().unwrap()).unwrap();
        assert!(document["openapi"].as_str().unwrap().starts_with("3."));
        assert!(document["paths"]["/api/v1/auth/login"]["post"].is_object());
    }
}
