//! (placeholder until the git module lands)
use std::path::Path;
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct GitError(String);
pub fn source_date_epoch(_dir: &Path) -> Result<u64, GitError> {
    Ok(std::env::var("SOURCE_DATE_EPOCH")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0))
}
pub fn revision(_dir: &Path) -> Option<String> {
    None
}
pub fn source_url(_dir: &Path) -> Option<String> {
    None
}
