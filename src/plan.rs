//! The build plan: plain data that says what lade will run, which layers it will write,
//! which base it stacks them on and how the image is configured. Detectors produce it,
//! `lade plan` prints it, the build runner and layer writer consume it.

use crate::platform::Platform;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::PathBuf;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Plan {
    /// Name of the detector that produced the plan (`go`, `rust`, …).
    pub detector: String,
    /// Why the detector claimed the project: files that decided it.
    pub reasons: Vec<Reason>,
    /// Project name; the default image name and the binary name.
    pub name: String,
    /// Absolute project directory.
    pub project_dir: PathBuf,
    /// One build per requested platform.
    pub targets: Vec<TargetPlan>,
    /// Image configuration lade sets over the base's.
    pub config: ImageConfigPatch,
    /// Base reference: `scratch`, `oci:PATH[:TAG]`, or a registry reference.
    pub base: String,
    /// Source files left out by `.dockerignore` or the deny list, with the rule that did it.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub excluded: Vec<Excluded>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Excluded {
    pub path: String,
    pub reason: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Reason {
    pub file: String,
    pub why: String,
}

/// Everything done for one platform: steps to run, then layers to write, oldest-changing first.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TargetPlan {
    pub platform: Platform,
    pub steps: Vec<BuildStep>,
    pub layers: Vec<LayerSpec>,
    /// Checks `ops` runs around the steps: tools and targets before building, what the built
    /// binaries need from the base after. Data like the steps, so `lade plan` shows them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub checks: Vec<Check>,
}

/// A check of the host before building or of a build output after it. Detectors only read
/// files, so whatever needs a tool run or a built file is recorded here and done by `ops`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "check", rename_all = "snake_case")]
pub enum Check {
    /// Before building: rustc (as run in the project directory, so rust-toolchain.toml
    /// counts) has the standard library for `triple`.
    RustTarget { triple: String },
    /// Before building: `program` is on PATH; `hint` says how to get it.
    Program { program: String, hint: String },
    /// Before building: zig is installed (`[build] zig` when `configured`, else zig on PATH or
    /// the `ziglang` Python package), because it compiles C for `target` (`aarch64-linux-musl`);
    /// `why` says what needs it.
    Zig {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        configured: Option<String>,
        target: String,
        why: String,
    },
    /// After building: `binary` is an ELF executable for the platform, and when it is
    /// dynamically linked, the base has its loader and every library it needs. This is how
    /// the base depends on the linkage: the detector picks the base it expects (`expect`),
    /// the produced file has the last word.
    Linkage {
        binary: PathBuf,
        /// Where the binary goes in the image (`/app/server`), for messages.
        target: String,
        expect: Linkage,
    },
    /// After building: the base has a Java runtime at least as new as the bytecode the build
    /// produced; `report` is the `java.json` the layout step wrote.
    JavaRuntime { report: PathBuf },
    /// Before building: the image has `path`, a program that what lade ships runs with (the
    /// Python interpreter console scripts name), checked against the base's files.
    ImageHas { path: String, what: String },
    /// Before building: the Python the base really has (its interpreter's file name, or its
    /// PYTHON_VERSION) satisfies what the project asks for, and is the Python `wheels_for`
    /// names when dependencies were fetched for another platform's interpreter.
    PythonVersion {
        requirements: Vec<PythonRequirement>,
        /// `3.11` when pip fetches wheels for a foreign platform: the ABI they are built for.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        wheels_for: Option<String>,
    },
}

/// A Python version a project file asks for.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PythonRequirement {
    /// The file, relative to the project directory (`pyproject.toml`).
    pub file: String,
    /// As written: `>=3.10`, `^3.11`, `3.11`.
    pub spec: String,
    /// A version to match (`.python-version`, Pipfile's `python_version`) rather than a range.
    pub pinned: bool,
}

/// How a binary is expected to be linked.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Linkage {
    /// No loader, no shared libraries: runs on scratch.
    Static,
    /// Linked against glibc: needs a base with the C library (a cc base).
    Glibc,
}

/// A step whose program is this runs the lade binary that runs the plan (the build runner
/// puts its path there), so lade's own helpers need no lade on PATH.
pub const LADE_PROGRAM: &str = "lade";

/// One program run on the host, with what it reads, what it writes and whether lade may skip
/// it. The step is data: the plan carries a program and its arguments, never a script, and
/// lade's own helpers are `lade` subcommands (`program` = [`LADE_PROGRAM`]).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BuildStep {
    /// What the step does, in a few words (`go build ./cmd/server`).
    pub description: String,
    pub program: String,
    pub args: Vec<String>,
    /// Variables set on top of lade's own environment.
    pub env: BTreeMap<String, String>,
    pub dir: PathBuf,
    /// What the step reads besides its program line: the reuse key is computed from these.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub inputs: Vec<StepInput>,
    /// What the step writes. The runner prepares them before the step runs (a directory is
    /// emptied and created, a file's directory created), so steps never make their own.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub outputs: Vec<StepOutput>,
    #[serde(default)]
    pub reuse: Reuse,
    /// The reuse key lade computed from the step and the current contents of its inputs
    /// (`ops::plan` fills it for reusable steps; detectors leave it empty).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
}

/// Something a step reads, declared so that its reuse key changes when it does.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum StepInput {
    /// Files under `root`, as relative paths; a directory stands for everything below it.
    Files { root: PathBuf, paths: Vec<String> },
    /// A whole directory, except `exclude` (paths relative to it, with everything below them).
    Tree {
        path: PathBuf,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        exclude: Vec<String>,
    },
    /// A variable of lade's own environment that the tool reads (`GOFLAGS`).
    Env { name: String },
    /// A program the step runs, identified by the bytes of the executable PATH resolves it to.
    Tool { program: String },
    /// A toolchain identified by what `program args` prints, run in the step's directory with
    /// its environment: rustup's `cargo` and `rustc` are one proxy binary whatever toolchain
    /// they start, so their bytes say nothing; `rustc -vV` names the compiler and its commit.
    ToolVersion { program: String, args: Vec<String> },
    /// What the step before it wrote, which this step works on in place (`lade node-finish`
    /// tidying the install's node_modules): the key holds that step's key, and the step runs
    /// whenever that one runs, so it is reused only along with it.
    PreviousStep,
}

/// Something a step writes.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum StepOutput {
    /// A directory the step fills: emptied and created before the step runs.
    Dir { path: PathBuf },
    /// A file the step writes: its directory is created before the step runs.
    File { path: PathBuf },
}

impl StepOutput {
    pub fn path(&self) -> &std::path::Path {
        match self {
            StepOutput::Dir { path } | StepOutput::File { path } => path,
        }
    }
}

/// Whether the runner may skip a step.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Reuse {
    /// The step runs every time: it is cheap or idempotent.
    #[default]
    Never,
    /// The step is skipped when its key equals the key of its last successful run and its
    /// outputs are still there, as a Dockerfile's `RUN` layer is reused.
    WhenUnchanged,
}

impl BuildStep {
    /// A step that runs `program args` in `dir`, reads nothing declared and is never reused;
    /// the `with_*` methods add the rest.
    pub fn new(
        description: impl Into<String>,
        program: impl Into<String>,
        args: Vec<String>,
        dir: &std::path::Path,
    ) -> BuildStep {
        BuildStep {
            description: description.into(),
            program: program.into(),
            args,
            env: BTreeMap::new(),
            dir: dir.to_path_buf(),
            inputs: Vec::new(),
            outputs: Vec::new(),
            reuse: Reuse::Never,
            key: None,
        }
    }

    pub fn with_env(mut self, env: BTreeMap<String, String>) -> BuildStep {
        self.env = env;
        self
    }

    pub fn with_input(mut self, input: StepInput) -> BuildStep {
        self.inputs.push(input);
        self
    }

    pub fn with_inputs(mut self, inputs: impl IntoIterator<Item = StepInput>) -> BuildStep {
        self.inputs.extend(inputs);
        self
    }

    pub fn with_output(mut self, output: StepOutput) -> BuildStep {
        self.outputs.push(output);
        self
    }

    /// Declares the program itself an input (`Tool`), unless it is lade or a path into the
    /// step's directory (a staged wrapper such as `mvnw`, one of the files the step reads).
    pub fn with_tool_input(self) -> BuildStep {
        let program = std::path::Path::new(&self.program);
        if self.program == LADE_PROGRAM
            || (self.program.contains('/') && !program.is_absolute())
            || program.starts_with(&self.dir)
        {
            return self;
        }
        let program = self.program.clone();
        self.with_input(StepInput::Tool { program })
    }

    pub fn reused_when_unchanged(mut self) -> BuildStep {
        self.reuse = Reuse::WhenUnchanged;
        self
    }
}

/// One layer: a name for history and a list of files with their place in the image.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LayerSpec {
    pub name: String,
    pub entries: Vec<FileEntry>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileEntry {
    /// Absolute path inside the image (`/app/server`).
    pub target: String,
    /// Permission bits written to the tar header.
    pub mode: u32,
    pub kind: EntryKind,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EntryKind {
    /// A regular file whose bytes come from `source` on the host.
    File {
        source: PathBuf,
    },
    Dir,
    Symlink {
        link: String,
    },
    /// Everything under the host directory `source` (made by a build step, so its contents are
    /// unknown when the plan is made), placed under `target`. Expanded when the layer is
    /// written: files keep an executable bit as 0755 (else 0644), directories 0755, symlinks
    /// stay symlinks; `exclude` lists paths relative to `source` left out with everything
    /// below them. A `source` that is a regular file is copied as that one file.
    Tree {
        source: PathBuf,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        exclude: Vec<String>,
    },
}

/// The part of an OCI image config that lade sets. `None`/empty means "keep the base's".
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ImageConfigPatch {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub entrypoint: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cmd: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub env: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workdir: Option<String>,
    /// The user to run as; `None` means the base's user, or 65532 when the base has none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    /// `8080/tcp` style.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub exposed_ports: Vec<String>,
    /// Annotations for manifests and the index.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
}

/// The user lade runs images as unless the base or the configuration names another.
pub const NONROOT_USER: &str = "65532";

impl Plan {
    /// The human-readable form `lade plan` prints.
    pub fn render(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(
            s,
            "project   {} ({})",
            self.name,
            self.project_dir.display()
        );
        let _ = writeln!(s, "detector  {}", self.detector);
        for r in &self.reasons {
            let _ = writeln!(s, "  because {}: {}", r.file, r.why);
        }
        let _ = writeln!(s, "base      {}", self.base);
        let c = &self.config;
        if let Some(e) = &c.entrypoint {
            let _ = writeln!(s, "entrypoint {}", shell_words(e));
        }
        if let Some(cmd) = &c.cmd {
            let _ = writeln!(s, "cmd       {}", shell_words(cmd));
        }
        if let Some(w) = &c.workdir {
            let _ = writeln!(s, "workdir   {w}");
        }
        let _ = writeln!(
            s,
            "user      {}",
            c.user.as_deref().unwrap_or("(the base's, else 65532)")
        );
        for (k, v) in &c.env {
            let _ = writeln!(s, "env       {k}={v}");
        }
        for p in &c.exposed_ports {
            let _ = writeln!(s, "port      {p}");
        }
        for (k, v) in &c.labels {
            let _ = writeln!(s, "label     {k}={v}");
        }
        for (k, v) in &c.annotations {
            let _ = writeln!(s, "annotation {k}={v}");
        }
        for e in &self.excluded {
            let _ = writeln!(s, "excluded  {} by {}", e.path, e.reason);
        }
        for t in &self.targets {
            let _ = writeln!(s, "platform  {}", t.platform);
            for step in &t.steps {
                // CARGO_ENCODED_RUSTFLAGS separates flags with 0x1f, which a terminal hides.
                let env: Vec<String> = step
                    .env
                    .iter()
                    .map(|(k, v)| format!("{k}={}", v.replace('\x1f', " ")))
                    .collect();
                let _ = writeln!(
                    s,
                    "  run     {}{} {}",
                    if env.is_empty() {
                        String::new()
                    } else {
                        format!("{} ", env.join(" "))
                    },
                    step.program,
                    shell_words(&step.args)
                );
                step.render_io(&mut s);
            }
            for c in &t.checks {
                let _ = writeln!(s, "  check   {}", c.describe());
            }
            for l in &t.layers {
                let files = l
                    .entries
                    .iter()
                    .filter(|e| matches!(e.kind, EntryKind::File { .. }))
                    .count();
                let trees = l
                    .entries
                    .iter()
                    .filter(|e| matches!(e.kind, EntryKind::Tree { .. }))
                    .count();
                let trees = match trees {
                    0 => String::new(),
                    1 => ", 1 build-output tree".into(),
                    n => format!(", {n} build-output trees"),
                };
                let _ = writeln!(s, "  layer   {} ({} files{trees})", l.name, files);
                for e in l.entries.iter().take(8) {
                    match &e.kind {
                        // Its files exist only after the build; modes are decided then.
                        EntryKind::Tree { source, .. } => {
                            let _ = writeln!(
                                s,
                                "          {} ← everything in {} after the build",
                                e.target,
                                source.display()
                            );
                        }
                        _ => {
                            let _ = writeln!(s, "          {} {:o}", e.target, e.mode);
                        }
                    }
                }
                if l.entries.len() > 8 {
                    let _ = writeln!(s, "          … {} more", l.entries.len() - 8);
                }
            }
        }
        s
    }
}

impl BuildStep {
    /// The `reads`, `writes` and `reuse` lines under a step in `lade plan`.
    fn render_io(&self, s: &mut String) {
        for i in &self.inputs {
            let what = match i {
                StepInput::Files { root, paths } => {
                    let shown: Vec<&str> = paths.iter().take(4).map(String::as_str).collect();
                    let more = match paths.len().saturating_sub(4) {
                        0 => String::new(),
                        n => format!(" … {n} more"),
                    };
                    format!("files in {}: {}{more}", root.display(), shown.join(" "))
                }
                StepInput::Tree { path, exclude } if exclude.is_empty() => {
                    format!("everything in {}", path.display())
                }
                StepInput::Tree { path, exclude } => {
                    format!("everything in {} but {}", path.display(), exclude.join(" "))
                }
                StepInput::Env { name } => format!("${name}"),
                StepInput::Tool { program } => format!("the {program} executable"),
                StepInput::ToolVersion { program, args } => {
                    format!("what `{program} {}` prints", args.join(" "))
                }
                StepInput::PreviousStep => "what the step before it wrote".into(),
            };
            let _ = writeln!(s, "          reads   {what}");
        }
        for o in &self.outputs {
            let what = match o {
                StepOutput::Dir { path } => format!("{}/ (emptied first)", path.display()),
                StepOutput::File { path } => path.display().to_string(),
            };
            let _ = writeln!(s, "          writes  {what}");
        }
        if self.reuse == Reuse::WhenUnchanged {
            let key = self.key.as_deref().unwrap_or("(computed when planned)");
            let _ = writeln!(s, "          reuse   when unchanged, key {key}");
        }
    }
}

impl Check {
    /// One line for `lade plan`.
    pub fn describe(&self) -> String {
        match self {
            Check::RustTarget { triple } => format!("Rust standard library for {triple}"),
            Check::Program { program, .. } => format!("{program} on PATH"),
            Check::Zig { target, .. } => format!("zig, to compile C for {target}"),
            Check::Linkage { target, expect, .. } => match expect {
                Linkage::Static => format!("{target} is static (else the base has its libraries)"),
                Linkage::Glibc => format!("the base has the libraries {target} needs (glibc)"),
            },
            Check::JavaRuntime { .. } => {
                "the base's Java is at least the bytecode's release".to_string()
            }
            Check::ImageHas { path, what } => format!("the image has {what} at {path}"),
            Check::PythonVersion {
                requirements,
                wheels_for,
            } => {
                let mut asks: Vec<String> = requirements
                    .iter()
                    .map(|r| format!("{} ({})", r.spec, r.file))
                    .collect();
                if let Some(v) = wheels_for {
                    asks.push(format!("{v} (the wheels fetched for this platform)"));
                }
                format!("the base's Python is {}", asks.join(", "))
            }
        }
    }
}

fn shell_words(words: &[String]) -> String {
    words
        .iter()
        .map(|w| {
            // A multi-line argument (a script or a file's text a step writes) would bury the
            // plan; `lade plan --json` has it in full.
            if let Some((first, _)) = w.split_once('\n') {
                return format!("<{} lines: {}…>", w.lines().count(), first.trim());
            }
            if w.is_empty() || w.contains(|c: char| c.is_whitespace() || "\"'$\\".contains(c)) {
                format!("'{}'", w.replace('\'', "'\\''"))
            } else {
                w.clone()
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}
