//! Manifests and indexes: GET (through mirrors, digest-checked), HEAD and PUT.

use super::{Access, MANIFEST_ACCEPT, Manifest, RegistryClient, Retry, join, read_limited};
use crate::digest::Digest;
use crate::oci::reference::Reference;
use crate::oci::{OCI_INDEX, OCI_MANIFEST};
use crate::registry::RegistryError;
use reqwest::StatusCode;
use reqwest::header;

/// The spec lets registries refuse manifests above 4 MiB; lade refuses to read larger ones.
const MAX_MANIFEST_BYTES: usize = 4 << 20;

impl RegistryClient {
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
        let access = Access::pull(repository);
        self.get_manifest_with(registry, repository, reference, &access)
            .await
    }

    /// [`Self::get_manifest_at`] with the token scope `access` (a push's, to ask for the
    /// token the push will use).
    pub async fn get_manifest_with(
        &self,
        registry: &str,
        repository: &str,
        reference: &str,
        access: &Access,
    ) -> Result<Manifest, RegistryError> {
        let host = self.host(registry)?;
        let action = format!("fetching manifest {}", manifest_name(repository, reference));
        let url_path = format!("v2/{repository}/manifests/{reference}");
        let resp = self
            .send(&host, access, &action, Retry::Yes, |c, base| {
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
        let bytes = read_limited(resp, MAX_MANIFEST_BYTES, self.inner.options.timeout)
            .await
            .map_err(|f| f.into_error(registry, &action))?;
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
}

fn manifest_name(repository: &str, reference: &str) -> String {
    if reference.starts_with("sha256:") {
        format!("{repository}@{reference}")
    } else {
        format!("{repository}:{reference}")
    }
}
