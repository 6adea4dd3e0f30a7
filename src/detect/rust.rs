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

//!
//! `facts` reads the project (with `workspace`, `manifest`, `lockfile`, `cargo_config`),
//! `planner` turns it into a plan with `select` (binaries, entrypoint) and `build` (the cargo
//! build per platform, with `target`: triples, linkers, C compilers).

mod build;
mod cargo_config;
mod facts;
mod inputs;
mod lockfile;
mod manifest;
mod planner;
mod select;
mod target;
mod workspace;

use super::{DetectError, Detector, Project};
use crate::plan::Plan;
use crate::platform::Platform;
use std::path::PathBuf;

pub use build::CRATES_FILE;
pub use facts::RustProject;

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
    /// `CARGO_PROFILE_*` variables set in lade's environment (profile settings cargo reads).
    pub profile_vars: Vec<String>,
}

impl Host {
    pub(crate) fn has_cc(&self, triple: &str) -> bool {
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
            profile_vars: env::family(env::CARGO_PROFILE)
                .into_iter()
                .map(|(k, _)| k)
                .collect(),
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

/// The plan for the project on `host`; `None` when it is not a Rust project.
pub fn detect_with(project: &Project, host: &Host) -> Result<Option<Plan>, DetectError> {
    match RustProject::read(project.dir, host.cargo_home.as_deref())? {
        Some(rust) => planner::plan(&rust, project, host).map(Some),
        None => Ok(None),
    }
}

#[cfg(test)]
mod tests;
