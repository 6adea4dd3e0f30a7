//! The cargo build of each platform: the triple, how it links, the environment (target
//! directory in lade's cache, rustflags with the path remaps, linker and C compiler), the
//! checks before and after, and the binaries it writes.

use super::facts::RustProject;
use super::select::Selected;
use super::target::{self, CCompiler};
use super::{APP_DIR, Host};
use crate::config::{RustLibc, RustSettings};
use crate::detect::builder::Target;
use crate::detect::native::ZigTools;
use crate::detect::{DetectError, Project};
use crate::plan::{
    BuildStep, Check, EntryKind, FileEntry, LayerSpec, Linkage, StepInput, StepOutput,
};
use crate::platform::Platform;
use crate::toolchain::zig::Tool;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The file, beside a platform's binaries, listing the crates they link.
pub const CRATES_FILE: &str = "lade-crates.json";

/// What every platform's cargo build shares.
pub struct CargoBuild<'a> {
    rust: &'a RustProject,
    project: &'a Project<'a>,
    host: &'a Host,
    settings: &'a RustSettings,
    bins: &'a [Selected<'a>],
    overrides: Vec<(Platform, String)>,
    target_dir: PathBuf,
    profile: String,
    remaps: Vec<String>,
    /// Strip symbols from the binaries: the project's profile says nothing of `strip` or
    /// `debug`, so the smaller binary (as ko and krust ship) is the default.
    strip: bool,
}

impl<'a> CargoBuild<'a> {
    pub fn new(
        rust: &'a RustProject,
        project: &'a Project<'a>,
        host: &'a Host,
        bins: &'a [Selected<'a>],
    ) -> Result<CargoBuild<'a>, DetectError> {
        let settings = &project.config.rust;
        let target_dir = project.out_dir.join("cargo-target");
        let profile = settings.profile.clone().unwrap_or_else(|| "release".into());
        Ok(CargoBuild {
            overrides: target_overrides(settings)?,
            strip: profile != "dev"
                && profile != "test"
                && !super::inputs::profile_sets_symbols(
                    &rust.workspace.root,
                    &rust.cargo_config,
                    &profile,
                    &host.profile_vars,
                ),
            profile,
            remaps: remap_flags(
                &rust.workspace.root,
                host.cargo_home.as_deref(),
                &target_dir,
            ),
            target_dir,
            rust,
            project,
            host,
            settings,
            bins,
        })
    }

    /// The platform's build, with its layers (`resources` below the binaries) and the
    /// linkage its binaries are expected to have.
    pub fn target(
        &self,
        platform: &Platform,
        resources: &[FileEntry],
    ) -> Result<(Target, Linkage), DetectError> {
        let unsupported = |m: String| DetectError::Unsupported(format!("{platform}: {m}"));
        let explicit = self
            .overrides
            .iter()
            .find(|(p, _)| p == platform)
            .map(|(_, t)| t.as_str());
        let libc = self.settings.libc.unwrap_or(RustLibc::Musl);
        let triple = target::triple_for(platform, libc, explicit).map_err(unsupported)?;
        let rt = target::plan_target(
            platform,
            &triple,
            self.host.platform.as_ref(),
            self.settings.linker.as_deref(),
            self.rust.cargo_config.linker_file(&triple).is_some(),
        )
        .map_err(unsupported)?;
        let (env, zig, cc_check) = self.env(platform, &rt);
        let out = self
            .target_dir
            .join(&triple)
            .join(profile_dir(&self.profile));
        let mut t = Target::default();
        t.checks.push(Check::RustTarget {
            triple: triple.clone(),
        });
        t.checks.extend(rt.linker_check.clone());
        t.checks.extend(cc_check);
        if let Some(zig) = &zig {
            t.checks.push(zig.check(self.zig_why(&rt)));
            t.steps.push(zig.step(self.project));
        }
        let mut binaries = Vec::new();
        let mut outputs = Vec::new();
        for s in self.bins {
            let path = out.join(&s.bin.name);
            outputs.push(path.clone());
            let target = format!("{APP_DIR}/{}", s.bin.name);
            t.checks.push(Check::Linkage {
                binary: path.clone(),
                target: target.clone(),
                expect: rt.linkage,
            });
            binaries.push(FileEntry {
                target,
                mode: 0o755,
                kind: EntryKind::File { source: path },
            });
        }
        if !resources.is_empty() {
            t.layers.push(LayerSpec {
                name: "resources".into(),
                entries: resources.to_vec(),
            });
        }
        t.layers.push(LayerSpec {
            name: "binary".into(),
            entries: binaries,
        });
        let step = BuildStep::new(
            format!("cargo build for {platform} ({triple})"),
            "cargo",
            self.args(&triple),
            self.project.dir,
        )
        .with_env(env);
        t.steps.push(cargo_step(step, self.rust, &outputs));
        t.steps.push(self.crates_step(platform, &triple, &out));
        Ok((t, rt.linkage))
    }

    /// The build's environment for `rt`, the zig wrappers it names (zig compiles the C code
    /// of `c_crates` and links glibc binaries for another architecture) and the check for a
    /// host C compiler it names.
    fn env(
        &self,
        platform: &Platform,
        rt: &target::RustTarget,
    ) -> (BTreeMap<String, String>, Option<ZigTools>, Option<Check>) {
        let triple = &rt.triple;
        let mut env = BTreeMap::new();
        env.insert(
            "CARGO_TARGET_DIR".to_string(),
            self.target_dir.to_string_lossy().into_owned(),
        );
        let rustflags: Vec<String> = self
            .rust
            .cargo_config
            .rustflags(triple)
            .into_iter()
            .chain(self.settings.rustflags.iter().cloned())
            .chain(self.remaps.iter().cloned())
            .collect();
        // The encoded form keeps flags with spaces (paths) whole, and cargo prefers it over a
        // RUSTFLAGS the user may have exported.
        env.insert("CARGO_ENCODED_RUSTFLAGS".into(), rustflags.join("\x1f"));
        if self.strip {
            let profile = self.profile.to_uppercase().replace('-', "_");
            env.insert(format!("CARGO_PROFILE_{profile}_STRIP"), "symbols".into());
        }
        if let Some(l) = &rt.linker {
            env.insert(target::linker_env(triple), l.clone());
        }
        let c_crates = &self.rust.c_crates;
        let cc = target::c_compiler(
            platform,
            rt,
            self.host.platform.as_ref(),
            c_crates,
            self.host.has_cc(triple),
        );
        let (zig_cc, cc_check) = match cc {
            Some(CCompiler::Zig(t)) => (Some(t), None),
            Some(CCompiler::MuslGcc(check)) => {
                env.insert(target::cc_env(triple), "musl-gcc".into());
                (None, Some(check))
            }
            None => (None, None),
        };
        let zig = zig_cc
            .clone()
            .or_else(|| rt.zig_link.clone())
            .map(|t| ZigTools::new(self.project, t));
        if let Some(zig) = &zig {
            if zig_cc.is_some() {
                env.extend(zig.cc_rs_env(triple));
            }
            if rt.zig_link.is_some() {
                env.insert(target::linker_env(triple), zig.path(Tool::Cc));
            }
        }
        if !c_crates.is_empty()
            && let Some(flags) = c_prefix_maps(&self.remaps)
        {
            // C sources see their paths through __FILE__ and debug info: remap them as well.
            env.insert(format!("CFLAGS_{}", triple.replace('-', "_")), flags);
        }
        (env, zig, cc_check)
    }

    /// What zig is needed for, for the check's message.
    fn zig_why(&self, rt: &target::RustTarget) -> String {
        let c_crates = &self.rust.c_crates;
        if c_crates.is_empty() {
            format!("zig links {} binaries", rt.triple)
        } else {
            format!(
                "crates here compile C ({}), which zig compiles for {}",
                c_crates.join(", "),
                rt.triple
            )
        }
    }

    /// `lade cargo-crates`: the crates the build links, with their features, written next to
    /// the binaries for the SBOM (`sbom::rust` reads [`CRATES_FILE`] there).
    fn crates_step(&self, platform: &Platform, triple: &str, out: &Path) -> BuildStep {
        let file = out.join(CRATES_FILE);
        let mut args = vec![
            "cargo-crates".to_string(),
            "--triple".into(),
            triple.to_string(),
            "--out".into(),
            file.to_string_lossy().into_owned(),
        ];
        let mut packages: Vec<&str> = Vec::new();
        for s in self.bins {
            if !packages.contains(&s.package.name.as_str()) {
                packages.push(&s.package.name);
            }
        }
        for p in packages {
            args.extend(["--package".into(), p.to_string()]);
        }
        if self.rust.lockfile.is_some() {
            args.push("--locked".into());
        }
        if !self.settings.features.is_empty() {
            args.extend(["--features".into(), self.settings.features.join(",")]);
        }
        if self.settings.no_default_features {
            args.push("--no-default-features".into());
        }
        BuildStep::new(
            format!("list the crates linked for {platform}"),
            crate::plan::LADE_PROGRAM,
            args,
            self.project.dir,
        )
        .with_input(StepInput::Tree {
            path: self.project.dir.to_path_buf(),
            exclude: vec!["target".into(), ".git".into(), "lade-out".into()],
        })
        .with_input(StepInput::Tool {
            program: "cargo".into(),
        })
        .with_output(StepOutput::File { path: file })
        .reused_when_unchanged()
    }

    fn args(&self, triple: &str) -> Vec<String> {
        cargo_args(
            &self.profile,
            self.rust.lockfile.is_some(),
            triple,
            self.bins,
            self.settings,
        )
    }
}

/// `[rust.target]` keys parsed as platforms.
fn target_overrides(settings: &RustSettings) -> Result<Vec<(Platform, String)>, DetectError> {
    settings
        .target
        .iter()
        .map(|(k, v)| {
            k.parse::<Platform>()
                .map(|p| (p, v.clone()))
                .map_err(|e| DetectError::Unsupported(format!("[rust.target] {k}: {e}")))
        })
        .collect()
}

/// `--remap-path-prefix` for every place whose path could end up in the binary (panic
/// locations, debug info): the workspace, cargo's home (registry and git sources) and the
/// target directory (build script outputs). rustc applies the last matching mapping, so the
/// most specific comes last.
fn remap_flags(root: &Path, cargo_home: Option<&Path>, target_dir: &Path) -> Vec<String> {
    let mut pairs: Vec<(PathBuf, &str)> = vec![(root.to_path_buf(), "/src")];
    if let Some(home) = cargo_home {
        pairs.push((home.to_path_buf(), "/cargo"));
        if let Ok(real) = home.canonicalize()
            && real != home
        {
            pairs.push((real, "/cargo"));
        }
    }
    pairs.push((target_dir.to_path_buf(), "/target"));
    pairs
        .into_iter()
        .map(|(from, to)| format!("--remap-path-prefix={}={to}", from.display()))
        .collect()
}

/// The rustc remaps as gcc `-ffile-prefix-map` flags, in one CFLAGS string; `None` when a
/// path has whitespace, which CFLAGS cannot carry.
fn c_prefix_maps(remaps: &[String]) -> Option<String> {
    let maps: Vec<String> = remaps
        .iter()
        .filter_map(|r| r.strip_prefix("--remap-path-prefix="))
        .map(|m| format!("-ffile-prefix-map={m}"))
        .collect();
    if maps.iter().any(|m| m.contains(char::is_whitespace)) {
        return None;
    }
    Some(maps.join(" "))
}

/// The directory cargo writes a profile's outputs to.
fn profile_dir(profile: &str) -> &str {
    match profile {
        "dev" | "test" => "debug",
        "release" | "bench" => "release",
        other => other,
    }
}

/// The cargo build reads the workspace (its `target/` aside), path dependencies outside it,
/// cargo's config files and the toolchain, and writes the binaries. Reused when none of that
/// changed: even a no-op cargo build spends a few hundred milliseconds checking fingerprints.
/// The toolchain is known by `rustc -vV` (rustup's `cargo` is a proxy whose bytes do not say
/// which compiler it starts); registry and git dependencies are pinned by Cargo.lock, in the
/// workspace.
fn cargo_step(step: BuildStep, rust: &RustProject, binaries: &[PathBuf]) -> BuildStep {
    let mut step = step
        .with_input(StepInput::Tree {
            path: rust.workspace.root.clone(),
            // Git's own files change with every commit, and lade's default output
            // (`./lade-out`) with every publish; no build reads them.
            exclude: vec!["target".into(), ".git".into(), "lade-out".into()],
        })
        .with_inputs(rust.outside.iter().map(|p| StepInput::Tree {
            path: p.clone(),
            exclude: vec!["target".into()],
        }))
        .with_inputs(
            rust.cargo_config
                .files()
                .filter(|f| !f.starts_with(&rust.workspace.root))
                .map(|f| StepInput::Files {
                    root: f.parent().unwrap_or(f).to_path_buf(),
                    paths: vec![f.file_name().unwrap_or_default().to_string_lossy().into()],
                }),
        )
        .with_inputs(CARGO_ENV_INPUTS.iter().map(|n| StepInput::Env {
            name: n.to_string(),
        }))
        .with_tool_input()
        .with_input(StepInput::ToolVersion {
            program: "rustc".into(),
            args: vec!["-vV".into()],
        })
        .reused_when_unchanged();
    for b in binaries {
        step = step.with_output(StepOutput::File { path: b.clone() });
    }
    step
}

/// Variables of lade's environment that change what cargo builds and that the step does not
/// set itself (it sets the target directory, rustflags, linker and C compiler).
const CARGO_ENV_INPUTS: &[&str] = &[
    "RUSTUP_TOOLCHAIN",
    "RUSTC",
    "RUSTC_WRAPPER",
    "RUSTC_WORKSPACE_WRAPPER",
    "CARGO_HOME",
    "CARGO_PROFILE_RELEASE_STRIP",
    "CARGO_PROFILE_RELEASE_DEBUG",
    "CARGO_PROFILE_RELEASE_OPT_LEVEL",
    "CARGO_PROFILE_RELEASE_LTO",
    "CARGO_PROFILE_RELEASE_CODEGEN_UNITS",
    "CARGO_PROFILE_RELEASE_PANIC",
    "CFLAGS",
    "CC",
];

fn cargo_args(
    profile: &str,
    locked: bool,
    triple: &str,
    bins: &[Selected],
    settings: &RustSettings,
) -> Vec<String> {
    let mut args = vec!["build".to_string()];
    if profile == "release" {
        args.push("--release".into());
    } else {
        args.extend(["--profile".into(), profile.to_string()]);
    }
    if locked {
        args.push("--locked".into());
    }
    args.extend(["--target".into(), triple.to_string()]);
    let mut packages: Vec<&str> = Vec::new();
    for s in bins {
        if !packages.contains(&s.package.name.as_str()) {
            packages.push(&s.package.name);
        }
    }
    for p in packages {
        args.extend(["-p".into(), p.to_string()]);
    }
    for s in bins {
        args.extend(["--bin".into(), s.bin.name.clone()]);
    }
    if !settings.features.is_empty() {
        args.extend(["--features".into(), settings.features.join(",")]);
    }
    if settings.no_default_features {
        args.push("--no-default-features".into());
    }
    args
}
