//! The build steps of a Java project: stage the sources in lade's build directory, run the
//! project's build tool there (skipped when the staged sources and the command are those of
//! the last finished build), and lay the result out for the layers with `lade java-layout`.

use crate::detect::staging::{files_input, reusable_copy_step};
use crate::plan::{BuildStep, LADE_PROGRAM, StepOutput};
use std::path::{Path, PathBuf};

/// The maven-dependency-plugin goal that writes the runtime classpath. Pinned, so the same
/// project resolves the same plugin everywhere (3.5.0 is also the one Debian packages).
pub const DEPENDENCY_PLUGIN: &str =
    "org.apache.maven.plugins:maven-dependency-plugin:3.5.0:build-classpath";
/// The entry time of jars the build makes: the earliest a zip entry can carry reliably.
pub const JAR_TIMESTAMP: &str = "1980-01-01T00:00:02Z";

/// Where a Java build happens, under the project's build directory (shared by platforms:
/// bytecode is the same for all of them).
pub struct Dirs {
    /// The staged copy of the project, where the build tool runs.
    pub src: PathBuf,
    /// What `lade java-layout` writes: one directory per layer, the argument file, java.json.
    pub layout: PathBuf,
    /// The runtime classpath the build tool writes.
    pub classpath: PathBuf,
    /// lade's Gradle init script.
    pub init_script: PathBuf,
}

impl Dirs {
    pub fn new(out_dir: &Path) -> Dirs {
        let root = out_dir.join("java");
        let src = root.join("src");
        Dirs {
            classpath: src.join(".lade-classpath"),
            src,
            layout: root.join("layout"),
            init_script: root.join("lade-classpath.gradle"),
        }
    }
}

/// The build tool and how it is run.
#[derive(Clone, Debug, PartialEq)]
pub enum Tool {
    Maven {
        /// `mvn`, or the staged copy's `mvnw`.
        program: String,
        /// `-pl MODULE -am` for a module of a multi-module build.
        module: Option<String>,
    },
    Gradle {
        /// `gradle`, or the staged copy's `gradlew`.
        program: String,
        /// Gradle project path (`:` for the root project).
        project: String,
    },
}

impl Tool {
    /// The build command, run in the staged copy.
    pub fn command(&self, dirs: &Dirs, build_args: &[String]) -> (String, Vec<String>) {
        match self {
            Tool::Maven { program, module } => {
                let mut args = vec!["-B".to_string(), "-Dstyle.color=never".into()];
                if let Some(m) = module {
                    args.extend(["-pl".into(), m.clone(), "-am".into()]);
                }
                args.extend(build_args.iter().cloned());
                args.extend([
                    // Module jars (the project-dependencies layer) get fixed entry times, so
                    // the same sources give the same jar bytes (maven-jar-plugin 3.2+).
                    format!("-Dproject.build.outputTimestamp={JAR_TIMESTAMP}"),
                    "package".into(),
                    DEPENDENCY_PLUGIN.into(),
                    format!("-Dmdep.outputFile={}", dirs.classpath.display()),
                    "-Dmdep.includeScope=runtime".into(),
                ]);
                (program.clone(), args)
            }
            Tool::Gradle { program, project } => {
                let mut args = vec![
                    "--no-daemon".to_string(),
                    "--console=plain".into(),
                    "--init-script".into(),
                    dirs.init_script.display().to_string(),
                    format!("-Dlade.project={project}"),
                    format!("-Dlade.classpath={}", dirs.classpath.display()),
                ];
                args.extend(build_args.iter().cloned());
                let task = if project == ":" {
                    ":ladeClasspath".to_string()
                } else {
                    format!("{project}:ladeClasspath")
                };
                args.push(task);
                (program.clone(), args)
            }
        }
    }
}

/// Steps that build the project in `dirs.src` and lay it out in `dirs.layout`.
/// `files` are the project files to stage (relative paths, already through .dockerignore);
/// `classes` the build's class output directories that are not on its classpath file.
pub fn build_steps(
    tool: &Tool,
    project_dir: &Path,
    files: &[String],
    dirs: &Dirs,
    build_args: &[String],
    classes: &[PathBuf],
    main_class: &str,
) -> Vec<BuildStep> {
    let (program, args) = tool.command(dirs, build_args);
    let mut steps = vec![reusable_copy_step(
        "stage the project in the build directory".into(),
        project_dir,
        files,
        &dirs.src,
    )];
    if matches!(tool, Tool::Gradle { .. }) {
        steps.push(
            BuildStep::new(
                "write lade's Gradle init script",
                LADE_PROGRAM,
                vec![
                    "gradle-init".into(),
                    "--out".into(),
                    dirs.init_script.display().to_string(),
                ],
                project_dir,
            )
            .with_output(StepOutput::File {
                path: dirs.init_script.clone(),
            }),
        );
    }
    // The build runs in the staged copy and is reused, with what it left there, while the
    // staged files and the command are those of its last run; its classpath file is the
    // output that says it finished.
    let name = program.rsplit('/').next().unwrap_or(&program).to_string();
    steps.push(
        BuildStep::new(format!("{name} build"), program, args, &dirs.src)
            .with_tool_input()
            .with_input(files_input(project_dir, files))
            .with_output(StepOutput::File {
                path: dirs.classpath.clone(),
            })
            .reused_when_unchanged(),
    );
    let mut layout = vec![
        "java-layout".to_string(),
        "--out".into(),
        dirs.layout.display().to_string(),
        "--project-root".into(),
        dirs.src.display().to_string(),
        "--classpath-file".into(),
        dirs.classpath.display().to_string(),
    ];
    for c in classes {
        layout.extend(["--classes".into(), c.display().to_string()]);
    }
    layout.extend(["--main-class".into(), main_class.to_string()]);
    steps.push(layout_step(layout, &dirs.src));
    steps
}

/// The layout step of a prebuilt jar or exploded directory.
pub fn jar_steps(
    jar: &Path,
    exploded: bool,
    dirs: &Dirs,
    main_class: Option<&str>,
) -> Vec<BuildStep> {
    let mut args = vec![
        "java-layout".to_string(),
        "--out".into(),
        dirs.layout.display().to_string(),
        if exploded { "--exploded" } else { "--jar" }.into(),
        jar.display().to_string(),
    ];
    if let Some(m) = main_class {
        args.extend(["--main-class".into(), m.to_string()]);
    }
    vec![layout_step(args, jar.parent().unwrap_or(Path::new("/")))]
}

fn layout_step(args: Vec<String>, dir: &Path) -> BuildStep {
    let out = args
        .iter()
        .position(|a| a == "--out")
        .and_then(|i| args.get(i + 1))
        .map(PathBuf::from);
    let step = BuildStep::new(
        "lay out classes, resources and dependencies",
        LADE_PROGRAM,
        args,
        dir,
    );
    match out {
        Some(path) => step.with_output(StepOutput::Dir { path }),
        None => step,
    }
}
