//! SPDX 2.3 JSON software bills of materials for published images (`lade publish --sbom DIR`),
//! and the same package list as CycloneDX 1.6 JSON ([`cyclonedx`]) for attaching.
//!
//! Packages come from the image's files, never from guesses: lade's own layers (their
//! `LayerSpec` entries, `Tree` entries expanded, read from the host) over the base's layers
//! when they are local files (streamed out of their tars, whiteouts applied), plus the
//! project's Cargo.lock, or a Go plan's binaries. One file per source of packages: `java.rs` (jars),
//! `python.rs` (`*.dist-info/METADATA`), `node.rs` (`node_modules/**/package.json`),
//! `debian.rs` (`/var/lib/dpkg/status.d/*`, `/var/lib/dpkg/status`), `rust.rs` (Cargo.lock),
//! `go.rs` (the build info Go binaries embed; go.mod's requirements only without it).
//!
//! Documents are reproducible: the namespace is derived from the image manifest's digest, the
//! only time is the publish epoch, packages are sorted and numbered in that order.

pub mod cyclonedx;
mod debian;
mod go;
mod java;
mod node;
mod part;
mod python;
mod rust;
mod spdx;

use crate::digest::Digest;
use crate::layer::LayerError;
use crate::oci::tree::{Whiteout, layer_tar, normalize, remove_under};
use crate::oci::{BlobSource, Layer};
use crate::plan::LayerSpec;
use crate::platform::Platform;
use std::collections::BTreeMap;
use std::io::{self, Read};
use std::path::{Path, PathBuf};

pub use part::{LayerPart, layer_part};
pub(crate) use spdx::image_purl;
pub use spdx::{
    Annotation, Checksum, CreationInfo, Document, ExternalRef, Package, Relationship, document,
    file_name, to_bytes, write,
};

/// Text files (METADATA, package.json, dpkg status) read whole are capped: a full Debian's
/// `/var/lib/dpkg/status` is a few MiB.
const TEXT_LIMIT: u64 = 32 << 20;

#[derive(Debug, thiserror::Error)]
pub enum SbomError {
    #[error("SBOM: reading {path}")]
    Read { path: PathBuf, source: io::Error },
    #[error("SBOM: reading base layer {path}")]
    BaseLayer { path: PathBuf, source: io::Error },
    #[error("SBOM: {path} is not valid: {detail}")]
    Invalid { path: PathBuf, detail: String },
    #[error("SBOM: writing {path}")]
    Write { path: PathBuf, source: io::Error },
    #[error("SBOM")]
    Layer(#[from] LayerError),
}

/// A package found in the image. Field order is the sort order: purl, name, version.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
pub struct Found {
    pub purl: String,
    pub name: String,
    /// Empty when the source states none (a Go main module).
    pub version: String,
    /// An SPDX license expression, only when the source states one plainly.
    pub license: Option<String>,
    /// Where it was found (`/app/libs/commons-lang3-3.12.0.jar`, `Cargo.lock`).
    pub source_info: String,
    /// What else the source states (a Go module's sum, the build settings), in a stable order:
    /// CycloneDX properties, SPDX annotations.
    pub properties: Vec<(String, String)>,
}

/// What a scan of one platform image found.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Scan {
    /// Sorted by (purl, name, version, …).
    pub packages: Vec<Found>,
    /// Said in the document's `comment`: what was not scanned, files that did not parse.
    pub notes: Vec<String>,
}

/// The image an SBOM describes.
pub struct ImageRef<'a> {
    pub name: &'a str,
    pub platform: &'a Platform,
    /// The platform image's manifest digest.
    pub manifest: &'a Digest,
    /// The publish epoch (seconds).
    pub epoch: u64,
}

/// The project whose lock files list packages compiled into the image.
pub struct Project<'a> {
    pub dir: &'a Path,
    /// The plan's detector (`rust`, `go`, …): which lock file counts.
    pub detector: &'a str,
    /// lade's cache directory: what a base's layers hold is kept under `base-sbom/`, per
    /// layer digests, so a base is read once, not on every publish. `None` reads it each time.
    pub cache: Option<&'a Path>,
}

/// What a base's layers hold, by the image path of each file that lists packages, and what
/// could not be read: the part of a scan that depends only on the base.
#[derive(Default, serde::Serialize, serde::Deserialize)]
struct BaseScan {
    by_path: BTreeMap<String, Result<Vec<Found>, String>>,
    notes: Vec<String>,
}

/// The file keeping the scan of `base`'s layers: a digest of lade's version (the scanner
/// may learn new package sources) and the layers' digests.
fn base_scan_file(cache: &Path, base: &[Layer]) -> PathBuf {
    let mut key = format!("lade {} base sbom\n", env!("CARGO_PKG_VERSION"));
    for l in base {
        key.push_str(&format!("{} {}\n", l.digest(), l.descriptor.media_type()));
    }
    let hex = crate::digest::Digest::of(key.as_bytes()).hex().to_string();
    cache.join("base-sbom").join(format!("{hex}.json"))
}

fn scan_base(base: &[Layer]) -> Result<BaseScan, SbomError> {
    let mut c = Collector::default();
    let mut notes = Vec::new();
    let remote = base
        .iter()
        .filter(|l| matches!(l.source, BlobSource::Remote { .. }))
        .count();
    if remote > 0 {
        notes.push(format!(
            "{remote} base layer(s) only in a registry were not scanned"
        ));
    }
    for layer in base {
        if let BlobSource::File(path) = &layer.source {
            let media_type = layer.descriptor.media_type().to_string();
            if !c.base_layer(path, &media_type)? {
                notes.push(format!(
                    "base layer {} ({media_type}) was not scanned",
                    layer.digest()
                ));
            }
        }
    }
    Ok(BaseScan {
        by_path: c.by_path,
        notes,
    })
}

/// [`scan_base`], kept in the cache when every layer was local (a registry-only layer may be
/// fetched next time, and then the scan says more).
fn cached_base_scan(base: &[Layer], cache: Option<&Path>) -> Result<BaseScan, SbomError> {
    let all_local = base.iter().all(|l| matches!(l.source, BlobSource::File(_)));
    let Some(file) = cache.filter(|_| all_local).map(|c| base_scan_file(c, base)) else {
        return scan_base(base);
    };
    if let Some(kept) = crate::kept::read_json::<BaseScan>(&file) {
        return Ok(kept);
    }
    let scanned = scan_base(base)?;
    crate::kept::keep_json(&file, &scanned);
    Ok(scanned)
}

/// The property a package found in the base's layers carries (CycloneDX property, SPDX
/// annotation): what a rebase replaces with the new base's packages, keeping the rest.
pub const LAYER_PROPERTY: &str = "lade:layer";
pub const LAYER_BASE: &str = "base";
/// How the note of a base file that did not parse goes on: `PATH skipped: in the base: …`.
const BASE_SKIP: &str = "in the base: ";

/// The base's findings marked as the base's: packages get [`LAYER_PROPERTY`], files that did
/// not parse say so in their note.
fn mark_base(
    by_path: BTreeMap<String, Result<Vec<Found>, String>>,
) -> BTreeMap<String, Result<Vec<Found>, String>> {
    by_path
        .into_iter()
        .map(|(path, found)| {
            let found = match found {
                Ok(list) => Ok(list
                    .into_iter()
                    .map(|mut f| {
                        f.properties
                            .push((LAYER_PROPERTY.to_string(), LAYER_BASE.to_string()));
                        f
                    })
                    .collect()),
                Err(detail) => Err(format!("{BASE_SKIP}{detail}")),
            };
            (path, found)
        })
        .collect()
}

/// Whether a scan's note is about the base: its layers not scanned, or one of its files.
fn base_note(note: &str) -> bool {
    note.starts_with("base layer ")
        || note.contains(" base layer(s) ")
        || note.contains(&format!(" skipped: {BASE_SKIP}"))
}

/// The packages and notes of what the layers left at each path.
fn findings(
    by_path: BTreeMap<String, Result<Vec<Found>, String>>,
    notes: &mut Vec<String>,
) -> Vec<Found> {
    let mut packages = Vec::new();
    for (path, found) in by_path {
        match found {
            Ok(mut p) => packages.append(&mut p),
            Err(detail) => notes.push(format!("{path} skipped: {detail}")),
        }
    }
    packages
}

/// What of `scan` is not the base's: lade's own packages and notes, which a rebase carries
/// over unchanged since lade's layers are.
pub fn without_base(scan: Scan) -> Scan {
    let is_base = |f: &Found| {
        f.properties
            .iter()
            .any(|(k, v)| k == LAYER_PROPERTY && v == LAYER_BASE)
    };
    Scan {
        packages: scan.packages.into_iter().filter(|f| !is_base(f)).collect(),
        notes: scan.notes.into_iter().filter(|n| !base_note(n)).collect(),
    }
}

/// Whether the scan of `base`'s layers is kept in `cache`: then [`on_base`] reads no layer.
pub fn base_scan_kept(cache: &Path, base: &[Layer]) -> bool {
    crate::kept::read_json::<BaseScan>(&base_scan_file(cache, base)).is_some()
}

/// A rebased image's scan: `base`'s packages (scanned, or kept in `cache`) under lade's own
/// (`own`, as [`without_base`] gave them from the image's SBOM before the rebase). A file of
/// lade's at a path the base also has hides the base's, as in the image.
pub fn on_base(base: &[Layer], own: Scan, cache: Option<&Path>) -> Result<Scan, SbomError> {
    // A kept scan stands for the layers wherever their bytes are: the caller fetched them
    // only when there was none.
    let kept = cache.and_then(|c| crate::kept::read_json::<BaseScan>(&base_scan_file(c, base)));
    let BaseScan { by_path, mut notes } = match kept {
        Some(k) => k,
        None => cached_base_scan(base, cache)?,
    };
    let mut by_path = mark_base(by_path);
    for f in &own.packages {
        let path = f.source_info.split(" (").next().unwrap_or_default();
        by_path.remove(path);
    }
    let mut packages = findings(by_path, &mut notes);
    packages.extend(own.packages);
    notes.extend(own.notes);
    packages.sort();
    packages.dedup();
    Ok(Scan { packages, notes })
}

/// One of lade's layers as a scan takes it: its files on the host, or what a scan of them
/// found before (a layer taken from a shared cache, whose files are not here).
pub enum LadeLayer<'a> {
    Files(&'a LayerSpec),
    Part(&'a LayerPart),
}

/// Scans one platform image: `base` layers (lowest first), then lade's `layers`, then the
/// project's lock file.
pub fn scan(base: &[Layer], layers: &[LayerSpec], project: &Project) -> Result<Scan, SbomError> {
    let layers: Vec<LadeLayer> = layers.iter().map(LadeLayer::Files).collect();
    scan_layers(base, &layers, project)
}

/// [`scan`] with some of lade's layers given by their [`LayerPart`].
pub fn scan_layers(
    base: &[Layer],
    layers: &[LadeLayer],
    project: &Project,
) -> Result<Scan, SbomError> {
    let BaseScan { by_path, mut notes } = cached_base_scan(base, project.cache)?;
    let mut c = Collector {
        by_path: mark_base(by_path),
    };
    let mut parts = Vec::new();
    for layer in layers {
        let computed;
        let part = match layer {
            LadeLayer::Files(spec) => {
                computed = layer_part(spec, project.detector)?;
                &computed
            }
            LadeLayer::Part(p) => p,
        };
        for (path, found) in &part.paths {
            c.replace(path, found.clone());
        }
        parts.push(part.clone());
    }
    let mut packages = findings(c.by_path, &mut notes);
    packages.append(&mut part::project_packages(&parts, project, &mut notes)?);
    packages.sort();
    packages.dedup();
    Ok(Scan { packages, notes })
}

/// What a file's path says it may hold.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Jar,
    PythonMetadata,
    NodePackage,
    DpkgStatusD,
    DpkgStatus,
}

fn classify(path: &str) -> Option<Kind> {
    let parts: Vec<&str> = path.split('/').filter(|c| !c.is_empty()).collect();
    let file = *parts.last()?;
    if file.ends_with(".jar") {
        return Some(Kind::Jar);
    }
    if path == "/var/lib/dpkg/status" {
        return Some(Kind::DpkgStatus);
    }
    if let Some(name) = path.strip_prefix("/var/lib/dpkg/status.d/") {
        return (!name.contains('/') && !name.ends_with(".md5sums") && !name.starts_with('.'))
            .then_some(Kind::DpkgStatusD);
    }
    if file == "METADATA" && parts.len() >= 2 && parts[parts.len() - 2].ends_with(".dist-info") {
        return Some(Kind::PythonMetadata);
    }
    if file == "package.json" {
        let at = parts.iter().rposition(|c| *c == "node_modules")?;
        let rest = &parts[at + 1..];
        let ok = match rest {
            [name, _] => !name.starts_with('@') && !name.starts_with('.'),
            [scope, _, _] => scope.starts_with('@'),
            _ => false,
        };
        return ok.then_some(Kind::NodePackage);
    }
    None
}

/// Packages a text file lists, or why it was skipped.
fn parse_text(kind: Kind, text: &str, path: &str) -> Result<Vec<Found>, String> {
    match kind {
        Kind::PythonMetadata => python::parse_metadata(text, path),
        Kind::NodePackage => node::parse_package_json(text, path),
        Kind::DpkgStatusD | Kind::DpkgStatus => debian::parse_status(text, path),
        Kind::Jar => unreachable!("jars are opened from disk"),
    }
}

/// Reads at most [`TEXT_LIMIT`] bytes; `None` when the file is bigger or not UTF-8.
fn read_text(r: impl Read) -> io::Result<Result<String, String>> {
    let mut bytes = Vec::new();
    r.take(TEXT_LIMIT + 1).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > TEXT_LIMIT {
        return Ok(Err(format!("larger than {TEXT_LIMIT} bytes")));
    }
    Ok(String::from_utf8(bytes).map_err(|_| "not UTF-8".to_string()))
}

/// Packages by the image path of the file that lists them; a later layer's file replaces an
/// earlier one's, whiteouts remove them.
#[derive(Default)]
struct Collector {
    by_path: BTreeMap<String, Result<Vec<Found>, String>>,
}

impl Collector {
    /// Any entry at `path` hides what lower layers had there.
    fn replace(&mut self, path: &str, found: Option<Result<Vec<Found>, String>>) {
        remove_under(&mut self.by_path, path, true);
        if let Some(f) = found {
            self.by_path.insert(path.to_string(), f);
        }
    }

    /// One base layer, streamed; `false` when its compression is not one lade reads.
    fn base_layer(&mut self, path: &Path, media_type: &str) -> Result<bool, SbomError> {
        let err = |source| SbomError::BaseLayer {
            path: path.to_path_buf(),
            source,
        };
        let file = std::fs::File::open(path).map_err(err)?;
        let Some(reader) = layer_tar(file, media_type) else {
            return Ok(false);
        };
        let mut archive = tar::Archive::new(reader);
        for entry in archive.entries().map_err(err)? {
            let mut entry = entry.map_err(err)?;
            let raw = entry.path().map_err(err)?.to_string_lossy().into_owned();
            let image_path = normalize(&raw);
            if let Some(w) = Whiteout::of(&image_path) {
                w.apply(&mut self.by_path);
                continue;
            }
            let kind = entry.header().entry_type();
            if kind.is_dir() {
                continue;
            }
            let found = match (kind.is_file(), classify(&image_path)) {
                (true, Some(Kind::Jar)) => {
                    // Zip needs to seek: spool the jar to a temporary file, never to memory.
                    let mut tmp = tempfile::tempfile().map_err(err)?;
                    io::copy(&mut entry, &mut tmp).map_err(err)?;
                    Some(java::scan_jar_file(tmp, &image_path))
                }
                (true, Some(k)) => Some(match read_text(&mut entry).map_err(err)? {
                    Ok(text) => parse_text(k, &text, &image_path),
                    Err(e) => Err(e),
                }),
                _ => None,
            };
            self.replace(&image_path, found);
        }
        Ok(true)
    }
}

/// Percent-encodes a purl component: letters, digits and `.-_~` stay.
pub(crate) fn pct(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b".-_~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// SPDX license identifiers lade passes through when a package states one; anything else
/// (prose, classifiers, file references) is NOASSERTION.
const KNOWN_LICENSES: &[&str] = &[
    "0BSD",
    "AGPL-3.0-only",
    "AGPL-3.0-or-later",
    "Apache-2.0",
    "Artistic-2.0",
    "BSD-2-Clause",
    "BSD-3-Clause",
    "BlueOak-1.0.0",
    "CC0-1.0",
    "CC-BY-4.0",
    "EPL-1.0",
    "EPL-2.0",
    "GPL-2.0-only",
    "GPL-2.0-or-later",
    "GPL-3.0-only",
    "GPL-3.0-or-later",
    "ISC",
    "LGPL-2.1-only",
    "LGPL-2.1-or-later",
    "LGPL-3.0-only",
    "LGPL-3.0-or-later",
    "MIT",
    "MIT-0",
    "MPL-2.0",
    "PSF-2.0",
    "Python-2.0",
    "Unlicense",
    "Zlib",
];

/// `text` when it is a plain SPDX expression of known identifiers (`MIT`, `MIT OR Apache-2.0`).
pub(crate) fn plain_license(text: &str) -> Option<String> {
    let text = text.trim();
    if text.is_empty() || text.contains('\n') {
        return None;
    }
    let tokens: Vec<&str> = text
        .split(|c: char| c.is_whitespace() || c == '(' || c == ')')
        .filter(|t| !t.is_empty())
        .collect();
    let ok = tokens.iter().enumerate().all(|(i, t)| {
        if i % 2 == 1 {
            *t == "AND" || *t == "OR"
        } else {
            KNOWN_LICENSES.contains(t)
        }
    });
    (ok && tokens.len() % 2 == 1).then(|| text.to_string())
}

#[cfg(test)]
mod tests;
