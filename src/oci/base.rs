//! What a base resolves to, as data, and the checks every reader of a base (an OCI layout, a
//! registry) makes on the manifests and configs it is given.

use super::{DOCKER_MANIFEST_LIST, Layer, OCI_INDEX};
use crate::digest::{Digest, DigestError};
use crate::platform::Platform;
use oci_spec::image::{Descriptor, ImageConfiguration, ImageManifest};

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

/// The config of `scratch`: no layers, nothing set; assembly fills in platform and times.
pub fn scratch_config() -> ImageConfiguration {
    ImageConfiguration::default()
}

/// Whether a manifest of this media type lists other manifests (an OCI index or a Docker
/// manifest list) rather than layers.
pub fn is_index(media_type: &str) -> bool {
    media_type == OCI_INDEX || media_type == DOCKER_MANIFEST_LIST
}

/// The platform an index entry says its manifest is for.
pub fn descriptor_platform(p: &oci_spec::image::Platform) -> Platform {
    Platform {
        os: p.os().to_string(),
        architecture: p.architecture().to_string(),
        variant: p.variant().clone(),
    }
}

/// The platform an image config says it is for.
pub fn config_platform(config: &ImageConfiguration) -> Platform {
    Platform {
        os: config.os().to_string(),
        architecture: config.architecture().to_string(),
        variant: config.variant().clone(),
    }
}

/// A descriptor's digest as lade's type: lade handles sha256 only, and says so when a base
/// names anything else instead of failing later.
pub fn descriptor_digest(d: &Descriptor) -> Result<Digest, DigestError> {
    d.digest().to_string().parse()
}

/// A manifest and its config must agree on the number of layers: each layer has its diff_id.
pub fn check_diff_ids(manifest: &ImageManifest, config: &ImageConfiguration) -> Result<(), String> {
    let diff_ids = config.rootfs().diff_ids();
    if diff_ids.len() != manifest.layers().len() {
        return Err(format!(
            "{} layers in the manifest but {} diff_ids in the config",
            manifest.layers().len(),
            diff_ids.len()
        ));
    }
    Ok(())
}
