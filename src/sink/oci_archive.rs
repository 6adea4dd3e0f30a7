//! `oci-archive:FILE[:TAG]`: an OCI image layout as one tar file, the whole image set (index
//! and every platform) under one tag, as `skopeo copy … oci-archive:FILE:TAG` writes it.
//!
//! The tar is deterministic: entries sorted by name, uid/gid 0, no user or group names,
//! mtime 0, mode 0644 for files and 0755 for directories; the same image set always gives the
//! same bytes. Layers are streamed from their files (and checked against their descriptors on
//! the way) into `FILE.tmp-…`, which is renamed onto FILE once complete.
//!
//! This file also holds the tar writer the docker-archive sink uses.

use super::oci_layout::{
    Blob, OCI_LAYOUT_FILE, TempFile, check_not_empty, collect_blobs, io_err, new_index, root_entry,
};
use super::{BlobProvider, Published, Sink, SinkError};
use crate::digest::Digest;
use crate::oci::{ANNOTATION_REF_NAME, ImageSet};
use std::collections::BTreeMap;
use std::io::Write;
use std::os::unix::fs::FileTypeExt;
use std::path::{Path, PathBuf};

pub struct OciArchiveSink {
    target: String,
    path: PathBuf,
    tag: String,
}

impl OciArchiveSink {
    pub fn new(target: String, path: PathBuf, tag: String) -> Self {
        OciArchiveSink { target, path, tag }
    }
}

impl Sink for OciArchiveSink {
    fn write(&self, set: &ImageSet, blobs: &dyn BlobProvider) -> Result<Published, SinkError> {
        let t = self.target.as_str();
        check_not_empty(t, set)?;
        let all = collect_blobs(t, &set.images, set.index.as_ref(), blobs)?;
        let root = set.root();
        let annotations = BTreeMap::from([(ANNOTATION_REF_NAME.to_string(), self.tag.clone())]);
        let index = new_index(t, root_entry(t, root, annotations)?)?;
        let entries = layout_entries(&all, index);
        write_tar(t, &self.path, &entries)?;
        let digest = root.digest();
        Ok(Published {
            target: self.target.clone(),
            reference: self.target.clone(),
            digest,
            stats: None,
        })
    }
}

/// One tar entry's content.
pub(super) enum Entry<'a> {
    Dir,
    Bytes(Vec<u8>),
    Blob(&'a Blob<'a>),
}

/// The entries of an OCI layout holding `blobs` with `index_json`, keyed by tar name (a
/// `BTreeMap`, so iteration order is the sorted order the tar is written in).
pub(super) fn layout_entries<'a>(
    blobs: &'a BTreeMap<Digest, Blob<'a>>,
    index_json: Vec<u8>,
) -> BTreeMap<String, Entry<'a>> {
    let mut entries = BTreeMap::new();
    entries.insert("blobs/".to_string(), Entry::Dir);
    entries.insert("blobs/sha256/".to_string(), Entry::Dir);
    for (digest, blob) in blobs {
        entries.insert(blob_name(digest), Entry::Blob(blob));
    }
    entries.insert(
        "oci-layout".to_string(),
        Entry::Bytes(OCI_LAYOUT_FILE.to_vec()),
    );
    entries.insert("index.json".to_string(), Entry::Bytes(index_json));
    entries
}

/// The tar name of a blob in a layout.
pub(super) fn blob_name(digest: &Digest) -> String {
    format!("blobs/{}/{}", digest.algorithm(), digest.hex())
}

/// Refuses an archive path that exists and is not a regular file. The archive is renamed onto
/// its path, which would turn a device or FIFO into a plain file (as root, `/dev/full`
/// included), replace a symbolic link instead of writing where it points, and fail late on a
/// directory; so none of them is touched, and the error says so before anything is built.
pub(super) fn check_archive_path(t: &str, path: &Path) -> Result<(), SinkError> {
    let kind = match std::fs::symlink_metadata(path) {
        Ok(m) => m.file_type(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(io_err(t, "checking", path, e)),
    };
    let (what, hint) = if kind.is_file() {
        return Ok(());
    } else if kind.is_dir() {
        (
            "a directory",
            "choose a file path (or oci:DIR to write a layout directory)",
        )
    } else if kind.is_symlink() {
        (
            "a symbolic link",
            "give the path it points to, or remove the link",
        )
    } else if kind.is_fifo() {
        ("a FIFO", "remove it or choose another path")
    } else if kind.is_socket() {
        ("a socket", "remove it or choose another path")
    } else if kind.is_char_device() || kind.is_block_device() {
        ("a device", "choose a regular file path")
    } else {
        ("not a regular file", "remove it or choose another path")
    };
    Err(super::oci_layout::invalid(
        t,
        format!(
            "{} exists and is {what}; an archive output only creates or replaces a regular file: {hint}",
            path.display()
        ),
    ))
}

/// Writes `entries` in order as a deterministic tar at `dest` (via a temporary file).
pub(super) fn write_tar(
    t: &str,
    dest: &Path,
    entries: &BTreeMap<String, Entry<'_>>,
) -> Result<(), SinkError> {
    // Checked again: the path was checked when the output was opened, but the build ran since.
    check_archive_path(t, dest)?;
    let parent = dest.parent().filter(|p| !p.as_os_str().is_empty());
    if let Some(parent) = parent {
        std::fs::create_dir_all(parent).map_err(|e| io_err(t, "creating", parent, e))?;
    }
    // Writes of this archive that were killed left `FILE.tmp-PID-N` beside it.
    if let Some(name) = dest.file_name().and_then(|n| n.to_str()) {
        let prefix = format!("{name}.tmp-");
        crate::layer::sweep_stale_temporaries(parent.unwrap_or(Path::new(".")), |n| {
            n.starts_with(&prefix) && crate::layer::temp_owner(n).is_some()
        });
    }
    let mut tmp = TempFile::create(t, dest)?;
    {
        let (out, tmp_path) = tmp.parts();
        write_tar_to(t, out, tmp_path, entries)?;
    }
    tmp.commit()
}

/// Writes `entries` in order as a deterministic tar to `out`; `tmp_path` names what is behind
/// `out` in errors.
pub(super) fn write_tar_to(
    t: &str,
    out: &mut dyn Write,
    tmp_path: &Path,
    entries: &BTreeMap<String, Entry<'_>>,
) -> Result<(), SinkError> {
    let mut tar = tar::Builder::new(out);
    for (name, entry) in entries {
        let mut h = tar::Header::new_ustar();
        // Names are at most `blobs/sha256/<64 hex>` (77 bytes): they fit a ustar header.
        h.set_path(name)
            .map_err(|e| io_err(t, "naming an entry of", tmp_path, e))?;
        h.set_uid(0);
        h.set_gid(0);
        h.set_mtime(0);
        match entry {
            Entry::Dir => {
                h.set_entry_type(tar::EntryType::Directory);
                h.set_mode(0o755);
                h.set_size(0);
                h.set_cksum();
                tar.append(&h, std::io::empty())
                    .map_err(|e| io_err(t, "writing", tmp_path, e))?;
            }
            Entry::Bytes(bytes) => {
                h.set_entry_type(tar::EntryType::Regular);
                h.set_mode(0o644);
                h.set_size(bytes.len() as u64);
                h.set_cksum();
                tar.append(&h, bytes.as_slice())
                    .map_err(|e| io_err(t, "writing", tmp_path, e))?;
            }
            Entry::Blob(blob) => {
                h.set_entry_type(tar::EntryType::Regular);
                h.set_mode(0o644);
                h.set_size(blob.size);
                h.set_cksum();
                let out = tar.get_mut();
                out.write_all(h.as_bytes())
                    .map_err(|e| io_err(t, "writing", tmp_path, e))?;
                // Streamed, and checked to be exactly `size` bytes with the right digest,
                // so the header written above is truthful (or the whole file is dropped).
                blob.write_to(t, out, tmp_path)?;
                let pad = (512 - (blob.size % 512) as usize) % 512;
                out.write_all(&[0u8; 512][..pad])
                    .map_err(|e| io_err(t, "writing", tmp_path, e))?;
            }
        }
    }
    tar.finish()
        .map_err(|e| io_err(t, "writing", tmp_path, e))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::oci_layout::testkit::*;
    use super::*;
    use crate::sink::LocalBlobs;
    use std::fs;

    fn write(file: &Path, tag: &str, set: &ImageSet) -> Result<Published, SinkError> {
        let target = format!("oci-archive:{}:{tag}", file.display());
        OciArchiveSink::new(target, file.to_path_buf(), tag.into()).write(set, &LocalBlobs)
    }

    #[test]
    fn multi_platform_archive_reads_back_with_skopeo_and_umoci() {
        let tmp = tempfile::tempdir().unwrap();
        let set = image_set(
            &tmp.path().join("store"),
            &["linux/amd64", "linux/arm64"],
            "hi",
        );
        let file = tmp.path().join("out/app.tar");
        let p = write(&file, "v2", &set).unwrap();
        assert_eq!(p.digest, set.index.as_ref().unwrap().digest());
        assert_eq!(p.reference, format!("oci-archive:{}:v2", file.display()));
        let names: Vec<String> = fs::read_dir(file.parent().unwrap())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(
            names,
            vec!["app.tar".to_string()],
            "no temporary files left"
        );

        let raw = run_json(
            skopeo()
                .args(["inspect", "--raw"])
                .arg(format!("oci-archive:{}:v2", file.display())),
        );
        assert_eq!(raw["manifests"].as_array().unwrap().len(), 2);
        let inspect = run_json(
            skopeo()
                .args(["inspect", "--override-arch", "arm64"])
                .arg(format!("oci-archive:{}", file.display())),
        );
        assert_eq!(inspect["Architecture"], "arm64");
        assert_eq!(inspect["Env"][0], "GREETING=hi");

        let layout = tmp.path().join("layout");
        run(skopeo()
            .arg("copy")
            .arg(format!("oci-archive:{}:v2", file.display()))
            .arg(format!("oci:{}:v2", layout.display())));
        let rootfs = umoci_unpack(&layout, "v2", &tmp.path().join("bundle"));
        let host = crate::platform::Platform::host().unwrap().to_string();
        assert_eq!(
            fs::read_to_string(rootfs.join("hello.txt")).unwrap(),
            format!("hi from {host}\n")
        );
        run(skopeo()
            .args(["copy", "--all"])
            .arg(format!("oci-archive:{}:v2", file.display()))
            .arg(format!("oci:{}:all", layout.display())));
    }

    #[test]
    fn archive_bytes_are_deterministic_and_entries_normalized() {
        let tmp = tempfile::tempdir().unwrap();
        let set = image_set(
            &tmp.path().join("store"),
            &["linux/amd64", "linux/arm64"],
            "hi",
        );
        let a = tmp.path().join("a.tar");
        let b = tmp.path().join("b.tar");
        write(&a, "latest", &set).unwrap();
        write(&b, "latest", &set).unwrap();
        let bytes = fs::read(&a).unwrap();
        assert_eq!(bytes, fs::read(&b).unwrap(), "same set, same bytes");
        // Rewriting an existing file replaces it atomically with the same bytes.
        write(&a, "latest", &set).unwrap();
        assert_eq!(fs::read(&a).unwrap(), bytes);

        let mut ar = tar::Archive::new(bytes.as_slice());
        let mut names = Vec::new();
        for e in ar.entries().unwrap() {
            let e = e.unwrap();
            let h = e.header();
            let name = e.path().unwrap().to_string_lossy().into_owned();
            assert_eq!(h.uid().unwrap(), 0, "{name}");
            assert_eq!(h.gid().unwrap(), 0, "{name}");
            assert_eq!(h.mtime().unwrap(), 0, "{name}");
            assert_eq!(h.username().unwrap(), Some(""), "{name}");
            let dir = h.entry_type() == tar::EntryType::Directory;
            assert_eq!(h.mode().unwrap(), if dir { 0o755 } else { 0o644 }, "{name}");
            names.push(name);
        }
        let mut sorted = names.clone();
        sorted.sort();
        assert_eq!(names, sorted);
        // index + 2×(manifest, config, own layer) + the shared layer once.
        let blobs = names
            .iter()
            .filter(|n| n.starts_with("blobs/sha256/") && n.len() > 13);
        assert_eq!(blobs.count(), 8);
        assert_eq!(names[..2], ["blobs/", "blobs/sha256/"]);
        assert_eq!(names[names.len() - 2..], ["index.json", "oci-layout"]);
    }

    #[test]
    fn failed_write_leaves_the_old_archive() {
        let tmp = tempfile::tempdir().unwrap();
        let set = image_set(&tmp.path().join("store"), &["linux/amd64"], "hi");
        let file = tmp.path().join("app.tar");
        write(&file, "v1", &set).unwrap();
        let before = fs::read(&file).unwrap();
        let set2 = image_set(&tmp.path().join("store2"), &["linux/amd64"], "other");
        let crate::oci::BlobSource::File(p) = &set2.images[0].layers[1].source else {
            unreachable!()
        };
        fs::write(p, b"short").unwrap();
        let err = write(&file, "v1", &set2).unwrap_err();
        assert!(err.to_string().contains("does not match"), "{err}");
        assert_eq!(fs::read(&file).unwrap(), before);
        assert_eq!(
            fs::read_dir(tmp.path()).unwrap().count(),
            3,
            "no temporary file left"
        );
    }
}
