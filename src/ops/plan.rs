//! `lade plan`: detect the project and compute its plan, with lade.toml and flags applied.

use crate::config::LadeConfig;
use crate::detect::{self, Project};
use crate::digest::Digest;
use crate::plan::Plan;
use crate::platform::Platform;
use anyhow::Context;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Flags shared by `plan` and `publish` that change the plan.
#[derive(Clone, Debug, Default)]
pub struct PlanOptions {
    /// Project directory (`DIR` or `-C`); the current directory when `None`.
    pub dir: Option<PathBuf>,
    pub platforms: Option<Vec<Platform>>,
    /// `--platform all`: every platform the base has that the toolchain builds, resolved by
    /// [`super::platforms::resolve_all`] into `platforms` before planning.
    pub all_platforms: bool,
    pub base: Option<String>,
    pub main: Option<String>,
    /// `--label`, `--annotation`, `--env`: over lade.toml's and the detector's.
    pub labels: BTreeMap<String, String>,
    pub annotations: BTreeMap<String, String>,
    pub env: BTreeMap<String, String>,
}

/// A `KEY=VALUE` flag that is not one.
#[derive(Debug, thiserror::Error)]
#[error("{flag} '{value}': {problem}; write {flag} {example}")]
pub struct PairError {
    pub flag: &'static str,
    pub value: String,
    pub problem: &'static str,
    pub example: &'static str,
}

/// Parses repeated `KEY=VALUE` flags (`--label`, `--annotation`, `--env`); a later one with
/// the same key wins, as a later flag does. The value may be empty or hold `=`.
pub fn parse_pairs(
    flag: &'static str,
    values: &[String],
) -> Result<BTreeMap<String, String>, PairError> {
    let example = match flag {
        "--env" => "NAME=VALUE (e.g. --env LOG_LEVEL=info)",
        "--annotation" => "KEY=VALUE (e.g. --annotation org.opencontainers.image.vendor=Example)",
        _ => "KEY=VALUE (e.g. --label team=payments)",
    };
    let err = |value: &str, problem| PairError {
        flag,
        value: value.to_string(),
        problem,
        example,
    };
    let mut out = BTreeMap::new();
    for v in values {
        let Some((k, val)) = v.split_once('=') else {
            return Err(err(v, "no '=' between key and value"));
        };
        if k.trim().is_empty() {
            return Err(err(v, "the key is empty"));
        }
        if k.contains(char::is_whitespace) || k.contains('\0') || val.contains('\0') {
            return Err(err(v, "the key holds white space or a NUL byte"));
        }
        out.insert(k.to_string(), val.to_string());
    }
    Ok(out)
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
            "project directory {}: is a file, not a directory; name the project's directory (DIR or -C)",
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
    // The stat cache file (a line per file lade ever hashed) is read while the detector walks
    // the project: both are needed before the first key.
    let cache_dir = super::cache_dir();
    let detected = std::thread::scope(|s| {
        s.spawn(|| crate::statcache::init(&cache_dir));
        detect::detect(&project)
    });
    let mut plan = detected?;
    config.apply(&mut plan);
    if let Some(b) = &opts.base {
        plan.base = b.clone();
    }
    // Flags over lade.toml, which is already over detection.
    plan.config.labels.extend(opts.labels.clone());
    plan.config.annotations.extend(opts.annotations.clone());
    plan.config.env.extend(opts.env.clone());
    // A FIFO, socket or device in the tree cannot go into a layer; leaving it out silently
    // would surprise whoever put it there.
    let special = crate::ignore::Reason::Special.to_string();
    for e in plan.excluded.iter().filter(|e| e.reason == special) {
        tracing::warn!(path = %e.path, "left out of the image: {special}");
    }
    // Keys come last, from the final steps, so `lade plan` shows the ones publish compares.
    // File digests come through the stat cache, so an unchanged tree is stat'ed, not read.
    crate::build::fill_keys(&mut plan)?;
    save_stat_cache();
    Ok((plan, config))
}

/// Build outputs for a project live in the cache, keyed by its path, so the source tree is
/// never written to and rebuilding reuses the previous outputs' directory.
pub(super) fn build_dir(project: &Path) -> PathBuf {
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

/// What `lade plan` shows: the plan, and where a publish given the same flags would write.
#[derive(Debug, serde::Serialize)]
pub struct DryRun {
    #[serde(flatten)]
    pub plan: Plan,
    pub outputs: Vec<PlannedOutput>,
}

#[derive(Debug, serde::Serialize)]
pub struct PlannedOutput {
    /// The target as a publish would write it (a layout per `--tag`, each its own output).
    pub target: String,
    /// Extra tags a registry output would get (`--tag`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<String>,
}

/// Everything a publish with `opts` checks before building — the signing key, `--platform all`,
/// the plan, every output and tag, the paths it would write — without building, pushing or
/// asking a registry whether it takes a push.
pub fn dry_run(opts: &super::publish::PublishOptions) -> anyhow::Result<DryRun> {
    super::signing::read_key(opts.sign_key.as_deref())?;
    let opts = &super::platforms::resolve_all(opts)?;
    let (plan, config) = plan_and_config(&opts.plan)?;
    let outputs = super::publish::open_outputs(opts, &plan, &config)?;
    let outputs = outputs
        .targets
        .iter()
        .map(|t| PlannedOutput {
            target: t.to_string(),
            tags: match t {
                crate::sink::Target::Registry { .. } => opts.tags.clone(),
                _ => Vec::new(),
            },
        })
        .collect();
    Ok(DryRun { plan, outputs })
}

impl DryRun {
    /// `lade plan`'s text: the plan, then one line per output.
    pub fn render(&self) -> String {
        let mut s = self.plan.render();
        for o in &self.outputs {
            s.push_str(&format!("output    {}", o.target));
            if !o.tags.is_empty() {
                s.push_str(&format!(" (also tagged {})", o.tags.join(", ")));
            }
            s.push('\n');
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::parse_pairs;

    #[test]
    fn pairs_split_at_the_first_equals_and_the_last_flag_wins() {
        let v = |s: &[&str]| s.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let m = parse_pairs("--label", &v(&["a=1", "b=x=y", "c=", "a=2"])).unwrap();
        assert_eq!(m["a"], "2");
        assert_eq!(m["b"], "x=y");
        assert_eq!(m["c"], "");
        for bad in ["novalue", "=v", "a b=1"] {
            let e = parse_pairs("--env", &v(&[bad])).unwrap_err().to_string();
            assert!(e.starts_with(&format!("--env '{bad}': ")), "{e}");
            assert!(e.contains("NAME=VALUE"), "{e}");
        }
    }
}
