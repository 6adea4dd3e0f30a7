//! From a `LayerSpec` to the exact, sorted list of tar entries: targets validated, parents made
//! explicit, duplicates resolved, modes masked. Everything downstream (cache key, tar) works on
//! this list only, so the key always describes exactly the archive that would be written.

use super::LayerError;
use crate::plan::{EntryKind, LayerSpec};
use std::collections::BTreeMap;
use std::collections::btree_map::Entry;
use std::path::PathBuf;

/// Mode of directories the spec does not list but its entries need.
pub const IMPLICIT_DIR_MODE: u32 = 0o755;

/// One tar entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Node {
    /// Path inside the image without the leading `/` and without a trailing `/`
    /// (`app/server`); the tar name adds `/` for directories.
    pub name: String,
    pub mode: u32,
    pub kind: NodeKind,
    /// uid and gid in the tar header; (0, 0) unless the writer was given an owner for it.
    pub owner: (u32, u32),
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum NodeKind {
    File { source: PathBuf },
    Dir,
    Symlink { link: String },
}

impl Node {
    /// The name as written in the tar header: relative, directories with a trailing `/`,
    /// as docker and ko write them.
    pub fn tar_name(&self) -> String {
        match self.kind {
            NodeKind::Dir => format!("{}/", self.name),
            _ => self.name.clone(),
        }
    }
}

struct Slot {
    node: Node,
    /// Added because a child needed it; an explicit entry replaces it.
    implicit: bool,
}

/// Validates and sorts the entries of `spec`, adding missing parent directories.
pub fn normalize(spec: &LayerSpec) -> Result<Vec<Node>, LayerError> {
    normalize_listed(spec, &super::tree::Listings::default())
}

/// [`normalize`], taking tree listings already made from `listings`.
pub fn normalize_listed(
    spec: &LayerSpec,
    listings: &super::tree::Listings,
) -> Result<Vec<Node>, LayerError> {
    let layer = || spec.name.clone();
    // Trees are listed now, from what the build left on disk; from here on they are ordinary
    // entries, so the cache key describes their every file.
    let mut listed = Vec::new();
    for entry in &spec.entries {
        if let EntryKind::Tree { source, exclude } = &entry.kind {
            listed.push(listings.expand(&spec.name, &entry.target, source, exclude)?);
        }
    }
    let mut trees = listed.iter();
    let expanded = spec.entries.iter().flat_map(|entry| match &entry.kind {
        EntryKind::Tree { .. } => trees.next().expect("a listing for every tree").as_slice(),
        _ => std::slice::from_ref(entry),
    });
    // Keyed by the name without trailing slash: byte order puts every directory before anything
    // inside it, since `a/b` is a strict prefix of `a/b/...`.
    let mut slots: BTreeMap<String, Slot> = BTreeMap::new();
    for entry in expanded {
        let is_dir = matches!(entry.kind, EntryKind::Dir);
        let name = relative_name(&entry.target, is_dir).ok_or_else(|| LayerError::BadTarget {
            layer: layer(),
            target: entry.target.clone(),
        })?;
        let kind = match &entry.kind {
            EntryKind::File { source } => NodeKind::File {
                source: source.clone(),
            },
            EntryKind::Dir => NodeKind::Dir,
            EntryKind::Symlink { link } => {
                // An empty or NUL-containing link cannot be encoded in a tar header.
                if link.is_empty() || link.contains('\0') {
                    return Err(LayerError::BadLink {
                        layer: layer(),
                        target: entry.target.clone(),
                        link: link.clone(),
                    });
                }
                NodeKind::Symlink { link: link.clone() }
            }
            EntryKind::Tree { .. } => unreachable!("trees were expanded above"),
        };
        let node = Node {
            name,
            mode: mask_mode(entry.mode, is_dir),
            kind,
            owner: (0, 0),
        };
        add_parents(&mut slots, &node.name);
        match slots.entry(node.name.clone()) {
            Entry::Vacant(v) => {
                v.insert(Slot {
                    node,
                    implicit: false,
                });
            }
            Entry::Occupied(mut o) => {
                let slot = o.get_mut();
                // A file over an implicit directory is reported below, with the child that
                // needed the directory.
                if slot.implicit {
                    *slot = Slot {
                        node,
                        implicit: false,
                    };
                } else if !(is_dir && slot.node == node) {
                    // Only identical directories merge: two plans may both want `/app`, but two
                    // different files at one path would make the result depend on order.
                    return Err(LayerError::Duplicate {
                        layer: layer(),
                        target: entry.target.clone(),
                    });
                }
            }
        }
    }
    check_parents_are_dirs(&spec.name, &slots)?;
    Ok(slots.into_values().map(|s| s.node).collect())
}

/// `/a/b` → `a/b`; `None` when the target is not absolute and normalized. A single trailing
/// slash is accepted on directories only, where it is a common way to spell them.
fn relative_name(target: &str, is_dir: bool) -> Option<String> {
    let mut rel = target.strip_prefix('/')?;
    if is_dir && rel.ends_with('/') {
        rel = &rel[..rel.len() - 1];
    }
    let valid = !rel.is_empty()
        && !rel.contains('\0')
        && rel
            .split('/')
            .all(|c| !c.is_empty() && c != "." && c != "..");
    valid.then(|| rel.to_string())
}

/// Permission bits only. Setuid and setgid would smuggle privilege into an image through a
/// build artifact's mode; sticky is kept on directories because `/tmp` is legitimately 1777.
fn mask_mode(mode: u32, is_dir: bool) -> u32 {
    if is_dir { mode & 0o1777 } else { mode & 0o777 }
}

fn add_parents(slots: &mut BTreeMap<String, Slot>, name: &str) {
    // Every name already in `slots` came with all its parents, so the walk up stops at the
    // first parent found: a tree's thousands of files cost one lookup each, not one per level.
    let mut rel = name;
    while let Some(i) = rel.rfind('/') {
        rel = &rel[..i];
        if slots.contains_key(rel) {
            return;
        }
        slots.insert(
            rel.to_string(),
            Slot {
                node: Node {
                    name: rel.to_string(),
                    mode: IMPLICIT_DIR_MODE,
                    kind: NodeKind::Dir,
                    owner: (0, 0),
                },
                implicit: true,
            },
        );
    }
}

/// A file or symlink whose path is also a parent of another entry cannot be represented:
/// extracting it would write through a symlink or fail.
fn check_parents_are_dirs(layer: &str, slots: &BTreeMap<String, Slot>) -> Result<(), LayerError> {
    // Only each name's own parent: its grandparent is the parent of a name visited earlier
    // (byte order puts a prefix first), so the first failure is the one a check of every
    // level would report.
    for name in slots.keys() {
        let Some(i) = name.rfind('/') else { continue };
        if slots[&name[..i]].node.kind != NodeKind::Dir {
            return Err(LayerError::NotADirectory {
                layer: layer.to_string(),
                target: format!("/{name}"),
                parent: format!("/{}", &name[..i]),
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::FileEntry;

    fn spec(entries: Vec<FileEntry>) -> LayerSpec {
        LayerSpec {
            name: "app".into(),
            entries,
        }
    }

    fn file(target: &str, mode: u32) -> FileEntry {
        FileEntry {
            target: target.into(),
            mode,
            kind: EntryKind::File {
                source: PathBuf::from("/dev/null"),
            },
        }
    }

    fn dir(target: &str, mode: u32) -> FileEntry {
        FileEntry {
            target: target.into(),
            mode,
            kind: EntryKind::Dir,
        }
    }

    fn names(nodes: &[Node]) -> Vec<String> {
        nodes.iter().map(Node::tar_name).collect()
    }

    #[test]
    fn sorted_with_implicit_parents() {
        let nodes = normalize(&spec(vec![
            file("/a/b/c", 0o644),
            file("/a/b-x", 0o600),
            dir("/a/b", 0o750),
            file("/z", 0o755),
        ]))
        .unwrap();
        assert_eq!(names(&nodes), ["a/", "a/b/", "a/b-x", "a/b/c", "z"]);
        let modes: Vec<u32> = nodes.iter().map(|n| n.mode).collect();
        // `a` implicit 0755; the explicit `a/b` keeps its own mode even though it came after
        // its child made it implicit.
        assert_eq!(modes, [0o755, 0o750, 0o600, 0o644, 0o755]);
    }

    #[test]
    fn identical_dirs_merge_other_duplicates_fail() {
        let ok = normalize(&spec(vec![dir("/tmp", 0o1777), dir("/tmp/", 0o1777)])).unwrap();
        assert_eq!(names(&ok), ["tmp/"]);
        assert_eq!(ok[0].mode, 0o1777);
        for (entries, dup) in [
            (vec![dir("/tmp", 0o1777), dir("/tmp", 0o755)], "/tmp"),
            (vec![file("/x", 0o644), file("/x", 0o644)], "/x"),
            (vec![file("/x", 0o644), dir("/x/", 0o755)], "/x/"),
        ] {
            match normalize(&spec(entries)) {
                Err(LayerError::Duplicate { layer, target }) => {
                    assert_eq!((layer.as_str(), target.as_str()), ("app", dup));
                }
                other => panic!("expected Duplicate of {dup}, got {other:?}"),
            }
        }
    }

    #[test]
    fn bad_targets_fail() {
        for t in [
            "relative", "/", "", "/a//b", "/a/../b", "/a/./b", "/a/", "/..", "/a\0b",
        ] {
            match normalize(&spec(vec![file(t, 0o644)])) {
                Err(LayerError::BadTarget { layer, target }) => {
                    assert_eq!((layer.as_str(), target.as_str()), ("app", t));
                }
                other => panic!("{t:?}: expected BadTarget, got {other:?}"),
            }
        }
    }

    #[test]
    fn file_as_parent_fails() {
        for entries in [
            vec![file("/a", 0o644), file("/a/b/c", 0o644)],
            vec![file("/a/b/c", 0o644), file("/a", 0o644)],
            // Both `/a` and `/a/b` are files: the shallower one is named.
            vec![
                file("/a/b/c/d", 0o644),
                file("/a/b", 0o644),
                file("/a", 0o644),
            ],
        ] {
            let err = normalize(&spec(entries)).unwrap_err();
            assert!(
                matches!(&err, LayerError::NotADirectory { target, parent, .. }
                    if target == "/a/b" && parent == "/a"),
                "{err:?}"
            );
        }
        let err = normalize(&spec(vec![file("/a/b/c/d", 0o644), file("/a/b", 0o644)])).unwrap_err();
        assert!(
            matches!(&err, LayerError::NotADirectory { target, parent, .. }
                if target == "/a/b/c" && parent == "/a/b"),
            "{err:?}"
        );
    }

    #[test]
    fn trees_expand_sorted_with_modes_and_symlinks() {
        use std::os::unix::fs::PermissionsExt;
        let tmp = tempfile::tempdir().unwrap();
        let d = tmp.path();
        std::fs::create_dir_all(d.join("pkg/sub")).unwrap();
        std::fs::write(d.join("pkg/sub/m.py"), "x").unwrap();
        std::fs::write(d.join("run"), "#!").unwrap();
        std::fs::set_permissions(d.join("run"), std::fs::Permissions::from_mode(0o700)).unwrap();
        std::os::unix::fs::symlink("run", d.join("alias")).unwrap();
        let nodes = normalize(&spec(vec![FileEntry {
            target: "/app/.deps".into(),
            mode: 0o755,
            kind: EntryKind::Tree {
                source: d.to_path_buf(),
                exclude: vec![],
            },
        }]))
        .unwrap();
        let got: Vec<(String, u32)> = nodes.iter().map(|n| (n.tar_name(), n.mode)).collect();
        let want = [
            ("app/", 0o755),
            ("app/.deps/", 0o755),
            ("app/.deps/alias", 0o777),
            ("app/.deps/pkg/", 0o755),
            ("app/.deps/pkg/sub/", 0o755),
            ("app/.deps/pkg/sub/m.py", 0o644),
            ("app/.deps/run", 0o755),
        ];
        let want: Vec<(String, u32)> = want.iter().map(|(n, m)| (n.to_string(), *m)).collect();
        assert_eq!(got, want);
        assert_eq!(nodes[2].kind, NodeKind::Symlink { link: "run".into() });
    }

    #[test]
    fn special_bits_masked() {
        let nodes = normalize(&spec(vec![
            file("/bin/su", 0o104755),
            dir("/tmp", 0o41777),
            dir("/srv", 0o2775),
        ]))
        .unwrap();
        let modes: Vec<(String, u32)> = nodes.iter().map(|n| (n.tar_name(), n.mode)).collect();
        assert_eq!(
            modes,
            [
                ("bin/".to_string(), 0o755),
                ("bin/su".to_string(), 0o755),
                ("srv/".to_string(), 0o775),
                ("tmp/".to_string(), 0o1777),
            ]
        );
    }
}
