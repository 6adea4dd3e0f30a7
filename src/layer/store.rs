//! The content-addressed blob store on disk: `ROOT/blobs/sha256/<hex>`.

use crate::digest::Digest;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("blob store {path}: {source}")]
    Io { path: PathBuf, source: io::Error },
}

pub struct BlobStore {
    root: PathBuf,
}

impl BlobStore {
    /// Opens (creating when missing) the store at `root`.
    pub fn open(root: &Path) -> Result<Self, StoreError> {
        let _ = root;
        unimplemented!()
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Where the blob with this digest lives (whether or not it exists).
    pub fn path(&self, digest: &Digest) -> PathBuf {
        self.root
            .join("blobs")
            .join(digest.algorithm())
            .join(digest.hex())
    }

    pub fn contains(&self, digest: &Digest) -> bool {
        self.path(digest).is_file()
    }

    /// Stores `bytes` and returns their digest.
    pub fn put_bytes(&self, bytes: &[u8]) -> Result<Digest, StoreError> {
        let _ = bytes;
        unimplemented!()
    }

    /// A writer whose bytes become a blob when committed.
    pub fn writer(&self) -> Result<BlobWriter, StoreError> {
        unimplemented!()
    }
}

/// Streams bytes into a temporary file, hashing them; `commit` moves the file into place.
pub struct BlobWriter {}

impl BlobWriter {
    pub fn commit(self) -> Result<(Digest, u64), StoreError> {
        unimplemented!()
    }
}

impl Write for BlobWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let _ = buf;
        unimplemented!()
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}
