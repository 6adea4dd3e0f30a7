//! Where images go. Every output is a `Sink`; several `--to` give several sinks that receive
//! the same `ImageSet`.

pub mod docker_archive;
pub mod oci_archive;
pub mod oci_layout;
mod target;

pub use target::{Target, TargetError};

use crate::digest::Digest;
use crate::image::{BlobSource, ImageSet, Layer};
use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum SinkError {
    #[error("{target}: {action} {path}: {source}")]
    Io {
        target: String,
        action: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{target}: {detail}")]
    Invalid { target: String, detail: String },
    #[error(
        "{target}: layer {digest} is only in registry {registry}/{repository} and cannot be fetched here"
    )]
    RemoteBlob {
        target: String,
        digest: Digest,
        registry: String,
        repository: String,
    },
}

/// What one sink reports after writing.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Published {
    /// The `--to` value as given.
    pub target: String,
    /// Digest of the root document (index or manifest).
    pub digest: Digest,
    /// A reference naming what was written (`oci:./out@sha256:…`, `REPO@sha256:…`).
    pub reference: String,
}

pub trait Sink {
    /// Writes `set` and reports what was written.
    fn write(&self, set: &ImageSet, blobs: &dyn BlobProvider) -> Result<Published, SinkError>;
}

/// Gives sinks a file holding a layer's bytes, fetching it first when it is only in a registry.
pub trait BlobProvider {
    fn local_path(&self, layer: &Layer) -> Result<PathBuf, SinkError>;
}

/// Serves layers whose bytes are already on disk.
pub struct LocalBlobs;

impl BlobProvider for LocalBlobs {
    fn local_path(&self, layer: &Layer) -> Result<PathBuf, SinkError> {
        match &layer.source {
            BlobSource::File(p) => Ok(p.clone()),
            BlobSource::Remote {
                registry,
                repository,
            } => Err(SinkError::RemoteBlob {
                target: "output".into(),
                digest: layer.digest(),
                registry: registry.clone(),
                repository: repository.clone(),
            }),
        }
    }
}

/// Opens the sink for a parsed target.
pub fn open(target: &Target) -> Result<Box<dyn Sink>, SinkError> {
    Ok(match target {
        Target::OciLayout { path, tag } => Box::new(oci_layout::OciLayoutSink::new(
            target.to_string(),
            path.clone(),
            tag.clone(),
        )),
        Target::OciArchive { path, tag } => Box::new(oci_archive::OciArchiveSink::new(
            target.to_string(),
            path.clone(),
            tag.clone(),
        )),
        Target::DockerArchive { path, reference } => {
            Box::new(docker_archive::DockerArchiveSink::new(
                target.to_string(),
                path.clone(),
                reference.clone(),
            ))
        }
        Target::Registry { .. } => {
            return Err(SinkError::Invalid {
                target: target.to_string(),
                detail: "registry outputs are not available in this build of lade".into(),
            });
        }
    })
}
