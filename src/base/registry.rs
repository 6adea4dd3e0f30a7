//! Bases pulled by reference from a registry. Only the index, the manifests and the configs are
//! fetched; layers stay in the registry as [`BlobSource::Remote`] until a sink needs them (a
//! registry output mounts them; a layout output fetches them through `RegistryBlobs`).

use super::{BaseError, check_platform};
use crate::digest::Digest;
use crate::oci::base::{check_diff_ids, descriptor_platform, is_index};
use crate::oci::{BaseImage, BlobSource, Layer, Reference, ResolvedBase};
use crate::platform::Platform;
use crate::registry::documents::Documents;
use crate::registry::{RegistryClient, RegistryError, RegistrySession};
use oci_spec::image::{Descriptor, ImageConfiguration, ImageIndex, ImageManifest};

/// Configs are small; a "config" larger than this is not one lade should hold in memory.
const MAX_CONFIG_BYTES: usize = 16 << 20;

const DOCKER_SCHEMA1: [&str; 2] = [
    "application/vnd.docker.distribution.manifest.v1+json",
    "application/vnd.docker.distribution.manifest.v1+prettyjws",
];

/// Resolves `reference` for each platform; `pin` (from lade.lock) fetches that digest instead
/// of whatever the tag points at now. `name` is what the user wrote, kept for annotations.
pub(super) fn resolve(
    name: &str,
    reference: &Reference,
    pin: Option<&Digest>,
    platforms: &[Platform],
    session: &RegistrySession,
) -> Result<ResolvedBase, BaseError> {
    let connected = session.connect().map_err(|error| BaseError::Registry {
        base: name.to_string(),
        error: Box::new(error),
    })?;
    let reference = match pin {
        Some(d) => reference.with_digest(d),
        None => reference.clone(),
    };
    connected.block_on(resolve_async(
        name,
        connected.client(),
        &reference,
        platforms,
    ))
}

async fn resolve_async(
    name: &str,
    client: &RegistryClient,
    reference: &Reference,
    platforms: &[Platform],
) -> Result<ResolvedBase, BaseError> {
    let wrap = |error: RegistryError| BaseError::Registry {
        base: name.to_string(),
        error: Box::new(error),
    };
    let invalid = |what: &str, detail: String| BaseError::Other {
        base: name.to_string(),
        detail: format!("{what}: {detail}"),
    };
    let docs = client.options().documents.as_deref().map(Documents::new);
    let root = manifest_by(client, docs.as_ref(), reference)
        .await
        .map_err(wrap)?;
    tracing::debug!(base = name, digest = %root.digest, media_type = %root.media_type, "base resolved");
    if DOCKER_SCHEMA1.contains(&root.media_type.as_str()) {
        return Err(invalid(
            "manifest",
            "it is a Docker schema 1 manifest, which lade cannot use; pick a newer tag".into(),
        ));
    }
    let is_index = is_index(&root.media_type);

    // Which manifest serves each platform.
    let mut chosen: Vec<(Platform, Option<Descriptor>)> = Vec::new();
    if is_index {
        let index: ImageIndex = serde_json::from_slice(&root.bytes)
            .map_err(|e| invalid(&format!("index {}", root.digest), e.to_string()))?;
        let mut available: Vec<String> = Vec::new();
        for d in index.manifests() {
            if let Some(dp) = d.platform() {
                let p = descriptor_platform(dp);
                if !available.contains(&p.to_string()) {
                    available.push(p.to_string());
                }
            }
        }
        for p in platforms {
            let found = index.manifests().iter().find(|d| {
                d.platform()
                    .as_ref()
                    .is_some_and(|dp| p.matches(&descriptor_platform(dp)))
            });
            let Some(d) = found else {
                return Err(BaseError::MissingPlatform {
                    base: name.into(),
                    platform: p.clone(),
                    available: available.join(", "),
                });
            };
            chosen.push((p.clone(), Some(d.clone())));
        }
    } else {
        chosen.extend(platforms.iter().map(|p| (p.clone(), None)));
    }

    let images = futures_util::future::try_join_all(chosen.into_iter().map(|(p, d)| {
        let (root, docs) = (&root, &docs);
        async move {
            let manifest_bytes = match &d {
                Some(d) => {
                    let digest = descriptor_digest(name, d)?;
                    manifest_by(client, docs.as_ref(), &reference.with_digest(&digest))
                        .await
                        .map_err(wrap)?
                        .bytes
                }
                None => root.bytes.clone(),
            };
            image_for(name, client, docs.as_ref(), reference, &p, &manifest_bytes).await
        }
    }))
    .await?;
    Ok(ResolvedBase {
        name: name.to_string(),
        digest: Some(root.digest.clone()),
        images,
    })
}

/// The root document `reference` names (an index or a manifest).
pub(super) fn manifest(
    name: &str,
    reference: &Reference,
    session: &RegistrySession,
) -> Result<crate::registry::Manifest, BaseError> {
    let wrap = |error: RegistryError| BaseError::Registry {
        base: name.to_string(),
        error: Box::new(error),
    };
    let connected = session.connect().map_err(wrap)?;
    connected
        .block_on(connected.client().get_manifest(reference))
        .map_err(wrap)
}

/// The bytes of a small blob (a config) of `reference`'s repository.
pub(super) fn blob(
    name: &str,
    reference: &Reference,
    session: &RegistrySession,
    d: &Descriptor,
) -> Result<Vec<u8>, BaseError> {
    let wrap = |error: RegistryError| BaseError::Registry {
        base: name.to_string(),
        error: Box::new(error),
    };
    let digest = descriptor_digest(name, d)?;
    let connected = session.connect().map_err(wrap)?;
    connected
        .block_on(connected.client().fetch_blob_bytes(
            &reference.registry,
            &reference.repository,
            &digest,
            MAX_CONFIG_BYTES,
        ))
        .map_err(wrap)
}

/// Reads one platform's manifest and config; layers become remote blobs.
async fn image_for(
    name: &str,
    client: &RegistryClient,
    docs: Option<&Documents>,
    reference: &Reference,
    platform: &Platform,
    manifest_bytes: &[u8],
) -> Result<BaseImage, BaseError> {
    let invalid = |what: String, detail: String| BaseError::Other {
        base: name.to_string(),
        detail: format!("{what}: {detail}"),
    };
    let manifest_digest = Digest::of(manifest_bytes);
    let manifest: ImageManifest = serde_json::from_slice(manifest_bytes)
        .map_err(|e| invalid(format!("manifest {manifest_digest}"), e.to_string()))?;
    let config_digest = descriptor_digest(name, manifest.config())?;
    let config_bytes = match docs.and_then(|d| d.blob(&config_digest)) {
        Some(kept) => kept,
        None => {
            let bytes = client
                .fetch_blob_bytes(
                    &reference.registry,
                    &reference.repository,
                    &config_digest,
                    MAX_CONFIG_BYTES,
                )
                .await
                .map_err(|error| BaseError::Registry {
                    base: name.to_string(),
                    error: Box::new(error),
                })?;
            if let Some(d) = docs {
                d.keep_blob(&config_digest, &bytes);
            }
            bytes
        }
    };
    let config: ImageConfiguration = serde_json::from_slice(&config_bytes)
        .map_err(|e| invalid(format!("config {config_digest}"), e.to_string()))?;
    check_platform(name, platform, &config)?;
    check_diff_ids(&manifest, &config)
        .map_err(|detail| invalid(format!("manifest {manifest_digest}"), detail))?;
    let mut layers = Vec::new();
    for (ld, diff_id) in manifest.layers().iter().zip(config.rootfs().diff_ids()) {
        descriptor_digest(name, ld)?;
        layers.push(Layer {
            descriptor: ld.clone(),
            diff_id: diff_id.parse().map_err(|e: crate::digest::DigestError| {
                invalid(format!("config {config_digest}"), e.to_string())
            })?,
            source: BlobSource::Remote {
                registry: reference.registry.clone(),
                repository: reference.repository.clone(),
            },
        });
    }
    Ok(BaseImage {
        platform: platform.clone(),
        config,
        layers,
    })
}

/// The manifest `reference` names. Every manifest fetched is kept in `docs` under its
/// digest; one named by digest (lade.lock pins the base's) is read from there when it is
/// kept. A tag can move, so one named by tag is always asked for.
async fn manifest_by(
    client: &RegistryClient,
    docs: Option<&Documents>,
    reference: &Reference,
) -> Result<crate::registry::Manifest, RegistryError> {
    let Some(docs) = docs else {
        return client.get_manifest(reference).await;
    };
    if let Some(kept) = reference.digest.as_ref().and_then(|d| docs.manifest(d)) {
        tracing::debug!(digest = %kept.digest, "manifest read from the document cache");
        return Ok(kept);
    }
    let m = client.get_manifest(reference).await?;
    docs.keep_manifest(&m);
    Ok(m)
}

/// A descriptor's digest, or the base's error saying why lade cannot use it.
fn descriptor_digest(name: &str, d: &Descriptor) -> Result<Digest, BaseError> {
    crate::oci::base::descriptor_digest(d).map_err(|e| BaseError::Other {
        base: name.to_string(),
        detail: e.to_string(),
    })
}
