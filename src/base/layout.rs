//! Bases read from an OCI image layout on disk.

use super::{BaseError, check_platform};
use crate::digest::Digest;
use crate::oci::base::{check_diff_ids, descriptor_digest, descriptor_platform, is_index};
use crate::oci::{ANNOTATION_REF_NAME, BaseImage, BlobSource, Layer, ResolvedBase};
use crate::platform::Platform;
use oci_spec::image::{Descriptor, ImageConfiguration, ImageIndex, ImageManifest};
use std::path::Path;

pub(super) fn resolve(
    name: &str,
    dir: &Path,
    tag: Option<&str>,
    platforms: &[Platform],
) -> Result<ResolvedBase, BaseError> {
    let reader = LayoutReader { name, dir };
    let top: ImageIndex = reader.json(&dir.join("index.json"))?;
    let chosen = choose(name, &top, tag)?;
    let digest = reader.digest(chosen)?;
    let mut images = Vec::new();
    if is_index(chosen.media_type().as_ref()) {
        let index: ImageIndex = reader.json(&reader.blob_path(&digest))?;
        let mut available = Vec::new();
        for p in platforms {
            let mut found = None;
            for d in index.manifests() {
                let Some(dp) = d.platform() else { continue };
                let candidate = descriptor_platform(dp);
                if !available.contains(&candidate.to_string()) {
                    available.push(candidate.to_string());
                }
                if found.is_none() && p.matches(&candidate) {
                    found = Some(d);
                }
            }
            let Some(d) = found else {
                return Err(BaseError::MissingPlatform {
                    base: name.into(),
                    platform: p.clone(),
                    available: available.join(", "),
                });
            };
            images.push(reader.image(d, p)?);
        }
    } else {
        for p in platforms {
            images.push(reader.image(chosen, p)?);
        }
    }
    Ok(ResolvedBase {
        name: name.into(),
        digest: Some(digest),
        images,
    })
}

/// The descriptor `tag` names in a layout's `index.json` (the only one, or `latest`, without).
fn choose<'a>(
    name: &str,
    top: &'a ImageIndex,
    tag: Option<&str>,
) -> Result<&'a Descriptor, BaseError> {
    let tagged: Vec<&Descriptor> = top.manifests().iter().collect();
    let ref_name = |d: &Descriptor| {
        d.annotations()
            .as_ref()
            .and_then(|a| a.get(ANNOTATION_REF_NAME).cloned())
    };
    let chosen = match tag {
        Some(t) => tagged
            .iter()
            .find(|d| ref_name(d).as_deref() == Some(t))
            .copied(),
        None if tagged.len() == 1 => Some(tagged[0]),
        None => tagged
            .iter()
            .find(|d| ref_name(d).as_deref() == Some("latest"))
            .copied(),
    };
    chosen.ok_or_else(|| {
        let tags: Vec<String> = tagged.iter().filter_map(|d| ref_name(d)).collect();
        BaseError::NoTag {
            base: name.into(),
            tag: tag.unwrap_or("latest").into(),
            available: if tags.is_empty() {
                "none".into()
            } else {
                tags.join(", ")
            },
        }
    })
}

/// The bytes and media type of the document `tag` names in the layout at `dir`.
pub(super) fn root(
    name: &str,
    dir: &Path,
    tag: Option<&str>,
) -> Result<(Vec<u8>, String), BaseError> {
    let reader = LayoutReader { name, dir };
    let top: ImageIndex = reader.json(&dir.join("index.json"))?;
    let chosen = choose(name, &top, tag)?;
    let bytes = blob(name, dir, chosen)?;
    Ok((bytes, chosen.media_type().to_string()))
}

/// The bytes of a small blob (a manifest, a config) of the layout at `dir`.
pub(super) fn blob(name: &str, dir: &Path, d: &Descriptor) -> Result<Vec<u8>, BaseError> {
    let reader = LayoutReader { name, dir };
    let path = reader.blob_path(&reader.digest(d)?);
    std::fs::read(&path).map_err(|source| BaseError::Read {
        base: name.into(),
        path,
        source,
    })
}

struct LayoutReader<'a> {
    name: &'a str,
    dir: &'a Path,
}

impl LayoutReader<'_> {
    fn json<T: serde::de::DeserializeOwned>(&self, path: &Path) -> Result<T, BaseError> {
        let bytes = std::fs::read(path).map_err(|source| BaseError::Read {
            base: self.name.into(),
            path: path.to_path_buf(),
            source,
        })?;
        serde_json::from_slice(&bytes).map_err(|e| self.invalid(path, e.to_string()))
    }

    fn invalid(&self, path: &Path, detail: String) -> BaseError {
        BaseError::Invalid {
            base: self.name.into(),
            path: path.to_path_buf(),
            detail,
        }
    }

    fn digest(&self, d: &Descriptor) -> Result<Digest, BaseError> {
        descriptor_digest(d).map_err(|e| self.invalid(&self.dir.join("index.json"), e.to_string()))
    }

    fn blob_path(&self, d: &Digest) -> std::path::PathBuf {
        self.dir.join("blobs").join(d.algorithm()).join(d.hex())
    }

    /// Reads one image manifest and its config; checks the config is for `platform`.
    fn image(&self, d: &Descriptor, platform: &Platform) -> Result<BaseImage, BaseError> {
        let manifest_path = self.blob_path(&self.digest(d)?);
        let manifest: ImageManifest = self.json(&manifest_path)?;
        let config_path = self.blob_path(&self.digest(manifest.config())?);
        let config: ImageConfiguration = self.json(&config_path)?;
        check_platform(self.name, platform, &config)?;
        check_diff_ids(&manifest, &config).map_err(|detail| self.invalid(&config_path, detail))?;
        let mut layers = Vec::new();
        for (ld, diff_id) in manifest.layers().iter().zip(config.rootfs().diff_ids()) {
            let digest = self.digest(ld)?;
            let path = self.blob_path(&digest);
            if !path.is_file() {
                return Err(self.invalid(&path, "layer blob missing from the layout".into()));
            }
            layers.push(Layer {
                descriptor: ld.clone(),
                diff_id: diff_id.parse().map_err(|e: crate::digest::DigestError| {
                    self.invalid(&config_path, e.to_string())
                })?,
                source: BlobSource::File(path),
            });
        }
        Ok(BaseImage {
            platform: platform.clone(),
            config,
            layers,
        })
    }
}
