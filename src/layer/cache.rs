//! The layer cache: `ROOT/layers/<key>.json` maps a hash of everything that determines a
//! layer's bytes to the blob written for it.
//!
//! The key hashes file *contents*, not stat data. Reading and hashing (sha256 with SHA-NI runs at
//! ~1 GB/s) costs a few percent of compressing (~50 MiB/s per core), so a hit stays cheap, while a
//! stat fingerprint would be machine-local (inode, ctime), miss after every fresh checkout or
//! `touch`, and could hit wrongly on a file rewritten within one timestamp tick. Content keys are
//! also portable: a store restored from a CI cache hits on any machine.

use super::entries::{Node, NodeKind};
use super::source::Content;
use super::store::{BlobStore, StoreError};
use crate::digest::Digest;
use serde::{Deserialize, Serialize};
use std::fs;
use std::io::Write;
use std::path::PathBuf;

/// Bump when the tar or gzip encoding changes in any way that alters bytes.
const FORMAT: &str = "lade-layer-v1 tar=gnu gzip=blocked-dict32k";

/// What a cached layer is: enough to describe it in a manifest without reading it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Record {
    pub digest: Digest,
    pub diff_id: Digest,
    pub size: u64,
}

/// The canonical description that is hashed. JSON gives unambiguous string escaping; the
/// derived field order is fixed by the struct definitions.
#[derive(Serialize)]
struct KeyDoc<'a> {
    format: &'a str,
    /// Set for other compressions than gzip, whose keys are unchanged by its introduction.
    #[serde(skip_serializing_if = "Option::is_none")]
    compression: Option<String>,
    gzip_level: u32,
    gzip_block: usize,
    mtime: u64,
    entries: Vec<KeyEntry<'a>>,
}

#[derive(Serialize)]
struct KeyEntry<'a> {
    path: &'a str,
    mode: u32,
    /// Absent for root-owned entries, so keys of layers without owners did not change when
    /// owners were introduced.
    #[serde(skip_serializing_if = "is_root")]
    owner: (u32, u32),
    #[serde(flatten)]
    kind: KeyKind<'a>,
}

#[derive(Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum KeyKind<'a> {
    File { size: u64, sha256: &'a str },
    Dir,
    Symlink { link: &'a str },
}

/// The cache key (hex) for writing `nodes` with these settings. The layer's name and the source
/// paths are deliberately absent: the same bytes under another name are the same blob.
pub fn key(
    level: u32,
    block: usize,
    compression: Option<String>,
    mtime: u64,
    nodes: &[Node],
    contents: &[Option<Content>],
) -> String {
    let entries = nodes
        .iter()
        .zip(contents)
        .map(|(n, c)| KeyEntry {
            path: &n.name,
            mode: n.mode,
            owner: n.owner,
            kind: match (&n.kind, c) {
                (NodeKind::File { .. }, Some(c)) => KeyKind::File {
                    size: c.size,
                    sha256: c.digest.hex(),
                },
                (NodeKind::File { .. }, None) => unreachable!("file {} not fingerprinted", n.name),
                (NodeKind::Dir, _) => KeyKind::Dir,
                (NodeKind::Symlink { link }, _) => KeyKind::Symlink { link },
            },
        })
        .collect();
    let doc = KeyDoc {
        format: FORMAT,
        compression,
        gzip_level: level,
        gzip_block: block,
        mtime,
        entries,
    };
    let bytes = serde_json::to_vec(&doc).expect("serializing plain data cannot fail");
    Digest::of(&bytes).hex().to_string()
}

fn is_root(owner: &(u32, u32)) -> bool {
    *owner == (0, 0)
}

fn record_path(store: &BlobStore, key: &str) -> PathBuf {
    store.root().join("layers").join(format!("{key}.json"))
}

/// The record for `key`, if there is one and its blob is still in the store with its size.
/// An unreadable or corrupt record is a miss: the layer is rewritten and the record replaced.
pub fn lookup(store: &BlobStore, key: &str) -> Option<Record> {
    let bytes = fs::read(record_path(store, key)).ok()?;
    let record: Record = serde_json::from_slice(&bytes).ok()?;
    store.holds(&record.digest, record.size).then_some(record)
}

/// Saves the record atomically (temp file + rename), like blobs.
pub fn save(store: &BlobStore, key: &str, record: &Record) -> Result<(), StoreError> {
    let dest = record_path(store, key);
    let io = |path: &PathBuf| {
        let path = path.clone();
        move |source| StoreError::Io { path, source }
    };
    let dir = dest
        .parent()
        .expect("record path has a parent")
        .to_path_buf();
    fs::create_dir_all(&dir).map_err(io(&dir))?;
    let tmp_dir = store.tmp_dir();
    let mut tmp = tempfile::NamedTempFile::new_in(&tmp_dir).map_err(io(&tmp_dir))?;
    let json = serde_json::to_vec(record).expect("serializing plain data cannot fail");
    tmp.write_all(&json)
        .map_err(io(&tmp.path().to_path_buf()))?;
    tmp.persist(&dest).map_err(|e| io(&dest)(e.error))?;
    Ok(())
}
