//! Lays a Java application out as layer directories under one output directory.
//!
//! Two shapes, told apart by the input:
//! - "classpath": `libs/`, `snapshot-libs/`, `project-libs/` (dependency jars, all placed in the
//!   image under `/app/libs/`), `resources/` and `classes/` (the project's own output), and a
//!   `classpath` argument file for `java -cp @/app/classpath Main`.
//! - "spring-boot": one directory per Spring Boot layer, each holding that layer's part of the
//!   exploded jar, so stacking them at `/app` rebuilds the exploded jar.
//!
//! Both write `java.json`, the [`LayoutReport`], for lade's checks. Only regular files and
//! directories are copied: symbolic links (in a jar or a directory) are errors, because
//! following them would pull in files from outside the input and keeping them could point
//! outside the image's `/app`. Empty directories are kept only in the Spring Boot shape (where
//! the layers rebuild the jar's tree); on a class path they mean nothing.

use super::classfile::{max_major, max_major_in};
use super::jar::{self, EntryKind, MANIFEST_PATH, Manifest, Source};
use super::{JavaError, io_err};
use std::collections::{BTreeSet, HashSet};
use std::fs::{self, File};
use std::io;
use std::path::{Path, PathBuf};

/// What to lay out and where.
pub struct LayoutRequest {
    /// Removed and recreated by [`write_layout`].
    pub out: PathBuf,
    pub input: LayoutInput,
    /// Configured/detected main class; verified to exist. Ignored for Spring Boot jars, whose
    /// entrypoint is the manifest's launcher (which reads Start-Class itself).
    pub main_class: Option<String>,
}

/// The application to lay out.
pub enum LayoutInput {
    /// A build tool's output: `classes` are the project's own output directories (Maven
    /// target/classes; Gradle build/classes/java/main and build/resources/main); `classpath_file`
    /// is the build tool's runtime classpath: entries separated by ':' and/or newlines; blank
    /// entries ignored; entries equal to one of `classes` are skipped; entries under
    /// `project_root` are project (module) dependencies. Relative paths in `classes` and in the
    /// classpath file are resolved against `project_root`. A class directory that does not
    /// exist is skipped (Gradle creates build/resources/main only when there are resources).
    Build {
        project_root: PathBuf,
        classes: Vec<PathBuf>,
        classpath_file: PathBuf,
    },
    /// A prebuilt jar (plain or Spring Boot fat jar).
    Jar(PathBuf),
    /// An exploded jar directory (plain or Spring Boot), with META-INF/MANIFEST.MF.
    Exploded(PathBuf),
}

/// What [`write_layout`] wrote; saved as `java.json` next to the layer directories.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct LayoutReport {
    /// "classpath" or "spring-boot"
    pub kind: String,
    /// The class the entrypoint starts (Spring Boot: the manifest's Main-Class, the launcher).
    pub main_class: String,
    /// Spring Boot's Start-Class.
    pub start_class: Option<String>,
    /// Highest class-file major version of the project's own classes.
    pub bytecode_major: Option<u16>,
    /// The out/ subdirectories written, in layer order.
    pub layers: Vec<String>,
}

/// The report's file name under `out`; never a layer.
pub const REPORT_FILE: &str = "java.json";
/// The argument file's name under `out` (classpath kind).
pub const CLASSPATH_FILE: &str = "classpath";
const LIBS: &str = "libs";
const SNAPSHOT_LIBS: &str = "snapshot-libs";
const PROJECT_LIBS: &str = "project-libs";
const RESOURCES: &str = "resources";
const CLASSES: &str = "classes";
/// The classpath layers, least often changing first.
const CLASSPATH_LAYERS: [&str; 5] = [LIBS, SNAPSHOT_LIBS, PROJECT_LIBS, RESOURCES, CLASSES];

/// Writes the layout of `req.input` under `req.out` (removed first) and returns its report,
/// also saved as `out/java.json`.
pub fn write_layout(req: &LayoutRequest) -> Result<LayoutReport, JavaError> {
    reset_dir(&req.out)?;
    let report = match &req.input {
        LayoutInput::Build {
            project_root,
            classes,
            classpath_file,
        } => build_layout(req, project_root, classes, classpath_file)?,
        LayoutInput::Jar(path) | LayoutInput::Exploded(path) => {
            let mut src = Source::open(path)?;
            let manifest = jar::manifest_of(&mut src)?;
            if jar::is_boot(&src, manifest.as_ref()) {
                boot_layout(&req.out, &mut src, manifest.as_ref())?
            } else {
                plain_layout(req, path, &mut src, manifest.as_ref())?
            }
        }
    };
    let path = req.out.join(REPORT_FILE);
    let json = serde_json::to_vec_pretty(&report).map_err(|cause| JavaError::Report {
        path: path.clone(),
        cause,
    })?;
    fs::write(&path, json).map_err(io_err("writing", &path))?;
    Ok(report)
}

fn reset_dir(dir: &Path) -> Result<(), JavaError> {
    match fs::symlink_metadata(dir) {
        Ok(meta) if meta.is_dir() => fs::remove_dir_all(dir).map_err(io_err("removing", dir))?,
        Ok(_) => fs::remove_file(dir).map_err(io_err("removing", dir))?,
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(io_err("reading", dir)(e)),
    }
    fs::create_dir_all(dir).map_err(io_err("creating", dir))
}

fn build_layout(
    req: &LayoutRequest,
    project_root: &Path,
    classes: &[PathBuf],
    classpath_file: &Path,
) -> Result<LayoutReport, JavaError> {
    let mut cp = Classpath::create(&req.out)?;
    let class_dirs: Vec<PathBuf> = classes.iter().map(|c| project_root.join(c)).collect();
    for dir in &class_dirs {
        if dir.is_dir() {
            cp.merge(&mut Source::Dir(dir.clone()), false)?;
        }
    }
    let canonical_classes: Vec<PathBuf> = class_dirs
        .iter()
        .filter_map(|d| fs::canonicalize(d).ok())
        .collect();
    let canonical_root = fs::canonicalize(project_root).map_err(io_err("reading", project_root))?;
    // A classpath file is one line or one entry per line: small text.
    let text = fs::read_to_string(classpath_file).map_err(io_err("reading", classpath_file))?;
    for raw in text.split([':', '\n']) {
        let raw = raw.trim();
        if raw.is_empty() {
            continue;
        }
        let entry = project_root.join(raw);
        if class_dirs.contains(&entry) {
            continue;
        }
        let canonical = match fs::canonicalize(&entry) {
            Ok(path) => path,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                return Err(JavaError::MissingClasspathEntry {
                    entry,
                    classpath_file: classpath_file.to_path_buf(),
                });
            }
            Err(e) => return Err(io_err("reading", &entry)(e)),
        };
        if canonical_classes.contains(&canonical) {
            continue;
        }
        if canonical.is_dir() {
            cp.merge(&mut Source::Dir(entry), false)?;
        } else {
            cp.add_jar(&entry, &canonical, canonical.starts_with(&canonical_root))?;
        }
    }
    let main = req.main_class.clone().ok_or(JavaError::NoMainClass)?;
    cp.finish(main)
}

fn plain_layout(
    req: &LayoutRequest,
    path: &Path,
    src: &mut Source,
    manifest: Option<&Manifest>,
) -> Result<LayoutReport, JavaError> {
    let mut cp = Classpath::create(&req.out)?;
    cp.merge(src, true)?;
    // Class-Path entries are relative to the directory holding the jar (for an exploded jar,
    // the directory holding the exploded directory).
    let base = path.parent().unwrap_or(Path::new(""));
    for raw in manifest
        .map(|m| m.class_path.as_slice())
        .unwrap_or_default()
    {
        let entry = base.join(percent_decode(raw));
        let missing = || JavaError::MissingManifestClassPath {
            jar: path.to_path_buf(),
            entry: raw.clone(),
        };
        let canonical = match fs::canonicalize(&entry) {
            Ok(canonical) => canonical,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Err(missing()),
            Err(e) => return Err(io_err("reading", &entry)(e)),
        };
        if canonical.is_dir() {
            cp.merge(&mut Source::Dir(entry), false)?;
        } else {
            cp.add_jar(&entry, &canonical, false)?;
        }
    }
    let main = req
        .main_class
        .clone()
        .or_else(|| manifest.and_then(|m| m.main_class.clone()))
        .ok_or(JavaError::NoMainClass)?;
    cp.finish(main)
}

/// Class-Path entries are URLs; jar tools write spaces as `%20`. Anything that does not
/// decode to UTF-8 is taken literally.
pub(crate) fn percent_decode(s: &str) -> String {
    let hex = |b: u8| (b as char).to_digit(16);
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && let (Some(hi), Some(lo)) = (
                bytes.get(i + 1).copied().and_then(hex),
                bytes.get(i + 2).copied().and_then(hex),
            )
        {
            out.push((hi * 16 + lo) as u8);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8(out).unwrap_or_else(|_| s.to_string())
}

/// The classpath layout being written.
struct Classpath<'a> {
    out: &'a Path,
    /// File names used in the three lib directories, which share `/app/libs/` in the image.
    taken: BTreeSet<String>,
    /// Jars already copied, by canonical path: a jar listed twice is one class path entry.
    seen: HashSet<PathBuf>,
    /// Dependency file names in class path order.
    libs: Vec<String>,
    /// Where the copies are, to look the main class up in them.
    copies: Vec<PathBuf>,
}

impl<'a> Classpath<'a> {
    fn create(out: &'a Path) -> Result<Self, JavaError> {
        for layer in CLASSPATH_LAYERS {
            let dir = out.join(layer);
            fs::create_dir_all(&dir).map_err(io_err("creating", &dir))?;
        }
        Ok(Classpath {
            out,
            taken: BTreeSet::new(),
            seen: HashSet::new(),
            libs: Vec::new(),
            copies: Vec::new(),
        })
    }

    /// Copies a tree's `.class` files into `classes/` and everything else into `resources/`;
    /// a path already there stays (the first tree wins). `skip_manifest` leaves a jar's own
    /// manifest out: on a class path it would only shadow the dependencies' manifests.
    fn merge(&mut self, src: &mut Source, skip_manifest: bool) -> Result<(), JavaError> {
        let classes = self.out.join(CLASSES);
        let resources = self.out.join(RESOURCES);
        src.for_each_entry(|entry| {
            if entry.kind != EntryKind::File || (skip_manifest && entry.path == MANIFEST_PATH) {
                return Ok(());
            }
            let root = if entry.path.ends_with(".class") {
                &classes
            } else {
                &resources
            };
            let dest = root.join(entry.path);
            if fs::symlink_metadata(&dest).is_ok() {
                return Ok(());
            }
            create_parent(&dest)?;
            entry.copy_to(&dest)
        })
    }

    /// Copies a dependency jar into `project-libs/`, `snapshot-libs/` or `libs/` under a file
    /// name unique across the three.
    fn add_jar(&mut self, path: &Path, canonical: &Path, project: bool) -> Result<(), JavaError> {
        if !self.seen.insert(canonical.to_path_buf()) {
            return Ok(());
        }
        let unusable = || JavaError::UnusableFileName {
            path: path.to_path_buf(),
        };
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .ok_or_else(unusable)?;
        if name.contains([':', '\n', '\r']) {
            return Err(unusable());
        }
        let dir = if project {
            PROJECT_LIBS
        } else if name.contains("SNAPSHOT") {
            SNAPSHOT_LIBS
        } else {
            LIBS
        };
        let mut unique = name.to_string();
        if self.taken.contains(&unique) {
            let file = File::open(path).map_err(io_err("opening", path))?;
            let (digest, _) =
                crate::digest::digest_reader(file).map_err(io_err("reading", path))?;
            let short = &digest.hex()[..8];
            let (stem, ext) = match name.rsplit_once('.') {
                Some((stem, ext)) if !stem.is_empty() => (stem, format!(".{ext}")),
                _ => (name, String::new()),
            };
            unique = format!("{stem}-{short}{ext}");
            // Same name and same bytes from a third place: still needs its own name.
            let mut n = 2;
            while self.taken.contains(&unique) {
                unique = format!("{stem}-{short}-{n}{ext}");
                n += 1;
            }
        }
        let dest = self.out.join(dir).join(&unique);
        copy_file(path, &dest)?;
        self.taken.insert(unique.clone());
        self.libs.push(unique);
        self.copies.push(dest);
        Ok(())
    }

    /// Verifies the main class, writes the argument file and returns the report.
    fn finish(self, main: String) -> Result<LayoutReport, JavaError> {
        let rel = class_file_path(&main)?;
        let mut found = self.out.join(CLASSES).join(&rel).is_file();
        for jar in &self.copies {
            if found {
                break;
            }
            // A non-jar file on the class path cannot hold the class; only read errors of real
            // jars matter, and those would surface when the JVM starts anyway.
            if let Ok(Source::Jar { zip, .. }) = Source::open(jar) {
                found = zip.index_for_name(&rel).is_some();
            }
        }
        if !found {
            return Err(JavaError::MainClassNotFound { class: main });
        }
        let mut elements = vec![format!("/app/{RESOURCES}"), format!("/app/{CLASSES}")];
        elements.extend(self.libs.iter().map(|name| format!("/app/libs/{name}")));
        let line = argfile_quote(&elements.join(":"));
        let path = self.out.join(CLASSPATH_FILE);
        fs::write(&path, format!("{line}\n")).map_err(io_err("writing", &path))?;
        Ok(LayoutReport {
            kind: "classpath".into(),
            main_class: main,
            start_class: None,
            bytecode_major: max_major(&self.out.join(CLASSES))?,
            layers: CLASSPATH_LAYERS.iter().map(|s| s.to_string()).collect(),
        })
    }
}

/// The java launcher splits an argument file on whitespace; a class path holding spaces (or
/// quotes, or backslashes, which it treats as escapes inside quotes) must be quoted.
pub(crate) fn argfile_quote(arg: &str) -> String {
    if !arg.contains(|c: char| c.is_whitespace() || c == '"' || c == '\'' || c == '\\') {
        return arg.to_string();
    }
    let escaped = arg.replace('\\', "\\\\").replace('"', "\\\"");
    format!("\"{escaped}\"")
}

/// `com.example.Main` → `com/example/Main.class`, refusing anything that is not a binary class
/// name (it is joined under the output directory).
fn class_file_path(class: &str) -> Result<String, JavaError> {
    let valid = !class.is_empty()
        && class.split('.').all(|part| {
            !part.is_empty()
                && !part.contains(|c: char| {
                    c == '/' || c == '\\' || c.is_whitespace() || c.is_control()
                })
        });
    if !valid {
        return Err(JavaError::InvalidMainClass {
            class: class.to_string(),
        });
    }
    Ok(format!("{}.class", class.replace('.', "/")))
}

fn boot_layout(
    out: &Path,
    src: &mut Source,
    manifest: Option<&Manifest>,
) -> Result<LayoutReport, JavaError> {
    let (index, layers) = jar::boot_layers_of(src, manifest)?;
    let mut names = HashSet::new();
    for layer in &layers {
        let name = layer.name.as_str();
        let safe = !name.is_empty()
            && name != "."
            && name != ".."
            && !name.contains(['/', '\\', '\0'])
            && name != REPORT_FILE;
        if !safe || !names.insert(name) {
            return Err(JavaError::LayerName {
                index,
                name: layer.name.clone(),
            });
        }
        let dir = out.join(name);
        fs::create_dir_all(&dir).map_err(io_err("creating", &dir))?;
    }
    src.for_each_entry(|entry| {
        let key = match entry.kind {
            EntryKind::Dir => format!("{}/", entry.path),
            EntryKind::File => entry.path.to_string(),
        };
        let layer = &layers[jar::assign_layer(&layers, &key)];
        let dest = out.join(&layer.name).join(entry.path);
        match entry.kind {
            EntryKind::Dir => fs::create_dir_all(&dest).map_err(io_err("creating", &dest)),
            // A jar holding one name twice: the first copy wins, as when the JVM reads it.
            EntryKind::File if fs::symlink_metadata(&dest).is_ok() => Ok(()),
            EntryKind::File => {
                create_parent(&dest)?;
                entry.copy_to(&dest)
            }
        }
    })?;
    let main =
        manifest
            .and_then(|m| m.main_class.clone())
            .ok_or_else(|| JavaError::NoBootLauncher {
                jar: src.path().to_path_buf(),
            })?;
    let rel = class_file_path(&main)?;
    if !layers
        .iter()
        .any(|l| out.join(&l.name).join(&rel).is_file())
    {
        return Err(JavaError::MainClassNotFound { class: main });
    }
    // The application's classes may be split over layers by the index: take the highest.
    let prefix = jar::boot_classes_prefix(manifest);
    let mut bytecode_major = None;
    for layer in &layers {
        let dir = out.join(&layer.name).join(&prefix);
        if dir.is_dir()
            && let Some(major) = max_major_in(&mut Source::Dir(dir), "")?
        {
            bytecode_major = Some(bytecode_major.map_or(major, |m: u16| m.max(major)));
        }
    }
    Ok(LayoutReport {
        kind: "spring-boot".into(),
        main_class: main,
        start_class: manifest.and_then(|m| m.start_class.clone()),
        bytecode_major,
        layers: layers.into_iter().map(|l| l.name).collect(),
    })
}

fn create_parent(path: &Path) -> Result<(), JavaError> {
    match path.parent() {
        Some(parent) => fs::create_dir_all(parent).map_err(io_err("creating", parent)),
        None => Ok(()),
    }
}

/// Streams a file into a new one; unlike `fs::copy` it does not carry the source's permissions
/// over (a read-only source would make the next run's cleanup harder), and lade's layer writer
/// sets modes anyway.
fn copy_file(from: &Path, to: &Path) -> Result<(), JavaError> {
    let mut input = File::open(from).map_err(io_err("opening", from))?;
    let mut output = File::create(to).map_err(io_err("creating", to))?;
    io::copy(&mut input, &mut output).map_err(|cause| JavaError::Io {
        action: "copying",
        path: from.to_path_buf(),
        cause,
    })?;
    Ok(())
}
