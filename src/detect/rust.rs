//! Rust: a Cargo package or workspace. lade builds the binaries `cargo build` would build in the
//! project directory (every binary target of the root package, or of the default members),
//! once per platform with `cargo build --release --target TRIPLE`, and puts them all at
//! `/app/NAME`; one is the entrypoint. musl targets (the default) give static binaries for a
//! scratch base; `[rust] libc = "gnu"` gives glibc binaries, which need a cc base.
//!
//! Reproducibility: the project, cargo's home and the target directory are remapped
//! (`--remap-path-prefix`) to `/src`, `/cargo` and `/target`, so the bytes do not depend on
//! where the checkout or the cache is; cargo's target directory lives in lade's cache, keyed by
//! the project path, and is reused between runs as a cache mount would be.
//!
//! Linkage decides the base, but only the built binary knows it: the detector predicts it from
//! the target (musl → static, gnu → glibc) to pick the base before building, and records a
//! `Check::Linkage` per binary that `ops` runs on the produced ELF file before layering.

mod cargo_config;
mod lockfile;
mod manifest;
mod target;
mod workspace;

use super::{DetectError, Detector, Project, tree_entries};
use crate::config::{RustLibc, RustSettings};
use crate::plan::{
    BuildStep, Check, EntryKind, Excluded, FileEntry, ImageConfigPatch, LayerSpec, Linkage, Plan,
    Reason, StepInput, StepOutput, TargetPlan,
};
use crate::platform::Platform;
use cargo_config::CargoConfig;
use manifest::{BinTarget, PackageInfo};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use workspace::Workspace;

pub struct RustDetector;

/// Base for static binaries.
pub const STATIC_BASE: &str = "scratch";
/// Base for glibc-linked binaries: it must have libc6 and libgcc-s1. Until lade has a cc
/// preset this is distroless/cc, which needs registry bases; `--base oci:PATH:TAG` meanwhile.
pub const CC_BASE: &str = "gcr.io/distroless/cc-debian12";
/// Where binaries and resources go in the image.
pub const APP_DIR: &str = "/app";

/// What the detector knows about the machine beyond the project: where cargo keeps downloaded
/// sources (their paths are remapped out of the binary) and which platform is native.
#[derive(Clone, Debug, Default)]
pub struct Host {
    pub cargo_home: Option<PathBuf>,
    pub platform: Option<Platform>,
    /// `CC_<triple>` variables set in lade's environment (cc-rs uses them as they are).
    pub cc_vars: Vec<String>,
}

impl Host {
    fn has_cc(&self, triple: &str) -> bool {
        let dashed = format!("CC_{triple}");
        let underscored = target::cc_env(triple);
        self.cc_vars
            .iter()
            .any(|v| v == &dashed || v == &underscored || v == "TARGET_CC")
    }
}

impl Host {
    pub fn from_env() -> Host {
        use crate::env::{self, CARGO_HOME, CC_TRIPLE, HOME, TARGET_CC};
        let cargo_home = env::var_os(CARGO_HOME)
            .filter(|h| !h.is_empty())
            .map(PathBuf::from)
            .or_else(|| {
                env::var_os(HOME)
                    .filter(|h| !h.is_empty())
                    .map(|h| PathBuf::from(h).join(".cargo"))
            });
        let mut cc_vars: Vec<String> = env::family(CC_TRIPLE)
            .into_iter()
            .filter_map(|(k, v)| (!v.is_empty()).then_some(k))
            .collect();
        if env::var_os(TARGET_CC).is_some_and(|v| !v.is_empty()) {
            cc_vars.push(TARGET_CC.name().to_string());
        }
        Host {
            cargo_home,
            platform: Platform::host(),
            cc_vars,
        }
    }
}

impl Detector for RustDetector {
    fn name(&self) -> &'static str {
        "rust"
    }

    fn looks_for(&self) -> &'static str {
        "Cargo.toml (Rust)"
    }

    fn detect(&self, project: &Project) -> Result<Option<Plan>, DetectError> {
        detect_with(project, &Host::from_env())
    }
}

/// A binary lade puts in the image.
struct Selected<'a> {
    package: &'a PackageInfo,
    bin: &'a BinTarget,
}

pub fn detect_with(project: &Project, host: &Host) -> Result<Option<Plan>, DetectError> {
    let Some(ws) = workspace::load(project.dir)? else {
        return Ok(None);
    };
    let settings = &project.config.rust;
    let manifest_path = project.dir.join("Cargo.toml");
    let mut reasons = vec![Reason {
        file: "Cargo.toml".into(),
        why: describe_workspace(&ws, project.dir),
    }];

    let (bins, skipped) = select_bins(&ws, settings, &manifest_path)?;
    let entry = choose_entry(&ws, &bins, &skipped, project)?;
    for s in &bins {
        reasons.push(Reason {
            file: rel(project.dir, &s.package.dir.join(&s.bin.path)),
            why: format!(
                "binary {} of package {} → {APP_DIR}/{}",
                s.bin.name, s.package.name, s.bin.name
            ),
        });
    }
    for (name, missing) in &skipped {
        reasons.push(Reason {
            file: "Cargo.toml".into(),
            why: format!(
                "binary {name} left out: it needs features {} (see [rust] features)",
                missing.join(", ")
            ),
        });
    }
    let lockfile = ws.lockfile();
    reasons.push(match &lockfile {
        Some(l) => Reason {
            file: rel(project.dir, l),
            why: "dependencies as locked (cargo build --locked)".into(),
        },
        None => Reason {
            file: "Cargo.lock".into(),
            why: "absent: cargo resolves dependencies while building; commit one for repeatable builds".into(),
        },
    });

    let (resources, excluded) = resources(project, settings, &bins, &mut reasons)?;

    let libc = settings.libc.unwrap_or(RustLibc::Musl);
    let overrides = target_overrides(settings)?;
    let cargo_config = CargoConfig::load(project.dir, host.cargo_home.as_deref())?;
    let target_dir = project.out_dir.join("cargo-target");
    let profile = settings.profile.clone().unwrap_or_else(|| "release".into());
    let remaps = remap_flags(&ws.root, host.cargo_home.as_deref(), &target_dir);
    let c_crates = match &lockfile {
        Some(l) => lockfile::c_building_packages(l)?,
        None => Vec::new(),
    };

    let mut targets = Vec::new();
    let mut any_glibc = false;
    for platform in project.platforms {
        let explicit = overrides
            .iter()
            .find(|(p, _)| p == platform)
            .map(|(_, t)| t.as_str());
        let unsupported = |m: String| DetectError::Unsupported(format!("{platform}: {m}"));
        let triple = target::triple_for(platform, libc, explicit).map_err(unsupported)?;
        let rt = target::plan_target(
            platform,
            &triple,
            host.platform.as_ref(),
            settings.linker.as_deref(),
            cargo_config.linker_file(&triple).is_some(),
        )
        .map_err(unsupported)?;
        any_glibc |= rt.linkage == Linkage::Glibc;

        let mut env = BTreeMap::new();
        env.insert(
            "CARGO_TARGET_DIR".to_string(),
            target_dir.to_string_lossy().into_owned(),
        );
        let rustflags: Vec<String> = cargo_config
            .rustflags(&triple)
            .into_iter()
            .chain(settings.rustflags.iter().cloned())
            .chain(remaps.iter().cloned())
            .collect();
        // The encoded form keeps flags with spaces (paths) whole, and cargo prefers it over a
        // RUSTFLAGS the user may have exported.
        env.insert("CARGO_ENCODED_RUSTFLAGS".into(), rustflags.join("\x1f"));
        if let Some(l) = &rt.linker {
            env.insert(target::linker_env(&triple), l.clone());
        }
        let (cc, cc_check) = target::c_compiler(
            platform,
            &rt,
            host.platform.as_ref(),
            &c_crates,
            host.has_cc(&triple),
        );
        if let Some(cc) = cc {
            env.insert(target::cc_env(&triple), cc);
        }
        if !c_crates.is_empty()
            && let Some(flags) = c_prefix_maps(&remaps)
        {
            // C sources see their paths through __FILE__ and debug info: remap them as well.
            env.insert(format!("CFLAGS_{}", triple.replace('-', "_")), flags);
        }

        let out = target_dir.join(&triple).join(profile_dir(&profile));
        let mut checks = vec![Check::RustTarget {
            triple: triple.clone(),
        }];
        checks.extend(rt.linker_check.clone());
        checks.extend(cc_check);
        let mut binaries = Vec::new();
        let mut outputs = Vec::new();
        for s in &bins {
            let path = out.join(&s.bin.name);
            outputs.push(path.clone());
            let target = format!("{APP_DIR}/{}", s.bin.name);
            checks.push(Check::Linkage {
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
        let mut layers = Vec::new();
        if !resources.is_empty() {
            layers.push(LayerSpec {
                name: "resources".into(),
                entries: resources.clone(),
            });
        }
        layers.push(LayerSpec {
            name: "binary".into(),
            entries: binaries,
        });
        targets.push(TargetPlan {
            platform: platform.clone(),
            steps: vec![cargo_step(
                BuildStep::new(
                    format!("cargo build for {platform} ({triple})"),
                    "cargo",
                    cargo_args(&profile, lockfile.is_some(), &triple, &bins, settings),
                    project.dir,
                )
                .with_env(env),
                &outputs,
            )],
            layers,
            checks,
        });
    }
    reasons[0].why.push_str(&if any_glibc {
        format!("; glibc-linked binaries need a cc base ({CC_BASE})")
    } else {
        format!("; static musl binaries on {STATIC_BASE}")
    });

    let name = project
        .config
        .name
        .clone()
        .or_else(|| ws.root_package.clone())
        .unwrap_or_else(|| {
            project
                .dir
                .file_name()
                .map_or_else(|| "app".into(), |n| n.to_string_lossy().into_owned())
        });
    let mut config = ImageConfigPatch {
        entrypoint: Some(vec![format!("{APP_DIR}/{}", entry)]),
        ..Default::default()
    };
    if !resources.is_empty() {
        // Programs find their resources relative to the working directory, as under
        // `cargo run` in the project directory.
        config.workdir = Some(APP_DIR.into());
    }
    Ok(Some(Plan {
        detector: "rust".into(),
        reasons,
        name,
        project_dir: project.dir.to_path_buf(),
        targets,
        config,
        base: if any_glibc { CC_BASE } else { STATIC_BASE }.into(),
        excluded,
    }))
}

/// The binaries of the selected packages, minus those whose `required-features` are off, and
/// narrowed to `[rust] bins`; and the ones left out for features.
#[allow(clippy::type_complexity)]
fn select_bins<'a>(
    ws: &'a Workspace,
    settings: &RustSettings,
    manifest_path: &Path,
) -> Result<(Vec<Selected<'a>>, Vec<(String, Vec<String>)>), DetectError> {
    let mut all: Vec<Selected> = Vec::new();
    let mut skipped = Vec::new();
    for package in &ws.selected {
        let requested: Vec<String> = settings
            .features
            .iter()
            .filter_map(|f| match f.split_once('/') {
                Some((p, feat)) if p == package.name => Some(feat.to_string()),
                Some(_) => None,
                None => Some(f.clone()),
            })
            .collect();
        let on = package.enabled_features(&requested, settings.no_default_features);
        for bin in &package.bins {
            let missing: Vec<String> = bin
                .required_features
                .iter()
                .filter(|f| !on.contains(*f))
                .cloned()
                .collect();
            if !missing.is_empty() {
                skipped.push((bin.name.clone(), missing));
                continue;
            }
            if let Some(other) = all.iter().find(|s| s.bin.name == bin.name) {
                return Err(DetectError::Unsupported(format!(
                    "packages {} and {} both have a binary named {}; both cannot be at {APP_DIR}/{}: rename one",
                    other.package.name, package.name, bin.name, bin.name
                )));
            }
            all.push(Selected { package, bin });
        }
    }
    if let Some(wanted) = &settings.bins {
        for w in wanted {
            if !all.iter().any(|s| &s.bin.name == w) {
                return Err(DetectError::Unsupported(format!(
                    "[rust] bins names {w}, which is not a binary here (binaries: {})",
                    list(&all)
                )));
            }
        }
        all.retain(|s| wanted.contains(&s.bin.name));
    }
    if all.is_empty() {
        if !skipped.is_empty() {
            let which: Vec<String> = skipped
                .iter()
                .map(|(n, f)| format!("{n} needs {}", f.join(", ")))
                .collect();
            return Err(DetectError::Unsupported(format!(
                "{}: no binary is built with the enabled features ({}); enable them with [rust] features",
                manifest_path.display(),
                which.join("; ")
            )));
        }
        let detail = match (ws.declared, ws.selected.as_slice()) {
            (false, [p]) | (true, [p]) if ws.root_package.as_deref() == Some(p.name.as_str()) => {
                format!(
                    "package {} has no binary target (src/main.rs, src/bin/*.rs or [[bin]]); lade packages programs, not libraries",
                    p.name
                )
            }
            _ => format!(
                "no binary target in the packages cargo builds here ({}); lade packages programs, not libraries",
                ws.selected
                    .iter()
                    .map(|p| p.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        };
        return Err(DetectError::Unsupported(format!(
            "{}: {detail}",
            manifest_path.display()
        )));
    }
    Ok((all, skipped))
}

/// The entrypoint: `--main`, else `[rust] bin`, else `main` in lade.toml; else the only
/// binary, else the root package's `default-run` (as `cargo run` picks).
fn choose_entry(
    ws: &Workspace,
    bins: &[Selected],
    skipped: &[(String, Vec<String>)],
    project: &Project,
) -> Result<String, DetectError> {
    let wanted = project
        .main
        .map(|m| (m.to_string(), "--main"))
        .or_else(|| project.config.rust.bin.clone().map(|b| (b, "[rust] bin")))
        .or_else(|| project.config.main.clone().map(|m| (m, "main")));
    if let Some((w, from)) = wanted {
        if bins.iter().any(|s| s.bin.name == w) {
            return Ok(w);
        }
        if let Some((_, missing)) = skipped.iter().find(|(n, _)| n == &w) {
            return Err(DetectError::Unsupported(format!(
                "{from} {w}: that binary needs features {} (set [rust] features)",
                missing.join(", ")
            )));
        }
        return Err(DetectError::Unsupported(format!(
            "{from} {w}: no binary named {w} (binaries: {})",
            list(bins)
        )));
    }
    if let [only] = bins {
        return Ok(only.bin.name.clone());
    }
    let default_run = ws
        .selected
        .iter()
        .find(|p| Some(&p.name) == ws.root_package.as_ref())
        .and_then(|p| p.default_run.clone());
    if let Some(d) = default_run
        && bins.iter().any(|s| s.bin.name == d)
    {
        return Ok(d);
    }
    Err(DetectError::Unsupported(format!(
        "several binaries ({}): pick the entrypoint with --main NAME or `bin = \"NAME\"` under [rust] in lade.toml",
        list(bins)
    )))
}

fn list(bins: &[Selected]) -> String {
    if bins.is_empty() {
        return "none".into();
    }
    bins.iter()
        .map(|s| s.bin.name.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

/// The resources layer: `[rust] resources`, else `assets/` when it exists, each directory at
/// `/app/DIR` through the ignore rules.
fn resources(
    project: &Project,
    settings: &RustSettings,
    bins: &[Selected],
    reasons: &mut Vec<Reason>,
) -> Result<(Vec<FileEntry>, Vec<Excluded>), DetectError> {
    let dirs: Vec<String> = match &settings.resources {
        Some(r) => r.clone(),
        None if project.dir.join("assets").is_dir() => vec!["assets".into()],
        None => Vec::new(),
    };
    let mut entries = Vec::new();
    let mut excluded = Vec::new();
    for d in dirs {
        let clean = d.trim_start_matches("./").trim_end_matches('/').to_string();
        let path = Path::new(&clean);
        let outside = path.is_absolute()
            || clean.is_empty()
            || path
                .components()
                .any(|c| !matches!(c, std::path::Component::Normal(_)));
        if outside {
            return Err(DetectError::Unsupported(format!(
                "[rust] resources: {d:?} must be a directory inside the project, relative to it"
            )));
        }
        if !project.dir.join(path).is_dir() {
            return Err(DetectError::Unsupported(format!(
                "[rust] resources: {} is not a directory",
                project.dir.join(path).display()
            )));
        }
        let top = clean.split('/').next().unwrap_or(&clean);
        if let Some(s) = bins.iter().find(|s| s.bin.name == top) {
            return Err(DetectError::Unsupported(format!(
                "resources directory {clean}/ and binary {} would both be {APP_DIR}/{top}",
                s.bin.name
            )));
        }
        let target = format!("{APP_DIR}/{clean}");
        let (e, x) = tree_entries(project.dir, path, &target, project.filter)?;
        reasons.push(Reason {
            file: format!("{clean}/"),
            why: format!("resources → {target}"),
        });
        entries.extend(e);
        excluded.extend(x);
    }
    Ok((entries, excluded))
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

/// The cargo build reads the project (its `target/` aside) and writes the binaries. Not
/// reused by lade: cargo's own fingerprints in the kept target directory make an unchanged
/// build cheap.
fn cargo_step(step: BuildStep, binaries: &[PathBuf]) -> BuildStep {
    let path = step.dir.clone();
    let mut step = step
        .with_input(StepInput::Tree {
            path,
            exclude: vec!["target".into()],
        })
        .with_tool_input();
    for b in binaries {
        step = step.with_output(StepOutput::File { path: b.clone() });
    }
    step
}

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

fn describe_workspace(ws: &Workspace, project_dir: &Path) -> String {
    let alone = ws.members.len() == 1 && ws.root_package.is_some();
    if !ws.declared || alone {
        let mut s = format!("Rust package {}", ws.root_package.as_deref().unwrap_or("?"));
        if ws.root != project_dir {
            s.push_str(&format!(" in the workspace at {}", ws.root.display()));
        }
        return s;
    }
    let names: Vec<&str> = ws.selected.iter().map(|p| p.name.as_str()).collect();
    format!(
        "Cargo workspace of {} member{}; cargo builds {} here",
        ws.members.len(),
        if ws.members.len() == 1 { "" } else { "s" },
        names.join(", ")
    )
}

fn rel(base: &Path, p: &Path) -> String {
    p.strip_prefix(base)
        .unwrap_or(p)
        .to_string_lossy()
        .into_owned()
}

#[cfg(test)]
mod tests;
