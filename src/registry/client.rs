//! The distribution API calls: manifests (GET/HEAD/PUT), blobs (HEAD/GET to a file), uploads
//! (POST then one streamed PUT, PATCH when a registry insists, cross-repository mounts).
//!
//! Every request goes through [`RegistryClient::send`], which picks the scheme once per host,
//! adds authorization (Basic or a cached bearer token for the request's scopes), answers a 401
//! by authenticating again once, and retries connection errors, 429 and 5xx with backoff.
//!
//! The `impl RegistryClient` is spread over submodules by concern: `endpoint` (scheme
//! discovery and the `GET /v2/` ping), `authorization` (credential lookup, the Authorization
//! header, bearer tokens), `manifests` (GET/HEAD/PUT), `blobs` (HEAD, in-memory and
//! streamed-to-file downloads) and `upload` (POST, single PUT, PATCH chunks, mounts). This
//! file keeps the public types, the client's state, and `send` with its retries.

mod authorization;
mod blobs;
mod endpoint;
mod manifests;
mod referrers;
mod upload;

use super::auth::{self, Challenge, Token};
use super::credentials::FoundCredential;
use super::{RegistryError, RegistryOptions, transport};
use crate::digest::Digest;
use crate::oci::reference::{self, same_registry};
use crate::oci::{DOCKER_MANIFEST, DOCKER_MANIFEST_LIST, OCI_INDEX, OCI_MANIFEST};
use reqwest::header;
use reqwest::{StatusCode, Url};
use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::OnceCell;

/// Everything lade can read as a manifest: a registry answers 404 for an OCI index (or a
/// Docker list) unless the request says it accepts one.
pub const MANIFEST_ACCEPT: [&str; 4] = [
    OCI_INDEX,
    OCI_MANIFEST,
    DOCKER_MANIFEST_LIST,
    DOCKER_MANIFEST,
];

/// What a request needs to be allowed to do; becomes the token scopes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Access {
    pub repository: String,
    pub push: bool,
    /// Other repositories on the same registry blobs are mounted from (pull access to each).
    pub mount_from: Vec<String>,
}

impl Access {
    pub fn pull(repository: &str) -> Self {
        Access {
            repository: repository.into(),
            push: false,
            mount_from: Vec::new(),
        }
    }

    pub fn push(repository: &str, mount_from: &[String]) -> Self {
        let mut mount_from: Vec<String> = mount_from
            .iter()
            .filter(|r| r.as_str() != repository)
            .cloned()
            .collect();
        mount_from.sort();
        mount_from.dedup();
        Access {
            repository: repository.into(),
            push: true,
            mount_from,
        }
    }

    /// `repository:team/app:pull,push` and `repository:base:pull` for each mount source.
    pub fn scopes(&self) -> Vec<String> {
        let mut s = vec![format!(
            "repository:{}:{}",
            self.repository,
            if self.push { "pull,push" } else { "pull" }
        )];
        s.extend(
            self.mount_from
                .iter()
                .map(|r| format!("repository:{r}:pull")),
        );
        s
    }
}

/// A manifest or index as the registry sent it.
#[derive(Clone, Debug)]
pub struct Manifest {
    pub bytes: Vec<u8>,
    pub media_type: String,
    /// sha256 of `bytes` (checked against the reference when it named a digest).
    pub digest: Digest,
}

/// Where the bytes of a blob being uploaded come from.
#[derive(Clone, Debug)]
pub enum BlobBody {
    File(PathBuf),
    Bytes(Vec<u8>),
    /// Another registry: streamed from its GET straight into the PUT, never stored.
    Remote {
        registry: String,
        repository: String,
    },
}

/// How an upload ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UploadOutcome {
    Uploaded,
    Mounted,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Retry {
    Yes,
    /// The request's body cannot be sent again to the same place (an upload session).
    No,
}

struct Host {
    /// The registry name as references spell it (`docker.io`).
    registry: String,
    /// Where its API answers (`registry-1.docker.io`).
    api: String,
    may_use_http: bool,
    http: reqwest::Client,
    endpoint: OnceCell<Url>,
    challenge: Mutex<Option<Challenge>>,
    tokens: tokio::sync::Mutex<HashMap<String, Token>>,
    credentials: tokio::sync::Mutex<HashMap<(bool, String), Option<FoundCredential>>>,
    chunked: AtomicBool,
}

struct Inner {
    options: RegistryOptions,
    hosts: Mutex<HashMap<String, Arc<Host>>>,
    clients: Mutex<HashMap<(String, bool), reqwest::Client>>,
    push_registries: Mutex<Vec<String>>,
    /// Per `(registry, repository)`: blobs a manifest the repository holds names, so the
    /// repository has them (a registry refuses a manifest whose blobs it lacks).
    held: Mutex<HashMap<(String, String), HashSet<Digest>>>,
}

/// What one user of a shared client has of its own: where its transfers report, and its
/// retries (a push reports those it made, not another project's).
struct View {
    /// Where downloads and uploads report their bytes.
    progress: crate::progress::Reporter,
    retries: AtomicU64,
}

/// A registry client for any number of registries. Clones share connections, tokens and
/// credential lookups.
#[derive(Clone)]
pub struct RegistryClient {
    inner: Arc<Inner>,
    view: Arc<View>,
}

impl std::fmt::Debug for RegistryClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RegistryClient").finish_non_exhaustive()
    }
}

impl RegistryClient {
    /// Checks the CA files up front so a bad `--registry-ca` fails before any work is done.
    pub fn new(options: RegistryOptions) -> Result<Self, RegistryError> {
        Self::with_progress(options, Default::default())
    }

    /// [`RegistryClient::new`], reporting blob downloads and uploads to `progress`.
    pub fn with_progress(
        options: RegistryOptions,
        progress: crate::progress::Reporter,
    ) -> Result<Self, RegistryError> {
        for f in &options.cas {
            transport::load_pem(f)?;
        }
        let push_registries = options.push_registries.clone();
        Ok(RegistryClient {
            inner: Arc::new(Inner {
                options,
                hosts: Mutex::new(HashMap::new()),
                clients: Mutex::new(HashMap::new()),
                push_registries: Mutex::new(push_registries),
                held: Mutex::new(HashMap::new()),
            }),
            view: Arc::new(View {
                progress,
                retries: AtomicU64::new(0),
            }),
        })
    }

    /// The same client — connections, tokens, credential lookups — for another part of the
    /// run, whose transfers report to `progress` and whose retries are counted apart.
    pub fn reporting_to(&self, progress: crate::progress::Reporter) -> RegistryClient {
        RegistryClient {
            inner: self.inner.clone(),
            view: Arc::new(View {
                progress,
                retries: AtomicU64::new(0),
            }),
        }
    }

    /// Notes the blobs the image manifest `m` names as held by `repository`, `m` being a
    /// manifest it holds. Anything else (an index, an artifact without layers) notes nothing.
    pub fn note_held(&self, registry: &str, repository: &str, m: &Manifest) {
        #[derive(serde::Deserialize)]
        struct Named {
            digest: Digest,
        }
        #[derive(serde::Deserialize)]
        struct Image {
            config: Named,
            layers: Vec<Named>,
        }
        let Ok(image) = serde_json::from_slice::<Image>(&m.bytes) else {
            return;
        };
        let mut held = self.inner.held.lock().unwrap_or_else(|p| p.into_inner());
        held.entry((registry.to_string(), repository.to_string()))
            .or_default()
            .extend(
                std::iter::once(image.config.digest)
                    .chain(image.layers.into_iter().map(|l| l.digest)),
            );
    }

    /// The blobs noted as held by `repository` ([`Self::note_held`]); `None` when nothing was.
    pub fn held(&self, registry: &str, repository: &str) -> Option<HashSet<Digest>> {
        let held = self.inner.held.lock().unwrap_or_else(|p| p.into_inner());
        held.get(&(registry.to_string(), repository.to_string()))
            .cloned()
    }

    pub fn options(&self) -> &RegistryOptions {
        &self.inner.options
    }

    fn progress(&self) -> &crate::progress::Reporter {
        &self.view.progress
    }

    /// Whether `self` and `other` share connections and tokens.
    pub fn shares_state_with(&self, other: &RegistryClient) -> bool {
        Arc::ptr_eq(&self.inner, &other.inner)
    }

    /// How many requests and uploads were retried so far.
    pub fn retries(&self) -> u64 {
        self.view.retries.load(Ordering::Relaxed)
    }

    /// Marks `registry` as one lade pushes to (see [`RegistryOptions::push_registries`]).
    pub fn add_push_registry(&self, registry: &str) {
        let mut p = self.inner.push_registries.lock().expect("lock");
        if !p.iter().any(|r| r == registry) {
            p.push(registry.to_string());
        }
    }

    pub(crate) fn is_push_registry(&self, registry: &str) -> bool {
        self.inner
            .push_registries
            .lock()
            .expect("lock")
            .iter()
            .any(|r| same_registry(r, registry))
    }

    fn http_client(&self, host: &str, insecure: bool) -> Result<reqwest::Client, RegistryError> {
        let key = (host.to_string(), insecure);
        if let Some(c) = self.inner.clients.lock().expect("lock").get(&key) {
            return Ok(c.clone());
        }
        let c = transport::build_client(host, &self.inner.options, insecure)?;
        self.inner
            .clients
            .lock()
            .expect("lock")
            .insert(key, c.clone());
        Ok(c)
    }

    fn host(&self, registry: &str) -> Result<Arc<Host>, RegistryError> {
        if let Some(h) = self.inner.hosts.lock().expect("lock").get(registry) {
            return Ok(h.clone());
        }
        let api = reference::api_host(registry).to_string();
        let insecure = self.inner.options.is_insecure(registry);
        let http = self.http_client(registry, insecure)?;
        let host = Arc::new(Host {
            registry: registry.to_string(),
            may_use_http: insecure || reference::is_loopback(&api),
            api,
            http,
            endpoint: OnceCell::new(),
            challenge: Mutex::new(None),
            tokens: tokio::sync::Mutex::new(HashMap::new()),
            credentials: tokio::sync::Mutex::new(HashMap::new()),
            chunked: AtomicBool::new(false),
        });
        Ok(self
            .inner
            .hosts
            .lock()
            .expect("lock")
            .entry(registry.to_string())
            .or_insert(host)
            .clone())
    }

    async fn pause(&self, registry: &str, what: &str, attempt: u32, wait: Option<Duration>) {
        self.view.retries.fetch_add(1, Ordering::Relaxed);
        let d = wait.unwrap_or_else(|| transport::backoff(self.inner.options.backoff, attempt - 1));
        tracing::debug!(
            registry,
            what,
            attempt,
            delay_ms = d.as_millis() as u64,
            "retrying"
        );
        tokio::time::sleep(d).await;
    }

    /// A retry after a request went quiet, said as a warning: a registry that stops
    /// answering would otherwise look like a hung publish.
    pub(crate) fn say_stalled(
        &self,
        registry: &str,
        action: &str,
        attempt: u32,
        stalled: transport::Stalled,
    ) {
        tracing::warn!(
            registry,
            request = action,
            attempt,
            error = %stalled,
            "the registry stopped answering; trying again"
        );
    }

    /// Sends a request built by `make` (called again for each try) with authorization,
    /// re-authentication on 401 and retries. Returns any non-401 response; the caller checks
    /// the status.
    async fn send<F>(
        &self,
        host: &Host,
        access: &Access,
        action: &str,
        retry: Retry,
        make: F,
    ) -> Result<reqwest::Response, RegistryError>
    where
        F: Fn(&reqwest::Client, &Url) -> Result<reqwest::RequestBuilder, RegistryError>,
    {
        self.send_tracked(host, access, action, retry, None, make)
            .await
    }

    /// [`Self::send`] for a request whose streamed body reports to `progress` (an upload):
    /// the request is idle only when its body stops going out, and its deadline grows with
    /// the body's size. Without it, the request is idle from its start.
    async fn send_tracked<F>(
        &self,
        host: &Host,
        access: &Access,
        action: &str,
        retry: Retry,
        progress: Option<Arc<transport::Progress>>,
        make: F,
    ) -> Result<reqwest::Response, RegistryError>
    where
        F: Fn(&reqwest::Client, &Url) -> Result<reqwest::RequestBuilder, RegistryError>,
    {
        let base = self.endpoint(host).await?;
        let attempts = match retry {
            Retry::Yes => self.inner.options.attempts.max(1),
            Retry::No => 1,
        };
        let idle = self.inner.options.timeout;
        let mut attempt = 0;
        let mut reauthenticated = false;
        loop {
            let auth = self.authorization(host, access, action).await?;
            let mut rb = make(&host.http, &base)?;
            if let Some(a) = auth {
                rb = rb.header(header::AUTHORIZATION, a);
            }
            attempt += 1;
            let progress = progress
                .clone()
                .unwrap_or_else(|| transport::Progress::new(0));
            let deadline = transport::deadline(idle, progress.size());
            let sent = match transport::watch(rb.send(), &progress, idle, deadline).await {
                Ok(sent) => sent,
                Err(stalled) if attempt < attempts => {
                    self.say_stalled(&host.registry, action, attempt, stalled);
                    self.pause(&host.registry, action, attempt, None).await;
                    continue;
                }
                Err(stalled) => {
                    return Err(RegistryError::TimedOut {
                        registry: host.registry.clone(),
                        action: action.into(),
                        stalled,
                    });
                }
            };
            let resp = match sent {
                Ok(r) => r,
                Err(e) if attempt < attempts && transport::transient(&e) => {
                    self.pause(&host.registry, action, attempt, None).await;
                    continue;
                }
                Err(e) => {
                    return Err(RegistryError::Transport {
                        registry: host.registry.clone(),
                        action: action.into(),
                        detail: transport::error_chain(&e),
                    });
                }
            };
            let status = resp.status();
            if status == StatusCode::UNAUTHORIZED {
                if let Some(c) = challenges(resp.headers()) {
                    *host.challenge.lock().expect("lock") = Some(c);
                }
                host.tokens.lock().await.remove(&access.scopes().join(" "));
                // Once: a token may have expired or the challenge may only now be known.
                if !reauthenticated {
                    reauthenticated = true;
                    attempt -= 1;
                    continue;
                }
                let body = read_text(resp, idle).await;
                let cred = self.credential(host, access).await?;
                let said = transport::describe_error_body(&body);
                let hint = match cred {
                    Some(c) => format!(" (the registry refused the credentials from {})", c.source),
                    None => no_credentials_hint(&host.registry),
                };
                return Err(RegistryError::Unauthorized {
                    registry: host.registry.clone(),
                    action: action.into(),
                    detail: format!(
                        "{}{hint}",
                        if said.is_empty() {
                            "HTTP 401".to_string()
                        } else {
                            said
                        }
                    ),
                });
            }
            if transport::retryable_status(status) && attempt < attempts {
                let wait = transport::retry_after(resp.headers());
                self.pause(&host.registry, action, attempt, wait).await;
                continue;
            }
            return Ok(resp);
        }
    }

    /// Turns an unexpected status into an error carrying the registry's codes and messages.
    async fn status_error(
        &self,
        host: &Host,
        action: &str,
        resp: reqwest::Response,
    ) -> RegistryError {
        let status = resp.status();
        let body = read_text(resp, self.inner.options.timeout).await;
        RegistryError::Status {
            registry: host.registry.clone(),
            action: action.into(),
            status: status.as_u16(),
            errors: transport::parse_error_body(&body),
            detail: transport::status_detail(status, &body),
        }
    }
}

fn join(base: &Url, path: &str) -> Result<Url, RegistryError> {
    base.join(path)
        .map_err(|e| RegistryError::Options(format!("building the URL for {path}: {e}")))
}

fn challenges(headers: &reqwest::header::HeaderMap) -> Option<Challenge> {
    let all: Vec<Challenge> = headers
        .get_all(header::WWW_AUTHENTICATE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(auth::parse_challenges)
        .collect();
    // Prefer a token challenge: Basic alongside Bearer is usually a fallback for old clients.
    all.iter()
        .find(|c| matches!(c, Challenge::Bearer { .. }))
        .or(all.first())
        .cloned()
}

fn no_credentials_hint(registry: &str) -> String {
    format!(
        " (no credentials found for {registry}: run `docker login {registry}`, or set LADE_REGISTRY_USERNAME and LADE_REGISTRY_PASSWORD)"
    )
}

async fn read_text(resp: reqwest::Response, idle: Duration) -> String {
    match read_limited(resp, 64 << 10, idle).await {
        Ok(b) => String::from_utf8_lossy(&b).into_owned(),
        Err(_) => String::new(),
    }
}

/// Why a small body could not be read.
enum ReadFailure {
    /// More than the limit: a registry may not send this.
    TooLarge(usize),
    Cut(String),
    Stalled(transport::Stalled),
}

impl ReadFailure {
    /// The error for reading the answer of `action` from `registry`.
    fn into_error(self, registry: &str, action: &str) -> RegistryError {
        let (registry, action) = (registry.to_string(), action.to_string());
        match self {
            ReadFailure::TooLarge(limit) => RegistryError::Invalid {
                registry,
                action,
                detail: format!("the answer is larger than {limit} bytes"),
            },
            ReadFailure::Cut(detail) => RegistryError::Transport {
                registry,
                action,
                detail: format!("reading the answer: {detail}"),
            },
            ReadFailure::Stalled(stalled) => RegistryError::TimedOut {
                registry,
                action,
                stalled,
            },
        }
    }
}

/// The body, refusing more than `limit` bytes (a manifest, a config, an error), and giving up
/// when nothing arrives for `idle`.
async fn read_limited(
    resp: reqwest::Response,
    limit: usize,
    idle: Duration,
) -> Result<Vec<u8>, ReadFailure> {
    if resp.content_length().is_some_and(|n| n > limit as u64) {
        return Err(ReadFailure::TooLarge(limit));
    }
    let started = std::time::Instant::now();
    let deadline = transport::deadline(idle, limit as u64);
    let mut out = Vec::new();
    let mut stream = resp.bytes_stream();
    while let Some(chunk) = transport::next_chunk(&mut stream, idle, started, deadline)
        .await
        .map_err(ReadFailure::Stalled)?
    {
        let c = chunk.map_err(|e| ReadFailure::Cut(transport::error_chain(&e)))?;
        if out.len() + c.len() > limit {
            return Err(ReadFailure::TooLarge(limit));
        }
        out.extend_from_slice(&c);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scopes() {
        let a = Access::push("team/app", &["base/img".into(), "team/app".into()]);
        assert_eq!(
            a.scopes(),
            vec!["repository:team/app:pull,push", "repository:base/img:pull"]
        );
        assert_eq!(Access::pull("x").scopes(), vec!["repository:x:pull"]);
    }
}
