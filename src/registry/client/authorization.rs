//! Authorization for a request: the credential for a host and access (looked up once), the
//! `Authorization` header value, and bearer tokens fetched from the challenge's realm.

use super::{Access, Host, RegistryClient, no_credentials_hint};
use crate::oci::reference;
use crate::registry::auth::{self, Challenge, Token, TokenFailure};
use crate::registry::credentials::{Credential, FoundCredential};
use crate::registry::{RegistryError, transport};
use base64::Engine;
use reqwest::Url;
use reqwest::header::HeaderValue;

impl RegistryClient {
    pub(super) async fn credential(
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

    pub(super) async fn authorization(
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
            // A token server that never answers is a stalled request like any other.
            let idle = self.inner.options.timeout;
            let fetched = tokio::time::timeout(
                idle,
                auth::fetch_token(
                    &http,
                    &realm_url,
                    service,
                    &scopes,
                    cred.map(|c| &c.credential),
                ),
            )
            .await
            .unwrap_or_else(|_| {
                Err(TokenFailure::Other {
                    detail: transport::Stalled::Idle(idle).to_string(),
                    status: None,
                    retryable: true,
                })
            });
            match fetched {
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
}
