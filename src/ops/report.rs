//! The parts of `publish`'s report that describe images and outputs: tags, digests per
//! platform, sizes. Made from the `ImageSet` and the targets, never from what was printed.

use super::publish::{ImageReport, PlatformManifest};
use crate::layer::BlobStore;
use crate::oci::{BlobSource, Image, ImageSet};
use crate::sink::Target;

/// One entry per platform image: its manifest and config, and how big it is.
pub fn images(set: &ImageSet, store: &BlobStore) -> Vec<ImageReport> {
    set.images.iter().map(|i| image(i, store)).collect()
}

fn image(i: &Image, store: &BlobStore) -> ImageReport {
    let layers: u64 = i.layers.iter().map(|l| l.size()).sum();
    ImageReport {
        platform: i.platform.to_string(),
        manifest: i.manifest.digest(),
        config: i.config.digest(),
        compressed_size: layers + i.config.descriptor.size() + i.manifest.descriptor.size(),
        uncompressed_size: uncompressed(i, store),
    }
}

/// The sum of the layers' tar sizes, when every one is known: lade's layers are recorded as
/// they are written; a base layer is counted from its bytes when they are on this machine
/// (a layout, a Debian-built base, a registry layer fetched for a file output).
fn uncompressed(i: &Image, store: &BlobStore) -> Option<u64> {
    let mut total = 0;
    for l in &i.layers {
        let media = l.descriptor.media_type().to_string();
        // A registry-only layer is in the store once fetched; until then its size is unknown.
        let blob = match &l.source {
            BlobSource::File(p) => p.clone(),
            BlobSource::Remote { .. } => store.path(&l.digest()),
        };
        total += crate::layer::sizes::of_blob(store, &l.diff_id, &blob, &media)?;
    }
    Some(total)
}

/// The platform manifests an output holds: every image, except in a docker-archive (the first
/// image it was given) or an engine (the only image, else the host's).
pub fn manifests(set: &ImageSet, target: &Target) -> Vec<PlatformManifest> {
    let host = crate::platform::Platform::host();
    let held: Vec<&Image> = match target {
        Target::DockerArchive { .. } => set.images.iter().take(1).collect(),
        Target::DockerDaemon { .. } if set.images.len() > 1 => set
            .images
            .iter()
            .filter(|i| host.as_ref() == Some(&i.platform))
            .collect(),
        _ => set.images.iter().collect(),
    };
    held.into_iter()
        .map(|i| PlatformManifest {
            platform: i.platform.to_string(),
            digest: i.manifest.digest(),
        })
        .collect()
}

/// The index an output holds (not a docker-archive or an engine, which have no index).
pub fn index(set: &ImageSet, target: &Target) -> Option<crate::digest::Digest> {
    match target {
        Target::DockerArchive { .. } | Target::DockerDaemon { .. } => None,
        _ => set.index.as_ref().map(|i| i.digest()),
    }
}

/// The tags an output names its image by: a layout's or archive's tag, a docker-archive's
/// NAME:TAG, a registry reference's tag (`latest` when it names neither tag nor digest) and
/// every `--tag`.
pub fn tags(target: &Target, extra: &[String]) -> Vec<String> {
    match target {
        Target::OciLayout { tag, .. } | Target::OciArchive { tag, .. } => vec![tag.clone()],
        Target::DockerArchive { reference, .. } => reference.iter().cloned().collect(),
        Target::DockerDaemon { reference } => vec![reference.clone()],
        Target::Registry { reference } => {
            let mut tags = Vec::new();
            if let Ok(r) = crate::oci::Reference::parse(reference)
                && (r.tag.is_some() || r.digest.is_none())
            {
                tags.push(r.tag.unwrap_or_else(|| "latest".into()));
            }
            for t in extra {
                if !tags.contains(t) {
                    tags.push(t.clone());
                }
            }
            tags
        }
    }
}
