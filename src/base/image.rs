//! Reading a whole image rather than a base for chosen platforms: its root document's digest
//! and annotations and every platform it has. `lade rebase` reads the image it rebases this
//! way, then resolves it (pinned to that digest) like any base.

use super::{BaseError, layout, registry};
use crate::digest::Digest;
use crate::oci::base::{config_platform, descriptor_platform, is_index};
use crate::oci::reference::{Reference, split_path_tag};
use crate::oci::{ANNOTATION_REF_NAME, ResolvedBase};
use crate::platform::Platform;
use crate::registry::RegistrySession;
use oci_spec::image::{Descriptor, ImageIndex, ImageManifest};
use std::collections::BTreeMap;
use std::path::Path;

/// The root document of an image: what a tag names.
#[derive(Clone, Debug)]
pub struct Root {
    pub digest: Digest,
    /// The index's annotations, or the single manifest's.
    pub annotations: BTreeMap<String, String>,
    /// Every platform it has an image for, in its order (attestation entries left out).
    pub platforms: Vec<Platform>,
    /// The manifest digest of each platform.
    pub manifests: Vec<(Platform, Digest)>,
}

/// An image read whole: its root, and each platform's config and layers (layers are not read).
#[derive(Clone, Debug)]
pub struct ReadImage {
    pub root: Root,
    pub image: ResolvedBase,
}

/// Reads `reference` (`oci:PATH[:TAG]` relative to `dir`, or a registry reference).
pub fn read(
    reference: &str,
    dir: &Path,
    session: &RegistrySession,
) -> Result<ReadImage, BaseError> {
    let root = describe(reference, dir, session)?;
    let image = super::resolve_with(reference, &root.platforms, dir, session, Some(&root.digest))?;
    Ok(ReadImage { root, image })
}

/// Reads a small blob (a config) of the image being described.
type BlobReader<'a> = Box<dyn Fn(&Descriptor) -> Result<Vec<u8>, BaseError> + 'a>;

fn describe(reference: &str, dir: &Path, session: &RegistrySession) -> Result<Root, BaseError> {
    let other = |detail: String| BaseError::Other {
        base: reference.to_string(),
        detail,
    };
    let (bytes, media_type, config): (Vec<u8>, String, BlobReader) =
        if let Some(rest) = reference.strip_prefix("oci:") {
            let (path, tag) = split_path_tag(rest);
            let path = dir.join(path);
            let (bytes, media_type) = layout::root(reference, &path, tag)?;
            let config_path = path.clone();
            (
                bytes,
                media_type,
                Box::new(move |d: &Descriptor| layout::blob(reference, &config_path, d)),
            )
        } else {
            let parsed = Reference::parse(reference).map_err(|e| other(e.reason))?;
            let m = registry::manifest(reference, &parsed, session)?;
            (
                m.bytes,
                m.media_type,
                Box::new(move |d: &Descriptor| registry::blob(reference, &parsed, session, d)),
            )
        };
    let digest = Digest::of(&bytes);
    let bad = |e: serde_json::Error| other(format!("{digest}: {e}"));
    if is_index(&media_type) {
        let index: ImageIndex = serde_json::from_slice(&bytes).map_err(bad)?;
        let mut platforms: Vec<Platform> = Vec::new();
        let mut manifests = Vec::new();
        for d in index.manifests() {
            let Some(p) = d.platform().as_ref().map(descriptor_platform) else {
                continue;
            };
            // Attestation manifests some builders list beside the images.
            if p.os == "unknown" || platforms.contains(&p) {
                continue;
            }
            let digest = crate::oci::base::descriptor_digest(d)
                .map_err(|e| other(format!("index {digest}: {e}")))?;
            manifests.push((p.clone(), digest));
            platforms.push(p);
        }
        return Ok(Root {
            digest,
            annotations: sorted(index.annotations().clone()),
            platforms,
            manifests,
        });
    }
    let manifest: ImageManifest = serde_json::from_slice(&bytes).map_err(bad)?;
    let config_bytes = config(manifest.config())?;
    let cfg = serde_json::from_slice(&config_bytes).map_err(bad)?;
    let platform = config_platform(&cfg);
    Ok(Root {
        annotations: sorted(manifest.annotations().clone()),
        platforms: vec![platform.clone()],
        manifests: vec![(platform, digest.clone())],
        digest,
    })
}

fn sorted(a: Option<std::collections::HashMap<String, String>>) -> BTreeMap<String, String> {
    a.unwrap_or_default()
        .into_iter()
        .filter(|(k, _)| k != ANNOTATION_REF_NAME)
        .collect()
}
