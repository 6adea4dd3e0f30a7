//! Reproducible layers: a deterministic tar of a `LayerSpec`, gzip- (or zstd-) compressed, with its
//! digest (compressed) and diff_id (uncompressed) computed while the bytes stream into the
//! content-addressed store. An input-hash cache means an unchanged layer is neither re-tarred
//! nor re-compressed.
//!
//! Pipeline: `entries` (validate, sort, add parents) → `source` (fingerprint host files) →
//! `cache` (key lookup) → on a miss `archive` (tar) → `gzip` → `store` (temp file, rename).

mod archive;
mod cache;
mod compress;
mod entries;
mod gzip;
mod lanes;
pub mod sizes;
mod source;
mod store;
pub mod tree;

pub use compress::{Compression, GZIP_LAYER_MEDIA_TYPE, ZSTD_LAYER_MEDIA_TYPE};
pub use gzip::GzipWriter;
pub use store::{BlobStore, BlobWriter, StoreError, sweep_stale_temporaries, temp_owner};

use crate::digest::{Digest, HashingWriter};
use crate::growing::GrowingBlob;
use crate::plan::LayerSpec;
use entries::NodeKind;
use std::path::PathBuf;

/// Numeric (uid, gid) by target path, for [`LayerWriter::write_owned`].
pub type Owners = std::collections::BTreeMap<String, (u32, u32)>;

/// A layer blob in the store.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LayerBlob {
    /// Digest of the compressed bytes (what manifests reference).
    pub digest: Digest,
    /// Digest of the uncompressed tar (what the image config's rootfs lists).
    pub diff_id: Digest,
    /// Compressed size in bytes.
    pub size: u64,
    /// Whether the blob came from the cache rather than being written now.
    pub cached: bool,
    /// The layer media type, from the compression.
    pub media_type: &'static str,
}

#[derive(Debug, thiserror::Error)]
pub enum LayerError {
    #[error("layer '{layer}': reading {path}")]
    Read {
        layer: String,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("layer '{layer}': two entries for {target}")]
    Duplicate { layer: String, target: String },
    #[error("layer '{layer}': target path '{target}' must be absolute and normalized")]
    BadTarget { layer: String, target: String },
    #[error("layer '{layer}': {path} is not a regular file")]
    NotRegularFile { layer: String, path: PathBuf },
    #[error("layer '{layer}': {path} changed while the layer was being written")]
    SourceChanged { layer: String, path: PathBuf },
    #[error("layer '{layer}': symlink {target} has an invalid link target '{link}'")]
    BadLink {
        layer: String,
        target: String,
        link: String,
    },
    #[error("layer '{layer}': {target} needs {parent} to be a directory, but it is not one")]
    NotADirectory {
        layer: String,
        target: String,
        parent: String,
    },
    #[error("layer '{layer}': writing to the blob store")]
    Store { layer: String, source: StoreError },
    #[error("layer '{layer}'")]
    Io {
        layer: String,
        source: std::io::Error,
    },
}

/// Writes layers into a blob store with fixed timestamps.
pub struct LayerWriter<'a> {
    store: &'a BlobStore,
    mtime: u64,
    threads: usize,
    /// `None`: the compression's default level.
    level: Option<u32>,
    compression: Compression,
    listings: Option<&'a tree::Listings>,
    follower: Option<&'a dyn Fn(GrowingBlob)>,
}

impl<'a> LayerWriter<'a> {
    /// `mtime` is written as every entry's modification time (SOURCE_DATE_EPOCH or the commit time).
    /// Compresses with gzip at its default level on all available cores (at most 8).
    pub fn new(store: &'a BlobStore, mtime: u64) -> Self {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        LayerWriter {
            store,
            mtime,
            threads: cores.min(8),
            level: None,
            compression: Compression::Gzip,
            listings: None,
            follower: None,
        }
    }

    /// gzip (the default) or zstd. Changes the layer bytes and media type.
    pub fn with_compression(mut self, compression: Compression) -> Self {
        self.compression = compression;
        self
    }

    /// Takes build-output listings already made (by the start-up check) from `listings`.
    pub fn with_listings(mut self, listings: &'a tree::Listings) -> Self {
        self.listings = Some(listings);
        self
    }

    /// Handed a reader of each layer blob this writer starts (not of the layers it finds in
    /// the cache), before its first byte is written: an upload can follow the compressor.
    pub fn with_follower(mut self, follower: &'a dyn Fn(GrowingBlob)) -> Self {
        self.follower = Some(follower);
        self
    }

    /// Compression threads. The layer bytes are the same for any count; 1 compresses on the
    /// calling thread.
    pub fn with_threads(mut self, threads: usize) -> Self {
        self.threads = threads.max(1);
        self
    }

    /// The compression level (clamped to what the compression takes). Unlike the thread count
    /// this changes the layer bytes.
    pub fn with_level(mut self, level: u32) -> Self {
        self.level = Some(level);
        self
    }

    /// The level the layers are compressed at.
    pub fn level(&self) -> u32 {
        let levels = self.compression.levels();
        self.level.map_or(self.compression.default_level(), |l| {
            l.clamp(*levels.start(), *levels.end())
        })
    }

    /// Writes (or finds in the cache) the layer for `spec`.
    pub fn write(&self, spec: &LayerSpec) -> Result<LayerBlob, LayerError> {
        self.write_owned(spec, &Owners::new())
    }

    /// Like [`write`](Self::write), with the numeric owner of some entries (keyed by target,
    /// `/home/nonroot`) other than root: a base image's home directory must belong to its user.
    pub fn write_owned(&self, spec: &LayerSpec, owners: &Owners) -> Result<LayerBlob, LayerError> {
        let prepared = self.prepare_owned(spec, owners)?;
        self.write_prepared(prepared)
    }

    /// Lists and fingerprints the layer for `spec` and looks it up in the cache, writing
    /// nothing: [`write_prepared`](Self::write_prepared) or
    /// [`write_each`](Self::write_each) then writes it if it was not there.
    pub fn prepare(&self, spec: &LayerSpec) -> Result<Prepared, LayerError> {
        self.prepare_owned(spec, &Owners::new())
    }

    /// [`prepare`](Self::prepare) with owners, as [`write_owned`](Self::write_owned) takes them.
    pub fn prepare_owned(&self, spec: &LayerSpec, owners: &Owners) -> Result<Prepared, LayerError> {
        let layer = spec.name.as_str();
        let mut nodes = match self.listings {
            Some(listings) => entries::normalize_listed(spec, listings)?,
            None => entries::normalize(spec)?,
        };
        for (target, owner) in owners {
            let node = nodes
                .iter_mut()
                .find(|n| Some(n.name.as_str()) == target.strip_prefix('/'))
                .ok_or_else(|| LayerError::BadTarget {
                    layer: layer.to_string(),
                    target: target.clone(),
                })?;
            node.owner = *owner;
        }
        // On all cores: for a tree of thousands of unchanged files this is a stat and a
        // stat-cache lookup each, the bulk of a warm publish's time before its upload.
        let contents = crate::par::map(&nodes, |n| match &n.kind {
            NodeKind::File { source } => source::fingerprint(layer, source).map(Some),
            _ => Ok(None),
        })
        .into_iter()
        .collect::<Result<Vec<_>, _>>()?;
        let settings = self.settings();
        let key = settings.key(&nodes, &contents);
        let found = cache::lookup(self.store, &key).map(|r| LayerBlob {
            digest: r.digest,
            diff_id: r.diff_id,
            size: r.size,
            cached: true,
            media_type: self.compression.media_type(),
        });
        let tar_size = contents.iter().flatten().map(|c| c.size).sum();
        Ok(Prepared {
            layer: layer.to_string(),
            nodes,
            contents,
            key,
            tar_size,
            found,
        })
    }

    /// The layer `prepared` describes: from the cache, or written now on this thread.
    pub fn write_prepared(&self, prepared: Prepared) -> Result<LayerBlob, LayerError> {
        match prepared.found {
            Some(blob) => Ok(blob),
            None => self.settings().compress(prepared, self.follower),
        }
    }

    fn settings(&self) -> Settings<'a> {
        Settings {
            store: self.store,
            mtime: self.mtime,
            threads: self.threads,
            level: self.level(),
            compression: self.compression,
        }
    }
}

/// A layer listed, fingerprinted and looked up in the cache: found there, or to be written.
pub struct Prepared {
    layer: String,
    nodes: Vec<entries::Node>,
    contents: Vec<Option<source::Content>>,
    key: String,
    /// The sum of its files' sizes (about its tar's).
    tar_size: u64,
    found: Option<LayerBlob>,
}

/// What writing a prepared layer needs, apart from the writer's borrowed listings and follower:
/// shared by the threads that write layers side by side.
#[derive(Clone, Copy)]
struct Settings<'a> {
    store: &'a BlobStore,
    mtime: u64,
    threads: usize,
    level: u32,
    compression: Compression,
}

impl Settings<'_> {
    /// The cache key of `nodes` with these settings.
    fn key(&self, nodes: &[entries::Node], contents: &[Option<source::Content>]) -> String {
        match self.compression {
            Compression::Gzip => cache::key(
                self.level,
                gzip::BLOCK_SIZE,
                None,
                self.mtime,
                nodes,
                contents,
            ),
            c => cache::key(
                0,
                0,
                Some(c.key_format(self.level)),
                self.mtime,
                nodes,
                contents,
            ),
        }
    }

    /// Writes the tar of `p` through the compressor into the store and records it in the cache.
    fn compress(
        &self,
        p: Prepared,
        follower: Option<&dyn Fn(GrowingBlob)>,
    ) -> Result<LayerBlob, LayerError> {
        let layer = p.layer.as_str();
        let store_err = |source| LayerError::Store {
            layer: layer.to_string(),
            source,
        };
        let mut blob = self.store.writer().map_err(store_err)?;
        if let Some(follow) = follower {
            follow(blob.follow(p.tar_size).map_err(store_err)?);
        }
        let temp = blob.temp_path().to_path_buf();
        let sink_err = |source| {
            store_err(StoreError::Io {
                path: temp.clone(),
                source,
            })
        };
        // One pass: tar bytes are hashed (diff_id) on their way into the compressor, whose
        // output the blob writer hashes (digest) on its way to disk.
        let gz = compress::Encoder::new(blob, self.compression, self.level, self.threads)
            .map_err(sink_err)?;
        let tar = archive::write_tar(
            layer,
            &p.nodes,
            &p.contents,
            self.mtime,
            HashingWriter::new(gz),
            &sink_err,
        )?;
        let (gz, diff_id, tar_size) = tar.finish();
        let blob = gz.finish().map_err(sink_err)?;
        let (digest, size) = blob.commit().map_err(store_err)?;
        let record = cache::Record {
            digest,
            diff_id,
            size,
        };
        cache::save(self.store, &p.key, &record).map_err(store_err)?;
        sizes::record(self.store, &record.diff_id, tar_size);
        Ok(LayerBlob {
            digest: record.digest,
            diff_id: record.diff_id,
            size: record.size,
            cached: false,
            media_type: self.compression.media_type(),
        })
    }
}

#[cfg(test)]
mod tests;
