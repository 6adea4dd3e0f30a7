//! Finding and writing entries in the cache repository. A lookup reads the tag's manifest,
//! the entry document (digest-checked) and checks with a HEAD that the layer blob is there: no
//! layer is downloaded. Writing puts the layer blob (mounted from the repository it was just
//! pushed to when that is on the same registry, else uploaded from lade's store), the document
//! and the manifest under the tag.

use super::entry::{self, Entry, Invalid};
use crate::digest::Digest;
use crate::oci::Reference;
use crate::registry::RegistryError;
use crate::registry::client::{Access, BlobBody, RegistryClient};
use std::path::PathBuf;

/// `--cache-repo REG/REPO`: a repository (no tag or digest).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CacheRepo {
    pub registry: String,
    pub repository: String,
}

#[derive(Debug, thiserror::Error)]
#[error("{place} {given}: {problem}; name a repository such as registry.example.com/team/cache")]
pub struct RepoError {
    /// Where the value was given: `--cache-repo`, `[build] cache-repo in lade.toml`.
    place: String,
    given: String,
    problem: String,
}

impl CacheRepo {
    /// `--cache-repo`'s value.
    pub fn parse(s: &str) -> Result<CacheRepo, RepoError> {
        CacheRepo::parse_in(s, "--cache-repo")
    }

    /// A value given at `place` (named in the error).
    pub fn parse_in(s: &str, place: &str) -> Result<CacheRepo, RepoError> {
        let err = |problem: String| RepoError {
            place: place.to_string(),
            given: s.to_string(),
            problem,
        };
        let r = Reference::parse(s).map_err(|e| err(e.to_string()))?;
        if r.tag.is_some() || r.digest.is_some() {
            return Err(err("a cache repository takes no tag or digest".into()));
        }
        Ok(CacheRepo {
            registry: r.registry,
            repository: r.repository,
        })
    }
}

impl std::fmt::Display for CacheRepo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.registry, self.repository)
    }
}

/// What a lookup found under a key.
#[derive(Debug)]
pub enum Found {
    Hit(Box<Entry>),
    Miss,
    /// An entry is there but is not used (the reason, for a warning).
    Ignored(String),
}

/// The manifest tagged `tag`, or `None` when there is none.
async fn tagged(
    client: &RegistryClient,
    repo: &CacheRepo,
    tag: &str,
) -> Result<Option<crate::registry::Manifest>, RegistryError> {
    match client
        .get_manifest_at(&repo.registry, &repo.repository, tag)
        .await
    {
        Ok(m) => Ok(Some(m)),
        Err(RegistryError::Status { status: 404, .. }) => Ok(None),
        Err(e) => Err(e),
    }
}

/// A document named by a manifest, or why it is not used: the registry sent other bytes
/// than the manifest names (the digest check failed).
async fn document(
    client: &RegistryClient,
    repo: &CacheRepo,
    tag: &str,
    digest: &Digest,
) -> Result<Result<Vec<u8>, String>, RegistryError> {
    match client
        .fetch_blob_bytes(&repo.registry, &repo.repository, digest, entry::ENTRY_LIMIT)
        .await
    {
        Ok(b) => Ok(Ok(b)),
        Err(e @ RegistryError::Invalid { .. }) => Ok(Err(format!("{repo}:{tag}: {e}"))),
        Err(e) => Err(e),
    }
}

/// Looks `key` up in `repo`.
pub async fn lookup(
    client: &RegistryClient,
    repo: &CacheRepo,
    key: &Digest,
) -> Result<Found, RegistryError> {
    let tag = entry::tag(key);
    let Some(manifest) = tagged(client, repo, &tag).await? else {
        return Ok(Found::Miss);
    };
    let ignored = |why: Invalid| Ok(Found::Ignored(format!("{repo}:{tag}: {why}")));
    let m = match entry::check_manifest(&manifest.bytes, key) {
        Ok(m) => m,
        Err(why) => return ignored(why),
    };
    let config = entry::digest(&m.config).expect("checked by check_manifest");
    let doc = match document(client, repo, &tag, &config).await? {
        Ok(b) => b,
        Err(why) => return Ok(Found::Ignored(why)),
    };
    let e = match entry::check_entry(&doc, &m, key) {
        Ok(e) => e,
        Err(why) => return ignored(why),
    };
    let access = Access::pull(&repo.repository);
    match client
        .blob_exists(&repo.registry, &repo.repository, &e.layer.digest, &access)
        .await?
    {
        Some(size) if size == e.layer.size => Ok(Found::Hit(Box::new(e))),
        Some(size) => Ok(Found::Ignored(format!(
            "{repo}:{tag}: its layer blob has {size} bytes, not {}",
            e.layer.size
        ))),
        None => Ok(Found::Ignored(format!(
            "{repo}:{tag}: its layer blob {} is missing",
            e.layer.digest
        ))),
    }
}

/// Where a new entry's layer bytes are: lade's store, and a repository of the same registry
/// that already holds them (a registry output just pushed).
pub struct LayerBytes {
    pub file: PathBuf,
    pub mount_from: Option<String>,
}

/// Writes `e` under its key's tag.
pub async fn store(
    client: &RegistryClient,
    repo: &CacheRepo,
    e: &Entry,
    bytes: &LayerBytes,
) -> Result<(), RegistryError> {
    let (doc, manifest) = e.encode().map_err(|source| RegistryError::Invalid {
        registry: repo.registry.clone(),
        action: "encoding a cache entry".into(),
        detail: source.to_string(),
    })?;
    let mounts: Vec<String> = bytes.mount_from.iter().cloned().collect();
    let access = Access::push(&repo.repository, &mounts);
    let (registry, repository) = (repo.registry.as_str(), repo.repository.as_str());
    let have = client
        .blob_exists(registry, repository, &e.layer.digest, &access)
        .await?;
    if have != Some(e.layer.size) {
        client
            .upload_blob(
                registry,
                repository,
                &e.layer.digest,
                e.layer.size,
                &BlobBody::File(bytes.file.clone()),
                bytes.mount_from.as_deref(),
                &access,
            )
            .await?;
    }
    put_bytes(client, repo, &access, doc).await?;
    client
        .put_manifest(
            registry,
            repository,
            &entry::tag(&e.key),
            crate::oci::OCI_MANIFEST,
            &manifest,
            &access,
        )
        .await?;
    Ok(())
}

/// Derived data about an input (a base's file listing) kept in the repository so a machine
/// with an empty cache does not download what it is derived from: a manifest tagged
/// `lade-KIND-<hex>` whose config is the document.
pub const KEPT_MEDIA_TYPE: &str = "application/vnd.dev.lade.cache.kept.v1+json";

fn kept_tag(kind: &str, key: &Digest) -> String {
    format!("lade-{kind}-{}", key.hex())
}

/// The document kept under `kind` and `key`, if the repository has one that is what its
/// manifest says (a document failing its digest check is `Ok(None)` with a warning).
pub async fn fetch_kept(
    client: &RegistryClient,
    repo: &CacheRepo,
    kind: &str,
    key: &Digest,
) -> Result<Option<Vec<u8>>, RegistryError> {
    let tag = kept_tag(kind, key);
    let Some(manifest) = tagged(client, repo, &tag).await? else {
        return Ok(None);
    };
    let m: entry::ArtifactManifest = match serde_json::from_slice(&manifest.bytes) {
        Ok(m) => m,
        Err(e) => {
            tracing::warn!("cache entry ignored: {repo}:{tag}: {e}");
            return Ok(None);
        }
    };
    let (Some(config), true) = (
        entry::digest(&m.config),
        m.config.media_type().to_string() == KEPT_MEDIA_TYPE
            && m.annotations.get(entry::KEY_ANNOTATION).map(String::as_str) == Some(key.hex()),
    ) else {
        tracing::warn!("cache entry ignored: {repo}:{tag}: not a lade {kind} document");
        return Ok(None);
    };
    match document(client, repo, &tag, &config).await? {
        Ok(b) => Ok(Some(b)),
        Err(why) => {
            tracing::warn!("cache entry ignored: {why}");
            Ok(None)
        }
    }
}

/// Keeps `doc` under `kind` and `key`.
pub async fn store_kept(
    client: &RegistryClient,
    repo: &CacheRepo,
    kind: &str,
    key: &Digest,
    doc: Vec<u8>,
) -> Result<(), RegistryError> {
    use crate::attach::{EMPTY_BYTES, EMPTY_MEDIA_TYPE};
    let (registry, repository) = (repo.registry.as_str(), repo.repository.as_str());
    let access = Access::push(repository, &[]);
    let doc_digest = Digest::of(&doc);
    let manifest = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": crate::oci::OCI_MANIFEST,
        "artifactType": entry::ARTIFACT_TYPE,
        "config": { "mediaType": KEPT_MEDIA_TYPE, "digest": doc_digest, "size": doc.len() },
        "layers": [{
            "mediaType": EMPTY_MEDIA_TYPE,
            "digest": Digest::of(EMPTY_BYTES),
            "size": EMPTY_BYTES.len(),
        }],
        "annotations": { entry::KEY_ANNOTATION: key.hex() },
    });
    let manifest =
        crate::image::canonical::to_vec(&manifest).map_err(|e| RegistryError::Invalid {
            registry: repo.registry.clone(),
            action: "encoding a cache document".into(),
            detail: e.to_string(),
        })?;
    put_bytes(client, repo, &access, doc).await?;
    put_bytes(client, repo, &access, EMPTY_BYTES.to_vec()).await?;
    client
        .put_manifest(
            registry,
            repository,
            &kept_tag(kind, key),
            crate::oci::OCI_MANIFEST,
            &manifest,
            &access,
        )
        .await?;
    Ok(())
}

/// Uploads a small blob unless the repository has it.
async fn put_bytes(
    client: &RegistryClient,
    repo: &CacheRepo,
    access: &Access,
    bytes: Vec<u8>,
) -> Result<(), RegistryError> {
    let (registry, repository) = (repo.registry.as_str(), repo.repository.as_str());
    let digest = Digest::of(&bytes);
    if client
        .blob_exists(registry, repository, &digest, access)
        .await?
        .is_some()
    {
        return Ok(());
    }
    let size = bytes.len() as u64;
    client
        .upload_blob(
            registry,
            repository,
            &digest,
            size,
            &BlobBody::Bytes(bytes),
            None,
            access,
        )
        .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cache_repo_is_a_repository() {
        let r = CacheRepo::parse("localhost:5000/team/cache").unwrap();
        assert_eq!(r.registry, "localhost:5000");
        assert_eq!(r.repository, "team/cache");
        assert_eq!(r.to_string(), "localhost:5000/team/cache");
        for bad in [
            "localhost:5000/cache:v1",
            "localhost:5000/cache@sha256:0000",
            "Bad Name",
        ] {
            let e = CacheRepo::parse(bad).unwrap_err().to_string();
            assert!(e.starts_with(&format!("--cache-repo {bad}: ")), "{e}");
        }
    }
}
