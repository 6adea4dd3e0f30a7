//! Java: Maven (`pom.xml`, `mvnw`), Gradle (`build.gradle(.kts)`, `settings.gradle`,
//! `gradlew`), a prebuilt jar (`[java] jar`, or a lone `target/*.jar` / `build/libs/*.jar`)
//! or an exploded jar directory (`META-INF/MANIFEST.MF`).
//!
//! Builds run in a staged copy of the project in lade's build directory with the project's
//! own tool (wrapper first), which also writes the runtime classpath: Maven through
//! maven-dependency-plugin's `build-classpath`, Gradle through lade's init script
//! (`templates/java/classpath.gradle`). So the classpath is the build's, never guessed. Then
//! `lade java-layout` sorts it into layers as Jib does, oldest-changing first: release
//! dependencies, snapshot dependencies, the project's other modules, resources, classes; the
//! entrypoint is `java -cp @/app/classpath MAIN` with the argument file written beside the
//! dependencies. A Spring Boot jar is exploded at /app in the layers its `layers.idx` names
//! and started with its manifest's launcher, as Paketo does.
//!
//! Bytecode is the same for every platform: the build and layout run once (in the first
//! platform's steps) and every platform's image takes the same layers.

mod gradle;
mod maven;
mod sources;
mod steps;

use super::{DetectError, Detector, Project, image_name, tree_entries};
use crate::java::jar;
use crate::plan::{
    Check, EntryKind, FileEntry, ImageConfigPatch, LayerSpec, Plan, Reason, TargetPlan,
};
use std::path::{Path, PathBuf};

pub use steps::DEPENDENCY_PLUGIN;

pub struct JavaDetector;

/// The default base: a Java 17 runtime (Debian 12), nonroot.
pub const DEFAULT_BASE: &str = "gcr.io/distroless/java17-debian12:nonroot";
/// Distroless Java runtimes by release: the default base is the first that runs the bytecode
/// the build is set to produce.
const JAVA_BASES: [(u16, &str); 2] = [
    (17, DEFAULT_BASE),
    (21, "gcr.io/distroless/java21-debian12:nonroot"),
];
/// Container-aware heap sizing: the JVM takes 75% of the container's memory limit for the heap
/// instead of its default 25%.
pub const MEMORY_FLAG: &str = "-XX:MaxRAMPercentage=75";
const APP_DIR: &str = "/app";
const JAR_DIRS: [&str; 2] = ["target", "build/libs"];

/// Where the classes come from.
enum Source {
    Build(steps::Tool),
    /// A prebuilt jar (`exploded` = a directory).
    Jar {
        path: PathBuf,
        exploded: bool,
    },
}

impl Detector for JavaDetector {
    fn name(&self) -> &'static str {
        "java"
    }

    fn looks_for(&self) -> &'static str {
        "pom.xml, build.gradle(.kts), settings.gradle, a jar in target/ or build/libs/, or META-INF/MANIFEST.MF (Java)"
    }

    fn detect(&self, project: &Project) -> Result<Option<Plan>, DetectError> {
        let dir = project.dir;
        let settings = &project.config.java;
        let mut reasons = Vec::new();
        let gradle_file = gradle::BUILD_FILES.iter().find(|f| dir.join(f).is_file());
        let source = if let Some(jar) = &settings.jar {
            let path = dir.join(jar);
            if !path.exists() {
                return Err(DetectError::Unsupported(format!(
                    "lade.toml: [java] jar = \"{}\": {} does not exist; build the jar first or fix the path",
                    jar.display(),
                    path.display()
                )));
            }
            reasons.push(Reason {
                file: "lade.toml".into(),
                why: format!("[java] jar = \"{}\"", jar.display()),
            });
            Source::Jar {
                exploded: path.is_dir(),
                path,
            }
        } else if dir.join("pom.xml").is_file() {
            let wrapper = dir.join("mvnw").is_file();
            reasons.push(Reason {
                file: "pom.xml".into(),
                why: format!(
                    "Maven project, built with {}",
                    if wrapper { "./mvnw" } else { "mvn" }
                ),
            });
            Source::Build(steps::Tool::Maven {
                program: String::new(),
                module: settings.module.clone(),
            })
        } else if let Some(f) = gradle_file {
            let wrapper = dir.join("gradlew").is_file();
            reasons.push(Reason {
                file: f.to_string(),
                why: format!(
                    "Gradle project, built with {}",
                    if wrapper { "./gradlew" } else { "gradle" }
                ),
            });
            Source::Build(steps::Tool::Gradle {
                program: String::new(),
                project: settings
                    .module
                    .as_deref()
                    .map_or_else(|| ":".to_string(), gradle::project_path),
            })
        } else if dir.join("META-INF/MANIFEST.MF").is_file() {
            reasons.push(Reason {
                file: "META-INF/MANIFEST.MF".into(),
                why: "an exploded jar".into(),
            });
            Source::Jar {
                path: dir.to_path_buf(),
                exploded: true,
            }
        } else if let Some(jar) = lone_jar(dir)? {
            reasons.push(Reason {
                file: rel(dir, &jar),
                why: "a prebuilt jar".into(),
            });
            Source::Jar {
                path: jar,
                exploded: false,
            }
        } else {
            return Ok(None);
        };

        let release = predicted_release(dir, &source, settings.module.as_deref())?;
        let base = match &project.config.base {
            Some(b) => b.reference(),
            None => {
                let base = default_base(release.as_ref().map(|r| r.0));
                if let Some((n, file, key)) = &release {
                    reasons.push(Reason {
                        file: file.clone(),
                        why: format!("Java {n} bytecode ({key}): default base {base}"),
                    });
                }
                base.to_string()
            }
        };
        let java = settings.binary.clone().unwrap_or_else(|| "java".into());
        let mut entrypoint = vec![java, MEMORY_FLAG.to_string()];
        entrypoint.extend(settings.jvm_flags.iter().cloned());

        let dirs = steps::Dirs::new(project.out_dir);
        let mut checks = Vec::new();
        let (build_steps, layers, excluded) = match source {
            Source::Jar { path, exploded } => {
                let (steps, layers, main) = jar_plan(
                    &path,
                    exploded,
                    &dirs,
                    settings.main_class.as_deref(),
                    &mut reasons,
                )?;
                entrypoint.extend(main);
                (steps, layers, Vec::new())
            }
            Source::Build(tool) => {
                let module_dir = match (&tool, &settings.module) {
                    (steps::Tool::Gradle { project, .. }, Some(_)) => {
                        dir.join(gradle::project_dir(project))
                    }
                    (_, Some(m)) => dir.join(m),
                    (_, None) => dir.to_path_buf(),
                };
                if !module_dir.is_dir() {
                    return Err(DetectError::Unsupported(format!(
                        "lade.toml: [java] module: {} is not a directory of the project",
                        module_dir.display()
                    )));
                }
                let main = main_class(
                    dir,
                    &module_dir,
                    &tool,
                    settings.main_class.as_deref(),
                    &mut reasons,
                )?;
                let tool = with_program(tool, dir, &dirs, &mut checks);
                let build_args = settings.build_args.clone().unwrap_or_else(|| match tool {
                    steps::Tool::Maven { .. } => vec!["-DskipTests".into()],
                    steps::Tool::Gradle { .. } => vec!["-x".into(), "test".into()],
                });
                let (files, excluded) = staged_files(dir, project)?;
                let classes = match &tool {
                    // build-classpath lists dependencies only; the module's own classes are here.
                    steps::Tool::Maven { .. } => {
                        let module = module_dir.strip_prefix(dir).unwrap_or(Path::new(""));
                        vec![dirs.src.join(module).join("target/classes")]
                    }
                    // Gradle's runtime classpath starts with the project's own outputs.
                    steps::Tool::Gradle { .. } => Vec::new(),
                };
                let steps =
                    steps::build_steps(&tool, dir, &files, &dirs, &build_args, &classes, &main);
                entrypoint.extend(["-cp".into(), "@/app/classpath".into(), main]);
                (steps, classpath_layers(&dirs.layout), excluded)
            }
        };
        // Every platform's base must run the bytecode; the tools are needed once.
        let runtime = Check::JavaRuntime {
            report: dirs.layout.join("java.json"),
        };
        checks.push(runtime.clone());

        let targets = project
            .platforms
            .iter()
            .enumerate()
            .map(|(i, platform)| TargetPlan {
                platform: platform.clone(),
                steps: if i == 0 {
                    build_steps.clone()
                } else {
                    Vec::new()
                },
                layers: layers.clone(),
                checks: if i == 0 {
                    checks.clone()
                } else {
                    vec![runtime.clone()]
                },
            })
            .collect();
        let name =
            project.config.name.clone().unwrap_or_else(|| {
                image_name(&dir.file_name().unwrap_or_default().to_string_lossy())
            });
        Ok(Some(Plan {
            detector: self.name().into(),
            reasons,
            name,
            project_dir: dir.to_path_buf(),
            targets,
            config: ImageConfigPatch {
                entrypoint: Some(entrypoint),
                workdir: Some(APP_DIR.into()),
                ..Default::default()
            },
            base,
            excluded,
        }))
    }
}

/// The Java release the build is set to produce, read from the build files (the module's,
/// then the root's) or, for a prebuilt jar, its classes; with the file and key that said it.
/// The post-build check has the last word: this only picks the default base.
fn predicted_release(
    dir: &Path,
    source: &Source,
    module: Option<&str>,
) -> Result<Option<(u16, String, String)>, DetectError> {
    match source {
        Source::Jar { path, .. } => {
            let major =
                crate::java::classfile::max_major(path).map_err(|e| DetectError::Invalid {
                    file: path.to_path_buf(),
                    detail: e.to_string(),
                })?;
            Ok(major.map(|m| {
                (
                    crate::java::classfile::java_release(m),
                    rel(dir, path),
                    format!("class file version {m}"),
                )
            }))
        }
        Source::Build(steps::Tool::Maven { .. }) => {
            let mut poms = Vec::new();
            if let Some(m) = module {
                poms.push(dir.join(m).join("pom.xml"));
            }
            poms.push(dir.join("pom.xml"));
            for pom_path in poms.iter().filter(|p| p.is_file()) {
                if let Some((n, key)) = maven::read(pom_path)?.release {
                    return Ok(Some((n, rel(dir, pom_path), key)));
                }
            }
            Ok(None)
        }
        Source::Build(steps::Tool::Gradle { project, .. }) => {
            let mut dirs = Vec::new();
            if module.is_some() {
                dirs.push(dir.join(gradle::project_dir(project)));
            }
            dirs.push(dir.to_path_buf());
            for d in dirs {
                for f in gradle::BUILD_FILES {
                    let path = d.join(f);
                    if !path.is_file() {
                        continue;
                    }
                    let text =
                        std::fs::read_to_string(&path).map_err(|source| DetectError::Read {
                            path: path.clone(),
                            source,
                        })?;
                    if let Some((n, key)) = gradle::release(&text) {
                        return Ok(Some((n, rel(dir, &path), key)));
                    }
                }
            }
            Ok(None)
        }
    }
}

/// The distroless Java base for bytecode of `release` (the newest when none is new enough:
/// the post-build check then says so).
fn default_base(release: Option<u16>) -> &'static str {
    let Some(r) = release else {
        return DEFAULT_BASE;
    };
    JAVA_BASES
        .iter()
        .find(|(n, _)| *n >= r)
        .or(JAVA_BASES.last())
        .map_or(DEFAULT_BASE, |(_, b)| b)
}

/// A Java release as build files write it: `17`, `1.8` (→ 8), `21.0`.
fn java_release_number(v: &str) -> Option<u16> {
    let v = v.trim();
    let v = v.strip_prefix("1.").unwrap_or(v);
    let digits: String = v.chars().take_while(char::is_ascii_digit).collect();
    digits.parse().ok().filter(|n| (5..100).contains(n))
}

/// The build tool to run: the project's wrapper (from the staged copy) when it has one,
/// else the tool on PATH, checked before building.
fn with_program(
    tool: steps::Tool,
    dir: &Path,
    dirs: &steps::Dirs,
    checks: &mut Vec<Check>,
) -> steps::Tool {
    let mut pick = |wrapper: &str, program: &str, hint: &str| {
        if dir.join(wrapper).is_file() {
            dirs.src.join(wrapper).display().to_string()
        } else {
            checks.push(Check::Program {
                program: program.into(),
                hint: hint.into(),
            });
            program.to_string()
        }
    };
    match tool {
        steps::Tool::Maven { module, .. } => steps::Tool::Maven {
            program: pick(
                "mvnw",
                "mvn",
                "install Maven (Debian: apt-get install maven) or add the Maven wrapper (mvnw) to the project",
            ),
            module,
        },
        steps::Tool::Gradle { project, .. } => steps::Tool::Gradle {
            program: pick(
                "gradlew",
                "gradle",
                "install Gradle (Debian: apt-get install gradle) or add the Gradle wrapper (gradlew) to the project",
            ),
            project,
        },
    }
}

/// The main class of a build: lade.toml, else what the build file names, else the one
/// source file with a `main` method.
fn main_class(
    dir: &Path,
    module_dir: &Path,
    tool: &steps::Tool,
    configured: Option<&str>,
    reasons: &mut Vec<Reason>,
) -> Result<String, DetectError> {
    if let Some(m) = configured {
        reasons.push(Reason {
            file: "lade.toml".into(),
            why: format!("main class {m} ([java] main_class)"),
        });
        return Ok(m.to_string());
    }
    let build_file = match tool {
        steps::Tool::Maven { module, .. } => {
            let pom_path = module_dir.join("pom.xml");
            let pom = maven::read(&pom_path)?;
            if module.is_none() && !pom.modules.is_empty() {
                return Err(DetectError::Unsupported(format!(
                    "{}: a multi-module build (modules: {}): set [java] module = \"…\" in lade.toml to the application's module",
                    pom_path.display(),
                    pom.modules.join(", ")
                )));
            }
            if let Some((class, from)) = pom.main_class {
                reasons.push(Reason {
                    file: rel(dir, &pom_path),
                    why: format!("main class {class} ({from})"),
                });
                return Ok(class);
            }
            rel(dir, &pom_path)
        }
        steps::Tool::Gradle { .. } => {
            let mut named = None;
            for f in gradle::BUILD_FILES {
                let path = module_dir.join(f);
                if !path.is_file() {
                    continue;
                }
                let text = std::fs::read_to_string(&path).map_err(|source| DetectError::Read {
                    path: path.clone(),
                    source,
                })?;
                if let Some((class, key)) = gradle::main_class(&text) {
                    reasons.push(Reason {
                        file: rel(dir, &path),
                        why: format!("main class {class} ({key})"),
                    });
                    named = Some(class);
                    break;
                }
            }
            if let Some(class) = named {
                return Ok(class);
            }
            rel(dir, &module_dir.join("build.gradle"))
        }
    };
    let found = sources::main_classes(module_dir)?;
    match found.as_slice() {
        [one] => {
            reasons.push(Reason {
                file: "src/main".into(),
                why: format!("main class {one} (the one class with a main method)"),
            });
            Ok(one.clone())
        }
        [] => Err(DetectError::Unsupported(format!(
            "no main class found: {build_file} names none and no class under {} has a `public static void main`; set [java] main_class = \"com.example.Main\" in lade.toml",
            module_dir.join("src/main").display()
        ))),
        many => Err(DetectError::Unsupported(format!(
            "no main class chosen: {} classes have a main method ({}); set [java] main_class = \"…\" in lade.toml",
            many.len(),
            many.join(", ")
        ))),
    }
}

/// Steps, layers and the entrypoint's tail (classpath and main class) of a jar.
type JarPlan = (Vec<crate::plan::BuildStep>, Vec<LayerSpec>, Vec<String>);

/// Steps, layers and the entrypoint's tail for a prebuilt jar or exploded directory.
fn jar_plan(
    path: &Path,
    exploded: bool,
    dirs: &steps::Dirs,
    configured: Option<&str>,
    reasons: &mut Vec<Reason>,
) -> Result<JarPlan, DetectError> {
    let invalid = |e: crate::java::JavaError| DetectError::Invalid {
        file: path.to_path_buf(),
        detail: e.to_string(),
    };
    let manifest = jar::read_manifest(path)
        .map_err(invalid)?
        .unwrap_or_default();
    let steps = steps::jar_steps(path, exploded, dirs, configured);
    if let Some(boot) = jar::boot_layers(path).map_err(invalid)? {
        let Some(launcher) = manifest.main_class.clone() else {
            return Err(DetectError::Invalid {
                file: path.to_path_buf(),
                detail: "a Spring Boot jar without Main-Class in META-INF/MANIFEST.MF; repackage it with spring-boot-maven-plugin or the Gradle bootJar task".into(),
            });
        };
        reasons.push(Reason {
            file: rel(path.parent().unwrap_or(path), path),
            why: format!(
                "Spring Boot: exploded at /app in its layers ({}), started by {launcher}{}",
                boot.iter()
                    .map(|l| l.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
                manifest
                    .start_class
                    .as_deref()
                    .map(|s| format!(" with Start-Class {s}"))
                    .unwrap_or_default()
            ),
        });
        let layers = boot
            .iter()
            .map(|l| LayerSpec {
                name: l.name.clone(),
                entries: vec![tree(dirs.layout.join(&l.name), APP_DIR)],
            })
            .collect();
        return Ok((steps, layers, vec!["-cp".into(), APP_DIR.into(), launcher]));
    }
    let main = match (configured, &manifest.main_class) {
        (Some(m), _) => m.to_string(),
        (None, Some(m)) => {
            reasons.push(Reason {
                file: "META-INF/MANIFEST.MF".into(),
                why: format!("main class {m} (Main-Class)"),
            });
            m.clone()
        }
        (None, None) => {
            return Err(DetectError::Unsupported(format!(
                "{}: no Main-Class in META-INF/MANIFEST.MF; set [java] main_class = \"com.example.Main\" in lade.toml",
                path.display()
            )));
        }
    };
    Ok((
        steps,
        classpath_layers(&dirs.layout),
        vec!["-cp".into(), "@/app/classpath".into(), main],
    ))
}

/// Jib's layers, oldest-changing first. The argument file changes only with the
/// dependencies, so it goes with them.
fn classpath_layers(layout: &Path) -> Vec<LayerSpec> {
    let layer = |name: &str, entries: Vec<FileEntry>| LayerSpec {
        name: name.into(),
        entries,
    };
    vec![
        layer(
            "dependencies",
            vec![
                tree(layout.join("libs"), "/app/libs"),
                FileEntry {
                    target: "/app/classpath".into(),
                    mode: 0o644,
                    kind: EntryKind::File {
                        source: layout.join("classpath"),
                    },
                },
            ],
        ),
        layer(
            "snapshot dependencies",
            vec![tree(layout.join("snapshot-libs"), "/app/libs")],
        ),
        layer(
            "project dependencies",
            vec![tree(layout.join("project-libs"), "/app/libs")],
        ),
        layer(
            "resources",
            vec![tree(layout.join("resources"), "/app/resources")],
        ),
        layer(
            "classes",
            vec![tree(layout.join("classes"), "/app/classes")],
        ),
    ]
}

fn tree(source: PathBuf, target: &str) -> FileEntry {
    FileEntry {
        target: target.into(),
        mode: 0o755,
        kind: EntryKind::Tree {
            source,
            exclude: Vec::new(),
        },
    }
}

/// The project files the build sees: everything .dockerignore keeps, minus the build tools'
/// output directories (`target/` beside a pom.xml, `build/` and `.gradle/` beside a Gradle
/// build file), so a stale local build never leaks into the image.
fn staged_files(
    dir: &Path,
    project: &Project,
) -> Result<(Vec<String>, Vec<crate::plan::Excluded>), DetectError> {
    let (entries, excluded) = tree_entries(dir, Path::new(""), "/", project.filter)?;
    let rels: Vec<&str> = entries
        .iter()
        .filter(|e| !matches!(e.kind, EntryKind::Dir))
        .map(|e| e.target.trim_start_matches('/'))
        .collect();
    // The modules are known from the listing itself: no file system lookups per file.
    let module_with = |files: &[&str]| -> std::collections::BTreeSet<String> {
        rels.iter()
            .filter_map(|r| {
                let (parent, name) = r.rsplit_once('/').unwrap_or(("", r));
                files.contains(&name).then(|| parent.to_string())
            })
            .collect()
    };
    let maven = module_with(&["pom.xml"]);
    let gradle = module_with(&gradle::BUILD_FILES);
    let is_output = |rel: &str| {
        let parts: Vec<&str> = rel.split('/').collect();
        parts.iter().enumerate().any(|(i, part)| {
            let module = parts[..i].join("/");
            (*part == "target" && maven.contains(&module))
                || ((*part == "build" || *part == ".gradle") && gradle.contains(&module))
        })
    };
    let files = rels
        .iter()
        .filter(|r| !is_output(r))
        .map(|r| r.to_string())
        .collect();
    Ok((files, excluded))
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

fn rel(dir: &Path, path: &Path) -> String {
    path.strip_prefix(dir)
        .unwrap_or(path)
        .to_string_lossy()
        .into_owned()
}

#[cfg(test)]
mod tests;
