//! A Java project's plan: the build (or a prebuilt jar's layout) runs once, in the first
//! platform's steps, and every platform's image takes the same layers on a base whose Java
//! runs the bytecode.

use super::facts::{
    BuildProject, BuildTool, JarFile, JarFound, JavaProject, JavaSource, MainClassFacts, rel,
};
use super::layers::{classpath_layers, staged_files, tree};
use super::{APP_DIR, MEMORY_FLAG, default_base, steps};
use crate::detect::builder::{DirName, PlanBuilder, Target};
use crate::detect::{DetectError, Project};
use crate::plan::{BuildStep, Check, LayerSpec, Plan};
use std::path::Path;

/// What the classes' source adds to the plan: steps, layers, the entrypoint's tail (classpath
/// and main class) and the checks of the build's tools.
struct Built {
    steps: Vec<BuildStep>,
    layers: Vec<LayerSpec>,
    tail: Vec<String>,
    checks: Vec<Check>,
}

pub fn plan(java: &JavaProject, project: &Project) -> Result<Plan, DetectError> {
    let mut b = PlanBuilder::new("java", project);
    let settings = &project.config.java;
    source_reason(&mut b, &java.source);
    let default = default_base(java.release.as_ref().map(|r| r.version));
    if !b.base_configured()
        && let Some(r) = &java.release
    {
        b.reason(
            r.file.clone(),
            format!(
                "Java {} bytecode ({}): default base {default}",
                r.version, r.key
            ),
        );
    }
    let java_binary = settings.binary.clone().unwrap_or_else(|| "java".into());
    let mut entrypoint = vec![java_binary, MEMORY_FLAG.to_string()];
    entrypoint.extend(settings.jvm_flags.iter().cloned());

    let dirs = steps::Dirs::new(project.out_dir);
    let built = match &java.source {
        JavaSource::Jar(jar) => jar_plan(&mut b, jar, &dirs)?,
        JavaSource::Build(build) => build_plan(&mut b, build, &dirs)?,
    };
    entrypoint.extend(built.tail);
    // Every platform's base must run the bytecode; the tools are needed once.
    let runtime = Check::JavaRuntime {
        report: dirs.layout.join("java.json"),
    };
    b.per_platform(|_, _| {
        Ok(Target {
            steps: Vec::new(),
            layers: built.layers.clone(),
            checks: vec![runtime.clone()],
        })
    })?;
    b.once(built.steps, built.checks);
    b.config().entrypoint = Some(entrypoint);
    b.config().workdir = Some(APP_DIR.into());
    let name = b.name(None, DirName::ImageName);
    Ok(b.finish(name, default))
}

fn source_reason(b: &mut PlanBuilder, source: &JavaSource) {
    let with = |wrapper: bool, script: &str, program: &str| {
        if wrapper { script } else { program }.to_string()
    };
    match source {
        JavaSource::Build(p) => match &p.tool {
            BuildTool::Maven => b.reason(
                "pom.xml",
                format!(
                    "Maven project, built with {}",
                    with(p.wrapper, "./mvnw", "mvn")
                ),
            ),
            BuildTool::Gradle { build_file, .. } => b.reason(
                *build_file,
                format!(
                    "Gradle project, built with {}",
                    with(p.wrapper, "./gradlew", "gradle")
                ),
            ),
        },
        JavaSource::Jar(jar) => match &jar.found {
            JarFound::Configured(written) => b.reason(
                "lade.toml",
                format!("[java] jar = \"{}\"", written.display()),
            ),
            JarFound::ExplodedHere => b.reason("META-INF/MANIFEST.MF", "an exploded jar"),
            JarFound::Lone => b.reason(rel(b.dir(), &jar.path), "a prebuilt jar"),
        },
    }
}

/// A build with the project's tool in a staged copy, laid out as Jib's layers.
fn build_plan(
    b: &mut PlanBuilder,
    build: &BuildProject,
    dirs: &steps::Dirs,
) -> Result<Built, DetectError> {
    let dir = b.dir();
    let settings = &b.project().config.java;
    let main = main_class(b, build, settings.main_class.as_deref())?;
    let mut checks = Vec::new();
    let tool = tool(build, dir, dirs, &mut checks);
    let build_args = settings.build_args.clone().unwrap_or_else(|| match tool {
        steps::Tool::Maven { .. } => vec!["-DskipTests".into()],
        steps::Tool::Gradle { .. } => vec!["-x".into(), "test".into()],
    });
    let files = staged_files(b)?;
    let classes = match &tool {
        // build-classpath lists dependencies only; the module's own classes are here.
        steps::Tool::Maven { .. } => {
            let module = build.module_dir.strip_prefix(dir).unwrap_or(Path::new(""));
            vec![dirs.src.join(module).join("target/classes")]
        }
        // Gradle's runtime classpath starts with the project's own outputs.
        steps::Tool::Gradle { .. } => Vec::new(),
    };
    Ok(Built {
        steps: steps::build_steps(&tool, dir, &files, dirs, &build_args, &classes, &main),
        layers: classpath_layers(&dirs.layout),
        tail: vec!["-cp".into(), "@/app/classpath".into(), main],
        checks,
    })
}

/// The build tool to run: the project's wrapper (from the staged copy) when it has one,
/// else the tool on PATH, checked before building.
fn tool(
    build: &BuildProject,
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
    match &build.tool {
        BuildTool::Maven => steps::Tool::Maven {
            program: pick(
                "mvnw",
                "mvn",
                "install Maven (Debian: apt-get install maven) or add the Maven wrapper (mvnw) to the project",
            ),
            module: build.module.clone(),
        },
        BuildTool::Gradle { project, .. } => steps::Tool::Gradle {
            program: pick(
                "gradlew",
                "gradle",
                "install Gradle (Debian: apt-get install gradle) or add the Gradle wrapper (gradlew) to the project",
            ),
            project: project.clone(),
        },
    }
}

/// The main class of a build: lade.toml, else what the build file names, else the one
/// source file with a `main` method.
fn main_class(
    b: &mut PlanBuilder,
    build: &BuildProject,
    configured: Option<&str>,
) -> Result<String, DetectError> {
    if let Some(m) = configured {
        b.reason("lade.toml", format!("main class {m} ([java] main_class)"));
        return Ok(m.to_string());
    }
    match build.main_class(b.dir())? {
        MainClassFacts::Aggregator { pom, modules } => Err(DetectError::Unsupported(format!(
            "{}: a multi-module build (modules: {}): set [java] module = \"…\" in lade.toml to the application's module",
            pom.display(),
            modules.join(", ")
        ))),
        MainClassFacts::Named { class, file, key } => {
            b.reason(file, format!("main class {class} ({key})"));
            Ok(class)
        }
        MainClassFacts::InSources {
            build_file,
            classes,
        } => match classes.as_slice() {
            [one] => {
                b.reason(
                    "src/main",
                    format!("main class {one} (the one class with a main method)"),
                );
                Ok(one.clone())
            }
            [] => Err(DetectError::Unsupported(format!(
                "no main class found: {build_file} names none and no class under {} has a `public static void main`; set [java] main_class = \"com.example.Main\" in lade.toml",
                build.module_dir.join("src/main").display()
            ))),
            many => Err(DetectError::Unsupported(format!(
                "no main class chosen: {} classes have a main method ({}); set [java] main_class = \"…\" in lade.toml",
                many.len(),
                many.join(", ")
            ))),
        },
    }
}

/// The layout of a prebuilt jar or exploded directory: a Spring Boot jar in the layers its
/// `layers.idx` names, started by its launcher; any other as Jib's layers.
fn jar_plan(b: &mut PlanBuilder, jar: &JarFile, dirs: &steps::Dirs) -> Result<Built, DetectError> {
    let configured = b.project().config.java.main_class.as_deref();
    let path = &jar.path;
    let steps = steps::jar_steps(path, jar.exploded, dirs, configured);
    if let Some(boot) = &jar.boot_layers {
        let Some(launcher) = jar.manifest.main_class.clone() else {
            return Err(DetectError::Invalid {
                file: path.to_path_buf(),
                detail: "a Spring Boot jar without Main-Class in META-INF/MANIFEST.MF; repackage it with spring-boot-maven-plugin or the Gradle bootJar task".into(),
            });
        };
        let names: Vec<&str> = boot.iter().map(|l| l.name.as_str()).collect();
        let start = jar.manifest.start_class.as_deref();
        b.reason(
            rel(path.parent().unwrap_or(path), path),
            format!(
                "Spring Boot: exploded at /app in its layers ({}), started by {launcher}{}",
                names.join(", "),
                start
                    .map(|s| format!(" with Start-Class {s}"))
                    .unwrap_or_default()
            ),
        );
        let layers = boot
            .iter()
            .map(|l| LayerSpec {
                name: l.name.clone(),
                entries: vec![tree(dirs.layout.join(&l.name), APP_DIR)],
            })
            .collect();
        let tail = vec!["-cp".into(), APP_DIR.into(), launcher];
        return Ok(Built {
            steps,
            layers,
            tail,
            checks: Vec::new(),
        });
    }
    let main = match (configured, &jar.manifest.main_class) {
        (Some(m), _) => m.to_string(),
        (None, Some(m)) => {
            b.reason(
                "META-INF/MANIFEST.MF",
                format!("main class {m} (Main-Class)"),
            );
            m.clone()
        }
        (None, None) => {
            return Err(DetectError::Unsupported(format!(
                "{}: no Main-Class in META-INF/MANIFEST.MF; set [java] main_class = \"com.example.Main\" in lade.toml",
                path.display()
            )));
        }
    };
    Ok(Built {
        steps,
        layers: classpath_layers(&dirs.layout),
        tail: vec!["-cp".into(), "@/app/classpath".into(), main],
        checks: Vec::new(),
    })
}
