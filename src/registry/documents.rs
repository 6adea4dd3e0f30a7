//! The manifests and configs a base resolution fetched, kept under their digests in lade's
//! cache (`<cache>/documents`). A digest names its bytes for good, so a base pinned by
//! lade.lock is resolved from here on every publish after the first, without asking the
//! registry again (Jib keeps its base
//! manifests the same way). Best effort: a document that is missing or does not hash to its
//! name is fetched again.

use super::client::Manifest;
use crate::digest::Digest;
use std::path::{Path, PathBuf};

/// Where the documents are kept (`RegistryOptions::documents`).
#[derive(Clone, Debug)]
pub struct Documents {
    dir: PathBuf,
}

impl Documents {
    pub fn new(dir: &Path) -> Documents {
        Documents {
            dir: dir.to_path_buf(),
        }
    }

    /// The manifest or index with `digest`, if it is kept.
    pub fn manifest(&self, digest: &Digest) -> Option<Manifest> {
        let kept = std::fs::read(self.path("manifests", digest)?).ok()?;
        // The media type (which the registry said, or the document's own) on the first line.
        let split = kept.iter().position(|b| *b == b'\n')?;
        let (media_type, bytes) = (&kept[..split], &kept[split + 1..]);
        (&Digest::of(bytes) == digest).then(|| Manifest {
            bytes: bytes.to_vec(),
            media_type: String::from_utf8_lossy(media_type).into_owned(),
            digest: digest.clone(),
        })
    }

    /// Keeps `m` under its digest.
    pub fn keep_manifest(&self, m: &Manifest) {
        if let Some(path) = self.path("manifests", &m.digest) {
            let mut kept = Vec::with_capacity(m.media_type.len() + 1 + m.bytes.len());
            kept.extend_from_slice(m.media_type.as_bytes());
            kept.push(b'\n');
            kept.extend_from_slice(&m.bytes);
            crate::kept::keep(&path, &kept);
        }
    }

    /// The blob (an image config) with `digest`, if it is kept.
    pub fn blob(&self, digest: &Digest) -> Option<Vec<u8>> {
        let bytes = std::fs::read(self.path("blobs", digest)?).ok()?;
        (&Digest::of(&bytes) == digest).then_some(bytes)
    }

    /// Keeps `bytes`, whose digest is `digest`.
    pub fn keep_blob(&self, digest: &Digest, bytes: &[u8]) {
        if let Some(path) = self.path("blobs", digest) {
            crate::kept::keep(&path, bytes);
        }
    }

    fn path(&self, kind: &str, digest: &Digest) -> Option<PathBuf> {
        let (algorithm, hex) = digest.as_str().split_once(':')?;
        Some(self.dir.join(kind).join(algorithm).join(hex))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn documents_read_back_under_their_digest_and_damaged_ones_do_not() {
        let d = tempfile::tempdir().unwrap();
        let docs = Documents::new(d.path());
        let bytes = br#"{"schemaVersion":2}"#.to_vec();
        let m = Manifest {
            digest: Digest::of(&bytes),
            bytes,
            media_type: crate::oci::OCI_MANIFEST.into(),
        };
        assert!(docs.manifest(&m.digest).is_none());
        docs.keep_manifest(&m);
        let back = docs.manifest(&m.digest).unwrap();
        assert_eq!(
            (back.bytes, back.media_type),
            (m.bytes.clone(), m.media_type)
        );
        docs.keep_blob(&m.digest, b"other bytes");
        assert_eq!(
            docs.blob(&m.digest),
            None,
            "bytes that are not the digest's"
        );
        docs.keep_blob(&m.digest, &m.bytes);
        assert_eq!(docs.blob(&m.digest), Some(m.bytes));
    }
}
