//! `oci:PATH[:TAG]`: an OCI image layout directory (image-spec `image-layout.md`).
//!
//! The sink creates the layout or adds to an existing one: every blob goes to
//! `blobs/sha256/<hex>` (blobs already there are kept), and `index.json` gets the root
//! document (index or single manifest) annotated with `org.opencontainers.image.ref.name =
//! TAG`, replacing any entry with that ref name and keeping all others. Every file is written
//! under a temporary name and renamed into place, `index.json` last, so a failed write leaves
//! the layout as it was (apart from unreferenced blobs and, for a new layout, its
//! `oci-layout` marker). Writers hold an exclusive lock on the directory while they check or
//! create the layout and while they read and replace `index.json`, so concurrent publishes
//! into one layout keep each other's tags.
//!
//! This file also holds what the two archive sinks share with it: collecting an `ImageSet`'s
//! blobs, building `index.json`, temporary files and copying layers with digest checks.

use super::{BlobProvider, Published, Sink, SinkError};
use crate::digest::{Digest, HashingWriter};
use crate::image::canonical;
use crate::layer::{sweep_stale_temporaries, temp_owner};
use crate::oci::{ANNOTATION_REF_NAME, Image, ImageSet, JsonBlob, OCI_INDEX};
use serde_json::{Map, Value};
use std::collections::BTreeMap;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

/// Contents of the `oci-layout` marker file.
pub(super) const OCI_LAYOUT_FILE: &[u8] = br#"{"imageLayoutVersion":"1.0.0"}"#;

pub struct OciLayoutSink {
    target: String,
    path: PathBuf,
    tag: String,
}

impl OciLayoutSink {
    pub fn new(target: String, path: PathBuf, tag: String) -> Self {
        OciLayoutSink { target, path, tag }
    }
}

impl Sink for OciLayoutSink {
    fn write(&self, set: &ImageSet, blobs: &dyn BlobProvider) -> Result<Published, SinkError> {
        let t = self.target.as_str();
        check_not_empty(t, set)?;
        // Before the directory is touched, so a layer that cannot be had leaves no new layout.
        let all = collect_blobs(t, &set.images, set.index.as_ref(), blobs)?;

        // Other lade processes (or other sinks of this one) may be writing the same layout.
        // The layout is checked and created under its lock: a directory another writer has
        // just created must not look like a foreign non-empty directory.
        let blob_dir = self.path.join("blobs").join("sha256");
        {
            let _lock = lock_layout(t, &self.path)?;
            open_layout(t, &self.path)?;
            let marker = self.path.join("oci-layout");
            if !marker.is_file() {
                let mut tmp = TempFile::create(t, &marker)?;
                tmp.write_all(OCI_LAYOUT_FILE)?;
                tmp.commit()?;
            }
            fs::create_dir_all(&blob_dir).map_err(|e| io_err(t, "creating", &blob_dir, e))?;
            // Writers that were killed left their temporary files; those of running ones are
            // fresh and stay.
            for dir in [&self.path, &blob_dir] {
                sweep_stale_temporaries(dir, |name| temp_owner(name).is_some());
            }
        }

        // Blobs need no lock: each is renamed into place complete, and two writers of one
        // digest write the same bytes.
        for blob in all.values() {
            let dest = blob_dir.join(blob.digest.hex());
            // Content-addressed: a blob of the right size under its digest is the same blob.
            // The size check catches a file truncated by a crash of some other writer.
            if fs::metadata(&dest).is_ok_and(|m| m.is_file() && m.len() == blob.size) {
                continue;
            }
            let mut tmp = TempFile::create(t, &dest)?;
            let (out, out_path) = tmp.parts();
            blob.write_to(t, out, out_path)?;
            tmp.commit()?;
        }

        let root = set.root();
        let mut annotations = BTreeMap::new();
        annotations.insert(ANNOTATION_REF_NAME.to_string(), self.tag.clone());
        let entry = root_entry(t, root, annotations)?;
        let index_path = self.path.join("index.json");
        {
            // index.json is read again under the lock, right before it is replaced, so the
            // tags other writers added since keep their entries.
            let _lock = lock_layout(t, &self.path)?;
            let existing = open_layout(t, &self.path)?;
            let index = updated_index(t, &index_path, existing, entry, &self.tag)?;
            let mut tmp = TempFile::create(t, &index_path)?;
            tmp.write_all(&index)?;
            tmp.commit()?;
        }

        let digest = root.digest();
        Ok(Published {
            target: self.target.clone(),
            reference: self.target.clone(),
            digest,
            stats: None,
        })
    }
}

/// Takes an exclusive lock on the layout directory (created when missing), held until the
/// returned handle is dropped. The directory itself is locked rather than a lock file in it,
/// so the layout holds nothing but what image-spec describes.
pub(super) fn lock_layout(t: &str, dir: &Path) -> Result<File, SinkError> {
    match fs::metadata(dir) {
        Ok(m) if !m.is_dir() => return Err(not_a_directory(t, dir)),
        Ok(_) => {}
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            fs::create_dir_all(dir).map_err(|e| io_err(t, "creating", dir, e))?;
        }
        Err(e) => return Err(io_err(t, "reading", dir, e)),
    }
    let handle = File::open(dir).map_err(|e| io_err(t, "opening", dir, e))?;
    handle.lock().map_err(|e| io_err(t, "locking", dir, e))?;
    Ok(handle)
}

fn not_a_directory(t: &str, dir: &Path) -> SinkError {
    invalid(
        t,
        format!(
            "{} exists and is not a directory; an OCI layout is a directory (use oci-archive:FILE for a single file)",
            dir.display()
        ),
    )
}

/// Checks `dir` is absent, empty or an OCI layout, and returns its `index.json` if it has one.
pub(super) fn open_layout(t: &str, dir: &Path) -> Result<Option<Value>, SinkError> {
    match fs::metadata(dir) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(io_err(t, "reading", dir, e)),
        Ok(m) if !m.is_dir() => return Err(not_a_directory(t, dir)),
        Ok(_) => {}
    }
    let marker = dir.join("oci-layout");
    match fs::read(&marker) {
        Ok(bytes) => {
            let version = serde_json::from_slice::<Value>(&bytes)
                .ok()
                .and_then(|v| v.get("imageLayoutVersion")?.as_str().map(str::to_string));
            if version.as_deref() != Some("1.0.0") {
                return Err(invalid(
                    t,
                    format!(
                        "{} does not declare imageLayoutVersion 1.0.0; refusing to modify a layout lade does not understand",
                        marker.display()
                    ),
                ));
            }
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            let mut entries = fs::read_dir(dir).map_err(|e| io_err(t, "listing", dir, e))?;
            if entries.next().is_some() {
                return Err(invalid(
                    t,
                    format!(
                        "{} is not empty and has no oci-layout file, so it is not an OCI image layout; choose a new or empty directory",
                        dir.display()
                    ),
                ));
            }
            return Ok(None);
        }
        Err(e) => return Err(io_err(t, "reading", &marker, e)),
    }
    let index_path = dir.join("index.json");
    match fs::read(&index_path) {
        Ok(bytes) => {
            let v: Value = serde_json::from_slice(&bytes).map_err(|e| {
                invalid(
                    t,
                    format!("{} is not valid JSON: {e}", index_path.display()),
                )
            })?;
            if !v.is_object() || v.get("manifests").is_some_and(|m| !m.is_array()) {
                return Err(invalid(
                    t,
                    format!(
                        "{} is not an image index (expected an object with a manifests array)",
                        index_path.display()
                    ),
                ));
            }
            Ok(Some(v))
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(io_err(t, "reading", &index_path, e)),
    }
}

/// `existing` (or a new index) with `entry` tagged `tag`: an entry with the same ref name is
/// replaced where it stood, other entries and top-level fields are kept as they were.
fn updated_index(
    t: &str,
    path: &Path,
    existing: Option<Value>,
    entry: Value,
    tag: &str,
) -> Result<Vec<u8>, SinkError> {
    let mut index = match existing {
        Some(Value::Object(m)) => m,
        _ => Map::new(),
    };
    let mut manifests = match index.remove("manifests") {
        Some(Value::Array(a)) => a,
        _ => Vec::new(),
    };
    let has_tag = |d: &Value| {
        d.get("annotations")
            .and_then(|a| a.get(ANNOTATION_REF_NAME))
            .and_then(Value::as_str)
            == Some(tag)
    };
    match manifests.iter().position(has_tag) {
        Some(i) => {
            manifests[i] = entry;
            // Only one entry may carry a ref name; drop any later duplicates.
            let mut n = 0;
            manifests.retain(|d| {
                n += 1;
                n - 1 == i || !has_tag(d)
            });
        }
        None => manifests.push(entry),
    }
    index.insert("schemaVersion".into(), Value::from(2));
    index
        .entry("mediaType")
        .or_insert_with(|| Value::from(OCI_INDEX));
    index.insert("manifests".into(), Value::Array(manifests));
    canonical::to_vec(&Value::Object(index))
        .map_err(|e| invalid(t, format!("encoding {}: {e}", path.display())))
}

/// A fresh `index.json` listing only `entry`.
pub(super) fn new_index(t: &str, entry: Value) -> Result<Vec<u8>, SinkError> {
    let index = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": OCI_INDEX,
        "manifests": [entry],
    });
    canonical::to_vec(&index).map_err(|e| invalid(t, format!("encoding index.json: {e}")))
}

/// The root document's descriptor with `annotations` added (kept sorted by the canonical
/// encoder, whatever map type oci-spec uses).
pub(super) fn root_entry(
    t: &str,
    root: &JsonBlob,
    annotations: BTreeMap<String, String>,
) -> Result<Value, SinkError> {
    let mut d = serde_json::to_value(&root.descriptor)
        .map_err(|e| invalid(t, format!("encoding the root descriptor: {e}")))?;
    if !annotations.is_empty()
        && let Value::Object(m) = &mut d
    {
        let a = m
            .entry("annotations")
            .or_insert_with(|| Value::Object(Map::new()));
        if let Value::Object(a) = a {
            for (k, v) in annotations {
                a.insert(k, Value::String(v));
            }
        }
    }
    Ok(d)
}

pub(super) fn check_not_empty(t: &str, set: &ImageSet) -> Result<(), SinkError> {
    if set.images.is_empty() {
        return Err(invalid(
            t,
            "no image to write (the image set is empty)".into(),
        ));
    }
    Ok(())
}

/// Where one blob's bytes come from.
pub(super) enum BlobData<'a> {
    /// Canonical JSON held in memory, written exactly as given.
    Json(&'a [u8]),
    /// A layer file, streamed and checked against the descriptor while it is copied.
    File(PathBuf),
}

pub(super) struct Blob<'a> {
    pub digest: Digest,
    pub size: u64,
    pub data: BlobData<'a>,
}

impl Blob<'_> {
    /// Writes the blob's bytes to `out`; a layer file whose size or digest differs from its
    /// descriptor is an error (the output would otherwise be silently corrupt).
    /// `out_path` names the file behind `out` in errors.
    pub(super) fn write_to(
        &self,
        t: &str,
        out: &mut dyn Write,
        out_path: &Path,
    ) -> Result<(), SinkError> {
        match &self.data {
            BlobData::Json(bytes) => out
                .write_all(bytes)
                .map_err(|e| io_err(t, "writing", out_path, e)),
            BlobData::File(src) => {
                let file = File::open(src).map_err(|e| io_err(t, "opening layer", src, e))?;
                let mut reader = VerifyingReader::new(file, self.size);
                io::copy(&mut reader, out).map_err(|e| {
                    if reader.read_failed {
                        io_err(t, "reading layer", src, e)
                    } else {
                        io_err(t, "writing", out_path, e)
                    }
                })?;
                reader.check(t, src, &self.digest, self.size)
            }
        }
    }
}

/// Every blob the images (and index) reference, once each, by digest. Layer files come from
/// `provider`, which may fetch them first.
pub(super) fn collect_blobs<'a>(
    t: &str,
    images: &'a [Image],
    index: Option<&'a JsonBlob>,
    provider: &dyn BlobProvider,
) -> Result<BTreeMap<Digest, Blob<'a>>, SinkError> {
    let mut out = BTreeMap::new();
    let mut json = |b: &'a JsonBlob| {
        out.entry(b.digest()).or_insert_with(|| Blob {
            digest: b.digest(),
            size: b.bytes.len() as u64,
            data: BlobData::Json(&b.bytes),
        });
    };
    if let Some(i) = index {
        json(i);
    }
    for img in images {
        json(&img.manifest);
        json(&img.config);
    }
    for img in images {
        for layer in &img.layers {
            let digest = layer.digest();
            if out.contains_key(&digest) {
                continue;
            }
            let path = provider.local_path(layer).map_err(|e| retarget(t, e))?;
            out.insert(
                digest.clone(),
                Blob {
                    digest,
                    size: layer.size(),
                    data: BlobData::File(path),
                },
            );
        }
    }
    Ok(out)
}

/// Errors from a `BlobProvider` name a generic target; say which output needed the blob.
fn retarget(t: &str, e: SinkError) -> SinkError {
    match e {
        SinkError::RemoteBlob {
            digest,
            registry,
            repository,
            ..
        } => SinkError::RemoteBlob {
            target: t.to_string(),
            digest,
            registry,
            repository,
        },
        other => other,
    }
}

/// Reads at most `limit + 1` bytes (enough to notice a file longer than its descriptor)
/// while hashing them, and remembers whether an error came from the read side.
pub(super) struct VerifyingReader<R> {
    inner: io::Take<R>,
    hash: HashingWriter<io::Sink>,
    pub read_failed: bool,
}

impl<R: Read> VerifyingReader<R> {
    pub(super) fn new(inner: R, limit: u64) -> Self {
        VerifyingReader {
            inner: inner.take(limit.saturating_add(1)),
            hash: HashingWriter::new(io::sink()),
            read_failed: false,
        }
    }

    /// Errors unless exactly `size` bytes with digest `digest` were read.
    pub(super) fn check(
        self,
        t: &str,
        src: &Path,
        digest: &Digest,
        size: u64,
    ) -> Result<(), SinkError> {
        let (_, got, n) = self.hash.finish();
        if n != size || &got != digest {
            let found = if n > size {
                format!("more than {size} bytes")
            } else if n != size {
                format!("{n} bytes")
            } else {
                got.to_string()
            };
            return Err(invalid(
                t,
                format!(
                    "layer file {} does not match its descriptor: expected {digest} ({size} bytes), found {found}; the file is damaged: if it is in lade's cache, delete it and publish again (lade writes or fetches it anew), else restore the base layout it belongs to",
                    src.display()
                ),
            ));
        }
        Ok(())
    }
}

impl<R: Read> Read for VerifyingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self
            .inner
            .read(buf)
            .inspect_err(|_| self.read_failed = true)?;
        self.hash.write_all(&buf[..n])?;
        Ok(n)
    }
}

/// A file written under a temporary name next to `dest` and renamed onto it by `commit`;
/// dropped uncommitted (on any error), it is removed, so outputs are never half-written.
pub(super) struct TempFile {
    target: String,
    tmp: PathBuf,
    dest: PathBuf,
    file: Option<io::BufWriter<File>>,
    renamed: bool,
}

static TEMP_COUNTER: AtomicU64 = AtomicU64::new(0);

impl TempFile {
    pub(super) fn create(t: &str, dest: &Path) -> Result<TempFile, SinkError> {
        let name = dest.file_name().unwrap_or_default().to_string_lossy();
        // pid + counter: two lade processes (or two sinks) writing the same layout never share
        // a temporary file, and the pid tells a later sweep whether the writer still runs.
        let n = TEMP_COUNTER.fetch_add(1, Ordering::Relaxed);
        let tmp = dest.with_file_name(format!("{name}.tmp-{}-{n}", std::process::id()));
        let file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&tmp)
            .map_err(|e| io_err(t, "creating", &tmp, e))?;
        Ok(TempFile {
            target: t.to_string(),
            tmp,
            dest: dest.to_path_buf(),
            file: Some(io::BufWriter::with_capacity(256 * 1024, file)),
            renamed: false,
        })
    }

    /// The writer and the temporary path (for error messages).
    pub(super) fn parts(&mut self) -> (&mut dyn Write, &Path) {
        let file = self.file.as_mut().expect("the file is open until commit");
        (file, &self.tmp)
    }

    pub(super) fn write_all(&mut self, bytes: &[u8]) -> Result<(), SinkError> {
        let file = self.file.as_mut().expect("the file is open until commit");
        file.write_all(bytes)
            .map_err(|e| io_err(&self.target, "writing", &self.tmp, e))
    }

    /// Flushes, syncs and renames the file onto its destination.
    pub(super) fn commit(mut self) -> Result<(), SinkError> {
        let t = self.target.clone();
        let file = self.file.take().expect("commit is called once");
        let file = file
            .into_inner()
            .map_err(|e| io_err(&t, "writing", &self.tmp, e.into_error()))?;
        // Synced before the rename so a crash cannot leave a renamed but empty file.
        file.sync_all()
            .map_err(|e| io_err(&t, "syncing", &self.tmp, e))?;
        drop(file);
        fs::rename(&self.tmp, &self.dest)
            .map_err(|e| io_err(&t, "renaming into", &self.dest, e))?;
        self.renamed = true;
        Ok(())
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        if self.renamed {
            return;
        }
        if let Some(w) = self.file.take() {
            // into_parts drops the buffered bytes instead of flushing them into a file that
            // is about to be removed.
            drop(w.into_parts());
        }
        // Best effort: the error that got us here is what the user needs to see.
        let _ = fs::remove_file(&self.tmp);
    }
}

pub(super) fn io_err(t: &str, action: &'static str, path: &Path, source: io::Error) -> SinkError {
    SinkError::Io {
        target: t.to_string(),
        action,
        path: path.to_path_buf(),
        source,
    }
}

pub(super) fn invalid(t: &str, detail: String) -> SinkError {
    SinkError::Invalid {
        target: t.to_string(),
        detail,
    }
}

/// Helpers shared by the sink tests: a small image set built by hand, and the external tools
/// that check outputs. A missing tool fails the test with its name rather than skipping.
#[cfg(test)]
pub(crate) mod testkit {
    use crate::digest::Digest;
    use crate::image::assemble::{self, BuildMeta, NamedLayer};
    use crate::layer::GZIP_LAYER_MEDIA_TYPE;
    use crate::oci::{BaseImage, BlobSource, ImageSet, Layer, descriptor};
    use crate::plan::ImageConfigPatch;
    use crate::platform::Platform;
    use std::io::Write;
    use std::path::Path;
    use std::process::Command;

    /// A gzip tar layer holding `files` (path, contents), written into `dir`.
    pub fn layer(dir: &Path, files: &[(&str, &str)]) -> Layer {
        let mut tar = tar::Builder::new(Vec::new());
        for (name, body) in files {
            let mut h = tar::Header::new_ustar();
            h.set_path(name).unwrap();
            h.set_size(body.len() as u64);
            h.set_mode(0o644);
            h.set_mtime(0);
            h.set_entry_type(tar::EntryType::Regular);
            h.set_cksum();
            tar.append(&h, body.as_bytes()).unwrap();
        }
        let tar = tar.into_inner().unwrap();
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        gz.write_all(&tar).unwrap();
        let gz = gz.finish().unwrap();
        let digest = Digest::of(&gz);
        std::fs::create_dir_all(dir).unwrap();
        let path = dir.join(digest.hex());
        std::fs::write(&path, &gz).unwrap();
        Layer {
            descriptor: descriptor(GZIP_LAYER_MEDIA_TYPE, gz.len() as u64, &digest),
            diff_id: Digest::of(&tar),
            source: BlobSource::File(path),
        }
    }

    pub fn platform(s: &str) -> Platform {
        let mut parts = s.split('/');
        let (os, arch, variant) = (parts.next(), parts.next(), parts.next());
        Platform {
            os: os.unwrap().into(),
            architecture: arch.unwrap().into(),
            variant: variant.map(str::to_string),
        }
    }

    /// One image per platform on scratch, each with a layer holding `hello.txt` (whose text
    /// names `greeting` and the platform) and the shared `shared.txt`.
    pub fn image_set(dir: &Path, platforms: &[&str], greeting: &str) -> ImageSet {
        let meta = BuildMeta {
            created: 1_700_000_000,
            ..Default::default()
        };
        let patch = ImageConfigPatch {
            entrypoint: Some(vec!["/hello".into(), "--flag".into()]),
            user: Some("1234".into()),
            env: [("GREETING".to_string(), greeting.to_string())].into(),
            ..Default::default()
        };
        let shared = layer(dir, &[("shared.txt", "same on every platform\n")]);
        let images = platforms
            .iter()
            .map(|p| {
                let base = BaseImage {
                    platform: platform(p),
                    config: crate::oci::base::scratch_config(),
                    layers: Vec::new(),
                };
                let own = layer(dir, &[("hello.txt", &format!("{greeting} from {p}\n"))]);
                let layers = vec![
                    NamedLayer {
                        name: "shared".into(),
                        layer: shared.clone(),
                    },
                    NamedLayer {
                        name: "app".into(),
                        layer: own,
                    },
                ];
                assemble::image(&base, layers, &patch, &meta).unwrap()
            })
            .collect();
        assemble::image_set(images, &meta).unwrap()
    }

    /// A command for an external tool the test cannot do without.
    pub fn tool(name: &str) -> Command {
        let found = crate::env::var_os(crate::env::PATH)
            .is_some_and(|p| std::env::split_paths(&p).any(|d| d.join(name).is_file()));
        assert!(
            found,
            "this test needs the `{name}` command, which is not installed (on Debian: apt-get install {name})"
        );
        Command::new(name)
    }

    /// Runs `cmd`, failing the test with its stderr unless it succeeds; returns stdout.
    pub fn run(cmd: &mut Command) -> String {
        let out = cmd
            .output()
            .unwrap_or_else(|e| panic!("running {cmd:?}: {e}"));
        assert!(
            out.status.success(),
            "{cmd:?} failed ({}):\n{}{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }

    /// Runs `cmd` expecting JSON on stdout.
    pub fn run_json(cmd: &mut Command) -> serde_json::Value {
        let out = run(cmd);
        serde_json::from_str(&out)
            .unwrap_or_else(|e| panic!("{cmd:?} printed invalid JSON: {e}\n{out}"))
    }

    /// `skopeo` with the flags every test uses (no policy file needed, no network).
    pub fn skopeo() -> Command {
        let mut c = tool("skopeo");
        c.arg("--insecure-policy");
        c
    }

    /// Unpacks `layout:tag` with umoci and returns the rootfs directory.
    pub fn umoci_unpack(layout: &Path, tag: &str, bundle: &Path) -> std::path::PathBuf {
        let mut c = tool("umoci");
        c.arg("unpack");
        // umoci needs --rootless unless it runs as root.
        if !is_root() {
            c.arg("--rootless");
        }
        c.arg("--image")
            .arg(format!("{}:{tag}", layout.display()))
            .arg(bundle);
        run(&mut c);
        bundle.join("rootfs")
    }

    fn is_root() -> bool {
        Command::new("id")
            .arg("-u")
            .output()
            .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
    }
}

#[cfg(test)]
mod tests {
    use super::testkit::*;
    use super::*;
    use crate::sink::LocalBlobs;

    fn write(dir: &Path, tag: &str, set: &ImageSet) -> Result<Published, SinkError> {
        let target = format!("oci:{}:{tag}", dir.display());
        OciLayoutSink::new(target, dir.to_path_buf(), tag.into()).write(set, &LocalBlobs)
    }

    fn index_of(dir: &Path) -> Value {
        serde_json::from_slice(&fs::read(dir.join("index.json")).unwrap()).unwrap()
    }

    #[test]
    fn single_image_layout_is_valid_and_unpacks() {
        let tmp = tempfile::tempdir().unwrap();
        let set = image_set(&tmp.path().join("store"), &["linux/amd64"], "hi");
        let out = tmp.path().join("out");
        let p = write(&out, "v1", &set).unwrap();
        assert_eq!(p.digest, set.root().digest());
        assert_eq!(p.reference, format!("oci:{}:v1", out.display()));
        assert_eq!(fs::read(out.join("oci-layout")).unwrap(), OCI_LAYOUT_FILE);
        let index_bytes = fs::read(out.join("index.json")).unwrap();
        assert_eq!(
            index_bytes,
            canonical::to_vec(&serde_json::from_slice::<Value>(&index_bytes).unwrap()).unwrap(),
            "index.json is canonical JSON"
        );
        let index = index_of(&out);
        assert_eq!(index["manifests"].as_array().unwrap().len(), 1);
        assert_eq!(
            index["manifests"][0]["annotations"][ANNOTATION_REF_NAME],
            "v1"
        );
        for img in &set.images {
            for b in [&img.manifest, &img.config] {
                let on_disk = fs::read(out.join("blobs/sha256").join(b.digest().hex())).unwrap();
                assert_eq!(on_disk, b.bytes, "JSON blobs are written exactly as given");
            }
        }
        let leftovers: Vec<_> = walkdir::WalkDir::new(&out)
            .into_iter()
            .map(|e| e.unwrap().path().to_path_buf())
            .filter(|p| p.to_string_lossy().contains(".tmp-"))
            .collect();
        assert!(leftovers.is_empty(), "temporary files left: {leftovers:?}");

        run(tool("oci-image-tool")
            .args(["validate", "--type", "image", "--ref", "name=v1"])
            .arg(&out));
        let inspect = run_json(
            skopeo()
                .arg("inspect")
                .arg(format!("oci:{}:v1", out.display())),
        );
        assert_eq!(inspect["Architecture"], "amd64");
        assert_eq!(inspect["Layers"].as_array().unwrap().len(), 2);
        let config = run_json(
            skopeo()
                .args(["inspect", "--config"])
                .arg(format!("oci:{}:v1", out.display())),
        );
        assert_eq!(config["config"]["User"], "1234");
        assert_eq!(config["config"]["Entrypoint"][0], "/hello");

        let rootfs = umoci_unpack(&out, "v1", &tmp.path().join("bundle"));
        assert_eq!(
            fs::read_to_string(rootfs.join("hello.txt")).unwrap(),
            "hi from linux/amd64\n"
        );
        assert!(rootfs.join("shared.txt").is_file());
    }

    #[test]
    fn updating_a_layout_keeps_other_tags_and_replaces_the_same_tag() {
        let tmp = tempfile::tempdir().unwrap();
        let store = tmp.path().join("store");
        let out = tmp.path().join("out");
        let a = image_set(&store, &["linux/amd64"], "first");
        let b = image_set(&store, &["linux/amd64", "linux/arm64"], "second");
        let c = image_set(&store, &["linux/amd64"], "third");
        write(&out, "a", &a).unwrap();
        write(&out, "b", &b).unwrap();
        write(&out, "a", &c).unwrap();
        let index = index_of(&out);
        let entries = index["manifests"].as_array().unwrap();
        let tags: Vec<(&str, &str)> = entries
            .iter()
            .map(|d| {
                (
                    d["annotations"][ANNOTATION_REF_NAME].as_str().unwrap(),
                    d["digest"].as_str().unwrap(),
                )
            })
            .collect();
        assert_eq!(
            tags,
            vec![
                ("a", c.root().digest().as_str()),
                ("b", b.root().digest().as_str())
            ]
        );
        assert_eq!(entries[1]["mediaType"], OCI_INDEX);

        let raw = run_json(
            skopeo()
                .args(["inspect", "--raw"])
                .arg(format!("oci:{}:b", out.display())),
        );
        assert_eq!(raw["manifests"].as_array().unwrap().len(), 2);
        let rootfs = umoci_unpack(&out, "a", &tmp.path().join("bundle"));
        assert_eq!(
            fs::read_to_string(rootfs.join("hello.txt")).unwrap(),
            "third from linux/amd64\n"
        );
        // The whole index copies out, each platform validating on its own.
        let copy = tmp.path().join("copy");
        run(skopeo()
            .args(["copy", "--all"])
            .arg(format!("oci:{}:b", out.display()))
            .arg(format!("oci:{}:b", copy.display())));
        run(skopeo()
            .args(["copy", "--override-arch", "arm64"])
            .arg(format!("oci:{}:b", out.display()))
            .arg(format!("oci:{}:arm", copy.display())));
        let arm = umoci_unpack(&copy, "arm", &tmp.path().join("bundle-arm"));
        assert_eq!(
            fs::read_to_string(arm.join("hello.txt")).unwrap(),
            "second from linux/arm64\n"
        );
    }

    #[test]
    fn concurrent_writers_to_one_layout_keep_every_tag() {
        let tmp = tempfile::tempdir().unwrap();
        let store = tmp.path().join("store");
        let sets: Vec<ImageSet> = (0..8)
            .map(|i| image_set(&store, &["linux/amd64"], &format!("writer {i}")))
            .collect();
        let seed = image_set(&store, &["linux/amd64"], "seed");
        // Several rounds, since a lost update needs two writers to interleave between reading
        // and replacing index.json; into a new directory (which a writer must not mistake for
        // a foreign one while another is creating it) and into an existing layout.
        for round in 0..6 {
            let out = tmp.path().join(format!("out-{round}"));
            let seeded = round % 2 == 1;
            if seeded {
                write(&out, "seed", &seed).unwrap();
            }
            let start = std::sync::Barrier::new(sets.len());
            std::thread::scope(|s| {
                for (i, set) in sets.iter().enumerate() {
                    let (out, start) = (&out, &start);
                    s.spawn(move || {
                        start.wait();
                        write(out, &format!("t{i}"), set).unwrap();
                    });
                }
            });
            let index = index_of(&out);
            let mut tagged: Vec<(String, String)> = index["manifests"]
                .as_array()
                .unwrap()
                .iter()
                .map(|d| {
                    let tag = d["annotations"][ANNOTATION_REF_NAME].as_str().unwrap();
                    (tag.to_string(), d["digest"].as_str().unwrap().to_string())
                })
                .collect();
            tagged.sort();
            let mut want: Vec<(String, String)> = sets
                .iter()
                .enumerate()
                .map(|(i, set)| (format!("t{i}"), set.root().digest().to_string()))
                .collect();
            if seeded {
                want.insert(0, ("seed".into(), seed.root().digest().to_string()));
            }
            assert_eq!(
                tagged, want,
                "round {round}: every writer's tag is in index.json"
            );
            // oci-image-tool refuses any layout with several tags ("not unique"), so skopeo
            // reads each tag back, and every blob must hash to its name.
            for (tag, digest) in &tagged {
                let inspect = run_json(
                    skopeo()
                        .arg("inspect")
                        .arg(format!("oci:{}:{tag}", out.display())),
                );
                assert_eq!(inspect["Digest"], digest.as_str(), "{tag}");
            }
            for e in fs::read_dir(out.join("blobs/sha256")).unwrap() {
                let e = e.unwrap();
                let name = e.file_name().into_string().unwrap();
                assert_eq!(
                    Digest::of(&fs::read(e.path()).unwrap()).hex(),
                    name,
                    "round {round}: blob {name} (a temporary file left, or corrupt)"
                );
            }
        }
    }

    #[test]
    fn refuses_a_directory_that_is_not_a_layout() {
        let tmp = tempfile::tempdir().unwrap();
        let set = image_set(&tmp.path().join("store"), &["linux/amd64"], "hi");
        let out = tmp.path().join("out");
        fs::create_dir_all(&out).unwrap();
        fs::write(out.join("notes.txt"), "mine").unwrap();
        let err = write(&out, "v1", &set).unwrap_err();
        assert!(
            matches!(&err, SinkError::Invalid { detail, .. } if detail.contains("not an OCI image layout")),
            "{err}"
        );
        assert!(!out.join("index.json").exists());
    }

    #[test]
    fn a_corrupt_layer_file_fails_without_touching_index_json() {
        let tmp = tempfile::tempdir().unwrap();
        let set = image_set(&tmp.path().join("store"), &["linux/amd64"], "hi");
        let out = tmp.path().join("out");
        write(&out, "old", &set).unwrap();
        let before = fs::read(out.join("index.json")).unwrap();

        let set2 = image_set(&tmp.path().join("store2"), &["linux/amd64"], "changed");
        let crate::oci::BlobSource::File(p) = &set2.images[0].layers[1].source else {
            unreachable!()
        };
        let len = fs::metadata(p).unwrap().len() as usize;
        fs::write(p, vec![0u8; len]).unwrap();
        let err = write(&out, "new", &set2).unwrap_err();
        assert!(
            err.to_string().contains("does not match its descriptor"),
            "{err}"
        );
        assert_eq!(fs::read(out.join("index.json")).unwrap(), before);
        let blob = out
            .join("blobs/sha256")
            .join(set2.images[0].layers[1].digest().hex());
        assert!(!blob.exists(), "a corrupt blob must not land in the layout");
    }

    #[test]
    fn remote_layers_name_this_output() {
        let tmp = tempfile::tempdir().unwrap();
        let mut set = image_set(&tmp.path().join("store"), &["linux/amd64"], "hi");
        set.images[0].layers[0].source = crate::oci::BlobSource::Remote {
            registry: "registry.example".into(),
            repository: "base".into(),
        };
        let out = tmp.path().join("out");
        let err = write(&out, "v1", &set).unwrap_err();
        assert!(
            matches!(&err, SinkError::RemoteBlob { target, .. } if target.starts_with("oci:")),
            "{err}"
        );
    }
}
