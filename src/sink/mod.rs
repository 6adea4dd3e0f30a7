//! Where images go. Every output is a `Sink`; several `--to` give several sinks that receive
//! the same `ImageSet`.

pub mod docker_archive;
pub mod docker_daemon;
pub mod layout_referrers;
pub mod oci_archive;
pub mod oci_layout;
pub mod registry;
mod target;

pub use target::{TAG_GRAMMAR, Target, TargetError, valid_tag};

use crate::digest::Digest;
use crate::growing::GrowingBlob;
use crate::oci::{BlobSource, ImageSet, Layer};
use crate::registry::{PushStats, RegistryError, RegistryOptions, RegistrySession};
use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum SinkError {
    #[error("{target}: {action} {path}")]
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
    /// Pushing or fetching failed; the registry error names registry, repository and blob.
    #[error("{error}")]
    Registry {
        target: String,
        error: Box<RegistryError>,
    },
}

/// What one sink reports after writing.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Published {
    /// The `--to` value as given.
    pub target: String,
    /// Digest of the root document (index or manifest).
    pub digest: Digest,
    /// A reference other tools accept for what was written: `REPO@sha256:…` for a registry;
    /// for files the target itself (`oci:./out:TAG`), whose digest is `digest`.
    pub reference: String,
    /// What a registry push transferred (uploaded, already present, mounted).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stats: Option<PushStats>,
}

/// The line printed for an output written: its reference, then its digest when the
/// reference does not hold it (`oci:DIR:TAG sha256:…`), so the first word is always a
/// reference other tools accept and the digest is always there.
pub fn result_line(reference: &str, digest: &Digest) -> String {
    let d = digest.to_string();
    if reference.ends_with(&format!("@{d}")) {
        reference.to_string()
    } else {
        format!("{reference} {d}")
    }
}

/// Settings sinks need beyond their target.
#[derive(Clone, Debug, Default)]
pub struct OpenOptions {
    /// How registries are reached (TLS, credentials, mirrors, concurrency): one client for
    /// every registry output of a command, and for the rest of the command.
    pub registry: RegistrySession,
    /// Extra tags for registry outputs (`--tag`).
    pub tags: Vec<String>,
    /// Where loading into an engine reports its bytes.
    pub progress: crate::progress::Reporter,
}

pub trait Sink {
    /// Writes `set` and reports what was written.
    fn write(&self, set: &ImageSet, blobs: &dyn BlobProvider) -> Result<Published, SinkError>;

    /// `layer` of the set to come is ready (`made`: written by this run, not found in the layer
    /// cache). A sink that sends blobs elsewhere may start now, while the rest of the image is
    /// made; [`write`](Self::write) still decides what the output holds. Files are written
    /// whole at the end, so the default does nothing.
    fn layer_ready(&self, _layer: &Layer, _made: bool) {}

    /// A layer blob is being written; `blob` reads it as it grows. A sink that sends blobs
    /// elsewhere may start sending its bytes now, but must not make it a blob there before
    /// [`layer_ready`](Self::layer_ready) names its digest: that comes once it is written and
    /// the image it belongs to has passed its checks.
    fn layer_started(&self, _blob: &GrowingBlob) {}
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

/// Opens the sink for a parsed target, with registry settings from the environment.
pub fn open(target: &Target) -> Result<Box<dyn Sink>, SinkError> {
    let registry = match target {
        Target::Registry { .. } => {
            RegistryOptions::from_env().map_err(|error| SinkError::Registry {
                target: target.to_string(),
                error: Box::new(error),
            })?
        }
        _ => Default::default(),
    };
    open_with(
        target,
        &OpenOptions {
            registry: RegistrySession::new(registry),
            tags: Vec::new(),
            progress: Default::default(),
        },
    )
}

/// Opens the sink for a parsed target.
pub fn open_with(target: &Target, options: &OpenOptions) -> Result<Box<dyn Sink>, SinkError> {
    Ok(match target {
        Target::OciLayout { path, tag } => Box::new(oci_layout::OciLayoutSink::new(
            target.to_string(),
            path.clone(),
            tag.clone(),
        )),
        // Archive paths are checked now, before anything is built.
        Target::OciArchive { path, tag } => {
            oci_archive::check_archive_path(&target.to_string(), path)?;
            Box::new(oci_archive::OciArchiveSink::new(
                target.to_string(),
                path.clone(),
                tag.clone(),
            ))
        }
        Target::DockerArchive { path, reference } => {
            oci_archive::check_archive_path(&target.to_string(), path)?;
            Box::new(docker_archive::DockerArchiveSink::new(
                target.to_string(),
                path.clone(),
                reference.clone(),
            ))
        }
        // The engine is asked now, so one that is not running fails before anything is built.
        Target::DockerDaemon { reference } => Box::new(docker_daemon::DockerDaemonSink::open(
            target.to_string(),
            reference,
            options.progress.clone(),
        )?),
        Target::Registry { reference } => Box::new(registry::RegistrySink::new(
            target.to_string(),
            reference,
            options.tags.clone(),
            &options.registry,
        )?),
    })
}
