//! Reading jars and exploded jar directories: the manifest, Spring Boot detection and layers,
//! and a streaming walk over entries that refuses paths escaping the root (zip-slip).

use super::{JavaError, io_err};
use std::fs::{self, File};
use std::io::{self, BufReader, Read};
use std::path::{Path, PathBuf};
use zip::ZipArchive;

/// Where a jar keeps its manifest.
pub const MANIFEST_PATH: &str = "META-INF/MANIFEST.MF";
/// Where Spring Boot puts the layer index when the manifest does not say.
const DEFAULT_LAYERS_INDEX: &str = "BOOT-INF/layers.idx";
/// Spring Boot's default places for the application's classes and its libraries.
const DEFAULT_BOOT_CLASSES: &str = "BOOT-INF/classes/";
const DEFAULT_BOOT_LIB: &str = "BOOT-INF/lib/";
/// Spring Boot's loader classes, the default `spring-boot-loader` layer.
const BOOT_LOADER_PREFIX: &str = "org/springframework/boot/loader/";
/// Manifests and layer indexes are a few KiB; the cap keeps a corrupt or hostile jar from making
/// us hold gigabytes in memory.
const SMALL_TEXT_LIMIT: u64 = 1 << 20;

/// The main section of a jar manifest, as far as lade uses it.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Manifest {
    /// `Main-Class`
    pub main_class: Option<String>,
    /// `Start-Class` (Spring Boot)
    pub start_class: Option<String>,
    /// `Class-Path`, split on spaces
    pub class_path: Vec<String>,
    /// `Spring-Boot-Layers-Index` (e.g. `BOOT-INF/layers.idx`)
    pub layers_index: Option<String>,
    /// `Spring-Boot-Classes` (`BOOT-INF/classes/`)
    pub boot_classes: Option<String>,
    /// `Spring-Boot-Lib` (`BOOT-INF/lib/`)
    pub boot_lib: Option<String>,
}

/// One Spring Boot layer: its name and the index entries it claims (a path ending in `/` is a
/// directory prefix, anything else an exact path).
#[derive(Clone, Debug, PartialEq)]
pub struct BootLayer {
    pub name: String,
    pub entries: Vec<String>,
}

/// Reads the manifest of a jar or exploded directory; `None` when it has no
/// `META-INF/MANIFEST.MF`.
pub fn read_manifest(source: &Path) -> Result<Option<Manifest>, JavaError> {
    let mut src = Source::open(source)?;
    manifest_of(&mut src)
}

/// A Spring Boot jar/dir: has BOOT-INF/ (or Spring-Boot-Classes in the manifest).
pub fn is_spring_boot(source: &Path) -> Result<bool, JavaError> {
    let mut src = Source::open(source)?;
    let manifest = manifest_of(&mut src)?;
    Ok(is_boot(&src, manifest.as_ref()))
}

/// The layers of a Spring Boot jar/dir in order: parsed from its layers.idx; without an index,
/// the default four: dependencies (BOOT-INF/lib/ jars without SNAPSHOT in the name),
/// spring-boot-loader (org/springframework/boot/loader/), snapshot-dependencies
/// (BOOT-INF/lib/*SNAPSHOT*.jar), application (everything else). Returns Ok(None) when not
/// Spring Boot.
pub fn boot_layers(source: &Path) -> Result<Option<Vec<BootLayer>>, JavaError> {
    let mut src = Source::open(source)?;
    let manifest = manifest_of(&mut src)?;
    if !is_boot(&src, manifest.as_ref()) {
        return Ok(None);
    }
    Ok(Some(boot_layers_of(&mut src, manifest.as_ref())?.1))
}

/// The index of the layer an entry belongs to: the first layer listing a matching directory
/// prefix or exact path, else the last layer (Spring's rule). `path` is jar-relative; a
/// directory's path ends in `/` so that a prefix entry claims the directory itself.
/// `layers` must not be empty.
pub fn assign_layer(layers: &[BootLayer], path: &str) -> usize {
    layers
        .iter()
        .position(|layer| {
            layer.entries.iter().any(|entry| {
                if entry.ends_with('/') {
                    path.starts_with(entry.as_str())
                } else {
                    path == entry
                }
            })
        })
        .unwrap_or(layers.len().saturating_sub(1))
}

/// Parses the main section of a manifest. Per the JAR specification a line starting with one
/// space continues the previous line, and the main section ends at the first blank line; header
/// names are case-insensitive.
pub fn parse_manifest(text: &str) -> Manifest {
    let mut lines: Vec<String> = Vec::new();
    for raw in text.split('\n') {
        let raw = raw.strip_suffix('\r').unwrap_or(raw);
        if let Some(rest) = raw.strip_prefix(' ')
            && let Some(last) = lines.last_mut()
        {
            last.push_str(rest);
            continue;
        }
        if raw.is_empty() {
            if lines.is_empty() {
                continue;
            }
            break;
        }
        lines.push(raw.to_string());
    }
    let mut manifest = Manifest::default();
    for line in &lines {
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        let value = value.trim();
        let text = (!value.is_empty()).then(|| value.to_string());
        let name = name.trim();
        let is = |key: &str| name.eq_ignore_ascii_case(key);
        if is("Main-Class") {
            manifest.main_class = text;
        } else if is("Start-Class") {
            manifest.start_class = text;
        } else if is("Class-Path") {
            manifest.class_path = value.split_whitespace().map(str::to_string).collect();
        } else if is("Spring-Boot-Layers-Index") {
            manifest.layers_index = text;
        } else if is("Spring-Boot-Classes") {
            manifest.boot_classes = text;
        } else if is("Spring-Boot-Lib") {
            manifest.boot_lib = text;
        }
    }
    manifest
}

/// Parses Spring Boot's layers.idx: `- "name":` starts a layer, `  - "path"` adds an entry to it.
/// `index` names the file in errors.
pub fn parse_layers_index(text: &str, index: &str) -> Result<Vec<BootLayer>, JavaError> {
    let err = |line: usize, detail: &str| JavaError::LayersIndex {
        index: index.to_string(),
        line,
        detail: detail.to_string(),
    };
    let mut layers: Vec<BootLayer> = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line_no = n + 1;
        let line = line.trim_end();
        if line.trim_start().is_empty() {
            continue;
        }
        if let Some(rest) = line.strip_prefix("- ") {
            let name = rest
                .strip_suffix(':')
                .and_then(unquote)
                .ok_or_else(|| err(line_no, "expected a layer as - \"name\":"))?;
            layers.push(BootLayer {
                name: name.to_string(),
                entries: Vec::new(),
            });
        } else if line.starts_with(' ')
            && let Some(rest) = line.trim_start().strip_prefix("- ")
        {
            let entry =
                unquote(rest).ok_or_else(|| err(line_no, "expected an entry as   - \"path\""))?;
            let layer = layers
                .last_mut()
                .ok_or_else(|| err(line_no, "an entry comes before any layer"))?;
            layer.entries.push(entry.to_string());
        } else {
            return Err(err(
                line_no,
                "expected a layer (- \"name\":) or an entry (  - \"path\")",
            ));
        }
    }
    if layers.is_empty() {
        return Err(err(1, "the index lists no layers: rebuild the jar"));
    }
    Ok(layers)
}

fn unquote(s: &str) -> Option<&str> {
    let inner = s.strip_prefix('"')?.strip_suffix('"')?;
    (!inner.contains('"')).then_some(inner)
}

/// The manifest of an opened source.
pub(crate) fn manifest_of(src: &mut Source) -> Result<Option<Manifest>, JavaError> {
    Ok(src
        .read_small_text(MANIFEST_PATH)?
        .map(|text| parse_manifest(&text)))
}

/// Spring Boot when the jar has BOOT-INF/ or its manifest says where the boot classes are.
pub(crate) fn is_boot(src: &Source, manifest: Option<&Manifest>) -> bool {
    manifest.is_some_and(|m| m.boot_classes.is_some()) || src.has_dir("BOOT-INF")
}

/// Spring-Boot-Classes as a safe, `/`-terminated jar-relative prefix.
pub(crate) fn boot_classes_prefix(manifest: Option<&Manifest>) -> String {
    dir_prefix(
        manifest.and_then(|m| m.boot_classes.as_deref()),
        DEFAULT_BOOT_CLASSES,
    )
}

fn dir_prefix(configured: Option<&str>, default: &str) -> String {
    match configured.and_then(safe_entry_path) {
        Some(path) if !path.is_empty() => format!("{path}/"),
        _ => default.to_string(),
    }
}

/// The layers of a Spring Boot source and a label for the index they came from (for errors).
pub(crate) fn boot_layers_of(
    src: &mut Source,
    manifest: Option<&Manifest>,
) -> Result<(String, Vec<BootLayer>), JavaError> {
    let named = manifest.and_then(|m| m.layers_index.as_deref());
    let index_path = match named {
        Some(name) => Some(safe_entry_path(name).ok_or_else(|| JavaError::Manifest {
            path: src.path().to_path_buf(),
            detail: format!(
                "Spring-Boot-Layers-Index {name} is not a path inside the jar: rebuild the jar"
            ),
        })?),
        None => src
            .has_file(DEFAULT_LAYERS_INDEX)
            .then(|| DEFAULT_LAYERS_INDEX.to_string()),
    };
    if let Some(index_path) = index_path {
        let label = format!("{}!/{index_path}", src.path().display());
        let text = src
            .read_small_text(&index_path)?
            .ok_or_else(|| JavaError::Manifest {
                path: src.path().to_path_buf(),
                detail: format!(
                    "the manifest names the layer index {index_path}, which is missing: rebuild the jar"
                ),
            })?;
        let layers = parse_layers_index(&text, &label)?;
        return Ok((label, layers));
    }
    let lib = dir_prefix(
        manifest.and_then(|m| m.boot_lib.as_deref()),
        DEFAULT_BOOT_LIB,
    );
    let mut dependencies = Vec::new();
    let mut snapshots = Vec::new();
    for name in src.file_names()? {
        let Some(file) = name.strip_prefix(lib.as_str()) else {
            continue;
        };
        let base = file.rsplit('/').next().unwrap_or(file);
        if base.contains("SNAPSHOT") {
            snapshots.push(name);
        } else {
            dependencies.push(name);
        }
    }
    let layers = vec![
        BootLayer {
            name: "dependencies".into(),
            entries: dependencies,
        },
        BootLayer {
            name: "spring-boot-loader".into(),
            entries: vec![BOOT_LOADER_PREFIX.into()],
        },
        BootLayer {
            name: "snapshot-dependencies".into(),
            entries: snapshots,
        },
        // Everything no other layer claims lands in the last layer.
        BootLayer {
            name: "application".into(),
            entries: Vec::new(),
        },
    ];
    Ok((format!("{} (default layers)", src.path().display()), layers))
}

/// A jar entry name made safe to join under a directory: `.` and empty components dropped;
/// `None` when absolute, holding a NUL, or with a `..` component (also between backslashes,
/// which Windows-made archives use as separators).
pub fn safe_entry_path(name: &str) -> Option<String> {
    if name.starts_with('/') || name.starts_with('\\') || name.contains('\0') {
        return None;
    }
    // A drive letter (`C:`) makes the name absolute on Windows.
    if name.as_bytes().first().is_some_and(u8::is_ascii_alphabetic)
        && name.as_bytes().get(1) == Some(&b':')
    {
        return None;
    }
    if name.split(['/', '\\']).any(|part| part == "..") {
        return None;
    }
    let parts: Vec<&str> = name
        .split('/')
        .filter(|part| !part.is_empty() && *part != ".")
        .collect();
    Some(parts.join("/"))
}

/// What an entry is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum EntryKind {
    Dir,
    File,
}

/// A jar file or an exploded jar directory, read the same way.
pub(crate) enum Source {
    Jar {
        path: PathBuf,
        zip: ZipArchive<BufReader<File>>,
    },
    Dir(PathBuf),
}

impl Source {
    pub(crate) fn open(path: &Path) -> Result<Self, JavaError> {
        let meta = fs::metadata(path).map_err(io_err("reading", path))?;
        if meta.is_dir() {
            return Ok(Source::Dir(path.to_path_buf()));
        }
        let file = File::open(path).map_err(io_err("opening", path))?;
        let zip = ZipArchive::new(BufReader::new(file)).map_err(|cause| JavaError::Zip {
            jar: path.to_path_buf(),
            cause,
        })?;
        Ok(Source::Jar {
            path: path.to_path_buf(),
            zip,
        })
    }

    pub(crate) fn path(&self) -> &Path {
        match self {
            Source::Jar { path, .. } | Source::Dir(path) => path,
        }
    }

    /// Whether a file exists at the jar-relative `name`.
    pub(crate) fn has_file(&self, name: &str) -> bool {
        match self {
            Source::Dir(dir) => dir.join(name).is_file(),
            Source::Jar { zip, .. } => zip.index_for_name(name).is_some(),
        }
    }

    /// Whether anything lives under the jar-relative directory `name` (jars need not list
    /// directory entries, so any entry under it counts).
    pub(crate) fn has_dir(&self, name: &str) -> bool {
        match self {
            Source::Dir(dir) => dir.join(name).is_dir(),
            Source::Jar { zip, .. } => {
                let prefix = format!("{name}/");
                zip.file_names()
                    .any(|n| n.is_ok_and(|n| n.starts_with(prefix.as_str())))
            }
        }
    }

    /// Reads a small text file (manifest, layer index); `None` when absent.
    pub(crate) fn read_small_text(&mut self, name: &str) -> Result<Option<String>, JavaError> {
        let (bytes, origin) = match self {
            Source::Dir(dir) => {
                let path = dir.join(name);
                let file = match File::open(&path) {
                    Ok(file) => file,
                    Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
                    Err(e) => return Err(io_err("opening", &path)(e)),
                };
                let bytes = read_capped(file).map_err(io_err("reading", &path))?;
                (bytes, path)
            }
            Source::Jar { path, zip } => {
                let Some(index) = zip.index_for_name(name) else {
                    return Ok(None);
                };
                let entry = zip.by_index(index).map_err(|cause| JavaError::Zip {
                    jar: path.clone(),
                    cause,
                })?;
                let bytes = read_capped(entry).map_err(|cause| JavaError::ZipEntry {
                    jar: path.clone(),
                    entry: name.to_string(),
                    cause,
                })?;
                (bytes, path.join(name))
            }
        };
        if bytes.len() as u64 > SMALL_TEXT_LIMIT {
            return Err(JavaError::Manifest {
                path: origin,
                detail: "is larger than 1 MiB: not a manifest or layer index lade can read".into(),
            });
        }
        String::from_utf8(bytes)
            .map(Some)
            .map_err(|_| JavaError::Manifest {
                path: origin,
                detail: "is not UTF-8 text: rebuild the jar".into(),
            })
    }

    /// Jar-relative paths of every file (not directory), in entry order for a jar and sorted
    /// for a directory. A jar's names come from its central directory, without opening entries.
    pub(crate) fn file_names(&mut self) -> Result<Vec<String>, JavaError> {
        let mut names = Vec::new();
        if let Source::Jar { path, zip } = self {
            for name in zip.file_names() {
                let name = name.map_err(|cause| JavaError::Zip {
                    jar: path.clone(),
                    cause,
                })?;
                let rel = safe_entry_path(&name).ok_or_else(|| JavaError::UnsafeEntry {
                    jar: path.clone(),
                    entry: name.to_string(),
                })?;
                if !rel.is_empty() && !name.ends_with('/') {
                    names.push(rel);
                }
            }
            return Ok(names);
        }
        self.for_each_entry(|entry| {
            if entry.kind == EntryKind::File {
                names.push(entry.path.to_string());
            }
            Ok(())
        })?;
        Ok(names)
    }

    /// Calls `f` for every entry: a jar's in archive order, a directory's sorted by name (so
    /// the order, and whatever it decides, depends only on the names). Paths are jar-relative
    /// with `/` separators; unsafe paths and symbolic links are errors, since unpacking them
    /// could write outside the output or depend on files outside the input.
    pub(crate) fn for_each_entry(
        &mut self,
        mut f: impl FnMut(&mut Entry<'_>) -> Result<(), JavaError>,
    ) -> Result<(), JavaError> {
        match self {
            Source::Jar { path, zip } => {
                for i in 0..zip.len() {
                    let mut file = zip.by_index(i).map_err(|cause| JavaError::Zip {
                        jar: path.clone(),
                        cause,
                    })?;
                    let name = file
                        .name()
                        .map_err(|cause| JavaError::Zip {
                            jar: path.clone(),
                            cause,
                        })?
                        .into_owned();
                    let rel = safe_entry_path(&name).ok_or_else(|| JavaError::UnsafeEntry {
                        jar: path.clone(),
                        entry: name.clone(),
                    })?;
                    if rel.is_empty() {
                        continue;
                    }
                    if file.is_symlink() {
                        return Err(JavaError::Symlink {
                            source_path: path.clone(),
                            entry: name,
                        });
                    }
                    let kind = if file.is_dir() {
                        EntryKind::Dir
                    } else {
                        EntryKind::File
                    };
                    f(&mut Entry {
                        kind,
                        path: &rel,
                        reader: EntryReader::Zip {
                            jar: path,
                            reader: &mut file,
                        },
                    })?;
                }
            }
            Source::Dir(dir) => {
                let walk = walkdir::WalkDir::new(&*dir)
                    .min_depth(1)
                    .follow_links(false)
                    .sort_by_file_name()
                    .into_iter()
                    .filter_entry(|e| {
                        e.depth() != 1
                            || !NOT_JAR_CONTENT
                                .iter()
                                .any(|n| e.file_name() == std::ffi::OsStr::new(n))
                    });
                for item in walk {
                    let item = item.map_err(|e| {
                        let path = e.path().unwrap_or(dir).to_path_buf();
                        JavaError::Io {
                            action: "reading",
                            path,
                            cause: e.into(),
                        }
                    })?;
                    let rel = relative_name(dir, item.path())?;
                    let file_type = item.file_type();
                    if file_type.is_symlink() {
                        return Err(JavaError::Symlink {
                            source_path: dir.clone(),
                            entry: rel,
                        });
                    }
                    let kind = if file_type.is_dir() {
                        EntryKind::Dir
                    } else {
                        EntryKind::File
                    };
                    f(&mut Entry {
                        kind,
                        path: &rel,
                        reader: EntryReader::Path(item.path()),
                    })?;
                }
            }
        }
        Ok(())
    }
}

/// Top-level names of an exploded directory that are not the application's: lade's own files
/// and version control, present when the project directory itself is the exploded jar.
const NOT_JAR_CONTENT: [&str; 6] = [
    "lade.toml",
    "lade.lock",
    "lade-base.lock",
    ".dockerignore",
    ".git",
    ".gitignore",
];

fn relative_name(root: &Path, path: &Path) -> Result<String, JavaError> {
    let rel = path.strip_prefix(root).unwrap_or(path);
    let mut parts = Vec::new();
    for part in rel.components() {
        let part = part.as_os_str().to_str().ok_or_else(|| JavaError::Io {
            action: "reading",
            path: path.to_path_buf(),
            cause: io::Error::new(
                io::ErrorKind::InvalidData,
                "the file name is not UTF-8: rename it",
            ),
        })?;
        parts.push(part);
    }
    Ok(parts.join("/"))
}

fn read_capped(reader: impl Read) -> io::Result<Vec<u8>> {
    let mut bytes = Vec::new();
    // One byte past the limit tells "exactly at the limit" from "over it".
    reader.take(SMALL_TEXT_LIMIT + 1).read_to_end(&mut bytes)?;
    Ok(bytes)
}

/// One entry handed to [`Source::for_each_entry`]'s callback; its content is read on demand.
pub(crate) struct Entry<'a> {
    pub kind: EntryKind,
    /// Jar-relative, `/`-separated, never empty, absolute or with `..`.
    pub path: &'a str,
    reader: EntryReader<'a>,
}

enum EntryReader<'a> {
    Zip {
        jar: &'a Path,
        reader: &'a mut dyn Read,
    },
    Path(&'a Path),
}

impl Entry<'_> {
    /// Streams the entry's content into a new file at `dest`.
    pub(crate) fn copy_to(&mut self, dest: &Path) -> Result<(), JavaError> {
        let mut out = File::create(dest).map_err(io_err("creating", dest))?;
        let path = self.path;
        match &mut self.reader {
            EntryReader::Zip { jar, reader } => {
                let mut tracked = Tracked {
                    inner: &mut **reader,
                    failed: false,
                };
                match io::copy(&mut tracked, &mut out) {
                    Ok(_) => Ok(()),
                    Err(cause) if tracked.failed => Err(JavaError::ZipEntry {
                        jar: jar.to_path_buf(),
                        entry: path.to_string(),
                        cause,
                    }),
                    Err(cause) => Err(io_err("writing", dest)(cause)),
                }
            }
            EntryReader::Path(src) => {
                let src: &Path = src;
                let file = File::open(src).map_err(io_err("opening", src))?;
                let mut tracked = Tracked {
                    inner: file,
                    failed: false,
                };
                match io::copy(&mut tracked, &mut out) {
                    Ok(_) => Ok(()),
                    Err(cause) if tracked.failed => Err(io_err("reading", src)(cause)),
                    Err(cause) => Err(io_err("writing", dest)(cause)),
                }
            }
        }
    }

    /// Up to the first `n` bytes of the entry (fewer when it is shorter).
    pub(crate) fn head(&mut self, n: u64) -> Result<Vec<u8>, JavaError> {
        let mut bytes = Vec::new();
        let path = self.path;
        match &mut self.reader {
            EntryReader::Zip { jar, reader } => {
                (&mut **reader)
                    .take(n)
                    .read_to_end(&mut bytes)
                    .map_err(|cause| JavaError::ZipEntry {
                        jar: jar.to_path_buf(),
                        entry: path.to_string(),
                        cause,
                    })?;
            }
            EntryReader::Path(src) => {
                let src: &Path = src;
                let file = File::open(src).map_err(io_err("opening", src))?;
                file.take(n)
                    .read_to_end(&mut bytes)
                    .map_err(io_err("reading", src))?;
            }
        }
        Ok(bytes)
    }
}

/// Remembers whether an `io::copy` failure came from the reading side, so the error can name
/// the entry being read rather than the file being written.
struct Tracked<R> {
    inner: R,
    failed: bool,
}

impl<R: Read> Read for Tracked<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.inner.read(buf).inspect_err(|_| self.failed = true)
    }
}
