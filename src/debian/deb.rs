//! Unpacking a .deb without dpkg: the ar container, `control.tar.*` for the control stanza and
//! md5sums, `data.tar.*` for the files, each placed merged-/usr aware (see `paths`). No
//! maintainer script runs. The result is a directory of regular files plus a manifest listing
//! every entry (directories and symlinks only live in the manifest), cached by the .deb's
//! sha256 so the next build does not decompress again.

use super::ar::ArReader;
use super::error::{DebianError, io_err};
use super::paths::{self, Placement};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fs::{self, File};
use std::io::{self, BufRead, BufReader, BufWriter, Read};
use std::path::{Path, PathBuf};

/// A decompressing reader for an archive member or index named `name`.
pub fn decompressor<'a, R: BufRead + 'a>(name: &str, r: R) -> io::Result<Box<dyn Read + 'a>> {
    Ok(if name.ends_with(".xz") {
        Box::new(liblzma::bufread::XzDecoder::new(r))
    } else if name.ends_with(".gz") {
        Box::new(flate2::bufread::GzDecoder::new(r))
    } else if name.ends_with(".zst") {
        Box::new(
            ruzstd::decoding::StreamingDecoder::new(r)
                .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e.to_string()))?,
        )
    } else if name.ends_with(".tar") || !name.contains('.') || name.ends_with("Packages") {
        Box::new(r)
    } else {
        return Err(io::Error::new(
            io::ErrorKind::Unsupported,
            format!("unsupported compression of {name}"),
        ));
    })
}

/// One entry of an unpacked package, at its place in the image.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TreeEntry {
    /// Relative image path (`usr/lib/x86_64-linux-gnu/libpq.so.5.15`).
    pub path: String,
    pub mode: u32,
    pub kind: TreeKind,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum TreeKind {
    /// Bytes stored at `files/<stored>` in the tree directory (hard links share one).
    File {
        size: u64,
        stored: String,
    },
    Dir,
    Symlink {
        link: String,
    },
}

/// The manifest of an unpacked package.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Unpacked {
    /// The .deb's `control` file: what `/var/lib/dpkg/status.d/<package>` holds.
    pub control: String,
    #[serde(default)]
    pub md5sums: Option<String>,
    pub entries: Vec<TreeEntry>,
    /// Entries left out (documentation, device nodes), counted for the report.
    pub dropped: u64,
}

/// Bump when the placement rules change, so old unpacked trees are not reused.
const TREE_FORMAT: &str = "v1";

/// An unpacked package in the cache.
pub struct Tree {
    pub dir: PathBuf,
    pub unpacked: Unpacked,
}

impl Tree {
    pub fn file_path(&self, stored: &str) -> PathBuf {
        self.dir.join("files").join(stored)
    }
}

/// The unpacked tree of the .deb at `deb` (whose sha256 is `sha256`), unpacking it into
/// `trees_root` unless a complete tree is there already.
pub fn unpack_cached(
    deb: &Path,
    sha256: &str,
    package: &str,
    trees_root: &Path,
) -> Result<Tree, DebianError> {
    let dir = trees_root.join(format!("{sha256}-{TREE_FORMAT}"));
    if let Some(unpacked) = load_complete(&dir) {
        return Ok(Tree { dir, unpacked });
    }
    fs::create_dir_all(trees_root).map_err(io_err("creating", trees_root))?;
    let tmp = tempfile::Builder::new()
        .prefix(".unpack-")
        .tempdir_in(trees_root)
        .map_err(io_err("creating a temporary directory in", trees_root))?;
    let unpacked = unpack(deb, package, tmp.path())?;
    let manifest = tmp.path().join("manifest.json");
    let json = serde_json::to_vec(&unpacked).expect("plain data serializes");
    fs::write(&manifest, json).map_err(io_err("writing", &manifest))?;
    match fs::rename(tmp.path(), &dir) {
        Ok(()) => {
            // The directory now lives on under its final name.
            let _ = tmp.keep();
            Ok(Tree { dir, unpacked })
        }
        // Another lade (a parallel build) finished the same tree first: theirs is as good as
        // ours and may be in use, so it stays and ours is dropped with `tmp`.
        Err(_) if load_complete(&dir).is_some() => Ok(Tree { dir, unpacked }),
        // A damaged tree (files changed or removed by hand) is replaced.
        Err(_) if dir.exists() => {
            fs::remove_dir_all(&dir).map_err(io_err("replacing damaged", &dir))?;
            fs::rename(tmp.path(), &dir).map_err(io_err("storing unpacked package as", &dir))?;
            let _ = tmp.keep();
            Ok(Tree { dir, unpacked })
        }
        Err(e) => Err(io_err("storing unpacked package as", &dir)(e)),
    }
}

/// A cached tree whose manifest reads and whose files are all there at their sizes.
fn load_complete(dir: &Path) -> Option<Unpacked> {
    let bytes = fs::read(dir.join("manifest.json")).ok()?;
    let unpacked: Unpacked = serde_json::from_slice(&bytes).ok()?;
    let files = dir.join("files");
    for e in &unpacked.entries {
        if let TreeKind::File { size, stored } = &e.kind {
            let ok = fs::symlink_metadata(files.join(stored))
                .is_ok_and(|m| m.is_file() && m.len() == *size);
            if !ok {
                return None;
            }
        }
    }
    Some(unpacked)
}

/// Unpacks `deb` into `dest/files/…` and returns the manifest.
pub fn unpack(deb: &Path, package: &str, dest: &Path) -> Result<Unpacked, DebianError> {
    let bad = |detail: String| DebianError::Deb {
        package: package.to_string(),
        path: deb.to_path_buf(),
        detail,
    };
    let file = File::open(deb).map_err(io_err("opening", deb))?;
    let mut ar = ArReader::new(BufReader::with_capacity(256 * 1024, file))
        .map_err(|e| bad(e.to_string()))?;
    let mut control = None;
    let mut md5sums = None;
    let mut data = None;
    while let Some(member) = ar.next_member().map_err(|e| bad(e.to_string()))? {
        if member.name == "debian-binary" {
            let mut v = String::new();
            (&mut ar)
                .take(16)
                .read_to_string(&mut v)
                .map_err(|e| bad(e.to_string()))?;
            if !v.starts_with("2.") {
                return Err(bad(format!("unsupported .deb format {}", v.trim())));
            }
        } else if member.name.starts_with("control.tar") {
            let (c, m) = read_control(&member.name, &mut ar)
                .map_err(|e| bad(format!("{}: {e}", member.name)))?;
            control = c;
            md5sums = m;
        } else if member.name.starts_with("data.tar") {
            data = Some(
                unpack_data(&member.name, &mut ar, &dest.join("files")).map_err(|e| match e {
                    UnpackError::Io(e) => bad(format!("{}: {e}", member.name)),
                    UnpackError::Bad(d) => bad(format!("{}: {d}", member.name)),
                })?,
            );
        }
    }
    let control = control.ok_or_else(|| bad("no control file in control.tar".into()))?;
    let (entries, dropped) = data.ok_or_else(|| bad("no data.tar member".into()))?;
    Ok(Unpacked {
        control,
        md5sums,
        entries,
        dropped,
    })
}

type ControlFiles = (Option<String>, Option<String>);

fn read_control(name: &str, r: &mut dyn Read) -> io::Result<ControlFiles> {
    let mut tar = tar::Archive::new(decompressor(name, BufReader::new(r))?);
    let (mut control, mut md5sums) = (None, None);
    for entry in tar.entries()? {
        let mut entry = entry?;
        let path = entry
            .path()?
            .to_string_lossy()
            .trim_start_matches("./")
            .to_string();
        match path.as_str() {
            "control" | "md5sums" => {
                let mut text = String::new();
                entry.read_to_string(&mut text)?;
                if path == "control" {
                    control = Some(text);
                } else {
                    md5sums = Some(text);
                }
            }
            _ => {}
        }
    }
    Ok((control, md5sums))
}

enum UnpackError {
    Io(io::Error),
    Bad(String),
}

impl From<io::Error> for UnpackError {
    fn from(e: io::Error) -> Self {
        UnpackError::Io(e)
    }
}

/// An entry placed in the image, remembering whether merged-/usr moved it: when a package
/// ships both `/lib/x` and `/usr/lib/x`, the one it put under /usr itself wins.
struct Placed {
    entry: TreeEntry,
    moved: bool,
}

fn unpack_data(
    name: &str,
    r: &mut dyn Read,
    files: &Path,
) -> Result<(Vec<TreeEntry>, u64), UnpackError> {
    let mut tar = tar::Archive::new(decompressor(name, BufReader::with_capacity(256 * 1024, r))?);
    let mut placed: BTreeMap<String, Placed> = BTreeMap::new();
    // Original (normalized) path of each regular file → where its bytes are stored, for hard
    // links, which name the original path.
    let mut stored_at: BTreeMap<String, (String, u64)> = BTreeMap::new();
    let mut dropped = 0u64;
    fs::create_dir_all(files)?;
    for entry in tar.entries()? {
        let mut entry = entry?;
        let raw = entry.path()?.to_string_lossy().into_owned();
        let Some(orig) = paths::normalize(&raw).map_err(UnpackError::Bad)? else {
            continue;
        };
        let rel = match paths::place(&orig) {
            Placement::Keep(rel) => rel,
            Placement::Drop(_) => {
                dropped += 1;
                continue;
            }
        };
        let moved = rel != orig;
        if moved && placed.get(&rel).is_some_and(|old| !old.moved) {
            // The package also ships this path under /usr itself; that one wins.
            dropped += 1;
            continue;
        }
        let mode = entry.header().mode()? & 0o7777;
        let kind = match entry.header().entry_type() {
            tar::EntryType::Directory => TreeKind::Dir,
            tar::EntryType::Regular | tar::EntryType::Continuous => {
                let dest = files.join(&rel);
                if let Some(parent) = dest.parent() {
                    fs::create_dir_all(parent)?;
                }
                let mut out = BufWriter::new(File::create(&dest)?);
                let size = io::copy(&mut entry, &mut out)?;
                out.into_inner().map_err(|e| e.into_error())?;
                stored_at.insert(orig.clone(), (rel.clone(), size));
                TreeKind::File {
                    size,
                    stored: rel.clone(),
                }
            }
            tar::EntryType::Symlink => {
                let link = entry
                    .link_name()?
                    .ok_or_else(|| UnpackError::Bad(format!("symlink {raw} has no target")))?
                    .to_string_lossy()
                    .into_owned();
                match paths::relink(&orig, &rel, &link) {
                    Some(link) => TreeKind::Symlink { link },
                    None => {
                        dropped += 1;
                        continue;
                    }
                }
            }
            tar::EntryType::Link => {
                let target = entry
                    .link_name()?
                    .and_then(|l| paths::normalize(&l.to_string_lossy()).ok().flatten())
                    .ok_or_else(|| UnpackError::Bad(format!("hard link {raw} has no target")))?;
                let (stored, size) = stored_at.get(&target).cloned().ok_or_else(|| {
                    UnpackError::Bad(format!(
                        "hard link {raw} to {target}, which is not an earlier file"
                    ))
                })?;
                stored_at.insert(orig.clone(), (stored.clone(), size));
                TreeKind::File { size, stored }
            }
            // Device nodes, fifos: nothing an image from packages needs, and not representable
            // by the layer writer.
            _ => {
                dropped += 1;
                continue;
            }
        };
        let new = Placed {
            entry: TreeEntry {
                path: rel.clone(),
                mode,
                kind,
            },
            moved,
        };
        match placed.get(&rel) {
            // The first spelling of a directory keeps its mode.
            Some(old) if old.entry.kind == TreeKind::Dir && new.entry.kind == TreeKind::Dir => {}
            _ => {
                placed.insert(rel, new);
            }
        }
    }
    Ok((placed.into_values().map(|p| p.entry).collect(), dropped))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::debian::ar::tests::build as build_ar;

    fn tar_gz(entries: &[(&str, tar::EntryType, &str, &[u8])]) -> Vec<u8> {
        let gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        let mut b = tar::Builder::new(gz);
        for (path, kind, link, data) in entries {
            let mut h = tar::Header::new_gnu();
            h.set_entry_type(*kind);
            h.set_mode(if *kind == tar::EntryType::Directory {
                0o755
            } else {
                0o644
            });
            h.set_size(data.len() as u64);
            if !link.is_empty() {
                h.set_link_name(link).unwrap();
            }
            h.set_path(path).unwrap();
            h.set_cksum();
            b.append(&h, *data).unwrap();
        }
        b.into_inner().unwrap().finish().unwrap()
    }

    #[test]
    fn unpacks_a_deb_merged_usr_aware() {
        use tar::EntryType::*;
        let control = tar_gz(&[
            ("./", Directory, "", b""),
            ("./control", Regular, "", b"Package: demo\nVersion: 1\n"),
            ("./md5sums", Regular, "", b"abc  lib/libdemo.so.1\n"),
            ("./postinst", Regular, "", b"#!/bin/sh\nexit 1\n"),
        ]);
        let data = tar_gz(&[
            ("./", Directory, "", b""),
            ("./lib/", Directory, "", b""),
            ("./lib/libdemo.so.1", Regular, "", b"ELF"),
            ("./lib/libdemo.so", Symlink, "libdemo.so.1", b""),
            ("./bin/", Directory, "", b""),
            ("./bin/demo", Regular, "", b"#!"),
            ("./bin/demo-hard", Link, "./bin/demo", b""),
            ("./bin/sh", Symlink, "../usr/bin/sh", b""),
            ("./usr/share/doc/demo/copyright", Regular, "", b"MIT"),
            ("./usr/share/doc/demo/changelog.gz", Regular, "", b"zz"),
            ("./usr/share/man/man1/demo.1.gz", Regular, "", b"zz"),
        ]);
        let deb = build_ar(&[
            ("debian-binary", b"2.0\n"),
            ("control.tar.gz", &control),
            ("data.tar.gz", &data),
        ]);
        let dir = tempfile::tempdir().unwrap();
        let deb_path = dir.path().join("demo.deb");
        fs::write(&deb_path, &deb).unwrap();
        let out = dir.path().join("out");
        let u = unpack(&deb_path, "demo", &out).unwrap();
        assert_eq!(u.control, "Package: demo\nVersion: 1\n");
        assert!(u.md5sums.unwrap().contains("libdemo"));
        let got: Vec<(&str, &TreeKind)> = u
            .entries
            .iter()
            .map(|e| (e.path.as_str(), &e.kind))
            .collect();
        let file = |stored: &str, size| TreeKind::File {
            size,
            stored: stored.into(),
        };
        assert_eq!(
            got,
            [
                ("usr/bin/demo", &file("usr/bin/demo", 2)),
                ("usr/bin/demo-hard", &file("usr/bin/demo", 2)),
                (
                    "usr/lib/libdemo.so",
                    &TreeKind::Symlink {
                        link: "/usr/lib/libdemo.so.1".into()
                    }
                ),
                ("usr/lib/libdemo.so.1", &file("usr/lib/libdemo.so.1", 3)),
                (
                    "usr/share/doc/demo/copyright",
                    &file("usr/share/doc/demo/copyright", 3)
                ),
            ]
        );
        // The /bin and /lib directories are the merged-/usr symlinks' business; bin/sh →
        // ../usr/bin/sh pointed at itself after the move; the changelog and the man page are
        // documentation.
        assert_eq!(u.dropped, 5);
        assert_eq!(
            fs::read(out.join("files/usr/lib/libdemo.so.1")).unwrap(),
            b"ELF"
        );
        assert!(!out.join("files/usr/share/doc/demo/changelog.gz").exists());
    }

    #[test]
    fn rejects_escaping_paths_and_missing_members() {
        use tar::EntryType::*;
        let dir = tempfile::tempdir().unwrap();
        let control = tar_gz(&[("./control", Regular, "", b"Package: x\n")]);
        let mut evil = tar_gz(&[("./ok", Regular, "", b"1")]);
        // tar::Builder refuses `..`, so patch the name bytes of the first header directly.
        evil = {
            let mut raw = Vec::new();
            flate2::read::GzDecoder::new(&evil[..])
                .read_to_end(&mut raw)
                .unwrap();
            raw[..8].copy_from_slice(b"../../ok");
            let mut h = tar::Header::from_byte_slice(&raw[..512]).clone();
            h.set_cksum();
            raw[..512].copy_from_slice(h.as_bytes());
            let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
            std::io::Write::write_all(&mut gz, &raw).unwrap();
            gz.finish().unwrap()
        };
        let deb = build_ar(&[
            ("debian-binary", b"2.0\n"),
            ("control.tar.gz", &control),
            ("data.tar.gz", &evil),
        ]);
        let p = dir.path().join("evil.deb");
        fs::write(&p, deb).unwrap();
        let err = unpack(&p, "evil", &dir.path().join("o"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("leaves the root"), "{err}");

        let deb = build_ar(&[("debian-binary", b"2.0\n"), ("control.tar.gz", &control)]);
        fs::write(&p, deb).unwrap();
        let err = unpack(&p, "evil", &dir.path().join("o2"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("no data.tar"), "{err}");
    }
}
