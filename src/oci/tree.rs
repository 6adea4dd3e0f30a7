//! The file tree of stacked image layers (whiteouts and opaque directories applied) without
//! unpacking them: names, kinds and symlink targets only. The whiteout rules ([`Whiteout`],
//! [`remove_under`]) are shared with every other reader of layer tars (the SBOM scan), so
//! there is one reading of the OCI layer format in lade.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::io::Read;

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Node {
    File,
    Dir,
    Symlink(String),
}

/// Paths (absolute, no trailing slash) to what is there, and the permission bits of files
/// (whether the entrypoint can be executed).
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct FileTree {
    nodes: BTreeMap<String, Node>,
    #[serde(default)]
    modes: BTreeMap<String, u32>,
}

/// How many symlinks a lookup follows before giving up, as the kernel's ELOOP limit.
const MAX_LINKS: usize = 40;

/// What a layer tar entry's name says, by the OCI whiteout rules.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Whiteout {
    /// `DIR/.wh..wh..opq`: what lower layers had inside DIR is hidden; DIR itself stays.
    Opaque(String),
    /// `DIR/.wh.NAME`: DIR/NAME from lower layers is hidden, with everything under it.
    Remove(String),
}

impl Whiteout {
    /// The whiteout an image path (see [`normalize`]) stands for; `None` for an ordinary entry.
    pub fn of(image_path: &str) -> Option<Whiteout> {
        let (parent, name) = image_path.rsplit_once('/').unwrap_or(("", image_path));
        if name == ".wh..wh..opq" {
            return Some(Whiteout::Opaque(parent.to_string()));
        }
        name.strip_prefix(".wh.")
            .map(|hidden| Whiteout::Remove(format!("{parent}/{hidden}")))
    }

    /// Applies the whiteout to a map keyed by image path.
    pub fn apply<V>(&self, map: &mut BTreeMap<String, V>) {
        match self {
            Whiteout::Opaque(dir) => remove_under(map, dir, false),
            Whiteout::Remove(path) => remove_under(map, path, true),
        }
    }
}

/// Removes what is under the image path `dir` from a map keyed by image path, and `dir`
/// itself when `itself`.
pub fn remove_under<V>(map: &mut BTreeMap<String, V>, dir: &str, itself: bool) {
    if itself {
        map.remove(dir);
    }
    let prefix = format!("{}/", dir.trim_end_matches('/'));
    let doomed: Vec<String> = map
        .range::<str, _>((
            std::ops::Bound::Included(prefix.as_str()),
            std::ops::Bound::Unbounded,
        ))
        .take_while(|(k, _)| k.starts_with(&prefix))
        .map(|(k, _)| k.clone())
        .collect();
    for k in doomed {
        map.remove(&k);
    }
}

impl FileTree {
    /// Applies one uncompressed layer tar over the tree.
    pub fn apply_layer(&mut self, reader: impl Read) -> std::io::Result<()> {
        let mut archive = tar::Archive::new(reader);
        for entry in archive.entries()? {
            let entry = entry?;
            let raw = entry.path()?.to_string_lossy().into_owned();
            let path = normalize(&raw);
            if let Some(w) = Whiteout::of(&path) {
                w.apply(&mut self.nodes);
                w.apply(&mut self.modes);
                continue;
            }
            let node = match entry.header().entry_type() {
                tar::EntryType::Directory => Node::Dir,
                tar::EntryType::Symlink => Node::Symlink(
                    entry
                        .link_name()?
                        .map(|l| l.to_string_lossy().into_owned())
                        .unwrap_or_default(),
                ),
                // A hard link is the file it names, for what this index answers.
                _ => Node::File,
            };
            // A header without a readable mode is listed all the same, as not executable.
            let mode = entry.header().mode().unwrap_or(0o644);
            self.insert(path, node, mode);
        }
        Ok(())
    }

    /// Puts `node` at `path` (absolute), over whatever was there, with its parent directories.
    pub fn insert(&mut self, path: String, node: Node, mode: u32) {
        // Only a path already in the tree can have anything below it (every path's parents
        // are), so a new one skips the two range scans (a large tree inserts thousands).
        if node != Node::Dir && self.nodes.contains_key(&path) {
            remove_under(&mut self.nodes, &path, false);
            remove_under(&mut self.modes, &path, false);
        }
        // Tars may leave parent directories out; they exist all the same. Every path in the
        // tree has its parents there too, so the climb stops at the first parent found (most
        // often the first: a layer's files share their directories).
        let mut parent = path.as_str();
        while let Some((p, _)) = parent.rsplit_once('/')
            && !p.is_empty()
        {
            if self.nodes.contains_key(p) {
                break;
            }
            self.nodes.insert(p.to_string(), Node::Dir);
            parent = p;
        }
        if node == Node::File {
            self.modes.insert(path.clone(), mode);
        } else {
            self.modes.remove(&path);
        }
        self.nodes.insert(path, node);
    }

    /// Whether `path` leads to a regular file with an execute bit.
    pub fn is_executable(&self, path: &str) -> bool {
        self.resolve(path).is_some_and(|p| {
            self.nodes.get(&p) == Some(&Node::File)
                && self.modes.get(&p).is_some_and(|m| m & 0o111 != 0)
        })
    }

    /// The real path `path` leads to, following symlinks in every component as the kernel
    /// does; `None` when it leads nowhere.
    pub fn resolve(&self, path: &str) -> Option<String> {
        let mut links = 0;
        let mut todo: Vec<String> = components(path).into_iter().rev().collect();
        let mut at = String::new();
        while let Some(c) = todo.pop() {
            match c.as_str() {
                "." => continue,
                ".." => {
                    at.truncate(at.rfind('/').unwrap_or(0));
                    continue;
                }
                _ => {}
            }
            let next = format!("{at}/{c}");
            match self.nodes.get(&next)? {
                Node::Symlink(target) => {
                    links += 1;
                    if links > MAX_LINKS {
                        return None;
                    }
                    if target.starts_with('/') {
                        at.clear();
                    }
                    todo.extend(components(target).into_iter().rev());
                }
                _ => at = next,
            }
        }
        Some(if at.is_empty() { "/".into() } else { at })
    }

    /// Whether `path` leads to a regular file.
    pub fn has_file(&self, path: &str) -> bool {
        self.resolve(path)
            .is_some_and(|p| self.nodes.get(&p) == Some(&Node::File))
    }

    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    /// The names directly inside the directory `dir` leads to (symlinks followed), sorted.
    pub fn children(&self, dir: &str) -> Vec<String> {
        let Some(real) = self.resolve(dir) else {
            return Vec::new();
        };
        let prefix = if real == "/" {
            "/".to_string()
        } else {
            format!("{real}/")
        };
        self.nodes
            .range(prefix.clone()..)
            .take_while(|(k, _)| k.starts_with(&prefix))
            .filter_map(|(k, _)| k.strip_prefix(&prefix))
            .filter(|rest| !rest.contains('/'))
            .map(str::to_string)
            .collect()
    }
}

/// The uncompressed tar of a layer blob, by its media type (gzip, zstd or plain tar); `None`
/// for compressions lade has no decoder for.
pub fn layer_tar(file: std::fs::File, media_type: &str) -> Option<Box<dyn Read>> {
    if media_type.ends_with("+gzip") || media_type.ends_with(".gzip") {
        Some(Box::new(flate2::read::MultiGzDecoder::new(
            std::io::BufReader::new(file),
        )))
    } else if media_type.ends_with("+zstd") {
        let decoder =
            ruzstd::decoding::StreamingDecoder::new(std::io::BufReader::new(file)).ok()?;
        Some(Box::new(decoder))
    } else if media_type.ends_with(".tar") || media_type.ends_with("layer.v1.tar") {
        Some(Box::new(std::io::BufReader::new(file)))
    } else {
        None
    }
}

fn components(path: &str) -> Vec<String> {
    path.split('/')
        .filter(|c| !c.is_empty())
        .map(str::to_string)
        .collect()
}

/// A tar entry's name as an absolute image path: `./usr/lib/` → `/usr/lib`.
pub fn normalize(tar_name: &str) -> String {
    let parts = components(tar_name.trim_start_matches("./"));
    let parts: Vec<&str> = parts
        .iter()
        .map(String::as_str)
        .filter(|c| *c != ".")
        .collect();
    format!("/{}", parts.join("/"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tar(entries: &[(&str, Option<&str>)]) -> Vec<u8> {
        let mut b = tar::Builder::new(Vec::new());
        for (name, link) in entries {
            let mut h = tar::Header::new_gnu();
            h.set_mode(0o755);
            h.set_size(0);
            match link {
                Some(l) => {
                    h.set_entry_type(tar::EntryType::Symlink);
                    b.append_link(&mut h, name, l).unwrap();
                }
                None if name.ends_with('/') => {
                    h.set_entry_type(tar::EntryType::Directory);
                    b.append_data(&mut h, name, std::io::empty()).unwrap();
                }
                None => {
                    h.set_entry_type(tar::EntryType::Regular);
                    b.append_data(&mut h, name, std::io::empty()).unwrap();
                }
            }
        }
        b.into_inner().unwrap()
    }

    #[test]
    fn symlinks_and_whiteouts() {
        let mut f = FileTree::default();
        f.apply_layer(
            &tar(&[
                ("usr/", None),
                ("usr/lib/", None),
                ("usr/lib/x86_64-linux-gnu/", None),
                ("usr/lib/x86_64-linux-gnu/libc.so.6", None),
                ("usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2", None),
                ("usr/lib/x86_64-linux-gnu/libpq.so.5", None),
                ("lib", Some("usr/lib")),
                ("lib64/", None),
                (
                    "lib64/ld-linux-x86-64.so.2",
                    Some("/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2"),
                ),
                ("etc/", None),
                ("etc/loop", Some("loop")),
            ])[..],
        )
        .unwrap();
        assert!(f.has_file("/lib/x86_64-linux-gnu/libc.so.6"));
        assert!(f.has_file("/lib64/ld-linux-x86-64.so.2"));
        assert_eq!(
            f.resolve("/lib64/ld-linux-x86-64.so.2").as_deref(),
            Some("/usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2")
        );
        assert!(!f.has_file("/lib/x86_64-linux-gnu"), "a directory");
        assert!(!f.has_file("/etc/loop"), "a symlink loop leads nowhere");
        assert!(f.has_file("/usr/lib/../lib/x86_64-linux-gnu/libpq.so.5"));

        f.apply_layer(&tar(&[("usr/lib/x86_64-linux-gnu/.wh.libpq.so.5", None)])[..])
            .unwrap();
        assert!(!f.has_file("/lib/x86_64-linux-gnu/libpq.so.5"));
        f.apply_layer(&tar(&[("usr/lib/.wh..wh..opq", None)])[..])
            .unwrap();
        assert!(!f.has_file("/lib/x86_64-linux-gnu/libc.so.6"));
        assert!(f.resolve("/usr/lib").is_some(), "an opaque directory stays");
    }
}
