//! `lade plan`: detect the project and compute its plan, with lade.toml and flags applied.

use crate::config::LadeConfig;
use crate::detect::{self, Project};
use crate::digest::Digest;
use crate::plan::Plan;
use crate::platform::Platform;
use anyhow::Context;
use std::path::{Path, PathBuf};

/// Flags shared by `plan` and `publish`.
#[derive(Clone, Debug, Default)]
pub struct PlanOptions {
    /// Project directory (`-C`); the current directory when `None`.
    pub dir: Option<PathBuf>,
    pub platforms: Option<Vec<Platform>>,
    pub base: Option<String>,
    pub main: Option<String>,
}

pub fn plan(opts: &PlanOptions) -> anyhow::Result<Plan> {
    Ok(plan_and_config(opts)?.0)
}

/// The plan and the configuration it was made with (publish needs settings beyond the plan).
pub fn plan_and_config(opts: &PlanOptions) -> anyhow::Result<(Plan, LadeConfig)> {
    let cwd = std::env::current_dir().context("reading the current directory")?;
    let dir = match &opts.dir {
        Some(d) => cwd.join(d),
        None => cwd.clone(),
    };
    let dir = dir
        .canonicalize()
        .with_context(|| format!("project directory {}", dir.display()))?;
    // A file would otherwise surface as "reading FILE/lade.toml: Not a directory".
    if !dir.is_dir() {
        anyhow::bail!(
            "project directory {}: is a file, not a directory; -C names the project's directory",
            dir.display()
        );
    }
    let mut config = LadeConfig::load(&dir)?;
    // Detectors see the base the image will have (node's default binary path depends on it),
    // so `--base` goes in before detection as well as over the plan below.
    if let Some(b) = &opts.base {
        config.base = Some(crate::config::BaseSetting::Reference(b.clone()));
    }
    let platforms = match &opts.platforms {
        Some(p) => p.clone(),
        None if !config.platforms.is_empty() => config.platforms(),
        None => vec![Platform::host().unwrap_or_else(|| Platform::linux("amd64", None))],
    };
    let out_dir = build_dir(&dir);
    let filter = crate::ignore::Filter::load(&dir)?;
    let project = Project {
        dir: &dir,
        config: &config,
        platforms: &platforms,
        main: opts.main.as_deref(),
        out_dir: &out_dir,
        filter: &filter,
    };
    let mut plan = detect::detect(&project)?;
    config.apply(&mut plan);
    if let Some(b) = &opts.base {
        plan.base = b.clone();
    }
    // A FIFO, socket or device in the tree cannot go into a layer; leaving it out silently
    // would surprise whoever put it there.
    let special = crate::ignore::Reason::Special.to_string();
    for e in plan.excluded.iter().filter(|e| e.reason == special) {
        tracing::warn!(path = %e.path, "left out of the image: {special}");
    }
    // Keys come last, from the final steps, so `lade plan` shows the ones publish compares.
    // File digests come through the stat cache, so an unchanged tree is stat'ed, not read.
    crate::statcache::init(&super::cache_dir());
    crate::build::fill_keys(&mut plan)?;
    save_stat_cache();
    Ok((plan, config))
}

/// Build outputs for a project live in the cache, keyed by its path, so the source tree is
/// never written to and rebuilding reuses the previous outputs' directory.
fn build_dir(project: &Path) -> PathBuf {
    let key = Digest::of(project.as_os_str().as_encoded_bytes());
    super::cache_dir().join("build").join(&key.hex()[..16])
}

/// The directory a relative `oci:` base path is relative to: the current directory for
/// `--base`, the project for lade.toml. Plans keep the base as written, so the image's
/// base.name annotation does not depend on where the checkout is.
pub fn base_dir(opts: &PlanOptions, plan: &Plan) -> anyhow::Result<PathBuf> {
    if opts.base.is_some() {
        std::env::current_dir().context("reading the current directory")
    } else {
        Ok(plan.project_dir.clone())
    }
}

/// Keeps what was hashed for the next command; the cache is only an optimisation, so failing
/// to write it is a warning.
pub(super) fn save_stat_cache() {
    if let Err(e) = crate::statcache::save() {
        tracing::warn!("could not save the file digest cache: {e}");
    }
}
