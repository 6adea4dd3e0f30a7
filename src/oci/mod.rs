//! OCI values shared by every module that reads or writes images, with no behaviour beyond
//! checking them: media types and annotations, descriptors, layers and where their bytes are,
//! images and indexes as the exact JSON bytes lade writes and pushes, bases as data
//! ([`base`]), reference rules ([`reference`], [`mirror`]) and the whiteout-aware file tree
//! of stacked layers ([`tree`]).
//!
//! This module depends on nothing in lade but `digest` and `platform`, so `base`, `image`,
//! `registry`, `sink`, `sbom` and `debian` can all use it without depending on each other.

pub mod base;
pub mod mirror;
pub mod reference;
pub mod tree;

pub use base::{BaseImage, ResolvedBase};
pub use mirror::Mirror;
pub use reference::{Reference, ReferenceError};
pub use tree::FileTree;

use crate::digest::Digest;
use crate::platform::Platform;
use oci_spec::image::{Descriptor, MediaType};
use std::path::PathBuf;

pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
pub const OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
pub const DOCKER_MANIFEST_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";

pub const ANNOTATION_CREATED: &str = "org.opencontainers.image.created";
pub const ANNOTATION_SOURCE: &str = "org.opencontainers.image.source";
pub const ANNOTATION_REVISION: &str = "org.opencontainers.image.revision";
pub const ANNOTATION_REF_NAME: &str = "org.opencontainers.image.ref.name";
pub const ANNOTATION_BASE_NAME: &str = "org.opencontainers.image.base.name";
pub const ANNOTATION_BASE_DIGEST: &str = "org.opencontainers.image.base.digest";

/// A small JSON document (config, manifest, index) and its descriptor. `bytes` are canonical
/// and are exactly what is hashed, written and pushed.
#[derive(Clone, Debug)]
pub struct JsonBlob {
    pub bytes: Vec<u8>,
    pub descriptor: Descriptor,
}

impl JsonBlob {
    pub fn new(media_type: &str, bytes: Vec<u8>) -> Self {
        let digest = Digest::of(&bytes);
        let descriptor = descriptor(media_type, bytes.len() as u64, &digest);
        JsonBlob { bytes, descriptor }
    }

    pub fn digest(&self) -> Digest {
        digest_of(&self.descriptor)
    }

    pub fn media_type(&self) -> String {
        self.descriptor.media_type().to_string()
    }
}

/// Where a layer's compressed bytes are.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BlobSource {
    /// A file on disk: lade's blob store or a base's OCI layout.
    File(PathBuf),
    /// Only in a registry repository (a base pulled by reference); fetched when a sink needs it.
    Remote {
        registry: String,
        repository: String,
    },
}

#[derive(Clone, Debug)]
pub struct Layer {
    pub descriptor: Descriptor,
    pub diff_id: Digest,
    pub source: BlobSource,
}

impl Layer {
    pub fn digest(&self) -> Digest {
        digest_of(&self.descriptor)
    }

    pub fn size(&self) -> u64 {
        self.descriptor.size()
    }
}

/// One platform's image. Built by `image::assemble`, read by every sink.
#[derive(Clone, Debug)]
pub struct Image {
    pub platform: Platform,
    pub config: JsonBlob,
    pub manifest: JsonBlob,
    pub layers: Vec<Layer>,
}

/// What a publish produces: one image, or several platforms under an index.
#[derive(Clone, Debug)]
pub struct ImageSet {
    pub images: Vec<Image>,
    /// Present when there is more than one platform.
    pub index: Option<JsonBlob>,
    /// Blobs this run made rather than found in lade's cache: layers it wrote and the configs
    /// of the images holding them. A registry most likely lacks them, so a push sends the
    /// small ones without asking first.
    pub made: std::collections::BTreeSet<Digest>,
}

impl ImageSet {
    /// The document a tag points at: the index, or the single manifest.
    pub fn root(&self) -> &JsonBlob {
        self.index.as_ref().unwrap_or(&self.images[0].manifest)
    }
}

pub fn descriptor(media_type: &str, size: u64, digest: &Digest) -> Descriptor {
    let d: oci_spec::image::Digest = digest
        .as_str()
        .parse()
        .expect("a lade Digest is always a valid OCI digest");
    Descriptor::new(MediaType::from(media_type), size, d)
}

/// lade's digest type for an oci-spec descriptor. Descriptors lade reads from elsewhere are
/// checked when parsed ([`base::descriptor_digest`]), so a failure here is a bug.
pub fn digest_of(d: &Descriptor) -> Digest {
    d.digest()
        .to_string()
        .parse()
        .expect("descriptor digests are validated when read")
}
