//! Pushing signature manifests: the two blobs (skipped when the repository has them), then the
//! manifest under its `.sig` tag, unless the tag already holds exactly these bytes. Signatures
//! are deterministic, so republishing an unchanged image sends nothing.

use super::SignError;
use super::cosign::{SignatureArtifact, signature_artifact};
use super::key::SigningKey;
use crate::digest::Digest;
use crate::oci::OCI_MANIFEST;
use crate::registry::{Access, BlobBody, RegistryClient, RegistryError};
use serde::Serialize;

/// One signature written (or found already there).
#[derive(Clone, Debug, Serialize)]
pub struct Signed {
    /// `registry/repository`.
    pub repository: String,
    /// The manifest or index signed.
    pub digest: Digest,
    /// `sha256-<hex>.sig`.
    pub tag: String,
    /// The signature manifest's digest.
    pub signature: Digest,
    /// Whether anything was sent; false when the tag already held this signature.
    pub pushed: bool,
}

/// Signs each of `subjects` (manifest and index digests) in `registry/repository` with `key`.
pub async fn attach(
    client: &RegistryClient,
    registry: &str,
    repository: &str,
    subjects: &[Digest],
    key: &SigningKey,
) -> Result<Vec<Signed>, SignError> {
    let name = format!("{registry}/{repository}");
    let access = Access::push(repository, &[]);
    let mut out = Vec::new();
    for subject in subjects {
        let artifact =
            signature_artifact(key, &name, subject).map_err(|source| SignError::Encode {
                subject: subject.clone(),
                source,
            })?;
        let pushed = push_artifact(client, registry, repository, &artifact, &access)
            .await
            .map_err(|e| SignError::Push {
                repository: name.clone(),
                subject: subject.clone(),
                source: Box::new(e),
            })?;
        out.push(Signed {
            repository: name.clone(),
            digest: subject.clone(),
            tag: artifact.tag.clone(),
            signature: artifact.digest(),
            pushed,
        });
    }
    Ok(out)
}

async fn push_artifact(
    client: &RegistryClient,
    registry: &str,
    repository: &str,
    artifact: &SignatureArtifact,
    access: &Access,
) -> Result<bool, RegistryError> {
    let digest = artifact.digest();
    if client
        .head_manifest(registry, repository, &artifact.tag, access)
        .await?
        .is_some_and(|have| have == digest)
    {
        return Ok(false);
    }
    for blob in [&artifact.config, &artifact.payload] {
        let d = Digest::of(blob);
        if client
            .blob_exists(registry, repository, &d, access)
            .await?
            .is_none()
        {
            let body = BlobBody::Bytes(blob.clone());
            client
                .upload_blob(
                    registry,
                    repository,
                    &d,
                    blob.len() as u64,
                    &body,
                    None,
                    access,
                )
                .await?;
        }
    }
    client
        .put_manifest(
            registry,
            repository,
            &artifact.tag,
            OCI_MANIFEST,
            &artifact.manifest,
            access,
        )
        .await?;
    Ok(true)
}
