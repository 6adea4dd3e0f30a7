//! The distribution API calls: manifests (GET/HEAD/PUT), blobs (HEAD/GET to a file), uploads
//! (POST then one streamed PUT, PATCH when a registry insists, cross-repository mounts).
//!
//! Every request goes through [`RegistryClient::send`], which picks the scheme once per host,
//! adds authorization (Basic or a cached bearer token for the request's scopes), answers a 401
//! by authenticating again once, and retries connection errors, 429 and 5xx with backoff.

use super::auth::{self, Challenge, Token, TokenFailure};
use super::credentials::{Credential, FoundCredential};
use super::reference::{self, Reference};
use super::transport::{self, ApiError};
use super::{RegistryError, RegistryOptions};
use crate::digest::Digest;
use crate::image::{DOCKER_MANIFEST, DOCKER_MANIFEST_LIST, OCI_INDEX, OCI_MANIFEST};
use base64::Engine;
use futures_util::StreamExt;
use reqwest::header::{self, HeaderValue};
use reqwest::{Method, StatusCode, Url};
use sha2::Digest as _;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncSeekExt, AsyncWriteExt};
use tokio::sync::OnceCell;

/// Everything lade can read as a manifest: a registry answers 404 for an OCI index (or a
/// Docker list) unless the request says it accepts one.
pub const MANIFEST_ACCEPT: [&str; 4] = [
    OCI_INDEX,
    OCI_MANIFEST,
    DOCKER_MANIFEST_LIST,
    DOCKER_MANIFEST,
];

/// The spec lets registries refuse manifests above 4 MiB; lade refuses to read larger ones.
const MAX_MANIFEST_BYTES: usize = 4 << 20;

/// Read buffer for streamed uploads: large enough that a loopback upload is not bound by
/// per-read overhead.
const UPLOAD_READ_BUF: usize = 256 << 10;

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

/// Why one upload attempt failed; decides whether the upload starts again.
enum UploadFailure {
    /// The registry refuses a monolithic PUT: use PATCH.
    NeedChunked(RegistryError),
    Retry(RegistryError, Option<Duration>),
    Fatal(RegistryError),
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
    retries: AtomicU64,
}

/// A registry client for any number of registries. Clones share connections, tokens and
/// credential lookups.
#[derive(Clone)]
pub struct RegistryClient {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for RegistryClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RegistryClient").finish_non_exhaustive()
    }
}

impl RegistryClient {
    /// Checks the CA files up front so a bad `--registry-ca` fails before any work is done.
    pub fn new(options: RegistryOptions) -> Result<Self, RegistryError> {
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
                retries: AtomicU64::new(0),
            }),
        })
    }

    pub fn options(&self) -> &RegistryOptions {
        &self.inner.options
    }

    /// How many requests and uploads were retried so far.
    pub fn retries(&self) -> u64 {
        self.inner.retries.load(Ordering::Relaxed)
    }

    /// Marks `registry` as one lade pushes to (see [`RegistryOptions::push_registries`]).
    pub fn add_push_registry(&self, registry: &str) {
        let mut p = self.inner.push_registries.lock().expect("lock");
        if !p.iter().any(|r| r == registry) {
            p.push(registry.to_string());
        }
    }

    fn is_push_registry(&self, registry: &str) -> bool {
        self.inner
            .push_registries
            .lock()
            .expect("lock")
            .iter()
            .any(|r| super::credentials::same_registry(r, registry))
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

    // ---------------------------------------------------------------------------------------
    // Scheme, credentials, authorization

    /// The base URL (`https://host/` or, for loopback and insecure registries that do not
    /// speak TLS, `http://host/`), found once per host with a `GET /v2/`.
    async fn endpoint(&self, host: &Host) -> Result<Url, RegistryError> {
        host.endpoint
            .get_or_try_init(|| self.discover(host))
            .await
            .cloned()
    }

    async fn discover(&self, host: &Host) -> Result<Url, RegistryError> {
        let https = base_url("https", &host.api)?;
        let https_err = match self.ping(host, &https, !host.may_use_http).await {
            Ok(()) => return Ok(https),
            Err(e) if !host.may_use_http => return Err(e),
            Err(e) => e,
        };
        // As Docker does for loopback and --insecure-registry hosts: plain HTTP if HTTPS fails.
        let http = base_url("http", &host.api)?;
        match self.ping(host, &http, true).await {
            Ok(()) => {
                tracing::debug!(registry = %host.registry, "using plain HTTP");
                Ok(http)
            }
            Err(http_err) => Err(RegistryError::Transport {
                registry: host.registry.clone(),
                action: "connecting".into(),
                detail: format!(
                    "over HTTPS: {}; over HTTP: {}",
                    inner_detail(&https_err),
                    inner_detail(&http_err)
                ),
            }),
        }
    }

    /// `GET /v2/`: learns whether and how the registry wants authentication.
    async fn ping(&self, host: &Host, base: &Url, retry: bool) -> Result<(), RegistryError> {
        let url = join(base, "v2/")?;
        let attempts = if retry {
            self.inner.options.attempts.max(1)
        } else {
            1
        };
        let mut attempt = 0;
        loop {
            let result = host.http.get(url.clone()).send().await;
            attempt += 1;
            let resp = match result {
                Ok(r) => r,
                Err(e) if attempt < attempts && transport::transient(&e) => {
                    self.pause(&host.registry, "connecting", attempt, None)
                        .await;
                    continue;
                }
                Err(e) => {
                    return Err(RegistryError::Transport {
                        registry: host.registry.clone(),
                        action: format!("connecting to {base}"),
                        detail: transport::error_chain(&e),
                    });
                }
            };
            let status = resp.status();
            if transport::retryable_status(status) && attempt < attempts {
                let wait = transport::retry_after(resp.headers());
                self.pause(&host.registry, "connecting", attempt, wait)
                    .await;
                continue;
            }
            let is_registry = resp
                .headers()
                .contains_key("docker-distribution-api-version")
                || status == StatusCode::OK
                || status == StatusCode::UNAUTHORIZED;
            if base.scheme() == "http" && !is_registry {
                let body = resp.text().await.unwrap_or_default();
                return Err(RegistryError::Transport {
                    registry: host.registry.clone(),
                    action: format!("connecting to {base}"),
                    detail: format!(
                        "this is not a registry ({})",
                        transport::status_detail(status, &body)
                    ),
                });
            }
            if status == StatusCode::UNAUTHORIZED {
                let c = challenges(resp.headers());
                *host.challenge.lock().expect("lock") = c;
            }
            return Ok(());
        }
    }

    async fn credential(
        &self,
        host: &Host,
        access: &Access,
    ) -> Result<Option<FoundCredential>, RegistryError> {
        let mut cache = host.credentials.lock().await;
        let key = (access.push, access.repository.clone());
        if let Some(c) = cache.get(&key) {
            return Ok(c.clone());
        }
        let sources = self.inner.options.credentials.clone();
        let registry = host.registry.clone();
        let repository = access.repository.clone();
        let push_target = access.push || self.is_push_registry(&registry);
        // Credential helpers are programs that may take a while (a keychain prompt): keep them
        // off the async workers.
        let found = tokio::task::spawn_blocking(move || {
            sources.lookup(&registry, Some(&repository), push_target)
        })
        .await
        .map_err(|e| RegistryError::Options(format!("credential lookup stopped: {e}")))??;
        if let Some(f) = &found {
            tracing::debug!(registry = %host.registry, source = %f.source, "using credentials");
        }
        cache.insert(key, found.clone());
        Ok(found)
    }

    async fn authorization(
        &self,
        host: &Host,
        access: &Access,
        action: &str,
    ) -> Result<Option<HeaderValue>, RegistryError> {
        let challenge = host.challenge.lock().expect("lock").clone();
        let Some(challenge) = challenge else {
            return Ok(None);
        };
        let cred = self.credential(host, access).await?;
        let value = match (challenge, &cred) {
            (
                _,
                Some(FoundCredential {
                    credential: Credential::RegistryToken(t),
                    ..
                }),
            ) => format!("Bearer {}", t.expose()),
            (
                Challenge::Basic,
                Some(FoundCredential {
                    credential: Credential::Basic { username, password },
                    ..
                }),
            ) => format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD
                    .encode(format!("{username}:{}", password.expose()))
            ),
            (Challenge::Basic, _) => return Ok(None),
            (Challenge::Bearer { realm, service, .. }, _) => {
                let key = access.scopes().join(" ");
                let mut tokens = host.tokens.lock().await;
                let token = match tokens.get(&key).filter(|t| t.fresh()) {
                    Some(t) => t.clone(),
                    None => {
                        let t = self
                            .token(
                                host,
                                &realm,
                                service.as_deref(),
                                access,
                                cred.as_ref(),
                                action,
                            )
                            .await?;
                        tokens.insert(key, t.clone());
                        t
                    }
                };
                format!("Bearer {}", token.value.expose())
            }
        };
        let mut v = HeaderValue::from_str(&value).map_err(|_| RegistryError::Unauthorized {
            registry: host.registry.clone(),
            action: action.into(),
            detail: "the credential contains characters that cannot be sent in a header".into(),
        })?;
        v.set_sensitive(true);
        Ok(Some(v))
    }

    async fn token(
        &self,
        host: &Host,
        realm: &str,
        service: Option<&str>,
        access: &Access,
        cred: Option<&FoundCredential>,
        action: &str,
    ) -> Result<Token, RegistryError> {
        let realm_url = Url::parse(realm).map_err(|e| RegistryError::Invalid {
            registry: host.registry.clone(),
            action: action.into(),
            detail: format!("the token realm '{realm}' is not a URL: {e}"),
        })?;
        let realm_host = match (realm_url.host_str(), realm_url.port()) {
            (Some(h), Some(p)) => format!("{h}:{p}"),
            (Some(h), None) => h.to_string(),
            (None, _) => String::new(),
        };
        let realm_insecure = self.inner.options.is_insecure(&realm_host);
        if realm_url.scheme() != "https"
            && cred.is_some()
            && !(realm_insecure || reference::is_loopback(&realm_host))
        {
            return Err(RegistryError::Unauthorized {
                registry: host.registry.clone(),
                action: action.into(),
                detail: format!(
                    "the token server {realm} is not HTTPS; lade does not send credentials there (add --insecure-registry {realm_host} to allow it)"
                ),
            });
        }
        let http = self.http_client(&realm_host, realm_insecure)?;
        let scopes = access.scopes();
        let attempts = self.inner.options.attempts.max(1);
        let mut attempt = 0;
        loop {
            attempt += 1;
            match auth::fetch_token(
                &http,
                &realm_url,
                service,
                &scopes,
                cred.map(|c| &c.credential),
            )
            .await
            {
                Ok(t) => return Ok(t),
                Err(TokenFailure::Refused { status, detail }) => {
                    let who = match cred {
                        Some(c) => format!("the credentials from {}", c.source),
                        None => "anonymous access".into(),
                    };
                    let said = if detail.is_empty() {
                        String::new()
                    } else {
                        format!(": {detail}")
                    };
                    return Err(RegistryError::Unauthorized {
                        registry: host.registry.clone(),
                        action: action.into(),
                        detail: format!(
                            "the token server {realm} refused {who} (HTTP {status}{said}){}",
                            if cred.is_none() {
                                no_credentials_hint(&host.registry)
                            } else {
                                String::new()
                            }
                        ),
                    });
                }
                Err(TokenFailure::Other {
                    retryable: true,
                    status,
                    ..
                }) if attempt < attempts => {
                    let _ = status;
                    self.pause(&host.registry, "getting a token", attempt, None)
                        .await;
                }
                Err(TokenFailure::Other { detail, .. }) => {
                    return Err(RegistryError::Transport {
                        registry: host.registry.clone(),
                        action: format!("{action}: getting a token from {realm}"),
                        detail,
                    });
                }
            }
        }
    }

    async fn pause(&self, registry: &str, what: &str, attempt: u32, wait: Option<Duration>) {
        self.inner.retries.fetch_add(1, Ordering::Relaxed);
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
        let base = self.endpoint(host).await?;
        let attempts = match retry {
            Retry::Yes => self.inner.options.attempts.max(1),
            Retry::No => 1,
        };
        let mut attempt = 0;
        let mut reauthenticated = false;
        loop {
            let auth = self.authorization(host, access, action).await?;
            let mut rb = make(&host.http, &base)?;
            if let Some(a) = auth {
                rb = rb.header(header::AUTHORIZATION, a);
            }
            attempt += 1;
            let resp = match rb.send().await {
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
                let body = read_text(resp).await;
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
        let body = read_text(resp).await;
        RegistryError::Status {
            registry: host.registry.clone(),
            action: action.into(),
            status: status.as_u16(),
            errors: transport::parse_error_body(&body),
            detail: transport::status_detail(status, &body),
        }
    }

    // ---------------------------------------------------------------------------------------
    // Manifests

    /// Fetches the manifest or index `r` names, through mirrors first for pulls. When `r` has a
    /// digest, the bytes are checked against it.
    pub async fn get_manifest(&self, r: &Reference) -> Result<Manifest, RegistryError> {
        let reference = r.reference();
        let mut last = None;
        for (registry, repository) in self
            .inner
            .options
            .pull_candidates(&r.registry, &r.repository)
        {
            match self
                .get_manifest_at(&registry, &repository, &reference)
                .await
            {
                Ok(m) => {
                    if let Some(d) = &r.digest
                        && &m.digest != d
                    {
                        return Err(RegistryError::Invalid {
                            registry,
                            action: format!("fetching manifest {repository}@{d}"),
                            detail: format!("the registry sent content with digest {}", m.digest),
                        });
                    }
                    return Ok(m);
                }
                Err(e) => {
                    if registry != r.registry {
                        tracing::warn!(mirror = %registry, error = %e, "mirror failed; trying the next source");
                    }
                    last = Some(e);
                }
            }
        }
        Err(last.expect("pull_candidates always includes the origin"))
    }

    /// `GET /v2/REPO/manifests/REF` on one registry.
    pub async fn get_manifest_at(
        &self,
        registry: &str,
        repository: &str,
        reference: &str,
    ) -> Result<Manifest, RegistryError> {
        let host = self.host(registry)?;
        let access = Access::pull(repository);
        let action = format!("fetching manifest {}", manifest_name(repository, reference));
        let url_path = format!("v2/{repository}/manifests/{reference}");
        let resp = self
            .send(&host, &access, &action, Retry::Yes, |c, base| {
                Ok(c.get(join(base, &url_path)?)
                    .header(header::ACCEPT, MANIFEST_ACCEPT.join(", ")))
            })
            .await?;
        if !resp.status().is_success() {
            return Err(self.status_error(&host, &action, resp).await);
        }
        let header_type = resp
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(|v| v.split(';').next().unwrap_or(v).trim().to_string());
        let bytes = read_limited(resp, MAX_MANIFEST_BYTES)
            .await
            .map_err(|detail| RegistryError::Invalid {
                registry: registry.into(),
                action: action.clone(),
                detail,
            })?;
        // The document's own mediaType is authoritative; some registries send a generic
        // Content-Type.
        #[derive(serde::Deserialize)]
        struct Probe {
            #[serde(rename = "mediaType", default)]
            media_type: Option<String>,
            #[serde(default)]
            manifests: Option<serde_json::Value>,
        }
        let probe: Probe = serde_json::from_slice(&bytes).map_err(|e| RegistryError::Invalid {
            registry: registry.into(),
            action: action.clone(),
            detail: format!("the manifest is not JSON: {e}"),
        })?;
        let media_type = probe
            .media_type
            .or(header_type.filter(|t| MANIFEST_ACCEPT.contains(&t.as_str())))
            .unwrap_or_else(|| {
                if probe.manifests.is_some() {
                    OCI_INDEX.into()
                } else {
                    OCI_MANIFEST.into()
                }
            });
        Ok(Manifest {
            digest: Digest::of(&bytes),
            bytes,
            media_type,
        })
    }

    /// `HEAD` a manifest: its digest if it exists.
    pub async fn head_manifest(
        &self,
        registry: &str,
        repository: &str,
        reference: &str,
        access: &Access,
    ) -> Result<Option<Digest>, RegistryError> {
        let host = self.host(registry)?;
        let action = format!("checking manifest {}", manifest_name(repository, reference));
        let url_path = format!("v2/{repository}/manifests/{reference}");
        let resp = self
            .send(&host, access, &action, Retry::Yes, |c, base| {
                Ok(c.head(join(base, &url_path)?)
                    .header(header::ACCEPT, MANIFEST_ACCEPT.join(", ")))
            })
            .await?;
        match resp.status() {
            s if s.is_success() => {
                let d = resp
                    .headers()
                    .get("docker-content-digest")
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.parse().ok());
                // A registry that omits the header still said the manifest exists; when HEAD
                // was by digest, that digest is the answer.
                Ok(d.or_else(|| reference.parse().ok()))
            }
            StatusCode::NOT_FOUND => Ok(None),
            _ => Err(self.status_error(&host, &action, resp).await),
        }
    }

    /// `PUT` the exact `bytes` as a manifest under `reference` (a tag or their digest).
    pub async fn put_manifest(
        &self,
        registry: &str,
        repository: &str,
        reference: &str,
        media_type: &str,
        bytes: &[u8],
        access: &Access,
    ) -> Result<Digest, RegistryError> {
        let host = self.host(registry)?;
        let digest = Digest::of(bytes);
        let action = format!(
            "pushing manifest {digest} as {}",
            manifest_name(repository, reference)
        );
        let url_path = format!("v2/{repository}/manifests/{reference}");
        let resp = self
            .send(&host, access, &action, Retry::Yes, |c, base| {
                Ok(c.put(join(base, &url_path)?)
                    .header(header::CONTENT_TYPE, media_type)
                    .body(bytes.to_vec()))
            })
            .await?;
        if !resp.status().is_success() {
            return Err(self.status_error(&host, &action, resp).await);
        }
        if let Some(said) = resp
            .headers()
            .get("docker-content-digest")
            .and_then(|v| v.to_str().ok())
            && said != digest.as_str()
        {
            return Err(RegistryError::Invalid {
                registry: registry.into(),
                action,
                detail: format!("the registry stored it as {said}"),
            });
        }
        Ok(digest)
    }

    // ---------------------------------------------------------------------------------------
    // Blobs

    /// `HEAD` a blob: its size if the repository has it.
    pub async fn blob_exists(
        &self,
        registry: &str,
        repository: &str,
        digest: &Digest,
        access: &Access,
    ) -> Result<Option<u64>, RegistryError> {
        let host = self.host(registry)?;
        let action = format!("checking blob {digest} in {repository}");
        let url_path = format!("v2/{repository}/blobs/{digest}");
        let resp = self
            .send(&host, access, &action, Retry::Yes, |c, base| {
                Ok(c.head(join(base, &url_path)?))
            })
            .await?;
        match resp.status() {
            // reqwest reports no body length for HEAD; the header has the blob's size.
            s if s.is_success() => Ok(Some(
                resp.headers()
                    .get(header::CONTENT_LENGTH)
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(0),
            )),
            StatusCode::NOT_FOUND => Ok(None),
            _ => Err(self.status_error(&host, &action, resp).await),
        }
    }

    /// A small blob (an image config) in memory, digest-checked.
    pub async fn fetch_blob_bytes(
        &self,
        registry: &str,
        repository: &str,
        digest: &Digest,
        limit: usize,
    ) -> Result<Vec<u8>, RegistryError> {
        let mut last = None;
        for (reg, repo) in self.inner.options.pull_candidates(registry, repository) {
            let host = self.host(&reg)?;
            let action = format!("fetching blob {digest} from {repo}");
            let url_path = format!("v2/{repo}/blobs/{digest}");
            let result = async {
                let resp = self
                    .send(
                        &host,
                        &Access::pull(&repo),
                        &action,
                        Retry::Yes,
                        |c, base| Ok(c.get(join(base, &url_path)?)),
                    )
                    .await?;
                if !resp.status().is_success() {
                    return Err(self.status_error(&host, &action, resp).await);
                }
                let bytes =
                    read_limited(resp, limit)
                        .await
                        .map_err(|detail| RegistryError::Invalid {
                            registry: reg.clone(),
                            action: action.clone(),
                            detail,
                        })?;
                let got = Digest::of(&bytes);
                if &got != digest {
                    return Err(RegistryError::Invalid {
                        registry: reg.clone(),
                        action: action.clone(),
                        detail: format!("the registry sent content with digest {got}"),
                    });
                }
                Ok(bytes)
            }
            .await;
            match result {
                Ok(b) => return Ok(b),
                Err(e) => last = Some(e),
            }
        }
        Err(last.expect("pull_candidates always includes the origin"))
    }

    /// Streams a blob into `dest` (through mirrors first), checking size and digest before the
    /// file appears under its final name. A download cut off midway starts again.
    pub async fn fetch_blob(
        &self,
        registry: &str,
        repository: &str,
        digest: &Digest,
        size: Option<u64>,
        dest: &Path,
    ) -> Result<u64, RegistryError> {
        let mut last = None;
        for (reg, repo) in self.inner.options.pull_candidates(registry, repository) {
            match self.fetch_blob_at(&reg, &repo, digest, size, dest).await {
                Ok(n) => return Ok(n),
                Err(e) => {
                    if reg != registry {
                        tracing::warn!(mirror = %reg, error = %e, "mirror failed; trying the next source");
                    }
                    last = Some(e);
                }
            }
        }
        Err(last.expect("pull_candidates always includes the origin"))
    }

    async fn fetch_blob_at(
        &self,
        registry: &str,
        repository: &str,
        digest: &Digest,
        size: Option<u64>,
        dest: &Path,
    ) -> Result<u64, RegistryError> {
        let host = self.host(registry)?;
        let action = format!("downloading blob {digest} from {repository}");
        let io = |path: &Path, source: std::io::Error| RegistryError::Io {
            registry: registry.into(),
            action: action.clone(),
            path: path.to_path_buf(),
            source,
        };
        let dir = dest.parent().unwrap_or(Path::new("."));
        tokio::fs::create_dir_all(dir)
            .await
            .map_err(|e| io(dir, e))?;
        let url_path = format!("v2/{repository}/blobs/{digest}");
        let attempts = self.inner.options.attempts.max(1);
        let mut attempt = 0;
        loop {
            attempt += 1;
            let resp = self
                .send(
                    &host,
                    &Access::pull(repository),
                    &action,
                    Retry::Yes,
                    |c, base| Ok(c.get(join(base, &url_path)?)),
                )
                .await?;
            if !resp.status().is_success() {
                return Err(self.status_error(&host, &action, resp).await);
            }
            let tmp = tempfile::Builder::new()
                .prefix(".download-")
                .tempfile_in(dir)
                .map_err(|e| io(dir, e))?;
            let (std_file, tmp_path) = tmp.into_parts();
            let mut file =
                tokio::io::BufWriter::with_capacity(1 << 20, tokio::fs::File::from_std(std_file));
            let mut hasher = sha2::Sha256::new();
            let mut n: u64 = 0;
            let mut stream = resp.bytes_stream();
            let mut cut: Option<String> = None;
            while let Some(chunk) = stream.next().await {
                match chunk {
                    Ok(c) => {
                        hasher.update(&c);
                        n += c.len() as u64;
                        file.write_all(&c).await.map_err(|e| io(&tmp_path, e))?;
                    }
                    Err(e) => {
                        cut = Some(transport::error_chain(&e));
                        break;
                    }
                }
            }
            if let Some(detail) = cut {
                if attempt < attempts {
                    tracing::debug!(%digest, detail, "download cut off; starting again");
                    self.pause(registry, &action, attempt, None).await;
                    continue;
                }
                return Err(RegistryError::Transport {
                    registry: registry.into(),
                    action,
                    detail,
                });
            }
            file.flush().await.map_err(|e| io(&tmp_path, e))?;
            let got: Digest = format!("sha256:{}", hex::encode(hasher.finalize()))
                .parse()
                .expect("hex of a sha256 is a digest");
            if &got != digest || size.is_some_and(|s| s != n) {
                return Err(RegistryError::Invalid {
                    registry: registry.into(),
                    action,
                    detail: format!("received {n} bytes with digest {got}"),
                });
            }
            // As the blob store does: data on disk before the name, and world-readable like
            // every other blob (temporary files are created 0600; sinks copy the mode).
            file.into_inner()
                .sync_all()
                .await
                .map_err(|e| io(&tmp_path, e))?;
            {
                use std::os::unix::fs::PermissionsExt;
                tokio::fs::set_permissions(&tmp_path, std::fs::Permissions::from_mode(0o644))
                    .await
                    .map_err(|e| io(&tmp_path, e))?;
            }
            tmp_path.persist(dest).map_err(|e| io(dest, e.error))?;
            return Ok(n);
        }
    }

    /// Uploads a blob of `size` bytes with `digest`: `POST` (offering a mount from
    /// `mount_from` on the same registry), then one streamed `PUT` with `Content-Length`, or
    /// `PATCH` chunks then `PUT` for registries that refuse the single PUT. A failed attempt
    /// (cut connection, 5xx, 429) starts a new upload session.
    #[allow(clippy::too_many_arguments)]
    pub async fn upload_blob(
        &self,
        registry: &str,
        repository: &str,
        digest: &Digest,
        size: u64,
        body: &BlobBody,
        mount_from: Option<&str>,
        access: &Access,
    ) -> Result<UploadOutcome, RegistryError> {
        let host = self.host(registry)?;
        let action = format!("uploading blob {digest} to {repository}");
        let attempts = self.inner.options.attempts.max(1);
        let mut attempt = 0;
        let mut switched = false;
        loop {
            attempt += 1;
            let location = match self
                .start_upload(&host, repository, digest, mount_from, access, &action)
                .await?
            {
                Started::Mounted => return Ok(UploadOutcome::Mounted),
                Started::At(u) => u,
            };
            let result = if host.chunked.load(Ordering::Relaxed) {
                self.patch_upload(&host, location, digest, size, body, access, &action)
                    .await
            } else {
                self.put_upload(&host, location, digest, size, body, access, &action)
                    .await
            };
            match result {
                Ok(()) => return Ok(UploadOutcome::Uploaded),
                Err(UploadFailure::NeedChunked(e)) => {
                    if switched {
                        return Err(e);
                    }
                    tracing::debug!(registry, "registry refused a single PUT; using PATCH");
                    host.chunked.store(true, Ordering::Relaxed);
                    switched = true;
                    attempt -= 1;
                }
                Err(UploadFailure::Retry(e, wait)) if attempt < attempts => {
                    tracing::debug!(error = %e, "upload failed; starting it again");
                    self.pause(registry, &action, attempt, wait).await;
                }
                Err(UploadFailure::Retry(e, _) | UploadFailure::Fatal(e)) => return Err(e),
            }
        }
    }

    /// Offers a cross-repository mount only (no upload): whether the registry mounted it.
    pub async fn mount_blob(
        &self,
        registry: &str,
        repository: &str,
        digest: &Digest,
        from: &str,
        access: &Access,
    ) -> Result<bool, RegistryError> {
        let host = self.host(registry)?;
        let action = format!("mounting blob {digest} from {from} into {repository}");
        Ok(matches!(
            self.start_upload(&host, repository, digest, Some(from), access, &action)
                .await?,
            Started::Mounted
        ))
    }

    async fn start_upload(
        &self,
        host: &Host,
        repository: &str,
        digest: &Digest,
        mount_from: Option<&str>,
        access: &Access,
        action: &str,
    ) -> Result<Started, RegistryError> {
        let url_path = format!("v2/{repository}/blobs/uploads/");
        let resp = self
            .send(host, access, action, Retry::Yes, |c, base| {
                let mut url = join(base, &url_path)?;
                if let Some(from) = mount_from {
                    url.query_pairs_mut()
                        .append_pair("mount", digest.as_str())
                        .append_pair("from", from);
                }
                Ok(c.post(url).header(header::CONTENT_LENGTH, "0"))
            })
            .await?;
        let status = resp.status();
        if status == StatusCode::CREATED && mount_from.is_some() {
            return Ok(Started::Mounted);
        }
        if status != StatusCode::ACCEPTED {
            return Err(self.status_error(host, action, resp).await);
        }
        let base = self.endpoint(host).await?;
        Ok(Started::At(location_header(&base, &resp).ok_or_else(
            || RegistryError::Invalid {
                registry: host.registry.clone(),
                action: action.into(),
                detail: "the registry started an upload without a valid Location header".into(),
            },
        )?))
    }

    /// A fresh body for one attempt.
    async fn open_body(
        &self,
        body: &BlobBody,
        digest: &Digest,
        range: Option<(u64, u64)>,
        action: &str,
        registry: &str,
    ) -> Result<reqwest::Body, UploadFailure> {
        match body {
            BlobBody::Bytes(b) => Ok(match range {
                Some((start, len)) => {
                    reqwest::Body::from(b[start as usize..(start + len) as usize].to_vec())
                }
                None => reqwest::Body::from(b.clone()),
            }),
            BlobBody::File(path) => {
                let io = |e: std::io::Error| {
                    UploadFailure::Fatal(RegistryError::Io {
                        registry: registry.into(),
                        action: action.into(),
                        path: path.clone(),
                        source: e,
                    })
                };
                let mut f = tokio::fs::File::open(path).await.map_err(io)?;
                Ok(match range {
                    Some((start, len)) => {
                        f.seek(std::io::SeekFrom::Start(start)).await.map_err(io)?;
                        use tokio::io::AsyncReadExt;
                        reqwest::Body::wrap_stream(tokio_util::io::ReaderStream::with_capacity(
                            f.take(len),
                            UPLOAD_READ_BUF,
                        ))
                    }
                    None => reqwest::Body::wrap_stream(
                        tokio_util::io::ReaderStream::with_capacity(f, UPLOAD_READ_BUF),
                    ),
                })
            }
            BlobBody::Remote {
                registry: src_registry,
                repository: src_repo,
            } => {
                let src = self.source_stream(src_registry, src_repo, digest).await?;
                Ok(reqwest::Body::wrap_stream(src.bytes_stream()))
            }
        }
    }

    /// The GET response of a blob on another registry, to stream into an upload.
    async fn source_stream(
        &self,
        registry: &str,
        repository: &str,
        digest: &Digest,
    ) -> Result<reqwest::Response, UploadFailure> {
        let mut last = None;
        for (reg, repo) in self.inner.options.pull_candidates(registry, repository) {
            let host = self.host(&reg).map_err(UploadFailure::Fatal)?;
            let action = format!("downloading blob {digest} from {repo}");
            let url_path = format!("v2/{repo}/blobs/{digest}");
            match self
                .send(
                    &host,
                    &Access::pull(&repo),
                    &action,
                    Retry::Yes,
                    |c, base| Ok(c.get(join(base, &url_path)?)),
                )
                .await
            {
                Ok(r) if r.status().is_success() => return Ok(r),
                Ok(r) => last = Some(self.status_error(&host, &action, r).await),
                Err(e) => last = Some(e),
            }
        }
        Err(UploadFailure::Fatal(
            last.expect("pull_candidates always includes the origin"),
        ))
    }

    #[allow(clippy::too_many_arguments)]
    async fn put_upload(
        &self,
        host: &Host,
        location: Url,
        digest: &Digest,
        size: u64,
        body: &BlobBody,
        access: &Access,
        action: &str,
    ) -> Result<(), UploadFailure> {
        let mut url = location;
        url.query_pairs_mut().append_pair("digest", digest.as_str());
        let body = self
            .open_body(body, digest, None, action, &host.registry)
            .await?;
        let slot = Mutex::new(Some(body));
        let resp = self
            .send(host, access, action, Retry::No, |c, _| {
                // The body streams once; a second call (re-authentication) starts the upload
                // over instead.
                let body =
                    slot.lock()
                        .expect("lock")
                        .take()
                        .ok_or_else(|| RegistryError::Transport {
                            registry: host.registry.clone(),
                            action: action.into(),
                            detail: "authentication expired during the upload".into(),
                        })?;
                Ok(c.put(url.clone())
                    .header(header::CONTENT_TYPE, "application/octet-stream")
                    .header(header::CONTENT_LENGTH, size)
                    .body(body))
            })
            .await
            .map_err(classify)?;
        let status = resp.status();
        if status == StatusCode::CREATED || status.is_success() {
            return Ok(());
        }
        let wait = transport::retry_after(resp.headers());
        let e = self.status_error(host, action, resp).await;
        Err(match status.as_u16() {
            405 | 411 | 413 | 416 | 501 => UploadFailure::NeedChunked(e),
            s if transport::retryable_status(StatusCode::from_u16(s).unwrap_or(status)) => {
                UploadFailure::Retry(e, wait)
            }
            // The upload session may have expired on the registry.
            404 if blob_upload_unknown(&e) => UploadFailure::Retry(e, None),
            _ => UploadFailure::Fatal(e),
        })
    }

    #[allow(clippy::too_many_arguments)]
    async fn patch_upload(
        &self,
        host: &Host,
        location: Url,
        digest: &Digest,
        size: u64,
        body: &BlobBody,
        access: &Access,
        action: &str,
    ) -> Result<(), UploadFailure> {
        // Only files and bytes can be cut into ranges; a remote stream goes in one PATCH.
        let chunk = match body {
            BlobBody::Remote { .. } => size.max(1),
            _ => self.inner.options.chunk_size.max(1),
        };
        let base = self.endpoint(host).await.map_err(UploadFailure::Fatal)?;
        let mut url = location;
        let mut start = 0u64;
        while start < size {
            let len = chunk.min(size - start);
            let range = match body {
                BlobBody::Remote { .. } => None,
                _ => Some((start, len)),
            };
            let b = self
                .open_body(body, digest, range, action, &host.registry)
                .await?;
            let slot = Mutex::new(Some(b));
            let target = url.clone();
            let resp = self
                .send(host, access, action, Retry::No, |c, _| {
                    let b = slot.lock().expect("lock").take().ok_or_else(|| {
                        RegistryError::Transport {
                            registry: host.registry.clone(),
                            action: action.into(),
                            detail: "authentication expired during the upload".into(),
                        }
                    })?;
                    Ok(c.request(Method::PATCH, target.clone())
                        .header(header::CONTENT_TYPE, "application/octet-stream")
                        .header(header::CONTENT_LENGTH, len)
                        .header(
                            header::CONTENT_RANGE,
                            format!("{start}-{}", start + len - 1),
                        )
                        .body(b))
                })
                .await
                .map_err(classify)?;
            if resp.status() != StatusCode::ACCEPTED && !resp.status().is_success() {
                let status = resp.status();
                let wait = transport::retry_after(resp.headers());
                let e = self.status_error(host, action, resp).await;
                return Err(if transport::retryable_status(status) {
                    UploadFailure::Retry(e, wait)
                } else {
                    UploadFailure::Fatal(e)
                });
            }
            if let Some(next) = location_header(&base, &resp) {
                url = next;
            }
            start += len;
        }
        url.query_pairs_mut().append_pair("digest", digest.as_str());
        let resp = self
            .send(host, access, action, Retry::No, |c, _| {
                Ok(c.put(url.clone()).header(header::CONTENT_LENGTH, "0"))
            })
            .await
            .map_err(classify)?;
        if resp.status().is_success() {
            return Ok(());
        }
        let status = resp.status();
        let wait = transport::retry_after(resp.headers());
        let e = self.status_error(host, action, resp).await;
        Err(if transport::retryable_status(status) {
            UploadFailure::Retry(e, wait)
        } else {
            UploadFailure::Fatal(e)
        })
    }
}

enum Started {
    Mounted,
    At(Url),
}

/// Connection problems during an upload are worth a new session; the rest are final.
fn classify(e: RegistryError) -> UploadFailure {
    match e {
        RegistryError::Transport { .. } => UploadFailure::Retry(e, None),
        other => UploadFailure::Fatal(other),
    }
}

fn blob_upload_unknown(e: &RegistryError) -> bool {
    matches!(e, RegistryError::Status { errors, .. }
        if errors.iter().any(|ApiError { code, .. }| code == "BLOB_UPLOAD_UNKNOWN"))
}

fn base_url(scheme: &str, api: &str) -> Result<Url, RegistryError> {
    Url::parse(&format!("{scheme}://{api}/")).map_err(|e| {
        RegistryError::Options(format!("'{api}' is not a usable registry address: {e}"))
    })
}

fn join(base: &Url, path: &str) -> Result<Url, RegistryError> {
    base.join(path)
        .map_err(|e| RegistryError::Options(format!("building the URL for {path}: {e}")))
}

/// The upload URL from a `Location` header, absolute or relative to the registry.
fn location_header(base: &Url, resp: &reqwest::Response) -> Option<Url> {
    let l = resp.headers().get(header::LOCATION)?.to_str().ok()?;
    base.join(l).ok()
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

/// The detail of a transport error without its registry prefix, to combine two of them.
fn inner_detail(e: &RegistryError) -> String {
    match e {
        RegistryError::Transport { detail, .. } => detail.clone(),
        other => other.to_string(),
    }
}

fn manifest_name(repository: &str, reference: &str) -> String {
    if reference.starts_with("sha256:") {
        format!("{repository}@{reference}")
    } else {
        format!("{repository}:{reference}")
    }
}

async fn read_text(resp: reqwest::Response) -> String {
    match read_limited(resp, 64 << 10).await {
        Ok(b) => String::from_utf8_lossy(&b).into_owned(),
        Err(_) => String::new(),
    }
}

/// The body, refusing more than `limit` bytes (a manifest, a config, an error).
async fn read_limited(resp: reqwest::Response, limit: usize) -> Result<Vec<u8>, String> {
    if resp.content_length().is_some_and(|n| n > limit as u64) {
        return Err(format!("the answer is larger than {limit} bytes"));
    }
    let mut out = Vec::new();
    let mut stream = resp.bytes_stream();
    while let Some(chunk) = stream.next().await {
        let c = chunk.map_err(|e| format!("reading the answer: {}", transport::error_chain(&e)))?;
        if out.len() + c.len() > limit {
            return Err(format!("the answer is larger than {limit} bytes"));
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
