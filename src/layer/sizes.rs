//! The uncompressed (tar) size of a layer, by its diff_id, for `publish --json`'s image sizes.
//! The layer writer records the size of every tar it writes; a layer lade did not write (a
//! base's) is counted once by decompressing its blob, and the count kept the same way.

use super::BlobStore;
use crate::digest::Digest;
use std::path::{Path, PathBuf};

fn size_path(store: &BlobStore, diff_id: &Digest) -> PathBuf {
    store.root().join("tar-sizes").join(diff_id.hex())
}

/// The recorded tar size of the layer whose diff_id is `diff_id`.
pub fn recorded(store: &BlobStore, diff_id: &Digest) -> Option<u64> {
    std::fs::read_to_string(size_path(store, diff_id))
        .ok()?
        .trim()
        .parse()
        .ok()
}

/// Records a tar size. Best effort: the size only feeds a report, and a missing record is
/// counted again the next time.
pub fn record(store: &BlobStore, diff_id: &Digest, size: u64) {
    crate::kept::keep(&size_path(store, diff_id), size.to_string().as_bytes());
}

/// The tar size of the layer whose compressed blob is `blob` (of `media_type`): recorded, or
/// counted now by decompressing it. `None` for a compression lade cannot decode, or a blob that
/// cannot be read (the size is then unknown, never guessed).
pub fn of_blob(store: &BlobStore, diff_id: &Digest, blob: &Path, media_type: &str) -> Option<u64> {
    if let Some(n) = recorded(store, diff_id) {
        return Some(n);
    }
    let file = std::fs::File::open(blob).ok()?;
    let mut tar = crate::oci::tree::layer_tar(file, media_type)?;
    let n = std::io::copy(&mut tar, &mut std::io::sink()).ok()?;
    record(store, diff_id, n);
    Some(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_a_gzip_blob_once_and_keeps_the_count() {
        let dir = tempfile::tempdir().unwrap();
        let store = BlobStore::open(&dir.path().join("store")).unwrap();
        let tar = vec![7u8; 3000];
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        std::io::Write::write_all(&mut gz, &tar).unwrap();
        let blob = dir.path().join("blob");
        std::fs::write(&blob, gz.finish().unwrap()).unwrap();
        let diff_id = Digest::of(&tar);
        let media = super::super::GZIP_LAYER_MEDIA_TYPE;
        assert_eq!(of_blob(&store, &diff_id, &blob, media), Some(3000));
        // The count is kept: the blob is not read again.
        std::fs::remove_file(&blob).unwrap();
        assert_eq!(of_blob(&store, &diff_id, &blob, media), Some(3000));
        assert_eq!(of_blob(&store, &Digest::of(b"x"), &blob, media), None);
    }
}
