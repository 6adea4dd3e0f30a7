//! One function per command. Commands in `main.rs` only parse arguments, call these and print
//! what they return; the work lives here.

pub mod attach;
pub mod base;
pub mod cache_repo;
pub mod checks;
pub mod init;
mod layering;
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
    crate::env::cache_dir()
}
