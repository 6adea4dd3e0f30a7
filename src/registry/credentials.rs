//! Where registry credentials come from: CI environment variables, containers `auth.json`,
//! Docker's `config.json` (inline `auths`, `credHelpers`, `credsStore`) and the
//! `docker-credential-<name>` helpers they name.
//!
//! Secrets are wrapped in [`Secret`], whose `Debug` is redacted and which has no `Display`, so a
//! credential cannot end up in a log line or an error message by accident.

use crate::oci::reference::{DOCKER_HUB, same_registry};
use base64::Engine;
use std::collections::BTreeMap;
use std::fmt;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// A secret value. Read it with [`Secret::expose`] at the one place it goes on the wire.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(s: impl Into<String>) -> Self {
        Secret(s.into())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

/// What lade presents to a registry or its token server.
#[derive(Clone, PartialEq, Eq)]
pub enum Credential {
    Basic {
        username: String,
        password: Secret,
    },
    /// An OAuth2 refresh token (Docker's "identity token"), exchanged at the token endpoint.
    IdentityToken(Secret),
    /// A bearer token sent to the registry as is.
    RegistryToken(Secret),
}

impl fmt::Debug for Credential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Credential::Basic { username, .. } => f
                .debug_struct("Basic")
                .field("username", username)
                .field("password", &"<redacted>")
                .finish(),
            Credential::IdentityToken(_) => f.write_str("IdentityToken(<redacted>)"),
            Credential::RegistryToken(_) => f.write_str("RegistryToken(<redacted>)"),
        }
    }
}

/// A credential and where it was found (a file path, a helper or a variable name: never the
/// value), so an "unauthorized" error can tell the user which one to fix.
#[derive(Clone, Debug)]
pub struct FoundCredential {
    pub credential: Credential,
    pub source: String,
}

#[derive(Debug, thiserror::Error)]
pub enum CredentialError {
    /// `cause`, not `source`: the message already says it, and anyhow's chain would repeat it;
    /// it reaches users inside a [`super::RegistryError`], whose wrappers print only messages.
    #[error("credentials for {registry}: reading {path}: {cause}")]
    Read {
        registry: String,
        path: PathBuf,
        cause: std::io::Error,
    },
    #[error("credentials for {registry}: {path}: {detail}")]
    Invalid {
        registry: String,
        path: PathBuf,
        detail: String,
    },
    #[error("credentials for {registry}: credential helper docker-credential-{helper}: {detail}")]
    Helper {
        registry: String,
        helper: String,
        detail: String,
    },
    #[error("credentials for {registry}: {detail}")]
    Env { registry: String, detail: String },
}

pub const ENV_USERNAME: &str = crate::env::LADE_REGISTRY_USERNAME.name();
pub const ENV_PASSWORD: &str = crate::env::LADE_REGISTRY_PASSWORD.name();
/// Comma-separated registries the unscoped variables are for.
pub const ENV_HOSTS: &str = crate::env::LADE_REGISTRY_HOST.name();

/// The credential sources in the order they are consulted.
#[derive(Clone, Default)]
pub struct CredentialSources {
    /// `LADE_REGISTRY_USERNAME` / `LADE_REGISTRY_PASSWORD`.
    pub env_username: Option<String>,
    pub env_password: Option<Secret>,
    /// `LADE_REGISTRY_HOST`: when set, the unscoped variables apply only to these registries;
    /// when not set, only to registries lade pushes to, so a CI password for the target registry
    /// is never sent to the token server of a public base image's registry.
    pub env_hosts: Option<Vec<String>>,
    /// `LADE_REGISTRY_USERNAME_<HOST>` / `LADE_REGISTRY_PASSWORD_<HOST>`, keyed by [`env_key`].
    pub scoped: BTreeMap<String, (Option<String>, Option<Secret>)>,
    /// Credential files, most important first: `$REGISTRY_AUTH_FILE`, Docker's config.json,
    /// `$XDG_RUNTIME_DIR/containers/auth.json`, `~/.config/containers/auth.json`.
    pub files: Vec<PathBuf>,
    /// The `PATH` searched for `docker-credential-*` helpers; `None` is lade's own `PATH`.
    pub helper_path: Option<std::ffi::OsString>,
}

impl fmt::Debug for CredentialSources {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CredentialSources")
            .field("env_username", &self.env_username)
            .field(
                "env_password",
                &self.env_password.as_ref().map(|_| "<redacted>"),
            )
            .field("env_hosts", &self.env_hosts)
            .field("scoped", &self.scoped.keys().collect::<Vec<_>>())
            .field("files", &self.files)
            .field("helper_path", &self.helper_path)
            .finish()
    }
}

/// `localhost:5000` → `LOCALHOST_5000` (the suffix of the scoped variables).
pub fn env_key(registry: &str) -> String {
    registry
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_uppercase()
            } else {
                '_'
            }
        })
        .collect()
}

impl CredentialSources {
    /// Reads the variables and locates the files from the process environment.
    pub fn from_env() -> Self {
        use crate::env::{
            self, DOCKER_CONFIG, HOME, LADE_REGISTRY_HOST, LADE_REGISTRY_PASSWORD,
            LADE_REGISTRY_PASSWORD_HOST, LADE_REGISTRY_USERNAME, LADE_REGISTRY_USERNAME_HOST,
            REGISTRY_AUTH_FILE, XDG_CONFIG_HOME, XDG_RUNTIME_DIR,
        };
        let var = env::non_empty;
        let mut scoped: BTreeMap<String, (Option<String>, Option<Secret>)> = BTreeMap::new();
        for (k, v) in env::family(LADE_REGISTRY_USERNAME_HOST) {
            let key = &k[LADE_REGISTRY_USERNAME_HOST.prefix().len()..];
            scoped.entry(key.to_string()).or_default().0 = Some(v);
        }
        for (k, v) in env::family(LADE_REGISTRY_PASSWORD_HOST) {
            let key = &k[LADE_REGISTRY_PASSWORD_HOST.prefix().len()..];
            scoped.entry(key.to_string()).or_default().1 = Some(Secret::new(v));
        }
        let mut files = Vec::new();
        if let Some(f) = var(REGISTRY_AUTH_FILE) {
            files.push(PathBuf::from(f));
        }
        let home = var(HOME).map(PathBuf::from);
        match var(DOCKER_CONFIG) {
            Some(d) => files.push(Path::new(&d).join("config.json")),
            None => {
                if let Some(h) = &home {
                    files.push(h.join(".docker/config.json"));
                }
            }
        }
        if let Some(x) = var(XDG_RUNTIME_DIR) {
            files.push(Path::new(&x).join("containers/auth.json"));
        }
        match var(XDG_CONFIG_HOME) {
            Some(c) => files.push(Path::new(&c).join("containers/auth.json")),
            None => {
                if let Some(h) = &home {
                    files.push(h.join(".config/containers/auth.json"));
                }
            }
        }
        CredentialSources {
            env_username: var(LADE_REGISTRY_USERNAME),
            env_password: var(LADE_REGISTRY_PASSWORD).map(Secret::new),
            env_hosts: var(LADE_REGISTRY_HOST).map(|h| {
                h.split(',')
                    .map(|s| s.trim().to_ascii_lowercase())
                    .filter(|s| !s.is_empty())
                    .collect()
            }),
            scoped,
            files,
            helper_path: None,
        }
    }

    /// Finds the credential for `repository` on `registry`. `push_target` says whether lade
    /// pushes to this registry (see [`CredentialSources::env_hosts`]). Blocks: it reads files
    /// and may run a credential helper.
    pub fn lookup(
        &self,
        registry: &str,
        repository: Option<&str>,
        push_target: bool,
    ) -> Result<Option<FoundCredential>, CredentialError> {
        let env_err = |detail: String| CredentialError::Env {
            registry: registry.into(),
            detail,
        };
        let key = env_key(registry);
        if let Some((user, pass)) = self.scoped.get(&key) {
            let (u, p) = (
                format!("{ENV_USERNAME}_{key}"),
                format!("{ENV_PASSWORD}_{key}"),
            );
            return match (user, pass) {
                (Some(user), Some(pass)) => Ok(Some(FoundCredential {
                    credential: Credential::Basic {
                        username: user.clone(),
                        password: pass.clone(),
                    },
                    source: u,
                })),
                (Some(_), None) => Err(env_err(format!("{u} is set but {p} is not"))),
                (None, _) => Err(env_err(format!("{p} is set but {u} is not"))),
            };
        }
        let applies = match &self.env_hosts {
            Some(hosts) => hosts.iter().any(|h| same_registry(h, registry)),
            None => push_target,
        };
        if applies {
            match (&self.env_username, &self.env_password) {
                (Some(user), Some(pass)) => {
                    return Ok(Some(FoundCredential {
                        credential: Credential::Basic {
                            username: user.clone(),
                            password: pass.clone(),
                        },
                        source: ENV_USERNAME.into(),
                    }));
                }
                (Some(_), None) => {
                    return Err(env_err(format!(
                        "{ENV_USERNAME} is set but {ENV_PASSWORD} is not"
                    )));
                }
                (None, Some(_)) => {
                    return Err(env_err(format!(
                        "{ENV_PASSWORD} is set but {ENV_USERNAME} is not"
                    )));
                }
                (None, None) => {}
            }
        }
        for file in &self.files {
            if let Some(found) = self.lookup_file(file, registry, repository)? {
                return Ok(Some(found));
            }
        }
        Ok(None)
    }
}

#[derive(serde::Deserialize, Default)]
struct AuthFile {
    #[serde(default)]
    auths: BTreeMap<String, AuthEntry>,
    #[serde(default, rename = "credHelpers")]
    cred_helpers: BTreeMap<String, String>,
    #[serde(default, rename = "credsStore")]
    creds_store: Option<String>,
}

#[derive(serde::Deserialize, Default)]
struct AuthEntry {
    #[serde(default)]
    auth: Option<String>,
    #[serde(default)]
    username: Option<String>,
    #[serde(default)]
    password: Option<String>,
    #[serde(default)]
    identitytoken: Option<String>,
    #[serde(default)]
    registrytoken: Option<String>,
}

impl CredentialSources {
    fn lookup_file(
        &self,
        path: &Path,
        registry: &str,
        repository: Option<&str>,
    ) -> Result<Option<FoundCredential>, CredentialError> {
        let bytes = match std::fs::read(path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(cause) => {
                return Err(CredentialError::Read {
                    registry: registry.into(),
                    path: path.into(),
                    cause,
                });
            }
        };
        let invalid = |detail: String| CredentialError::Invalid {
            registry: registry.into(),
            path: path.into(),
            detail,
        };
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok(None);
        }
        // serde_json's messages can quote the offending value, which may be a secret: report
        // only where the problem is.
        let file: AuthFile = serde_json::from_slice(&bytes).map_err(|e| {
            invalid(format!(
                "not a valid credentials file (JSON error at line {} column {})",
                e.line(),
                e.column()
            ))
        })?;

        if let Some((_, helper)) = file
            .cred_helpers
            .iter()
            .find(|(k, _)| key_matches(k, registry, None).is_some())
        {
            return run_helper(helper, registry, path, true, self.helper_path.as_deref());
        }
        if let Some(store) = file.creds_store.as_deref().filter(|s| !s.is_empty())
            && let Some(found) =
                run_helper(store, registry, path, false, self.helper_path.as_deref())?
        {
            return Ok(Some(found));
        }
        // The most specific entry wins: containers' auth.json may key entries by namespace.
        let best = file
            .auths
            .iter()
            .filter_map(|(k, e)| key_matches(k, registry, repository).map(|len| (len, e)))
            .max_by_key(|(len, _)| *len);
        let Some((_, entry)) = best else {
            return Ok(None);
        };
        let source = path.display().to_string();
        if let Some(t) = entry.identitytoken.as_deref().filter(|t| !t.is_empty()) {
            return Ok(Some(FoundCredential {
                credential: Credential::IdentityToken(Secret::new(t)),
                source,
            }));
        }
        if let Some(t) = entry.registrytoken.as_deref().filter(|t| !t.is_empty()) {
            return Ok(Some(FoundCredential {
                credential: Credential::RegistryToken(Secret::new(t)),
                source,
            }));
        }
        if let Some(auth) = entry.auth.as_deref().filter(|a| !a.is_empty()) {
            let decoded = base64::engine::general_purpose::STANDARD
                .decode(auth.trim())
                .map_err(|_| invalid(format!("the 'auth' for {registry} is not valid base64")))?;
            let decoded = String::from_utf8(decoded)
                .map_err(|_| invalid(format!("the 'auth' for {registry} is not UTF-8")))?;
            let Some((user, pass)) = decoded.split_once(':') else {
                return Err(invalid(format!(
                    "the 'auth' for {registry} is not base64 of USER:PASSWORD"
                )));
            };
            return Ok(Some(FoundCredential {
                credential: Credential::Basic {
                    username: user.to_string(),
                    password: Secret::new(pass),
                },
                source,
            }));
        }
        if let (Some(u), Some(p)) = (&entry.username, &entry.password) {
            return Ok(Some(FoundCredential {
                credential: Credential::Basic {
                    username: u.clone(),
                    password: Secret::new(p.as_str()),
                },
                source,
            }));
        }
        Ok(None)
    }
}

/// Whether an `auths`/`credHelpers` key names `registry` (and a namespace containing
/// `repository`); returns how specific the match is.
fn key_matches(key: &str, registry: &str, repository: Option<&str>) -> Option<usize> {
    let k = key
        .trim_start_matches("https://")
        .trim_start_matches("http://")
        .trim_end_matches('/');
    let (host, path) = match k.split_once('/') {
        Some((h, p)) => (h, p),
        None => (k, ""),
    };
    if !same_registry(host, registry) {
        return None;
    }
    // Docker writes API paths (`https://index.docker.io/v1/`); containers writes namespaces.
    if path.is_empty() || path == "v1" || path == "v2" {
        return Some(0);
    }
    let repo = repository?;
    (repo == path || repo.starts_with(&format!("{path}/"))).then_some(path.len())
}

#[derive(serde::Deserialize)]
struct HelperOutput {
    #[serde(rename = "Username", default)]
    username: String,
    #[serde(rename = "Secret", default)]
    secret: String,
}

/// Runs `docker-credential-<helper> get` with the server name on stdin. `explicit` (named for
/// this registry in credHelpers) makes a missing helper an error; a global credsStore that is
/// not installed is skipped, as on a CI machine that copied a desktop config.
fn run_helper(
    helper: &str,
    registry: &str,
    config: &Path,
    explicit: bool,
    search_path: Option<&std::ffi::OsStr>,
) -> Result<Option<FoundCredential>, CredentialError> {
    let err = |detail: String| CredentialError::Helper {
        registry: registry.into(),
        helper: helper.into(),
        detail,
    };
    if helper.contains('/') || helper.contains(char::is_whitespace) {
        return Err(err(format!("invalid helper name in {}", config.display())));
    }
    let program = format!("docker-credential-{helper}");
    // Docker stores Hub credentials under its v1 URL; helpers are asked with that key.
    let server = if registry == DOCKER_HUB {
        "https://index.docker.io/v1/".to_string()
    } else {
        registry.to_string()
    };
    let mut cmd = Command::new(&program);
    if let Some(p) = search_path {
        // std resolves the program with the child's PATH when it is set.
        cmd.env("PATH", p);
    }
    let mut child = match cmd
        .arg("get")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
    {
        Ok(c) => c,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && !explicit => {
            tracing::warn!(
                helper = %program,
                config = %config.display(),
                "credsStore helper not installed; continuing without it"
            );
            return Ok(None);
        }
        Err(e) => {
            return Err(err(format!(
                "cannot run {program} (named in {}): {e}",
                config.display()
            )));
        }
    };
    if let Some(mut stdin) = child.stdin.take() {
        stdin
            .write_all(server.as_bytes())
            .map_err(|e| err(format!("writing the server name to {program}: {e}")))?;
    }
    let out = child
        .wait_with_output()
        .map_err(|e| err(format!("waiting for {program}: {e}")))?;
    if !out.status.success() {
        // Helpers say "credentials not found" on stdout; stdout never holds a secret when the
        // exit status is non-zero.
        let said = String::from_utf8_lossy(&out.stdout).to_string()
            + &String::from_utf8_lossy(&out.stderr);
        if said.to_ascii_lowercase().contains("credentials not found") {
            return Ok(None);
        }
        let said: String = said.trim().chars().take(300).collect();
        return Err(err(format!(
            "{program} get failed ({}): {said}",
            out.status
        )));
    }
    let parsed: HelperOutput = serde_json::from_slice(&out.stdout).map_err(|e| {
        err(format!(
            "{program} printed something that is not its JSON answer (line {} column {})",
            e.line(),
            e.column()
        ))
    })?;
    if parsed.secret.is_empty() {
        return Ok(None);
    }
    let credential = if parsed.username == "<token>" {
        Credential::IdentityToken(Secret::new(parsed.secret))
    } else {
        Credential::Basic {
            username: parsed.username,
            password: Secret::new(parsed.secret),
        }
    };
    Ok(Some(FoundCredential {
        credential,
        source: program,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sources(files: Vec<PathBuf>) -> CredentialSources {
        CredentialSources {
            files,
            ..Default::default()
        }
    }

    #[test]
    fn debug_never_shows_secrets() {
        let c = Credential::Basic {
            username: "u".into(),
            password: Secret::new("hunter2"),
        };
        assert!(!format!("{c:?}").contains("hunter2"));
        assert!(!format!("{:?}", Credential::IdentityToken(Secret::new("tok"))).contains("tok"));
        let s = CredentialSources {
            env_password: Some(Secret::new("hunter2")),
            ..Default::default()
        };
        assert!(!format!("{s:?}").contains("hunter2"));
    }

    #[test]
    fn docker_config_auths() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = dir.path().join("config.json");
        let auth = base64::engine::general_purpose::STANDARD.encode("alice:s3cr:et");
        std::fs::write(
            &cfg,
            format!(
                r#"{{"auths":{{"https://index.docker.io/v1/":{{"auth":"{auth}"}},
                "localhost:5000":{{"identitytoken":"idt"}},
                "quay.io/team":{{"auth":"{auth}"}}}}}}"#
            ),
        )
        .unwrap();
        let s = sources(vec![cfg.clone()]);
        let hub = s.lookup("docker.io", None, false).unwrap().unwrap();
        assert_eq!(
            hub.credential,
            Credential::Basic {
                username: "alice".into(),
                password: Secret::new("s3cr:et")
            }
        );
        assert_eq!(hub.source, cfg.display().to_string());
        let local = s.lookup("localhost:5000", None, true).unwrap().unwrap();
        assert_eq!(
            local.credential,
            Credential::IdentityToken(Secret::new("idt"))
        );
        assert!(
            s.lookup("quay.io", Some("team/app"), false)
                .unwrap()
                .is_some()
        );
        assert!(
            s.lookup("quay.io", Some("other/app"), false)
                .unwrap()
                .is_none()
        );
        assert!(s.lookup("ghcr.io", None, false).unwrap().is_none());
    }

    #[test]
    fn bad_file_error_has_no_secret() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = dir.path().join("config.json");
        std::fs::write(&cfg, r#"{"auths":{"h":{"auth":["topsecret"]}}}"#).unwrap();
        let e = sources(vec![cfg]).lookup("h", None, false).unwrap_err();
        assert!(!e.to_string().contains("topsecret"), "{e}");
    }

    #[test]
    fn env_credentials_scoping() {
        let mut s = CredentialSources {
            env_username: Some("ci".into()),
            env_password: Some(Secret::new("pw")),
            ..Default::default()
        };
        // Unscoped variables go only to registries lade pushes to…
        assert!(s.lookup("docker.io", None, false).unwrap().is_none());
        assert!(s.lookup("r.example.com", None, true).unwrap().is_some());
        // …or to the ones LADE_REGISTRY_HOST names.
        s.env_hosts = Some(vec!["r.example.com".into()]);
        assert!(s.lookup("r.example.com", None, false).unwrap().is_some());
        assert!(s.lookup("other.example.com", None, true).unwrap().is_none());
        s.scoped.insert(
            env_key("localhost:5000"),
            (Some("u".into()), Some(Secret::new("p"))),
        );
        let f = s.lookup("localhost:5000", None, false).unwrap().unwrap();
        assert_eq!(f.source, "LADE_REGISTRY_USERNAME_LOCALHOST_5000");
    }
}
