//! The OCI distribution client: pulls manifests and blobs (bases), pushes blobs, manifests,
//! indexes and tags (publish). Async on reqwest + tokio; [`RegistryClient`] is cheap to clone
//! and shares connections, tokens and credentials between tasks.
//!
//! - [`reference`]: parsing and normalizing image references.
//! - [`credentials`]: where credentials come from (env, Docker and containers config, helpers).
//! - [`auth`]: challenges and bearer tokens.
//! - [`transport`]: TLS setup per host, retries, error bodies.
//! - [`client`]: the API calls.
//! - [`push`]: publishing an [`crate::image::ImageSet`] with parallel, skipping, mounting uploads.

pub mod auth;
pub mod client;
pub mod credentials;
pub mod push;
pub mod reference;
pub mod transport;

pub use client::{Access, BlobBody, Manifest, RegistryClient};
pub use credentials::{Credential, CredentialSources, Secret};
pub use push::{PushReport, PushStats, push};
pub use reference::{Reference, ReferenceError};
pub use transport::ApiError;

use std::future::Future;
use std::path::PathBuf;
use std::str::FromStr;
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
    /// Chunk size for registries that refuse a whole blob in one PUT.
    pub chunk_size: u64,
    pub credentials: CredentialSources,
    /// Registries lade pushes to: the unscoped `LADE_REGISTRY_USERNAME`/`PASSWORD` apply to them
    /// (unless `LADE_REGISTRY_HOST` names others). A push adds its target itself; the CLI adds
    /// the `--to` registries before resolving a base so a private base there can be read.
    pub push_registries: Vec<String>,
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
            chunk_size: 16 << 20,
            credentials: CredentialSources::default(),
            push_registries: Vec::new(),
        }
    }
}

/// Comma-separated `FROM=TO` mirrors, added after the `--registry-mirror` flags.
pub const ENV_MIRRORS: &str = crate::env::LADE_REGISTRY_MIRRORS.name();

impl RegistryOptions {
    /// Defaults plus credentials and `LADE_REGISTRY_MIRRORS` from the environment.
    pub fn from_env() -> Result<Self, RegistryError> {
        let mut o = RegistryOptions {
            credentials: CredentialSources::from_env(),
            ..Default::default()
        };
        if let Some(v) = crate::env::var(crate::env::LADE_REGISTRY_MIRRORS) {
            o.mirrors.extend(
                parse_mirror_list(&v)
                    .map_err(|e| RegistryError::Options(format!("{ENV_MIRRORS}: {e}")))?,
            );
        }
        Ok(o)
    }

    pub fn is_insecure(&self, registry: &str) -> bool {
        self.insecure
            .iter()
            .any(|h| credentials::same_registry(h.trim_end_matches('/'), registry))
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

/// A pull mirror: `FROM` is a registry (`gcr.io`) or a registry and namespace
/// (`gcr.io/distroless`); `TO` is where the same repositories are found (`mirror:5000`, or
/// `mirror:5000/gcr` to put them under a prefix).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Mirror {
    pub from_registry: String,
    pub from_prefix: Option<String>,
    pub to_registry: String,
    pub to_prefix: Option<String>,
}

impl Mirror {
    /// The mirror's name for `registry/repository`, if this mirror covers it.
    pub fn map(&self, registry: &str, repository: &str) -> Option<(String, String)> {
        if !credentials::same_registry(&self.from_registry, registry) {
            return None;
        }
        let rest = match &self.from_prefix {
            None => repository,
            Some(p) if repository == p => "",
            Some(p) => repository.strip_prefix(&format!("{p}/"))?,
        };
        let repo = match (&self.to_prefix, rest) {
            (Some(t), "") => t.clone(),
            (Some(t), r) => format!("{t}/{r}"),
            (None, r) if !r.is_empty() => r.to_string(),
            (None, _) => return None,
        };
        Some((self.to_registry.clone(), repo))
    }
}

impl FromStr for Mirror {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (from, to) = s.split_once('=').ok_or_else(|| {
            format!("mirror '{s}' must be FROM=TO (e.g. docker.io=mirror.internal:5000)")
        })?;
        let split = |part: &str| -> Result<(String, Option<String>), String> {
            let part = part
                .trim()
                .trim_start_matches("https://")
                .trim_start_matches("http://")
                .trim_end_matches('/');
            let (host, prefix) = match part.split_once('/') {
                Some((h, p)) => (h.to_ascii_lowercase(), Some(p.to_string())),
                None => (part.to_ascii_lowercase(), None),
            };
            if !reference::valid_host(&host) {
                return Err(format!("mirror '{s}': '{host}' is not HOST or HOST:PORT"));
            }
            if let Some(p) = &prefix
                && !p.split('/').all(reference::valid_component)
            {
                return Err(format!("mirror '{s}': '{p}' is not a repository path"));
            }
            let host = if credentials::same_registry(&host, reference::DOCKER_HUB) {
                reference::DOCKER_HUB.to_string()
            } else {
                host
            };
            Ok((host, prefix))
        };
        let (from_registry, from_prefix) = split(from)?;
        let (to_registry, to_prefix) = split(to)?;
        Ok(Mirror {
            from_registry,
            from_prefix,
            to_registry,
            to_prefix,
        })
    }
}

/// Parses `FROM=TO,FROM=TO`.
pub fn parse_mirror_list(s: &str) -> Result<Vec<Mirror>, String> {
    s.split(',')
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .map(str::parse)
        .collect()
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
    fn mirrors() {
        let m: Mirror = "gcr.io=mirror.internal:5000".parse().unwrap();
        assert_eq!(
            m.map("gcr.io", "distroless/static"),
            Some(("mirror.internal:5000".into(), "distroless/static".into()))
        );
        assert_eq!(m.map("ghcr.io", "x/y"), None);
        let m: Mirror = "docker.io=localhost:5000/hub".parse().unwrap();
        assert_eq!(
            m.map("docker.io", "library/alpine"),
            Some(("localhost:5000".into(), "hub/library/alpine".into()))
        );
        let m: Mirror = "gcr.io/distroless=m.example/d".parse().unwrap();
        assert_eq!(
            m.map("gcr.io", "distroless/static"),
            Some(("m.example".into(), "d/static".into()))
        );
        assert_eq!(m.map("gcr.io", "other/static"), None);
        assert!("nonsense".parse::<Mirror>().is_err());
        assert!("a=b c".parse::<Mirror>().is_err());
        let list = parse_mirror_list("gcr.io=m1:5000, docker.io=m2").unwrap();
        assert_eq!(list.len(), 2);
        let o = RegistryOptions {
            mirrors: list,
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
