//! Java: reading jars (manifests, Spring Boot layer indexes, class-file versions) and laying a
//! Java application out on disk as image layers.
//!
//! [`write_layout`] is the one entry point the build uses: it turns a build tool's output, a
//! prebuilt jar or an exploded jar into directories that become layers (dependencies first, the
//! project's own classes last, so a code change rebuilds only the small top layer) plus a
//! `java.json` report that lade's checks read.

pub mod classfile;
pub mod jar;
pub mod layout;

#[cfg(test)]
mod tests;

pub use layout::{LayoutInput, LayoutReport, LayoutRequest, write_layout};

use std::path::{Path, PathBuf};

/// Everything that can stop reading a jar or writing a layout. Each variant names the file, jar
/// or entry involved so the one-line message says what to fix.
#[derive(Debug, thiserror::Error)]
pub enum JavaError {
    /// `cause`, not `source`: the message already says it, and anyhow's chain would repeat it.
    #[error("{action} {path}: {cause}")]
    Io {
        action: &'static str,
        path: PathBuf,
        cause: std::io::Error,
    },
    #[error("jar {jar}: {cause}: check that it is a complete jar file (rebuild it)")]
    Zip {
        jar: PathBuf,
        cause: zip::result::ZipError,
    },
    #[error("jar {jar}: entry {entry}: {cause}: check that it is a complete jar file (rebuild it)")]
    ZipEntry {
        jar: PathBuf,
        entry: String,
        cause: std::io::Error,
    },
    #[error(
        "jar {jar}: entry {entry} is an absolute path or goes up with '..': refusing to unpack it; rebuild the jar without it"
    )]
    UnsafeEntry { jar: PathBuf, entry: String },
    #[error(
        "{source_path}: entry {entry} is a symbolic link: lade copies only files and directories; replace it with the file it points to"
    )]
    Symlink { source_path: PathBuf, entry: String },
    #[error("{path}: {detail}")]
    Manifest { path: PathBuf, detail: String },
    #[error("layers index {index} line {line}: {detail}")]
    LayersIndex {
        index: String,
        line: usize,
        detail: String,
    },
    #[error(
        "layers index {index}: layer name \"{name}\" cannot be a directory name (empty, '.', '..', contains '/', repeated or reserved): rename the layer"
    )]
    LayerName { index: String, name: String },
    #[error(
        "classpath entry {entry} listed in {classpath_file} does not exist: run the build (and its dependency resolution) before packaging"
    )]
    MissingClasspathEntry {
        entry: PathBuf,
        classpath_file: PathBuf,
    },
    #[error(
        "jar {jar}: Class-Path entry {entry} does not exist next to the jar: put the dependency there or remove it from the manifest"
    )]
    MissingManifestClassPath { jar: PathBuf, entry: String },
    #[error(
        "dependency {path}: its file name cannot be on a Java class path (it contains ':' or a line break): rename the file"
    )]
    UnusableFileName { path: PathBuf },
    #[error(
        "main class \"{class}\" is not a Java class name like com.example.Main: fix [java] main_class in lade.toml or Main-Class in the jar's manifest"
    )]
    InvalidMainClass { class: String },
    #[error(
        "main class {class} is not in the build's classes or its classpath: set [java] main_class = \"…\" in lade.toml"
    )]
    MainClassNotFound { class: String },
    #[error(
        "no main class: set [java] main_class = \"com.example.Main\" in lade.toml, or Main-Class in the jar's manifest"
    )]
    NoMainClass,
    #[error(
        "Spring Boot jar {jar} has no Main-Class (its launcher) in META-INF/MANIFEST.MF: build it with the Spring Boot Maven or Gradle plugin (repackage or bootJar)"
    )]
    NoBootLauncher { jar: PathBuf },
    #[error("writing {path}: {cause}")]
    Report {
        path: PathBuf,
        cause: serde_json::Error,
    },
}

/// `map_err` helper for file-system errors: says what was being done to which path.
pub(crate) fn io_err<'a>(
    action: &'static str,
    path: &'a Path,
) -> impl FnOnce(std::io::Error) -> JavaError + 'a {
    move |cause| JavaError::Io {
        action,
        path: path.to_path_buf(),
        cause,
    }
}
