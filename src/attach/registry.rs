//! Pushing artifacts to a registry repository: the documents and the empty config as blobs
//! (HEAD first), each artifact manifest by digest (HEAD first), then, when the registry has no
//! referrers API, the `sha256-<subject hex>` fallback index (read, merged, written back only
//! when something is missing from it).

use super::{Artifact, AttachError, AttachStats, Attached, EMPTY_BYTES, Merged, fallback_tag};
use crate::digest::Digest;
use crate::oci::{OCI_INDEX, Reference};
use crate::registry::client::{Access, BlobBody, RegistryClient};
use crate::registry::{RegistryError, RegistrySession};

/// Attaches `artifacts` to the images pushed to `reference` (`--to` value `target`).
pub fn attach(
    target: &str,
    reference: &str,
    session: &RegistrySession,
    artifacts: &[Artifact],
) -> Result<(Vec<Attached>, AttachStats), AttachError> {
    let err = |error: RegistryError| AttachError::Registry {
        target: target.to_string(),
        error: Box::new(error),
    };
    let reference = Reference::parse(reference).map_err(|e| err(e.into()))?;
    let connected = session.connect().map_err(err)?;
    let client = connected.client();
    let stats = connected
        .block_on(push(client, &reference, artifacts, target))
        .map_err(|e| match e {
            Pushed::Registry(e) => err(e),
            Pushed::Invalid(detail) => AttachError::Invalid {
                target: target.to_string(),
                detail,
            },
        })?;
    let attached = artifacts
        .iter()
        .map(|a| Attached {
            subject: a.subject.digest(),
            artifact_type: a.artifact_type.clone(),
            digest: a.digest(),
            reference: reference.with_digest(&a.digest()).to_string(),
        })
        .collect();
    Ok((attached, stats))
}

enum Pushed {
    Registry(RegistryError),
    Invalid(String),
}

impl From<RegistryError> for Pushed {
    fn from(e: RegistryError) -> Self {
        Pushed::Registry(e)
    }
}

async fn push(
    client: &RegistryClient,
    reference: &Reference,
    artifacts: &[Artifact],
    target: &str,
) -> Result<AttachStats, Pushed> {
    let (registry, repository) = (reference.registry.as_str(), reference.repository.as_str());
    let access = Access::push(repository, &[]);
    let mut stats = AttachStats::default();
    let mut blobs: Vec<(Digest, &[u8])> = vec![(Digest::of(EMPTY_BYTES), EMPTY_BYTES)];
    for a in artifacts {
        if !blobs.iter().any(|(d, _)| d == &a.document.digest()) {
            blobs.push((a.document.digest(), &a.document.bytes));
        }
    }
    // Blobs, then manifests (a manifest needs its blobs), each group at once: every request
    // is a round trip the registry answers on its own, so in turn they would add up.
    let uploaded = futures_util::future::try_join_all(blobs.into_iter().map(|(digest, bytes)| {
        let access = &access;
        async move {
            if client
                .blob_exists(registry, repository, &digest, access)
                .await?
                .is_some()
            {
                return Ok::<_, RegistryError>(0);
            }
            let body = BlobBody::Bytes(bytes.to_vec());
            let size = bytes.len() as u64;
            client
                .upload_blob(registry, repository, &digest, size, &body, None, access)
                .await?;
            Ok(1)
        }
    }))
    .await?;
    stats.blobs_uploaded += uploaded.iter().sum::<u64>();
    let pushed = futures_util::future::try_join_all(artifacts.iter().map(|a| {
        let access = &access;
        async move {
            let d = a.digest();
            if client
                .head_manifest(registry, repository, d.as_str(), access)
                .await?
                .is_some_and(|have| have == d)
            {
                return Ok::<_, RegistryError>(0);
            }
            let media_type = a.manifest.media_type();
            client
                .put_manifest(
                    registry,
                    repository,
                    d.as_str(),
                    &media_type,
                    &a.manifest.bytes,
                    access,
                )
                .await?;
            Ok(1)
        }
    }))
    .await?;
    stats.manifests_pushed += pushed.iter().sum::<u64>();
    let mut subjects: Vec<Digest> = artifacts.iter().map(|a| a.subject.digest()).collect();
    subjects.dedup();
    let Some(first) = subjects.first() else {
        return Ok(stats);
    };
    if client
        .has_referrers_api(registry, repository, first, &access)
        .await?
    {
        tracing::debug!(target, "the registry lists referrers itself");
        return Ok(stats);
    }
    for subject in &subjects {
        let entries: Vec<_> = artifacts
            .iter()
            .filter(|a| &a.subject.digest() == subject)
            .map(Artifact::index_entry)
            .collect();
        if update_fallback(client, registry, repository, subject, &entries, &access).await? {
            stats.indexes_pushed += 1;
        }
    }
    Ok(stats)
}

/// Adds `entries` to the subject's fallback index; true when it had to be written.
async fn update_fallback(
    client: &RegistryClient,
    registry: &str,
    repository: &str,
    subject: &Digest,
    entries: &[serde_json::Value],
    access: &Access,
) -> Result<bool, Pushed> {
    let tag = fallback_tag(subject);
    let existing = match client.get_manifest_at(registry, repository, &tag).await {
        Ok(m) => Some(m.bytes),
        Err(RegistryError::Status { status: 404, .. }) => None,
        Err(e) => return Err(e.into()),
    };
    let merged = super::merge_index(existing.as_deref(), entries)
        .map_err(|e| Pushed::Invalid(format!("{repository}:{tag}: {e}")))?;
    match merged {
        Merged::Unchanged => Ok(false),
        Merged::Changed(bytes) => {
            client
                .put_manifest(registry, repository, &tag, OCI_INDEX, &bytes, access)
                .await?;
            Ok(true)
        }
    }
}
