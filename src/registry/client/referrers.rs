//! The OCI 1.1 referrers API: whether a registry serves it for a repository.

use super::{Access, RegistryClient, Retry, join};
use crate::digest::Digest;
use crate::oci::OCI_INDEX;
use crate::registry::RegistryError;
use reqwest::StatusCode;
use reqwest::header;

impl RegistryClient {
    /// `GET /v2/REPO/referrers/DIGEST`: true when the registry answers with an index (it
    /// then lists referrers by their `subject` itself), false on 404 (no referrers API, so
    /// clients keep the `sha256-<hex>` fallback tag).
    pub async fn has_referrers_api(
        &self,
        registry: &str,
        repository: &str,
        subject: &Digest,
        access: &Access,
    ) -> Result<bool, RegistryError> {
        let host = self.host(registry)?;
        let action = format!("listing referrers of {repository}@{subject}");
        let url_path = format!("v2/{repository}/referrers/{subject}");
        let resp = self
            .send(&host, access, &action, Retry::Yes, |c, base| {
                Ok(c.get(join(base, &url_path)?)
                    .header(header::ACCEPT, OCI_INDEX))
            })
            .await?;
        match resp.status() {
            s if s.is_success() => Ok(true),
            StatusCode::NOT_FOUND => Ok(false),
            _ => Err(self.status_error(&host, &action, resp).await),
        }
    }
}
