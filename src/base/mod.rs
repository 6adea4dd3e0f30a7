//! Resolving a base image for each requested platform: `scratch`, or an OCI image layout
//! `oci:PATH[:TAG]` holding one image or an index. Only configs and manifests are read; layer
//! bytes stay where they are until a sink needs them.

pub mod files;
mod layout;
mod registry;

use crate::digest::Digest;
use crate::image::Layer;
use crate::platform::Platform;
use oci_spec::image::ImageConfiguration;
use std::path::{Path, PathBuf};

/// The base for one platform.
#[derive(Clone, Debug)]
pub struct BaseImage {
    pub platform: Platform,
    pub config: ImageConfiguration,
    pub layers: Vec<Layer>,
}

/// A resolved base: what the user named, the digest it resolved to, one image per platform.
#[derive(Clone, Debug)]
pub struct ResolvedBase {
    pub name: String,
    /// Digest of the manifest or index the reference resolved to; `None` for scratch.
    pub digest: Option<Digest>,
    pub images: Vec<BaseImage>,
}

impl ResolvedBase {
    pub fn for_platform(&self, p: &Platform) -> Option<&BaseImage> {
        self.images.iter().find(|i| &i.platform == p)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum BaseError {
    #[error("base {base}: reading {path}")]
    Read {
        base: String,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("base {base}: {path} is not valid: {detail}")]
    Invalid {
        base: String,
        path: PathBuf,
        detail: String,
    },
    #[error("base {base}: no image tagged '{tag}' in the layout (tags there: {available})")]
    NoTag {
        base: String,
        tag: String,
        available: String,
    },
    #[error(
        "base {base} has no image for {platform} (it has: {available}); pick another base or drop the platform"
    )]
    MissingPlatform {
        base: String,
        platform: Platform,
        available: String,
    },
    #[error(
        "base '{0}': unknown base reference; use scratch, oci:PATH[:TAG] or a registry reference"
    )]
    Unknown(String),
    #[error("base {base}: {detail}")]
    Other { base: String, detail: String },
    /// Fetching the base from its registry failed.
    #[error("base {base}: {error}")]
    Registry {
        base: String,
        error: Box<crate::registry::RegistryError>,
    },
}

/// Resolves `reference` (relative paths from `project_dir`) for each platform, with registry
/// settings from the environment.
pub fn resolve(
    reference: &str,
    platforms: &[Platform],
    project_dir: &Path,
) -> Result<ResolvedBase, BaseError> {
    let options =
        crate::registry::RegistryOptions::from_env().map_err(|error| BaseError::Registry {
            base: reference.to_string(),
            error: Box::new(error),
        })?;
    resolve_with(reference, platforms, project_dir, &options, None)
}

/// Resolves `reference` for each platform. A registry reference (`alpine:3.20`,
/// `gcr.io/distroless/static-debian12:nonroot`, `…@sha256:…`) is read through `registry`;
/// `pin` (a digest from lade.lock) is fetched instead of what the tag names now.
pub fn resolve_with(
    reference: &str,
    platforms: &[Platform],
    project_dir: &Path,
    registry: &crate::registry::RegistryOptions,
    pin: Option<&Digest>,
) -> Result<ResolvedBase, BaseError> {
    if reference == "scratch" {
        return Ok(ResolvedBase {
            name: "scratch".into(),
            digest: None,
            images: platforms
                .iter()
                .map(|p| BaseImage {
                    platform: p.clone(),
                    config: crate::image::assemble::scratch_config(),
                    layers: Vec::new(),
                })
                .collect(),
        });
    }
    if let Some(rest) = reference.strip_prefix("oci:") {
        let (path, tag) = split_path_tag(rest);
        let path = project_dir.join(path);
        return layout::resolve(reference, &path, tag, platforms);
    }
    match crate::registry::Reference::parse(reference) {
        Ok(parsed) => registry::resolve(reference, &parsed, pin, platforms, registry),
        // Not a registry reference either: say why, after the list of what a base can be.
        Err(e) => Err(BaseError::Other {
            base: format!("'{reference}'"),
            detail: format!(
                "unknown base reference; use scratch, oci:PATH[:TAG] or a registry reference ({})",
                e.reason
            ),
        }),
    }
}

/// `PATH:TAG` → (PATH, Some(TAG)); a trailing component with a `/` is part of the path.
pub fn split_path_tag(s: &str) -> (&str, Option<&str>) {
    match s.rsplit_once(':') {
        Some((p, t)) if !t.is_empty() && !t.contains('/') && !p.is_empty() => (p, Some(t)),
        _ => (s, None),
    }
}
