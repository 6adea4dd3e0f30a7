//! The file tree of a base image, as its layers stack up (whiteouts applied), without
//! unpacking it: names, kinds and symlink targets only. Used to tell whether a dynamically
//! linked binary finds its loader and libraries in the base.

use super::{BaseError, BaseImage};
use crate::image::BlobSource;
use std::collections::BTreeMap;
use std::io::Read;

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Node {
    File,
    Dir,
    Symlink(String),
}

/// Paths (absolute, no trailing slash) to what is there.
#[derive(Clone, Debug, Default)]
pub struct BaseFiles {
    nodes: BTreeMap<String, Node>,
}

/// How many symlinks a lookup follows before giving up, as the kernel's ELOOP limit.
const MAX_LINKS: usize = 40;

impl BaseFiles {
    /// The tree of `image`; `None` when a layer is only in a registry (not fetched for this).
    pub fn read(base: &str, image: &BaseImage) -> Result<Option<BaseFiles>, BaseError> {
        let mut files = BaseFiles::default();
        for layer in &image.layers {
            let BlobSource::File(path) = &layer.source else {
                return Ok(None);
            };
            let err = |detail: String| BaseError::Invalid {
                base: base.to_string(),
                path: path.clone(),
                detail,
            };
            let file = std::fs::File::open(path).map_err(|source| BaseError::Read {
                base: base.to_string(),
                path: path.clone(),
                source,
            })?;
            let media_type = layer.descriptor.media_type().to_string();
            // zstd and others: no decoder here; say nothing rather than guess.
            let Some(reader) = layer_tar(file, &media_type) else {
                return Ok(None);
            };
            files
                .apply_layer(reader)
                .map_err(|e| err(format!("reading the layer tar: {e}")))?;
        }
        Ok(Some(files))
    }

    /// Applies one uncompressed layer tar over the tree.
    pub fn apply_layer(&mut self, reader: impl Read) -> std::io::Result<()> {
        let mut archive = tar::Archive::new(reader);
        for entry in archive.entries()? {
            let entry = entry?;
            let raw = entry.path()?.to_string_lossy().into_owned();
            let path = normalize(&raw);
            let (parent, name) = path.rsplit_once('/').unwrap_or(("", &path));
            if name == ".wh..wh..opq" {
                self.remove_children(parent);
                continue;
            }
            if let Some(hidden) = name.strip_prefix(".wh.") {
                let victim = format!("{parent}/{hidden}");
                self.nodes.remove(&victim);
                self.remove_children(&victim);
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
            if node != Node::Dir {
                self.remove_children(&path);
            }
            // Tars may leave parent directories out; they exist all the same.
            let mut parent = path.as_str();
            while let Some((p, _)) = parent.rsplit_once('/')
                && !p.is_empty()
            {
                self.nodes.entry(p.to_string()).or_insert(Node::Dir);
                parent = p;
            }
            self.nodes.insert(path, node);
        }
        Ok(())
    }

    fn remove_children(&mut self, dir: &str) {
        let prefix = format!("{dir}/");
        let doomed: Vec<String> = self
            .nodes
            .range(prefix.clone()..)
            .take_while(|(k, _)| k.starts_with(&prefix))
            .map(|(k, _)| k.clone())
            .collect();
        for k in doomed {
            self.nodes.remove(&k);
        }
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

/// The uncompressed tar of a layer blob, by its media type (gzip or plain tar); `None` for
/// compressions lade has no decoder for (zstd).
pub fn layer_tar(file: std::fs::File, media_type: &str) -> Option<Box<dyn Read>> {
    if media_type.ends_with("+gzip") || media_type.ends_with(".gzip") {
        Some(Box::new(flate2::read::MultiGzDecoder::new(
            std::io::BufReader::new(file),
        )))
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
        let mut f = BaseFiles::default();
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
