use super::resolve::ResolveError;
use crate::image::assemble::AssembleError;
use crate::layer::{LayerError, StoreError};
use std::path::PathBuf;

/// Everything that can stop a Debian base build. Each variant names the URL, file or package
/// involved, so the one-line error tells the user what to fix.
#[derive(Debug, thiserror::Error)]
pub enum DebianError {
    #[error("fetching {url}: {detail}")]
    Fetch { url: String, detail: String },
    #[error("fetching {url}: HTTP {status}")]
    Http { url: String, status: u16 },
    /// `cause`, not `source`: the message already says it, and anyhow's chain would repeat it.
    #[error("{action} {path}: {cause}")]
    Io {
        action: &'static str,
        path: PathBuf,
        cause: std::io::Error,
    },
    #[error("{url}: signature not verified: {detail}")]
    Signature { url: String, detail: String },
    #[error("{what}: sha256 is {actual}, expected {expected}; {advice}")]
    Checksum {
        what: String,
        expected: String,
        actual: String,
        advice: String,
    },
    #[error("{url}: {detail}")]
    Index { url: String, detail: String },
    #[error(transparent)]
    Resolve(#[from] ResolveError),
    #[error("package {package} ({path}): {detail}")]
    Deb {
        package: String,
        path: PathBuf,
        detail: String,
    },
    #[error("{layer} layer: {detail}")]
    Conflict { layer: String, detail: String },
    #[error("lock file {path}: {detail}")]
    Lock { path: PathBuf, detail: String },
    #[error("platform {0} has no Debian base: use linux/amd64 or linux/arm64")]
    Platform(String),
    #[error("keyring {path}: {detail}")]
    Keyring { path: PathBuf, detail: String },
    #[error(transparent)]
    Layer(#[from] LayerError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Assemble(#[from] AssembleError),
}

/// `map_err` helper for file-system errors: says what was being done to which path.
pub fn io_err<'a>(
    action: &'static str,
    path: &'a std::path::Path,
) -> impl FnOnce(std::io::Error) -> DebianError + 'a {
    move |cause| DebianError::Io {
        action,
        path: path.to_path_buf(),
        cause,
    }
}
