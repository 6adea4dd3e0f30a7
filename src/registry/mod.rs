//! The OCI distribution client: pulls manifests and blobs (bases), pushes blobs, manifests,
//! indexes and tags (publish). Async on reqwest + tokio; [`RegistryClient`] is cheap to clone
//! and shares connections, tokens and credentials between tasks.
//!
//! Image references and pull mirrors are plain data in [`crate::oci`].
//!
//! - [`credentials`]: where credentials come from (env, Docker and containers config, helpers).
//! - [`auth`]: challenges and bearer tokens.
//! - [`transport`]: TLS setup per host, retries, error bodies.
//! - [`client`]: the API calls.
//! - [`push`]: publishing an [`crate::oci::ImageSet`] with parallel, skipping, mounting uploads.

pub mod auth;
pub mod client;
pub mod credentials;
pub mod documents;
pub mod early;
pub mod push;
mod session;
pub(crate) mod tls;
pub mod transport;

pub use client::{Access, BlobBody, Manifest, RegistryClient};
pub use credentials::{Credential, CredentialSources, Secret};
pub use early::EarlyUploads;
pub use push::{PushReport, PushStats, push, push_after};
pub use session::{Connected, RegistrySession};
pub use transport::ApiError;

use crate::oci::mirror::{Mirror, parse_mirror_list};
use crate::oci::reference::{ReferenceError, same_registry};
use std::future::Future;
use std::path::PathBuf;
use std::time::Duration;

/// A runtime for lade's synchronous entry points (sinks, base resolution). Two workers: the
/// work is network-bound, and the machine's cores belong to compilers and gzip.
pub fn runtime() -> Result<tokio::runtime::Runtime, RegistryError> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("lade-registry")
        .enable_all()
        .build()
        .map_err(|e| RegistryError::Options(format!("starting the network runtime: {e}")))
}

/// Runs `f` to completion on `rt`. lade's operations are synchronous; calling this from inside
/// an async context is a bug (tokio panics and says so).
pub fn block_on<F: Future>(rt: &tokio::runtime::Runtime, f: F) -> F::Output {
    rt.block_on(f)
}

/// How lade reaches registries. The CLI fills it from flags, `lade.toml` and the environment;
/// [`RegistryOptions::from_env`] gives the environment-only starting point.
#[derive(Clone, Debug)]
pub struct RegistryOptions {
    /// `--insecure-registry HOST[:PORT]`: plain HTTP or an unverified certificate is accepted.
    pub insecure: Vec<String>,
    /// `--registry-ca FILE`: PEM CA certificates trusted for every registry.
    pub cas: Vec<PathBuf>,
    /// Directories holding `HOST[:PORT]/*.crt` CA files (Docker's and containers' certs.d).
    pub certs_dirs: Vec<PathBuf>,
    /// `--registry-mirror FROM=TO`: pulls from FROM try TO first.
    pub mirrors: Vec<Mirror>,
    /// Blob transfers in flight at once.
    pub concurrency: usize,
    /// Tries per request before giving up on network errors, 429 and 5xx answers.
    pub attempts: u32,
    /// First backoff delay; it doubles on each retry.
    pub backoff: Duration,
    /// How long a request may go without sending or receiving anything before it is given up
    /// and tried again (`LADE_REGISTRY_TIMEOUT`); each request also has an overall deadline
    /// that grows with the size of what it carries ([`transport::deadline`]).
    pub timeout: Duration,
    /// Chunk size for registries that refuse a whole blob in one PUT.
    pub chunk_size: u64,
    pub credentials: CredentialSources,
    /// Registries lade pushes to: the unscoped `LADE_REGISTRY_USERNAME`/`PASSWORD` apply to them
    /// (unless `LADE_REGISTRY_HOST` names others). A push adds its target itself; the CLI adds
    /// the `--to` registries before resolving a base so a private base there can be read.
    pub push_registries: Vec<String>,
    /// Where the manifests and configs a base resolution fetches are kept under their digests,
    /// and read back from when a digest names them (a base pinned by lade.lock); `None` keeps
    /// nothing.
    pub documents: Option<PathBuf>,
}

impl Default for RegistryOptions {
    fn default() -> Self {
        RegistryOptions {
            insecure: Vec::new(),
            cas: Vec::new(),
            certs_dirs: vec![
                PathBuf::from("/etc/containers/certs.d"),
                PathBuf::from("/etc/docker/certs.d"),
            ],
            mirrors: Vec::new(),
            concurrency: 4,
            attempts: 5,
            backoff: Duration::from_millis(200),
            timeout: DEFAULT_TIMEOUT,
            chunk_size: 16 << 20,
            credentials: CredentialSources::default(),
            push_registries: Vec::new(),
            documents: None,
        }
    }
}

/// The idle timeout of a registry request: long enough for a busy registry, short enough that
/// one that stopped answering costs a retry, not the whole publish.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

/// Comma-separated `FROM=TO` mirrors, added after the `--registry-mirror` flags.
pub const ENV_MIRRORS: &str = crate::env::LADE_REGISTRY_MIRRORS.name();

impl RegistryOptions {
    /// Defaults plus the document cache in lade's cache directory, and credentials,
    /// `LADE_REGISTRY_MIRRORS` and `LADE_REGISTRY_TIMEOUT` from the environment.
    pub fn from_env() -> Result<Self, RegistryError> {
        let mut o = RegistryOptions {
            credentials: CredentialSources::from_env(),
            documents: Some(crate::env::cache_dir().join("documents")),
            ..Default::default()
        };
        if let Some(v) = crate::env::var(crate::env::LADE_REGISTRY_MIRRORS) {
            o.mirrors.extend(
                parse_mirror_list(&v)
                    .map_err(|e| RegistryError::Options(format!("{ENV_MIRRORS}: {e}")))?,
            );
        }
        if let Some(v) = crate::env::var(crate::env::LADE_REGISTRY_TIMEOUT) {
            o.timeout = parse_timeout(&v).ok_or_else(|| {
                RegistryError::Options(format!(
                    "{}={v:?} is not a number of seconds above 0 (such as 30 or 2.5)",
                    crate::env::LADE_REGISTRY_TIMEOUT
                ))
            })?;
        }
        Ok(o)
    }

    pub fn is_insecure(&self, registry: &str) -> bool {
        self.insecure
            .iter()
            .any(|h| same_registry(h.trim_end_matches('/'), registry))
    }

    /// Where to pull `registry/repository` from, in order: matching mirrors, then the origin.
    pub fn pull_candidates(&self, registry: &str, repository: &str) -> Vec<(String, String)> {
        let mut out: Vec<(String, String)> = self
            .mirrors
            .iter()
            .filter_map(|m| m.map(registry, repository))
            .collect();
        out.push((registry.to_string(), repository.to_string()));
        out.dedup();
        out
    }
}

/// Seconds, whole or decimal, above zero.
fn parse_timeout(v: &str) -> Option<Duration> {
    let secs: f64 = v.trim().parse().ok()?;
    (secs.is_finite() && secs > 0.0 && secs <= 86_400.0).then(|| Duration::from_secs_f64(secs))
}

/// Errors from talking to a registry. Each names the registry and what lade was doing (which
/// blob or manifest in which repository); none ever contains a credential.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    #[error(transparent)]
    Reference(#[from] ReferenceError),
    /// The connection failed (after retries).
    #[error("registry {registry}: {action}: {detail}")]
    Transport {
        registry: String,
        action: String,
        detail: String,
    },
    /// The registry stopped answering (after retries): nothing came for the idle timeout, or
    /// the request outlived its deadline.
    #[error("registry {registry}: {action}: {stalled}")]
    TimedOut {
        registry: String,
        action: String,
        stalled: transport::Stalled,
    },
    /// The registry answered with an error status (after retries for 429/5xx).
    #[error("registry {registry}: {action}: {detail}")]
    Status {
        registry: String,
        action: String,
        status: u16,
        /// The registry's `{code, message}` list.
        errors: Vec<ApiError>,
        /// `HTTP 404 Not Found: MANIFEST_UNKNOWN: manifest unknown`.
        detail: String,
    },
    /// Authentication failed: no credentials, wrong ones, or not allowed.
    #[error("registry {registry}: {action}: unauthorized: {detail}")]
    Unauthorized {
        registry: String,
        action: String,
        detail: String,
    },
    /// `cause`, not `source`: the message already says it, and anyhow's chain would repeat it;
    /// the message is complete on its own because wrappers (base, sink, warnings) print only it.
    #[error("registry {registry}: {action}: {path}: {cause}")]
    Io {
        registry: String,
        action: String,
        path: PathBuf,
        cause: std::io::Error,
    },
    /// The registry sent something lade cannot use (bad JSON, wrong digest, no Location).
    #[error("registry {registry}: {action}: {detail}")]
    Invalid {
        registry: String,
        action: String,
        detail: String,
    },
    #[error(transparent)]
    Credentials(#[from] credentials::CredentialError),
    #[error("registry settings: {0}")]
    Options(String),
}

impl RegistryError {
    /// The HTTP status the registry answered with, if that is what failed.
    pub fn status(&self) -> Option<u16> {
        match self {
            RegistryError::Status { status, .. } => Some(*status),
            _ => None,
        }
    }

    pub fn is_not_found(&self) -> bool {
        self.status() == Some(404)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timeouts_in_seconds() {
        assert_eq!(parse_timeout("30"), Some(Duration::from_secs(30)));
        assert_eq!(parse_timeout(" 2.5 "), Some(Duration::from_millis(2500)));
        for bad in ["0", "-1", "x", "", "inf", "NaN"] {
            assert_eq!(parse_timeout(bad), None, "{bad}");
        }
    }

    #[test]
    fn pull_candidates_mirrors_first() {
        let o = RegistryOptions {
            mirrors: parse_mirror_list("gcr.io=m1:5000, docker.io=m2").unwrap(),
            ..Default::default()
        };
        assert_eq!(
            o.pull_candidates("gcr.io", "a/b"),
            vec![
                ("m1:5000".to_string(), "a/b".to_string()),
                ("gcr.io".to_string(), "a/b".to_string())
            ]
        );
    }
}
