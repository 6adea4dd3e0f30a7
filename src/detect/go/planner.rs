//! A Go project's plan: every main package built per platform with trimmed paths and no build
//! id; the chosen main is the entrypoint and a `kodata/` becomes its own layer. CGO is off
//! unless a main package imports "C" (or `[go] cgo = true`): then zig is the C compiler and
//! linker for each platform, against the cc base's glibc, and the cc base is the default.

use super::facts::{GoPackage, GoProject, module_binary_name};
use super::{DEFAULT_BASE, KODATA_PATH};
use crate::detect::builder::{DirName, PlanBuilder, Target};
use crate::detect::native::ZigTools;
use crate::detect::rust::CC_BASE;
use crate::detect::{DetectError, Project};
use crate::plan::{
    BuildStep, Check, EntryKind, FileEntry, LayerSpec, Linkage, Plan, StepInput, StepOutput,
};
use crate::platform::Platform;
use crate::toolchain::zig::{self, GLIBC_VERSION, Libc, Tool};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// A main package lade builds, and the name of its binary at /app.
#[derive(Clone, Debug, PartialEq)]
struct Main {
    package: GoPackage,
    binary: String,
}

pub fn plan(go: &GoProject, project: &Project) -> Result<Plan, DetectError> {
    let mut b = PlanBuilder::new("go", project);
    match &go.module {
        Some(m) => b.reason("go.mod", format!("Go module {m}")),
        None => b.reason(
            go.root_files[0].clone(),
            "Go files with no go.mod: built as a module of their own",
        ),
    }
    let name = b.name(go.module.as_deref().map(module_binary_name), DirName::AsIs);
    let (mains, entry) = mains_and_entry(go, project, &name)?;
    let cgo_file = mains.iter().find_map(|m| m.package.cgo.clone());
    let cgo = project.config.go.cgo.unwrap_or(cgo_file.is_some());
    match (&cgo_file, project.config.go.cgo) {
        (Some(f), Some(false)) => b.reason(
            rel_name(project.dir, f),
            "imports \"C\", but [go] cgo = false: built with CGO_ENABLED=0",
        ),
        (Some(f), _) => b.reason(
            rel_name(project.dir, f),
            format!(
                "imports \"C\": cgo, with zig compiling and linking C for each platform against glibc {GLIBC_VERSION}"
            ),
        ),
        (None, Some(true)) => b.reason("lade.toml", "[go] cgo = true: cgo with zig"),
        (None, _) => {}
    }
    for m in &mains {
        let file = match m.package.rel.as_str() {
            "." => "*.go".to_string(),
            rel => format!("{rel}/"),
        };
        b.reason(file, format!("main package → /app/{}", m.binary));
    }
    if go.vendored {
        b.reason("vendor/", "vendored modules: -mod=vendor");
    }
    let kodata = kodata_layer(&mut b, go, &entry.package)?;
    let rels: Vec<&str> = mains.iter().map(|m| m.package.rel.as_str()).collect();
    // `[go] flags` that name a file go reads (an overlay, another go.mod, a profile) may name
    // any file of the project: then the whole project counts.
    let names_files = project.config.go.flags.iter().any(|f| {
        let f = f.trim_start_matches('-');
        ["overlay", "modfile", "pgo"]
            .iter()
            .any(|n| f == *n || f.starts_with(&format!("{n}=")))
    });
    let sources = match names_files {
        true => None,
        false => go.build_files(project.dir, &rels)?,
    };
    let build = GoBuild::new(go, project, cgo, sources);
    b.per_platform(|platform, out| build.target(platform, &out, &mains, kodata.as_ref()))?;
    b.config().entrypoint = Some(vec![format!("/app/{}", entry.binary)]);
    if kodata.is_some() {
        b.config()
            .env
            .insert("KO_DATA_PATH".into(), KODATA_PATH.into());
    }
    // cgo binaries are linked against glibc: they need its loader and libc from the base.
    let base = if cgo { CC_BASE } else { DEFAULT_BASE };
    Ok(b.finish(name, base))
}

/// Every main package (the found ones, plus `--main`'s) and the entrypoint among them.
fn mains_and_entry(
    go: &GoProject,
    project: &Project,
    name: &str,
) -> Result<(Vec<Main>, Main), DetectError> {
    let binary = |rel: &str| match rel {
        "." => name.to_string(),
        rel => rel.rsplit('/').next().unwrap_or(rel).to_string(),
    };
    let mut mains: Vec<Main> = go
        .mains
        .iter()
        .map(|p| Main {
            binary: binary(&p.rel),
            package: p.clone(),
        })
        .collect();
    let wanted = project
        .main
        .map(str::to_string)
        .or_else(|| project.config.main.clone());
    let Some(w) = &wanted else {
        let entry = match mains.iter().find(|m| m.package.rel == ".") {
            Some(m) => m.clone(),
            None if mains.len() == 1 => mains[0].clone(),
            None if mains.is_empty() => return Err(no_main(project.dir)),
            None => {
                return Err(DetectError::Unsupported(format!(
                    "several main packages ({}): pick the entrypoint with --main or `main = \"./cmd/NAME\"` in lade.toml",
                    list_mains(&mains)
                )));
            }
        };
        return Ok((mains, entry));
    };
    let rel = clean_rel(w);
    if let Some(m) = mains.iter().find(|m| m.package.rel == rel) {
        let entry = m.clone();
        return Ok((mains, entry));
    }
    if go.module.is_none() {
        return Err(DetectError::Unsupported(format!(
            "--main {w}: without a go.mod only the root directory's files can be built"
        )));
    }
    let Some(package) = GoPackage::main_at(project.dir, &rel)? else {
        return Err(DetectError::Unsupported(format!(
            "--main {w}: {} is not a main package (main packages found: {})",
            project.dir.join(&rel).display(),
            list_mains(&mains)
        )));
    };
    let entry = Main {
        binary: binary(&rel),
        package,
    };
    mains.push(entry.clone());
    Ok((mains, entry))
}

fn no_main(dir: &Path) -> DetectError {
    DetectError::Unsupported(format!(
        "{}: no main package in the module root or cmd/*; add `package main` with a `func main()`, or name one with --main ./path",
        dir.join("go.mod").display()
    ))
}

/// ko's static data: `kodata/` beside the entrypoint's package, else at the root, in its own
/// layer at /var/run/ko.
fn kodata_layer(
    b: &mut PlanBuilder,
    go: &GoProject,
    entry: &GoPackage,
) -> Result<Option<LayerSpec>, DetectError> {
    let dir = if entry.kodata {
        let p = Path::new(&entry.rel).join("kodata");
        p.strip_prefix(".").map(Path::to_path_buf).unwrap_or(p)
    } else if go.root_kodata {
        PathBuf::from("kodata")
    } else {
        return Ok(None);
    };
    b.reason(
        format!("{}/", dir.display()),
        format!("static data → {KODATA_PATH}"),
    );
    Ok(Some(LayerSpec {
        name: "kodata".into(),
        entries: b.files(&dir, KODATA_PATH)?,
    }))
}

/// What every platform's `go build` shares.
struct GoBuild<'a> {
    go: &'a GoProject,
    project: &'a Project<'a>,
    dir: &'a Path,
    ldflags: String,
    flags: &'a [String],
    cgo: bool,
    /// The files the builds read (`GoProject::build_files`); `None`: the whole directory.
    sources: Option<Vec<String>>,
}

impl<'a> GoBuild<'a> {
    fn new(
        go: &'a GoProject,
        project: &'a Project,
        cgo: bool,
        sources: Option<Vec<String>>,
    ) -> GoBuild<'a> {
        let ldflags = std::iter::once("-buildid=".to_string())
            .chain(project.config.go.ldflags.iter().cloned())
            .collect::<Vec<_>>()
            .join(" ");
        GoBuild {
            go,
            project,
            dir: project.dir,
            ldflags,
            flags: &project.config.go.flags,
            cgo,
            sources,
        }
    }

    fn target(
        &self,
        platform: &Platform,
        out: &Path,
        mains: &[Main],
        kodata: Option<&LayerSpec>,
    ) -> Result<Target, DetectError> {
        let mut env = BTreeMap::new();
        env.insert("GOOS".into(), platform.os.clone());
        env.insert("GOARCH".into(), platform.goarch().to_string());
        if let Some(arm) = platform.goarm() {
            env.insert("GOARM".into(), arm.to_string());
        }
        let mut t = Target::default();
        let zig = self.zig(platform)?;
        match &zig {
            Some(zig) => {
                env.insert("CGO_ENABLED".into(), "1".into());
                env.insert("CC".into(), zig.path(Tool::Cc));
                env.insert("CXX".into(), zig.path(Tool::Cxx));
                t.checks
                    .push(zig.check("the Go program uses cgo, which zig compiles and links"));
                t.steps.push(zig.step(self.project));
            }
            None => {
                env.insert("CGO_ENABLED".into(), "0".into());
            }
        }
        let mut binaries = Vec::new();
        for m in mains {
            let bin = out.join(&m.binary);
            if zig.is_some() {
                t.checks.push(Check::Linkage {
                    binary: bin.clone(),
                    target: format!("/app/{}", m.binary),
                    expect: Linkage::Glibc,
                });
            }
            t.steps
                .push(self.step(platform, &m.package.rel, &bin, &env));
            binaries.push(FileEntry {
                target: format!("/app/{}", m.binary),
                mode: 0o755,
                kind: EntryKind::File { source: bin },
            });
        }
        t.layers.extend(kodata.cloned());
        t.layers.push(LayerSpec {
            name: "binary".into(),
            entries: binaries,
        });
        Ok(t)
    }

    /// zig's wrappers for a cgo build (glibc at the cc base's version), else `None`.
    fn zig(&self, platform: &Platform) -> Result<Option<ZigTools>, DetectError> {
        if !self.cgo {
            return Ok(None);
        }
        let target = zig::target(
            &platform.architecture,
            platform.variant.as_deref(),
            Libc::Glibc,
        )
        .ok_or_else(|| {
            DetectError::Unsupported(format!(
                "{platform}: lade has no zig target for cgo there; build without cgo ([go] cgo = false)"
            ))
        })?;
        Ok(Some(ZigTools::new(self.project, target)))
    }

    /// What `go build` reads of the project: the files of the packages it builds and the module
    /// files, or — when any file may be read — the whole directory, without Git's own files, which change with every commit (-buildvcs=false keeps go from
    /// reading them), and lade's default output (`./lade-out`), which changes with every
    /// publish.
    fn sources(&self) -> StepInput {
        match &self.sources {
            Some(files) => StepInput::Files {
                root: self.dir.to_path_buf(),
                paths: files.clone(),
            },
            None => StepInput::Tree {
                path: self.dir.to_path_buf(),
                exclude: vec![".git".into(), "lade-out".into()],
            },
        }
    }

    /// `go build` of the package at `rel` into `bin`, reused when nothing it reads changed:
    /// even a no-op `go build` costs a few hundred milliseconds per platform (it loads and
    /// stats every package). The key covers the project's sources, what go reads outside it (go.work,
    /// local replaces), the go executable and what `go env` says of the settings that change
    /// its output (toolchain, GOFLAGS, GOEXPERIMENT, GOAMD64…, the go.work in use).
    fn step(
        &self,
        platform: &Platform,
        rel: &str,
        bin: &Path,
        env: &BTreeMap<String, String>,
    ) -> BuildStep {
        let mut args = vec![
            "build".to_string(),
            "-trimpath".into(),
            "-buildvcs=false".into(),
            format!("-ldflags={}", self.ldflags),
        ];
        if self.go.vendored {
            args.push("-mod=vendor".into());
        }
        args.extend(self.flags.iter().cloned());
        args.push("-o".into());
        args.push(bin.to_string_lossy().into_owned());
        if self.go.module.is_some() {
            args.push(if rel == "." {
                ".".into()
            } else {
                format!("./{rel}")
            });
        } else {
            args.extend(self.go.root_files.iter().cloned());
        }
        BuildStep::new(
            format!("go build {rel} for {platform}"),
            "go",
            args,
            self.dir,
        )
        .with_env(env.clone())
        .with_input(self.sources())
        .with_input(StepInput::Env {
            name: "GOFLAGS".into(),
        })
        .with_inputs(self.go.outside.iter().map(|p| StepInput::Tree {
            path: p.clone(),
            exclude: vec![],
        }))
        .with_tool_input()
        .with_input(StepInput::ToolVersion {
            program: "go".into(),
            args: std::iter::once("env")
                .chain(GO_ENV_KEYS.iter().copied())
                .map(String::from)
                .collect(),
        })
        .with_output(StepOutput::File {
            path: bin.to_path_buf(),
        })
        .reused_when_unchanged()
    }
}

/// `path` relative to the project, for reasons.
fn rel_name(dir: &Path, path: &Path) -> String {
    path.strip_prefix(dir)
        .unwrap_or(path)
        .to_string_lossy()
        .into_owned()
}

/// `go env` and the settings it resolves (from the environment and go's own env file) that
/// decide what `go build` writes.
const GO_ENV_KEYS: &[&str] = &[
    "GOVERSION",
    "GOROOT",
    "GOFLAGS",
    "GOEXPERIMENT",
    "GOAMD64",
    "GOARM",
    "GO386",
    "GOWORK",
    "GOMOD",
    "GOINSECURE",
    "GONOSUMDB",
    "GOPRIVATE",
];

fn clean_rel(p: &str) -> String {
    let t = p.trim_start_matches("./").trim_end_matches('/');
    if t.is_empty() || t == "." {
        ".".into()
    } else {
        t.to_string()
    }
}

fn list_mains(mains: &[Main]) -> String {
    if mains.is_empty() {
        return "none".into();
    }
    mains
        .iter()
        .map(|m| match m.package.rel.as_str() {
            "." => ".".to_string(),
            rel => format!("./{rel}"),
        })
        .collect::<Vec<_>>()
        .join(", ")
}
