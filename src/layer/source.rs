//! Reading the host files a layer copies: once to fingerprint them for the cache key, once to
//! stream them into the tar, checking that the second read sees exactly what the first hashed
//! (by the file's unchanged stat data when its timestamps were old enough to vouch for it, else
//! by hashing it again).

use super::LayerError;
use crate::digest::{Digest, HashingWriter};
use std::fs::File;
use std::io::{self, Read, Write};
use std::path::Path;

/// What a file held when it was fingerprinted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Content {
    pub size: u64,
    pub digest: Digest,
    /// The file's stat data when it was fingerprinted, if its timestamps were then older than
    /// the stat cache's [`RACY_MARGIN`](crate::statcache::RACY_MARGIN): any later write would
    /// give it a newer mtime and ctime, so finding the same stat data once the tar has read
    /// it proves the bytes unchanged without hashing them a second time. A file written
    /// within the margin is hashed again as it is read.
    pub stamp: Option<Stamp>,
}

/// What [`Content::stamp`] keeps of a file's stat data.
pub type Stamp = crate::statcache::Stat;

/// Opens `path` (following symlinks: the plan decided the target's bytes belong in the layer)
/// and checks that it is a regular file.
fn open_regular(layer: &str, path: &Path) -> Result<(File, u64), LayerError> {
    let read_err = |source| LayerError::Read {
        layer: layer.to_string(),
        path: path.to_path_buf(),
        source,
    };
    let file = File::open(path).map_err(read_err)?;
    let meta = file.metadata().map_err(read_err)?;
    if !meta.is_file() {
        return Err(LayerError::NotRegularFile {
            layer: layer.to_string(),
            path: path.to_path_buf(),
        });
    }
    Ok((file, meta.len()))
}

/// Size and sha256 of the file's bytes, through the stat cache (an unchanged file is not read
/// again; the tar, when it is written, still checks the bytes against this digest).
pub fn fingerprint(layer: &str, path: &Path) -> Result<Content, LayerError> {
    // The detector's walk stat'ed it already, and no step has run since: that stat stands.
    if let Some(stat) = crate::statcache::seen_stat(path)
        && let Some(digest) = crate::statcache::shared().cached(path, &stat)
    {
        return Ok(Content {
            size: stat.size(),
            digest,
            stamp: Some(stat).filter(|st| st.aged(crate::statcache::now_ns())),
        });
    }
    let meta = std::fs::metadata(path).map_err(|source| LayerError::Read {
        layer: layer.to_string(),
        path: path.to_path_buf(),
        source,
    })?;
    if !meta.is_file() {
        return Err(LayerError::NotRegularFile {
            layer: layer.to_string(),
            path: path.to_path_buf(),
        });
    }
    let (digest, size) = crate::statcache::shared()
        .digest_with(path, &meta)
        .map_err(|source| LayerError::Read {
            layer: layer.to_string(),
            path: path.to_path_buf(),
            source,
        })?;
    // Taken after the stat: a file older than the margin then was older when it was read.
    let stamp = Some(Stamp::of(&meta))
        .filter(|st| st.aged(crate::statcache::now_ns()) && st.size() == size);
    Ok(Content {
        size,
        digest,
        stamp,
    })
}

/// Yields exactly `expected.size` bytes of a source file for the tar, hashing them. A read
/// error or early end is recorded (the tar crate only sees an opaque error) so the caller can
/// tell a bad source from a failing blob store.
pub struct SourceReader<'a> {
    layer: &'a str,
    path: &'a Path,
    expected: &'a Content,
    file: File,
    remaining: u64,
    /// `None` when the fingerprint's [`Stamp`] vouches for the bytes.
    hash: Option<HashingWriter<io::Sink>>,
    problem: Option<LayerError>,
}

impl<'a> SourceReader<'a> {
    pub fn open(layer: &'a str, path: &'a Path, expected: &'a Content) -> Result<Self, LayerError> {
        let (file, size) = open_regular(layer, path)?;
        let reader = SourceReader {
            layer,
            path,
            expected,
            file,
            remaining: expected.size,
            hash: expected
                .stamp
                .is_none()
                .then(|| HashingWriter::new(io::sink())),
            problem: None,
        };
        if size != expected.size {
            return Err(reader.changed());
        }
        Ok(reader)
    }

    /// The source problem behind a failed read, if the failure was the source's.
    pub fn take_problem(&mut self) -> Option<LayerError> {
        self.problem.take()
    }

    /// After the tar consumed `expected.size` bytes: the file must end there and hash the same
    /// as when it was fingerprinted, or the cache key would describe other bytes than the blob.
    pub fn finish(mut self) -> Result<(), LayerError> {
        let mut probe = [0u8; 1];
        let extra = loop {
            match self.file.read(&mut probe) {
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(source) => {
                    return Err(LayerError::Read {
                        layer: self.layer.to_string(),
                        path: self.path.to_path_buf(),
                        source,
                    });
                }
                Ok(n) => break n,
            }
        };
        let same = match (self.hash.take(), &self.expected.stamp) {
            (Some(hash), _) => hash.finish().1 == self.expected.digest,
            (None, Some(stamp)) => {
                let meta = self.file.metadata().map_err(|source| LayerError::Read {
                    layer: self.layer.to_string(),
                    path: self.path.to_path_buf(),
                    source,
                })?;
                Stamp::of(&meta) == *stamp
            }
            (None, None) => unreachable!("a reader without a stamp hashes"),
        };
        if extra != 0 || !same {
            return Err(LayerError::SourceChanged {
                layer: self.layer.to_string(),
                path: self.path.to_path_buf(),
            });
        }
        Ok(())
    }

    fn changed(&self) -> LayerError {
        LayerError::SourceChanged {
            layer: self.layer.to_string(),
            path: self.path.to_path_buf(),
        }
    }
}

impl Read for SourceReader<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.remaining == 0 || buf.is_empty() {
            return Ok(0);
        }
        let max = buf
            .len()
            .min(usize::try_from(self.remaining).unwrap_or(usize::MAX));
        match self.file.read(&mut buf[..max]) {
            Ok(0) => {
                // Shorter than its header says: the tar entry cannot be completed honestly.
                self.problem = Some(self.changed());
                Err(io::Error::other("source file shrank"))
            }
            Ok(n) => {
                if let Some(hash) = &mut self.hash {
                    hash.write_all(&buf[..n])?;
                }
                self.remaining -= n as u64;
                Ok(n)
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => Err(e),
            Err(source) => {
                self.problem = Some(LayerError::Read {
                    layer: self.layer.to_string(),
                    path: self.path.to_path_buf(),
                    source,
                });
                Err(io::Error::other("source file unreadable"))
            }
        }
    }
}
