//! What a Java project is, as its files say: where the classes come from (a Maven or Gradle
//! build, or a prebuilt jar), the Java release it targets, and what names its main class.
//! `[java] jar` and `[java] module` in lade.toml say where to look. Nothing here decides what
//! goes into an image.

use super::{gradle, maven, sources};
use crate::detect::DetectError;
use crate::java::jar::{self, BootLayer, Manifest};
use std::path::{Path, PathBuf};

const JAR_DIRS: [&str; 2] = ["target", "build/libs"];

#[derive(Clone, Debug)]
pub struct JavaProject {
    pub source: JavaSource,
    /// The Java release the build is set to produce (or a prebuilt jar's classes are).
    pub release: Option<Release>,
}

#[derive(Clone, Debug)]
pub enum JavaSource {
    Build(BuildProject),
    Jar(JarFile),
}

/// A Maven or Gradle build.
#[derive(Clone, Debug)]
pub struct BuildProject {
    pub tool: BuildTool,
    /// The project has the tool's wrapper (`mvnw`, `gradlew`).
    pub wrapper: bool,
    /// The module to package (`[java] module`), as written.
    pub module: Option<String>,
    /// The directory of that module (the project directory without one).
    pub module_dir: PathBuf,
}

#[derive(Clone, Debug, PartialEq)]
pub enum BuildTool {
    Maven,
    Gradle {
        /// The build file found at the root (`build.gradle.kts`, …).
        build_file: &'static str,
        /// Gradle project path of the module (`:` for the root project).
        project: String,
    },
}

/// A prebuilt jar or exploded jar directory.
#[derive(Clone, Debug)]
pub struct JarFile {
    pub path: PathBuf,
    /// A directory rather than a jar.
    pub exploded: bool,
    pub found: JarFound,
    pub manifest: Manifest,
    /// Spring Boot's `layers.idx`, when the jar has one.
    pub boot_layers: Option<Vec<BootLayer>>,
}

#[derive(Clone, Debug, PartialEq)]
pub enum JarFound {
    /// `[java] jar`, as written.
    Configured(PathBuf),
    /// The project directory has `META-INF/MANIFEST.MF`.
    ExplodedHere,
    /// The one jar in `target/` or `build/libs/`.
    Lone,
}

/// A Java release and where it was said: the file (relative to the project) and the key.
#[derive(Clone, Debug, PartialEq)]
pub struct Release {
    pub version: u16,
    pub file: String,
    pub key: String,
}

/// What the build files and sources say about the main class.
#[derive(Clone, Debug, PartialEq)]
pub enum MainClassFacts {
    /// A Maven aggregator (its `pom.xml` lists modules) with no module chosen.
    Aggregator { pom: PathBuf, modules: Vec<String> },
    /// The build file names it (`file` relative to the project, `key` what in it).
    Named {
        class: String,
        file: String,
        key: String,
    },
    /// The build file names none (`build_file`, relative); the classes under `src/main` with
    /// a `main` method.
    InSources {
        build_file: String,
        classes: Vec<String>,
    },
}

impl JavaProject {
    /// The project in `dir`; `None` when it is not a Java project. `jar` and `module` are
    /// lade.toml's `[java] jar` and `[java] module`.
    pub fn read(
        dir: &Path,
        jar: Option<&Path>,
        module: Option<&str>,
    ) -> Result<Option<JavaProject>, DetectError> {
        let Some(source) = find_source(dir, jar, module)? else {
            return Ok(None);
        };
        let release = predicted_release(dir, &source)?;
        let source = match source {
            Found::Build(b) => {
                if !b.module_dir.is_dir() {
                    return Err(DetectError::Unsupported(format!(
                        "lade.toml: [java] module: {} is not a directory of the project",
                        b.module_dir.display()
                    )));
                }
                JavaSource::Build(b)
            }
            Found::Jar(path, exploded, found) => {
                JavaSource::Jar(JarFile::read(path, exploded, found)?)
            }
        };
        Ok(Some(JavaProject { source, release }))
    }
}

/// Where the classes come from, before the jar is read.
enum Found {
    Build(BuildProject),
    Jar(PathBuf, bool, JarFound),
}

fn find_source(
    dir: &Path,
    jar: Option<&Path>,
    module: Option<&str>,
) -> Result<Option<Found>, DetectError> {
    let build = |tool: BuildTool, wrapper: &str| {
        let module_dir = match (&tool, module) {
            (BuildTool::Gradle { project, .. }, Some(_)) => dir.join(gradle::project_dir(project)),
            (_, Some(m)) => dir.join(m),
            (_, None) => dir.to_path_buf(),
        };
        Found::Build(BuildProject {
            tool,
            wrapper: dir.join(wrapper).is_file(),
            module: module.map(str::to_string),
            module_dir,
        })
    };
    if let Some(jar) = jar {
        let path = dir.join(jar);
        if !path.exists() {
            return Err(DetectError::Unsupported(format!(
                "lade.toml: [java] jar = \"{}\": {} does not exist; build the jar first or fix the path",
                jar.display(),
                path.display()
            )));
        }
        let exploded = path.is_dir();
        return Ok(Some(Found::Jar(
            path,
            exploded,
            JarFound::Configured(jar.to_path_buf()),
        )));
    }
    if dir.join("pom.xml").is_file() {
        return Ok(Some(build(BuildTool::Maven, "mvnw")));
    }
    if let Some(f) = gradle::BUILD_FILES.iter().find(|f| dir.join(f).is_file()) {
        let project = module.map_or_else(|| ":".to_string(), gradle::project_path);
        let tool = BuildTool::Gradle {
            build_file: f,
            project,
        };
        return Ok(Some(build(tool, "gradlew")));
    }
    if dir.join("META-INF/MANIFEST.MF").is_file() {
        return Ok(Some(Found::Jar(
            dir.to_path_buf(),
            true,
            JarFound::ExplodedHere,
        )));
    }
    Ok(lone_jar(dir)?.map(|jar| Found::Jar(jar, false, JarFound::Lone)))
}

impl JarFile {
    fn read(path: PathBuf, exploded: bool, found: JarFound) -> Result<JarFile, DetectError> {
        let invalid = |e: crate::java::JavaError| DetectError::Invalid {
            file: path.clone(),
            detail: e.to_string(),
        };
        let manifest = jar::read_manifest(&path)
            .map_err(invalid)?
            .unwrap_or_default();
        let boot_layers = jar::boot_layers(&path).map_err(invalid)?;
        Ok(JarFile {
            path,
            exploded,
            found,
            manifest,
            boot_layers,
        })
    }
}

impl BuildProject {
    /// What names the main class: the module's build file, else its sources. Read only when
    /// lade.toml does not name one, since a module without its own pom.xml is fine then.
    pub fn main_class(&self, dir: &Path) -> Result<MainClassFacts, DetectError> {
        let build_file = match &self.tool {
            BuildTool::Maven => {
                let pom_path = self.module_dir.join("pom.xml");
                let pom = maven::read(&pom_path)?;
                if self.module.is_none() && !pom.modules.is_empty() {
                    return Ok(MainClassFacts::Aggregator {
                        pom: pom_path,
                        modules: pom.modules,
                    });
                }
                if let Some((class, key)) = pom.main_class {
                    let file = rel(dir, &pom_path);
                    return Ok(MainClassFacts::Named { class, file, key });
                }
                rel(dir, &pom_path)
            }
            BuildTool::Gradle { .. } => {
                for f in gradle::BUILD_FILES {
                    let path = self.module_dir.join(f);
                    if !path.is_file() {
                        continue;
                    }
                    if let Some((class, key)) = gradle::main_class(&read(&path)?) {
                        let file = rel(dir, &path);
                        return Ok(MainClassFacts::Named { class, file, key });
                    }
                }
                rel(dir, &self.module_dir.join("build.gradle"))
            }
        };
        Ok(MainClassFacts::InSources {
            build_file,
            classes: sources::main_classes(&self.module_dir)?,
        })
    }
}

/// The Java release the build is set to produce, read from the build files (the module's,
/// then the root's) or, for a prebuilt jar, its classes. The post-build check has the last
/// word: this only picks the default base.
fn predicted_release(dir: &Path, source: &Found) -> Result<Option<Release>, DetectError> {
    let release = |version, path: &Path, key| Release {
        version,
        file: rel(dir, path),
        key,
    };
    match source {
        Found::Jar(path, ..) => {
            let major =
                crate::java::classfile::max_major(path).map_err(|e| DetectError::Invalid {
                    file: path.to_path_buf(),
                    detail: e.to_string(),
                })?;
            Ok(major.map(|m| {
                let version = crate::java::classfile::java_release(m);
                release(version, path, format!("class file version {m}"))
            }))
        }
        Found::Build(b) => {
            let mut dirs = Vec::new();
            if b.module.is_some() {
                dirs.push(b.module_dir.clone());
            }
            dirs.push(dir.to_path_buf());
            for d in dirs {
                if let Some((n, path, key)) = release_in(&b.tool, &d)? {
                    return Ok(Some(release(n, &path, key)));
                }
            }
            Ok(None)
        }
    }
}

/// The release the build file(s) of the tool in `dir` set.
fn release_in(tool: &BuildTool, dir: &Path) -> Result<Option<(u16, PathBuf, String)>, DetectError> {
    let files: &[&str] = match tool {
        BuildTool::Maven => &["pom.xml"],
        BuildTool::Gradle { .. } => &gradle::BUILD_FILES,
    };
    for f in files {
        let path = dir.join(f);
        if !path.is_file() {
            continue;
        }
        let found = match tool {
            BuildTool::Maven => maven::read(&path)?.release,
            BuildTool::Gradle { .. } => gradle::release(&read(&path)?),
        };
        if let Some((n, key)) = found {
            return Ok(Some((n, path, key)));
        }
    }
    Ok(None)
}

/// The one jar in target/ or build/libs/ (sources, javadoc and Gradle's plain jars aside).
fn lone_jar(dir: &Path) -> Result<Option<PathBuf>, DetectError> {
    let mut jars = Vec::new();
    for d in JAR_DIRS {
        let d = dir.join(d);
        let Ok(rd) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in rd {
            let e = e.map_err(|source| DetectError::Read {
                path: d.clone(),
                source,
            })?;
            let name = e.file_name().to_string_lossy().into_owned();
            if name.ends_with(".jar")
                && !["-sources.jar", "-javadoc.jar", "-plain.jar", "-tests.jar"]
                    .iter()
                    .any(|s| name.ends_with(s))
            {
                jars.push(e.path());
            }
        }
    }
    jars.sort();
    match jars.len() {
        0 => Ok(None),
        1 => Ok(jars.pop()),
        _ => Err(DetectError::Unsupported(format!(
            "several jars ({}): set [java] jar = \"…\" in lade.toml to the application's",
            jars.iter()
                .map(|j| rel(dir, j))
                .collect::<Vec<_>>()
                .join(", ")
        ))),
    }
}

fn read(path: &Path) -> Result<String, DetectError> {
    std::fs::read_to_string(path).map_err(|source| DetectError::Read {
        path: path.to_path_buf(),
        source,
    })
}

pub(super) fn rel(dir: &Path, path: &Path) -> String {
    path.strip_prefix(dir)
        .unwrap_or(path)
        .to_string_lossy()
        .into_owned()
}
