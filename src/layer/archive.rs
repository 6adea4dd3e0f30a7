//! The deterministic tar stream. Every header is built here from the normalized entry alone:
//! nothing about the host file (owner, times, mode, xattrs, sparseness) reaches the archive.

use super::LayerError;
use super::entries::{Node, NodeKind};
use super::source::{Content, SourceReader};
use std::io::{self, Write};
use tar::{Builder, EntryType, Header};

/// Writes `nodes` (sorted, normalized) as a tar stream into `out` and returns `out` after the
/// end-of-archive marker. `contents[i]` is the fingerprint of `nodes[i]` when it is a file.
/// Failures writing to `out` go through `sink_error`, so the caller can name its destination.
pub fn write_tar<W: Write>(
    layer: &str,
    nodes: &[Node],
    contents: &[Option<Content>],
    mtime: u64,
    out: W,
    sink_error: &dyn Fn(io::Error) -> LayerError,
) -> Result<W, LayerError> {
    assert_eq!(nodes.len(), contents.len(), "one fingerprint slot per node");
    let mut tar = Builder::new(out);
    for (node, content) in nodes.iter().zip(contents) {
        let mut header = base_header(node.mode, node.owner, mtime);
        let name = node.tar_name();
        match (&node.kind, content) {
            (NodeKind::Dir, _) => {
                header.set_entry_type(EntryType::Directory);
                tar.append_data(&mut header, &name, io::empty())
                    .map_err(sink_error)?;
            }
            (NodeKind::Symlink { link }, _) => {
                header.set_entry_type(EntryType::Symlink);
                // append_link, unlike set_link_name, writes a GNU long-link record when the
                // target does not fit in 100 bytes.
                tar.append_link(&mut header, &name, link)
                    .map_err(sink_error)?;
            }
            (NodeKind::File { source }, Some(content)) => {
                header.set_entry_type(EntryType::Regular);
                header.set_size(content.size);
                let mut reader = SourceReader::open(layer, source, content)?;
                if let Err(e) = tar.append_data(&mut header, &name, &mut reader) {
                    return Err(reader.take_problem().unwrap_or_else(|| sink_error(e)));
                }
                reader.finish()?;
            }
            (NodeKind::File { .. }, None) => unreachable!("file {name} was not fingerprinted"),
        }
    }
    tar.into_inner().map_err(sink_error)
}

/// GNU format, because the tar crate writes GNU long-name records (`././@LongLink`) for paths
/// over 100 bytes and those belong with a GNU header. Numeric owner (0:0 unless the writer was
/// told otherwise) without names, so extraction does not depend on the image's /etc/passwd.
fn base_header(mode: u32, (uid, gid): (u32, u32), mtime: u64) -> Header {
    let mut h = Header::new_gnu();
    h.set_mode(mode);
    h.set_uid(u64::from(uid));
    h.set_gid(u64::from(gid));
    h.set_mtime(mtime);
    h.set_size(0);
    // new_gnu leaves user and group names zeroed (empty); they stay that way.
    h
}

#[cfg(test)]
mod tests {
    use super::super::entries::normalize;
    use super::super::source::fingerprint;
    use super::*;
    use crate::plan::{EntryKind, FileEntry, LayerSpec};
    use std::fs;
    use std::io::Read;
    use std::path::Path;

    fn tar_of(spec: &LayerSpec, mtime: u64) -> Result<Vec<u8>, LayerError> {
        let nodes = normalize(spec)?;
        let contents = nodes
            .iter()
            .map(|n| match &n.kind {
                NodeKind::File { source } => fingerprint(&spec.name, source).map(Some),
                _ => Ok(None),
            })
            .collect::<Result<Vec<_>, _>>()?;
        write_tar(&spec.name, &nodes, &contents, mtime, Vec::new(), &|e| {
            panic!("writing to a Vec failed: {e}")
        })
    }

    fn entry(target: &str, mode: u32, kind: EntryKind) -> FileEntry {
        FileEntry {
            target: target.into(),
            mode,
            kind,
        }
    }

    fn file(source: &Path) -> EntryKind {
        EntryKind::File {
            source: source.to_path_buf(),
        }
    }

    #[test]
    fn long_names_and_links_survive() {
        let dir = tempfile::tempdir().unwrap();
        let src = dir.path().join("f");
        fs::write(&src, b"x").unwrap();
        let deep = format!("/{}/{}", "d".repeat(120), "f".repeat(150));
        let link = format!("../{}", "t".repeat(200));
        let spec = LayerSpec {
            name: "long".into(),
            entries: vec![
                entry(&deep, 0o644, file(&src)),
                entry("/l", 0o777, EntryKind::Symlink { link: link.clone() }),
            ],
        };
        let bytes = tar_of(&spec, 1).unwrap();
        let mut ar = tar::Archive::new(&bytes[..]);
        let got: Vec<(String, Option<String>)> = ar
            .entries()
            .unwrap()
            .map(|e| {
                let e = e.unwrap();
                let link = e
                    .link_name()
                    .unwrap()
                    .map(|l| l.to_string_lossy().into_owned());
                (e.path().unwrap().to_string_lossy().into_owned(), link)
            })
            .collect();
        assert_eq!(
            got,
            [
                (format!("{}/", "d".repeat(120)), None),
                (deep[1..].to_string(), None),
                ("l".to_string(), Some(link)),
            ]
        );
    }

    #[test]
    fn source_that_changed_since_fingerprint_fails() {
        let dir = tempfile::tempdir().unwrap();
        let src = dir.path().join("f");
        fs::write(&src, b"before").unwrap();
        let spec = LayerSpec {
            name: "app".into(),
            entries: vec![entry("/f", 0o644, file(&src))],
        };
        let nodes = normalize(&spec).unwrap();
        let contents = vec![Some(fingerprint("app", &src).unwrap())];
        for now in [&b"after!"[..], b"longer than before", b"bef"] {
            fs::write(&src, now).unwrap();
            let err = write_tar("app", &nodes, &contents, 0, Vec::new(), &|e| {
                panic!("sink: {e}")
            })
            .unwrap_err();
            assert!(
                matches!(&err, LayerError::SourceChanged { path, .. } if path == &src),
                "{now:?}: {err:?}"
            );
        }
    }

    /// An old file is not hashed a second time while the tar reads it: its stat data
    /// vouches for it. A rewrite of the same size with its mtime set back still changes its
    /// ctime, and is caught.
    #[test]
    fn aged_source_is_checked_by_its_stat_data() {
        let dir = tempfile::tempdir().unwrap();
        let src = dir.path().join("f");
        let hour_ago =
            filetime::FileTime::from_unix_time(filetime::FileTime::now().unix_seconds() - 3600, 0);
        fs::write(&src, b"before").unwrap();
        filetime::set_file_mtime(&src, hour_ago).unwrap();
        // The ctime is the kernel's and stays recent: wait out the margin instead.
        std::thread::sleep(crate::statcache::RACY_MARGIN + std::time::Duration::from_millis(50));
        let spec = LayerSpec {
            name: "app".into(),
            entries: vec![entry("/f", 0o644, file(&src))],
        };
        let nodes = normalize(&spec).unwrap();
        let contents = vec![Some(fingerprint("app", &src).unwrap())];
        assert!(
            contents[0].as_ref().unwrap().stamp.is_some(),
            "an aged file has a stamp"
        );
        let sink = |e: io::Error| -> LayerError { panic!("sink: {e}") };
        write_tar("app", &nodes, &contents, 0, Vec::new(), &sink).unwrap();
        fs::write(&src, b"after!").unwrap();
        filetime::set_file_mtime(&src, hour_ago).unwrap();
        let err = write_tar("app", &nodes, &contents, 0, Vec::new(), &sink).unwrap_err();
        assert!(
            matches!(&err, LayerError::SourceChanged { path, .. } if path == &src),
            "{err:?}"
        );
    }

    #[test]
    fn missing_source_and_directory_source_fail() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("missing");
        let spec = LayerSpec {
            name: "app".into(),
            entries: vec![entry("/f", 0o644, file(&missing))],
        };
        assert!(matches!(
            tar_of(&spec, 0),
            Err(LayerError::Read { path, .. }) if path == missing
        ));
        let spec = LayerSpec {
            name: "app".into(),
            entries: vec![entry("/f", 0o644, file(dir.path()))],
        };
        assert!(matches!(
            tar_of(&spec, 0),
            Err(LayerError::NotRegularFile { path, .. }) if path == dir.path()
        ));
    }

    #[test]
    fn file_bytes_are_copied() {
        let dir = tempfile::tempdir().unwrap();
        let src = dir.path().join("f");
        let body: Vec<u8> = (0..100_000u32).map(|i| (i % 251) as u8).collect();
        fs::write(&src, &body).unwrap();
        let spec = LayerSpec {
            name: "app".into(),
            entries: vec![entry("/f", 0o644, file(&src))],
        };
        let bytes = tar_of(&spec, 0).unwrap();
        let mut ar = tar::Archive::new(&bytes[..]);
        let mut e = ar.entries().unwrap().next().unwrap().unwrap();
        let mut got = Vec::new();
        e.read_to_end(&mut got).unwrap();
        assert_eq!(got, body);
        assert_eq!(bytes.len() % 512, 0);
    }
}
