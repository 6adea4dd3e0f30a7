//! Registry outputs (`REGISTRY/REPO[:TAG]`), and [`RegistryBlobs`], which fetches base layers
//! that are only in a registry into the blob store for outputs that need their bytes.

use super::{BlobProvider, Published, Sink, SinkError};
use crate::growing::GrowingBlob;
use crate::layer::BlobStore;
use crate::oci::{BlobSource, ImageSet, Layer, Reference};
use crate::registry::{Connected, EarlyUploads, RegistryError, RegistrySession, push_after};
use futures_util::{StreamExt, TryStreamExt, stream};
use std::path::PathBuf;
use std::sync::Arc;

/// Pushes the image set to one repository: blobs (skipping and mounting), per-platform
/// manifests, the index, then the tag and the extra tags.
pub struct RegistrySink {
    target: String,
    reference: Reference,
    tags: Vec<String>,
    registry: Arc<Connected>,
    /// Layers sent while the rest of the image is made ([`Sink::layer_ready`]).
    early: EarlyUploads,
}

impl RegistrySink {
    /// `target` is the `--to` value as given (for messages); `reference` the registry
    /// reference (tag `latest` when it has none); `tags` extra tags; `registry` the client the
    /// whole command shares (connected now, so bad registry settings fail before any work).
    pub fn new(
        target: String,
        reference: &str,
        tags: Vec<String>,
        registry: &RegistrySession,
    ) -> Result<Self, SinkError> {
        let err = |error: RegistryError| SinkError::Registry {
            target: target.clone(),
            error: Box::new(error),
        };
        let reference = Reference::parse(reference).map_err(|e| err(e.into()))?;
        let registry = registry.connect().map_err(err)?;
        registry.client().add_push_registry(&reference.registry);
        let early = EarlyUploads::new(registry.clone(), &reference);
        Ok(RegistrySink {
            target,
            reference,
            tags,
            registry,
            early,
        })
    }

    pub fn reference(&self) -> &Reference {
        &self.reference
    }
}

impl Sink for RegistrySink {
    fn layer_ready(&self, layer: &Layer, made: bool) {
        // Base layers in a registry are mounted or streamed by the push itself.
        if let BlobSource::File(path) = &layer.source {
            self.early
                .send(&layer.digest(), layer.size(), path.clone(), made);
        }
    }

    fn layer_started(&self, blob: &GrowingBlob) {
        self.early.follow(blob.clone());
    }

    fn write(&self, set: &ImageSet, _blobs: &dyn BlobProvider) -> Result<Published, SinkError> {
        // Remote base layers are mounted or streamed registry to registry: never through the
        // blob provider, so a base is not downloaded just to be pushed.
        let report = self
            .registry
            .block_on(push_after(
                self.registry.client(),
                &self.reference,
                &self.tags,
                set,
                Some(&self.early),
            ))
            .map_err(|error| SinkError::Registry {
                target: self.target.clone(),
                error: Box::new(error),
            })?;
        tracing::debug!(target = %self.target, stats = ?report.stats, "pushed");
        Ok(Published {
            target: self.target.clone(),
            digest: report.digest,
            reference: report.reference.to_string(),
            stats: Some(report.stats),
        })
    }
}

/// Serves layer files from disk, fetching registry-only layers into the blob store first
/// (streamed, digest-checked, kept for next time).
pub struct RegistryBlobs {
    store_root: PathBuf,
    registry: Arc<Connected>,
}

impl RegistryBlobs {
    /// `registry` is the client the whole command shares: the base was resolved through it,
    /// so its pull tokens are reused here.
    pub fn new(store: &BlobStore, registry: &RegistrySession) -> Result<Self, SinkError> {
        let registry = registry.connect().map_err(|error| SinkError::Registry {
            target: "base layers".into(),
            error: Box::new(error),
        })?;
        Ok(RegistryBlobs {
            store_root: store.root().to_path_buf(),
            registry,
        })
    }

    fn path(&self, layer: &Layer) -> PathBuf {
        let d = layer.digest();
        self.store_root
            .join("blobs")
            .join(d.algorithm())
            .join(d.hex())
    }

    async fn fetch(&self, layer: &Layer) -> Result<PathBuf, SinkError> {
        let BlobSource::Remote {
            registry,
            repository,
        } = &layer.source
        else {
            return super::LocalBlobs.local_path(layer);
        };
        let dest = self.path(layer);
        // A stored copy of the right size may still hold other bytes (a damaged disk, a copy
        // interrupted by hand): only one that hashes to its digest is used; another is
        // fetched again over it.
        let (check, digest, size) = (dest.clone(), layer.digest(), layer.size());
        let intact = tokio::task::spawn_blocking(move || intact(&check, &digest, size))
            .await
            .unwrap_or(false);
        if intact {
            return Ok(dest);
        }
        self.registry
            .client()
            .fetch_blob(
                registry,
                repository,
                &layer.digest(),
                Some(layer.size()),
                &dest,
            )
            .await
            .map_err(|error| SinkError::Registry {
                target: format!("base layer {}", layer.digest()),
                error: Box::new(error),
            })?;
        Ok(dest)
    }

    /// Fetches every registry-only layer of `set` in parallel, so sinks that read layers one
    /// at a time do not wait for each download in turn.
    pub fn prefetch(&self, set: &ImageSet) -> Result<(), SinkError> {
        let mut layers: Vec<&Layer> = Vec::new();
        for l in set.images.iter().flat_map(|i| &i.layers) {
            if matches!(l.source, BlobSource::Remote { .. })
                && !layers.iter().any(|x| x.digest() == l.digest())
            {
                layers.push(l);
            }
        }
        let n = self.registry.client().options().concurrency.max(1);
        self.registry.block_on(async {
            stream::iter(layers)
                .map(|l| self.fetch(l))
                .buffer_unordered(n)
                .try_collect::<Vec<_>>()
                .await
        })?;
        Ok(())
    }
}

/// Whether `path` is a regular file of `size` bytes hashing to `digest`; unreadable counts as
/// no (the fetch then replaces it, and a real I/O problem surfaces there).
fn intact(path: &std::path::Path, digest: &crate::digest::Digest, size: u64) -> bool {
    std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.len() == size)
        && std::fs::File::open(path)
            .and_then(crate::digest::digest_reader)
            .is_ok_and(|(d, n)| &d == digest && n == size)
}

impl BlobProvider for RegistryBlobs {
    fn local_path(&self, layer: &Layer) -> Result<PathBuf, SinkError> {
        self.registry.block_on(self.fetch(layer))
    }
}
