//! One function per command. Commands in `main.rs` only parse arguments, call these and print
//! what they return; the work lives here.

pub mod attach;
pub mod base;
pub mod cache_repo;
pub mod checks;
pub mod init;
pub mod multi;
pub mod outdated;
pub mod plan;
pub mod platforms;
pub mod provenance;
pub mod publish;
pub mod rebase;
mod rebase_attach;
pub mod registry;
pub mod report;
pub mod runtime;
pub mod shared;
pub mod signing;
pub mod verify;

use std::path::PathBuf;

/// lade's cache: blob store, layer cache and build outputs. `LADE_CACHE_DIR` overrides the
/// XDG location so CI can keep it between runs (as a cache mount would).
pub fn cache_dir() -> PathBuf {
    use crate::env::{self, HOME, LADE_CACHE_DIR, XDG_CACHE_HOME};
    if let Some(d) = env::var_os(LADE_CACHE_DIR).filter(|d| !d.is_empty()) {
        return PathBuf::from(d);
    }
    if let Some(d) = env::var_os(XDG_CACHE_HOME).filter(|d| !d.is_empty()) {
        return PathBuf::from(d).join("lade");
    }
    match env::var_os(HOME).filter(|d| !d.is_empty()) {
        Some(h) => PathBuf::from(h).join(".cache").join("lade"),
        None => env::temp_dir().join("lade-cache"),
    }
}
