//! Expanding a `Tree` entry (a directory a build step made) into the files, directories and
//! symlinks below it. Only the kind, the executable bit and the bytes of what is found count:
//! owners, timestamps and other mode bits of the build's output never reach the layer, so the
//! same tree gives the same layer on every machine.

use super::LayerError;
use crate::plan::{EntryKind, FileEntry};
use std::collections::HashMap;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::sync::{Arc, Mutex, PoisonError};

/// Tree listings made once and read twice: the start-up check lists the build outputs to find
/// the entrypoint, and the layer writer, right after it, lists them again for the layer (for
/// a Node app, its node_modules: a stat per file, a fifth of an unchanged publish). Made for
/// one publish, between its build and its layers, when nothing changes the outputs.
#[derive(Debug, Default)]
pub struct Listings {
    /// One slot per listing, locked while it is made: the start-up check and the layer writer
    /// may ask for the same tree at once, and the second then waits for the first's listing.
    made: Mutex<HashMap<ListingKey, Arc<Mutex<Option<Listed>>>>>,
}

type ListingKey = (String, std::path::PathBuf, Vec<String>);

/// One tree's entries.
type Listed = Arc<Vec<FileEntry>>;

impl Listings {
    /// [`expand`], or what an earlier call with the same arguments found (a failure is not
    /// kept: the layer writer then fails itself, naming its layer).
    pub fn expand(
        &self,
        layer: &str,
        target: &str,
        source: &Path,
        exclude: &[String],
    ) -> Result<Arc<Vec<FileEntry>>, LayerError> {
        let key = (target.to_string(), source.to_path_buf(), exclude.to_vec());
        let slot = self
            .made
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .entry(key)
            .or_default()
            .clone();
        let mut slot = slot.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(found) = &*slot {
            return Ok(found.clone());
        }
        let listed = Arc::new(expand(layer, target, source, exclude)?);
        *slot = Some(listed.clone());
        Ok(listed)
    }
}

/// Whether every entry of `entries` is a build-output directory that came out empty. Such a
/// layer would hold nothing but directories already made by the other layers, so publish leaves
/// it out, as Jib does (a Java project without snapshot dependencies gets no layer for them).
pub fn only_empty_trees(entries: &[FileEntry]) -> bool {
    !entries.is_empty()
        && entries.iter().all(|e| match &e.kind {
            EntryKind::Tree { source, .. } => {
                std::fs::read_dir(source).is_ok_and(|mut d| d.next().is_none())
            }
            _ => false,
        })
}

/// The entries for everything under `source`, placed under `target`, skipping `exclude`
/// (paths relative to `source`) with everything below them. A regular file `source` is one
/// entry. Symlinks are kept as links, never followed.
pub fn expand(
    layer: &str,
    target: &str,
    source: &Path,
    exclude: &[String],
) -> Result<Vec<FileEntry>, LayerError> {
    let read_err = |path: &Path| {
        let path = path.to_path_buf();
        move |source: std::io::Error| LayerError::Read {
            layer: layer.to_string(),
            path,
            source,
        }
    };
    let root = target.trim_end_matches('/');
    let meta = std::fs::symlink_metadata(source).map_err(read_err(source))?;
    if meta.is_file() {
        return Ok(vec![file_entry(root.to_string(), source, &meta)]);
    }
    let mut out = Vec::new();
    let mut walk = walkdir::WalkDir::new(source)
        .follow_links(false)
        .sort_by_file_name()
        .into_iter();
    while let Some(entry) = walk.next() {
        let entry = entry.map_err(|e| {
            let path = e.path().unwrap_or(source).to_path_buf();
            let io = e
                .into_io_error()
                .unwrap_or_else(|| std::io::Error::other("filesystem loop"));
            read_err(&path)(io)
        })?;
        let rel = entry
            .path()
            .strip_prefix(source)
            .expect("walkdir yields paths under its root");
        let rel_text = rel.to_string_lossy();
        if exclude.iter().any(|x| x.trim_matches('/') == rel_text) {
            if entry.file_type().is_dir() {
                walk.skip_current_dir();
            }
            continue;
        }
        let path = if rel.as_os_str().is_empty() {
            root.to_string()
        } else {
            format!("{root}/{rel_text}")
        };
        let meta = entry.metadata().map_err(|e| {
            read_err(entry.path())(
                e.into_io_error()
                    .unwrap_or_else(|| std::io::Error::other("metadata")),
            )
        })?;
        let ft = entry.file_type();
        if ft.is_symlink() {
            let link = std::fs::read_link(entry.path()).map_err(read_err(entry.path()))?;
            out.push(FileEntry {
                target: path,
                mode: 0o777,
                kind: EntryKind::Symlink {
                    link: link.to_string_lossy().into_owned(),
                },
            });
        } else if ft.is_dir() {
            out.push(FileEntry {
                target: path,
                mode: 0o755,
                kind: EntryKind::Dir,
            });
        } else if ft.is_file() {
            out.push(file_entry(path, entry.path(), &meta));
        } else {
            return Err(LayerError::NotRegularFile {
                layer: layer.to_string(),
                path: entry.path().to_path_buf(),
            });
        }
    }
    Ok(out)
}

fn file_entry(target: String, source: &Path, meta: &std::fs::Metadata) -> FileEntry {
    let mode = if meta.permissions().mode() & 0o111 != 0 {
        0o755
    } else {
        0o644
    };
    FileEntry {
        target,
        mode,
        kind: EntryKind::File {
            source: source.to_path_buf(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A tree is listed once per [`Listings`]; a listing that failed is tried again.
    #[test]
    fn listings_list_each_tree_once() {
        let t = tempfile::tempdir().unwrap();
        let root = t.path().join("out");
        std::fs::create_dir_all(root.join("d")).unwrap();
        std::fs::write(root.join("d/f"), "x").unwrap();
        let listings = Listings::default();
        let first = listings.expand("l", "/app/out", &root, &[]).unwrap();
        assert_eq!(*first, expand("l", "/app/out", &root, &[]).unwrap());
        std::fs::write(root.join("g"), "y").unwrap();
        let again = listings.expand("other", "/app/out", &root, &[]).unwrap();
        assert!(std::sync::Arc::ptr_eq(&first, &again), "listed once");
        let other = listings.expand("l", "/srv/out", &root, &[]).unwrap();
        assert_eq!(other.len(), first.len() + 1, "another target lists anew");
        let missing = t.path().join("missing");
        assert!(listings.expand("l", "/m", &missing, &[]).is_err());
        std::fs::create_dir(&missing).unwrap();
        assert!(
            listings.expand("l", "/m", &missing, &[]).is_ok(),
            "a failure is not kept"
        );
    }

    /// Asked for the same tree from two threads at once (the start-up check and the layer
    /// writer), the tree is listed once: both get the one listing.
    #[test]
    fn listings_asked_at_once_list_once() {
        let t = tempfile::tempdir().unwrap();
        let root = t.path().join("out");
        for d in 0..40 {
            std::fs::create_dir_all(root.join(format!("d{d}"))).unwrap();
            for f in 0..50 {
                std::fs::write(root.join(format!("d{d}/f{f}")), "x").unwrap();
            }
        }
        for _ in 0..20 {
            let listings = Listings::default();
            let barrier = std::sync::Barrier::new(2);
            let (a, b) = std::thread::scope(|s| {
                let ask = || {
                    barrier.wait();
                    listings.expand("l", "/app", &root, &[]).unwrap()
                };
                let a = s.spawn(ask);
                let b = s.spawn(ask);
                (a.join().unwrap(), b.join().unwrap())
            });
            assert!(Arc::ptr_eq(&a, &b), "listed twice");
            assert_eq!(a.len(), 1 + 40 + 40 * 50);
        }
    }

    #[test]
    fn expands_sorted_with_normalized_modes_and_excludes() {
        let t = tempfile::tempdir().unwrap();
        let root = t.path();
        std::fs::create_dir_all(root.join("b/.bin")).unwrap();
        std::fs::create_dir_all(root.join("node_modules/x")).unwrap();
        std::fs::write(root.join("b/run"), "#!/bin/sh\n").unwrap();
        std::fs::set_permissions(root.join("b/run"), std::fs::Permissions::from_mode(0o700))
            .unwrap();
        std::fs::write(root.join("a.js"), "x").unwrap();
        std::fs::set_permissions(root.join("a.js"), std::fs::Permissions::from_mode(0o600))
            .unwrap();
        std::os::unix::fs::symlink("../run", root.join("b/.bin/run")).unwrap();
        let entries = expand("l", "/app/", root, &["node_modules".into()]).unwrap();
        let got: Vec<(&str, u32)> = entries
            .iter()
            .map(|e| (e.target.as_str(), e.mode))
            .collect();
        assert_eq!(
            got,
            [
                ("/app", 0o755),
                ("/app/a.js", 0o644),
                ("/app/b", 0o755),
                ("/app/b/.bin", 0o755),
                ("/app/b/.bin/run", 0o777),
                ("/app/b/run", 0o755),
            ]
        );
        assert_eq!(
            entries[4].kind,
            EntryKind::Symlink {
                link: "../run".into()
            }
        );
        let one = expand("l", "/app/a.js", &root.join("a.js"), &[]).unwrap();
        assert_eq!(one.len(), 1);
        let err = expand("l", "/app", &root.join("missing"), &[]).unwrap_err();
        assert!(err.to_string().contains("missing"), "{err}");
    }
}
