//! Resolving a base image for each requested platform: `scratch`, or an OCI image layout
//! `oci:PATH[:TAG]` holding one image or an index. Only configs and manifests are read; layer
//! bytes stay where they are until a sink needs them.

pub mod files;
pub mod image;
mod layout;
mod registry;

use crate::digest::Digest;
use crate::oci::base::{config_platform, scratch_config};
use crate::oci::reference::{Reference, split_path_tag};
use crate::oci::{BaseImage, ResolvedBase};
use crate::platform::Platform;
use crate::registry::{RegistryError, RegistryOptions, RegistrySession};
use oci_spec::image::ImageConfiguration;
use std::path::{Path, PathBuf};

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
        error: Box<RegistryError>,
    },
}

/// Resolves `reference` (relative paths from `project_dir`) for each platform, with registry
/// settings from the environment.
pub fn resolve(
    reference: &str,
    platforms: &[Platform],
    project_dir: &Path,
) -> Result<ResolvedBase, BaseError> {
    let options = RegistryOptions::from_env().map_err(|error| BaseError::Registry {
        base: reference.to_string(),
        error: Box::new(error),
    })?;
    resolve_with(
        reference,
        platforms,
        project_dir,
        &RegistrySession::new(options),
        None,
    )
}

/// Resolves `reference` for each platform. A registry reference (`alpine:3.20`,
/// `gcr.io/distroless/static-debian12:nonroot`, `…@sha256:…`) is read through `registry`'s
/// client (shared with the rest of the command, so its tokens are reused); `pin` (a digest
/// from lade.lock) is fetched instead of what the tag names now.
pub fn resolve_with(
    reference: &str,
    platforms: &[Platform],
    project_dir: &Path,
    registry: &RegistrySession,
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
                    config: scratch_config(),
                    layers: Vec::new(),
                })
                .collect(),
        });
    }
    if let Some(rest) = reference.strip_prefix("oci:") {
        let (path, tag) = split_path_tag(rest);
        // An empty path would read the project directory as the layout.
        if path.is_empty() {
            return Err(BaseError::Other {
                base: format!("'{reference}'"),
                detail: "no layout directory given; write oci:DIR[:TAG]".into(),
            });
        }
        let path = project_dir.join(path);
        return layout::resolve(reference, &path, tag, platforms);
    }
    match Reference::parse(reference) {
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

/// The config of a base image must be for the platform it was picked for.
fn check_platform(
    base: &str,
    platform: &Platform,
    config: &ImageConfiguration,
) -> Result<(), BaseError> {
    let has = config_platform(config);
    if !platform.matches(&has) {
        return Err(BaseError::MissingPlatform {
            base: base.into(),
            platform: platform.clone(),
            available: has.to_string(),
        });
    }
    Ok(())
}
