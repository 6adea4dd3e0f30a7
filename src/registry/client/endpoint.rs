//! Which scheme a registry answers on, found once per host, and the `GET /v2/` ping that
//! learns its authentication challenge.

use super::{Host, RegistryClient, challenges, join};
use crate::registry::{RegistryError, transport};
use reqwest::{StatusCode, Url};

impl RegistryClient {
    /// The base URL (`https://host/` or, for loopback and insecure registries that do not
    /// speak TLS, `http://host/`), found once per host with a `GET /v2/`.
    pub(super) async fn endpoint(&self, host: &Host) -> Result<Url, RegistryError> {
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
            let idle = self.inner.options.timeout;
            let result = tokio::time::timeout(idle, host.http.get(url.clone()).send()).await;
            attempt += 1;
            let result = match result {
                Ok(result) => result,
                Err(_) => {
                    let stalled = transport::Stalled::Idle(idle);
                    if attempt < attempts {
                        self.say_stalled(&host.registry, "connecting", attempt, stalled);
                        self.pause(&host.registry, "connecting", attempt, None)
                            .await;
                        continue;
                    }
                    return Err(RegistryError::TimedOut {
                        registry: host.registry.clone(),
                        action: format!("connecting to {base}"),
                        stalled,
                    });
                }
            };
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
                let body = super::read_text(resp, self.inner.options.timeout).await;
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
}

fn base_url(scheme: &str, api: &str) -> Result<Url, RegistryError> {
    Url::parse(&format!("{scheme}://{api}/")).map_err(|e| {
        RegistryError::Options(format!("'{api}' is not a usable registry address: {e}"))
    })
}

/// The detail of a transport error without its registry prefix, to combine two of them.
fn inner_detail(e: &RegistryError) -> String {
    match e {
        RegistryError::Transport { detail, .. } => detail.clone(),
        other => other.to_string(),
    }
}
