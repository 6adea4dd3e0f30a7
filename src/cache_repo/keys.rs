//! Portable keys: what decides a layer's bytes, in terms that are the same on every machine
//! with the same commit. Local reuse keys (`build::key`) hold absolute paths (the checkout, the
//! cache) and the toolchain's identity as measured here; a machine with fresh caches, another
//! checkout path or no toolchain could never match them. So paths are written relative to the
//! repository root, the build directory and the cache, and a tool is not part of the key but of
//! the entry: the machine that built records which tool it used, and a machine that has the
//! tool checks it is the same one (one without it takes the recorded build).
//!
//! Build outputs have no content before the build, so a layer holding them is keyed by the
//! steps that produce them: each step's own key (program line, environment, project inputs)
//! chained with the keys of the earlier steps that wrote what it reads or works in.

use crate::build::key::hash_path;
use crate::digest::Digest;
use crate::plan::{BuildStep, EntryKind, LADE_PROGRAM, LayerSpec, Plan, Reuse, StepInput};
use sha2::{Digest as _, Sha256};
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
#[error("reading {}, an input of the shared cache key", path.display())]
pub struct KeyError {
    path: PathBuf,
    #[source]
    source: std::io::Error,
}

/// Machine-specific path prefixes and the names they are written as in keys.
pub struct Paths {
    /// Longest first, so the build directory (inside the cache) wins over the cache.
    prefixes: Vec<(String, &'static str)>,
    build: PathBuf,
}

impl Paths {
    /// `root` is the repository (or project) directory; `build` the project's build
    /// directory, inside `cache`.
    pub fn new(root: &Path, build: &Path, cache: &Path) -> Paths {
        let mut prefixes = vec![
            (root.display().to_string(), "$ROOT"),
            (build.display().to_string(), "$BUILD"),
            (cache.display().to_string(), "$CACHE"),
        ];
        prefixes.retain(|(p, _)| p.len() > 1);
        prefixes.sort_by_key(|(p, _)| std::cmp::Reverse(p.len()));
        Paths {
            prefixes,
            build: build.to_path_buf(),
        }
    }

    /// `s` with every machine-specific prefix replaced by its name.
    pub fn normalize(&self, s: &str) -> String {
        let mut out = s.to_string();
        for (prefix, name) in &self.prefixes {
            out = out.replace(prefix.as_str(), name);
        }
        out
    }

    fn path(&self, p: &Path) -> String {
        self.normalize(&p.display().to_string())
    }

    fn is_built(&self, p: &Path) -> bool {
        p.starts_with(&self.build)
    }

    /// The build directory's paths a text names (an argument, a variable's value).
    fn named_in(&self, s: &str) -> Vec<PathBuf> {
        let build = self.build.display().to_string();
        let mut found = Vec::new();
        let mut rest = s;
        while let Some(at) = rest.find(&build) {
            let tail = &rest[at..];
            let end = tail
                .find(|c: char| c.is_whitespace() || matches!(c, ':' | ',' | ';' | '=' | '"'))
                .unwrap_or(tail.len());
            found.push(PathBuf::from(&tail[..end]));
            rest = &tail[end..];
        }
        found
    }
}

/// The repository root above `dir` (the nearest directory with `.git`), else `dir`: paths
/// under it are the same in every checkout.
pub fn root_of(dir: &Path) -> PathBuf {
    dir.ancestors()
        .find(|d| d.join(".git").exists())
        .unwrap_or(dir)
        .to_path_buf()
}

/// Where a step is: target and position, in the order the runner runs them.
pub type StepId = (usize, usize);

/// A tool a step runs, declared by the step; its identity is recorded in the entry.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
pub struct ToolUse {
    pub step: String,
    /// `tool` (the executable's bytes) or `version` (what `program args` prints).
    pub kind: String,
    pub program: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub args: Vec<String>,
}

/// The shared-cache key of one layer of one platform.
#[derive(Clone, Debug)]
pub struct LayerKey {
    pub key: Digest,
    /// The steps whose outputs the layer holds, with every earlier step they depend on.
    pub producers: Vec<StepId>,
    /// The tools those steps run.
    pub tools: Vec<ToolUse>,
}

impl LayerKey {
    /// Whether the layer holds build outputs (a layer of project files needs no step).
    pub fn is_built(&self) -> bool {
        !self.producers.is_empty()
    }
}

/// What is hashed besides the entries: everything else the layer writer's bytes depend on.
pub struct LayerSettings<'a> {
    /// The compression's name and level (`gzip 6`, `zstd 3`).
    pub compression: &'a str,
    pub mtime: u64,
}

/// One step's place in the chain: its own key, chained with what it depends on, or `None`
/// when it cannot be keyed portably (a program other than lade that is never reused: its
/// effects are not declared).
struct Chained {
    key: Option<Digest>,
    /// This step and every step it depends on.
    deps: Vec<StepId>,
    /// Build-directory paths it writes or works in.
    effects: Vec<PathBuf>,
}

/// The keys of a plan's layers, and what each step depends on.
pub struct Keys {
    /// Per target, per layer: `None` when the layer cannot be keyed portably.
    pub layers: Vec<Vec<Option<LayerKey>>>,
    /// Each step with the earlier steps it depends on (itself included).
    pub deps: std::collections::BTreeMap<StepId, Vec<StepId>>,
}

/// The keys of every layer of every target of `plan`; `base` is each target's base manifest
/// digest (a built layer was checked against its base when it was made, so the key holds it).
pub fn layer_keys(
    plan: &Plan,
    paths: &Paths,
    settings: &LayerSettings,
    base: &[Option<Digest>],
) -> Result<Keys, KeyError> {
    let mut chained: Vec<(StepId, Chained)> = Vec::new();
    for (ti, t) in plan.targets.iter().enumerate() {
        for (si, step) in t.steps.iter().enumerate() {
            let refs = references(step, paths);
            let mut deps = vec![(ti, si)];
            let mut h = Sha256::new();
            let own = own_key(step, paths)?;
            let mut key_ok = own.is_some();
            h.update(own.map(|d| d.to_string()).unwrap_or_default().as_bytes());
            for (id, c) in &chained {
                if c.effects
                    .iter()
                    .any(|e| refs.iter().any(|r| overlaps(e, r)))
                {
                    match &c.key {
                        Some(k) => h.update(format!("after {k}\n").as_bytes()),
                        None => key_ok = false,
                    }
                    deps.extend(c.deps.iter().copied());
                    deps.push(*id);
                }
            }
            deps.sort();
            deps.dedup();
            chained.push((
                (ti, si),
                Chained {
                    key: key_ok.then(|| Digest::from_sha256(h)),
                    deps,
                    effects: effects(step, paths),
                },
            ));
        }
    }
    let config = crate::image::canonical::to_vec(&plan.config).expect("an image config serializes");
    let layers = plan
        .targets
        .iter()
        .enumerate()
        .map(|(ti, t)| {
            t.layers
                .iter()
                .map(|spec| {
                    let base = base.get(ti).cloned().flatten();
                    let platform = t.platform.to_string();
                    let on = Context {
                        platform: &platform,
                        paths,
                        settings,
                        chained: &chained,
                        plan,
                        base,
                        config: &config,
                    };
                    layer_key(spec, &on)
                })
                .collect()
        })
        .collect::<Result<_, _>>()?;
    let deps = chained.into_iter().map(|(id, c)| (id, c.deps)).collect();
    Ok(Keys { layers, deps })
}

/// What a layer's key is computed in.
struct Context<'a> {
    platform: &'a str,
    paths: &'a Paths,
    settings: &'a LayerSettings<'a>,
    chained: &'a [(StepId, Chained)],
    plan: &'a Plan,
    base: Option<Digest>,
    config: &'a [u8],
}

fn layer_key(spec: &LayerSpec, on: &Context) -> Result<Option<LayerKey>, KeyError> {
    let Context {
        platform,
        paths,
        settings,
        chained,
        plan,
        config,
        ..
    } = on;
    let mut h = Sha256::new();
    h.update(b"lade shared layer 1\n");
    h.update(env!("CARGO_PKG_VERSION").as_bytes());
    h.update(
        format!(
            "\n{platform}\n{} {}\n",
            settings.compression, settings.mtime
        )
        .as_bytes(),
    );
    let mut built = Vec::new();
    for e in &spec.entries {
        h.update(format!("{} {:o} ", e.target, e.mode).as_bytes());
        match &e.kind {
            EntryKind::File { source } if paths.is_built(source) => {
                h.update(format!("built {}\n", paths.path(source)).as_bytes());
                built.push(source.clone());
            }
            EntryKind::File { source } => {
                let (d, size) =
                    crate::statcache::shared()
                        .digest(source)
                        .map_err(|e| KeyError {
                            path: source.clone(),
                            source: e,
                        })?;
                h.update(format!("file {size} {d}\n").as_bytes());
            }
            EntryKind::Tree { source, exclude } if paths.is_built(source) => {
                h.update(format!("built tree {} {exclude:?}\n", paths.path(source)).as_bytes());
                built.push(source.clone());
            }
            EntryKind::Tree { source, exclude } => {
                h.update(b"tree\n");
                hash_path(&mut h, source, ".", exclude).map_err(|e| KeyError {
                    path: source.clone(),
                    source: e,
                })?;
            }
            EntryKind::Dir => h.update(b"dir\n"),
            EntryKind::Symlink { link } => h.update(format!("link {link}\n").as_bytes()),
        }
    }
    let mut producers: Vec<StepId> = Vec::new();
    for (id, c) in chained.iter() {
        if c.effects
            .iter()
            .any(|e| built.iter().any(|b| overlaps(e, b)))
        {
            let Some(k) = &c.key else {
                return Ok(None);
            };
            h.update(format!("made by {k}\n").as_bytes());
            producers.extend(c.deps.iter().copied());
            producers.push(*id);
        }
    }
    producers.sort();
    producers.dedup();
    if !built.is_empty() {
        if producers.is_empty() {
            // Built paths no declared step writes: nothing to key them by.
            return Ok(None);
        }
        // A built layer was checked (linkage, the entrypoint) on its base with this config.
        let base = on
            .base
            .as_ref()
            .map(|d| d.to_string())
            .unwrap_or_else(|| "none".into());
        h.update(format!("checked on {base}\n").as_bytes());
        h.update(config);
    }
    let tools = producers
        .iter()
        .flat_map(|(ti, si)| {
            let step = &plan.targets[*ti].steps[*si];
            step.inputs.iter().filter_map(move |i| tool_use(step, i))
        })
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    Ok(Some(LayerKey {
        key: Digest::from_sha256(h),
        producers,
        tools,
    }))
}

fn tool_use(step: &BuildStep, input: &StepInput) -> Option<ToolUse> {
    let (kind, program, args) = match input {
        StepInput::Tool { program } => ("tool", program, Vec::new()),
        StepInput::ToolVersion { program, args } => ("version", program, args.clone()),
        _ => return None,
    };
    Some(ToolUse {
        step: step.description.clone(),
        kind: kind.into(),
        program: program.clone(),
        args,
    })
}

/// The step's own part: its program line with paths normalized and the contents of its
/// project inputs; tools are left to the entry. `None` for a step that is neither reusable nor
/// lade's own (its effects are undeclared).
fn own_key(step: &BuildStep, paths: &Paths) -> Result<Option<Digest>, KeyError> {
    if step.reuse != Reuse::WhenUnchanged && step.program != LADE_PROGRAM {
        return Ok(None);
    }
    let mut h = Sha256::new();
    h.update(b"lade shared step 1\n");
    h.update(
        paths
            .normalize(&crate::build::key::program_line(step))
            .as_bytes(),
    );
    h.update(b"\n");
    let err = |path: &Path| {
        let path = path.to_path_buf();
        move |source| KeyError { path, source }
    };
    for input in &step.inputs {
        match input {
            // What an earlier step wrote is keyed by that step (see `layer_keys`).
            StepInput::Files { root, .. } if paths.is_built(root) => {
                h.update(format!("built files {}\n", paths.path(root)).as_bytes());
            }
            StepInput::Tree { path, .. } if paths.is_built(path) => {
                h.update(format!("built tree {}\n", paths.path(path)).as_bytes());
            }
            StepInput::Files { root, paths: files } => {
                h.update(format!("files {}\n", paths.path(root)).as_bytes());
                for p in files {
                    hash_path(&mut h, &root.join(p), p, &[]).map_err(err(&root.join(p)))?;
                }
            }
            StepInput::Tree { path, exclude } => {
                h.update(format!("tree {} {exclude:?}\n", paths.path(path)).as_bytes());
                hash_path(&mut h, path, ".", exclude).map_err(err(path))?;
            }
            StepInput::Env { name } => {
                let value = crate::build::host::var(name);
                h.update(format!("env {name}={value:?}\n").as_bytes());
            }
            StepInput::Tool { program } => h.update(format!("tool {program}\n").as_bytes()),
            StepInput::ToolVersion { program, args } => {
                h.update(format!("tool version {program} {args:?}\n").as_bytes())
            }
            // The step before is one of the steps the layer's key chains (`layer_keys`).
            StepInput::PreviousStep => h.update(b"after the step before\n"),
        }
    }
    Ok(Some(Digest::from_sha256(h)))
}

/// Build-directory paths a step reads or works in.
fn references(step: &BuildStep, paths: &Paths) -> Vec<PathBuf> {
    let mut refs = effects(step, paths);
    for i in &step.inputs {
        match i {
            StepInput::Files { root, .. } if paths.is_built(root) => refs.push(root.clone()),
            StepInput::Tree { path, .. } if paths.is_built(path) => refs.push(path.clone()),
            _ => {}
        }
    }
    for s in step.args.iter().chain(step.env.values()) {
        refs.extend(paths.named_in(s));
    }
    refs
}

/// Build-directory paths a step may change: its outputs, its directory when that is in the
/// build directory, and — for a step that declares no outputs (one that tidies a directory in
/// place) — every build path its arguments name.
fn effects(step: &BuildStep, paths: &Paths) -> Vec<PathBuf> {
    let mut e: Vec<PathBuf> = step
        .outputs
        .iter()
        .map(|o| o.path().to_path_buf())
        .collect();
    if paths.is_built(&step.dir) {
        e.push(step.dir.clone());
    }
    if step.outputs.is_empty() {
        for a in &step.args {
            e.extend(paths.named_in(a));
        }
    }
    e
}

fn overlaps(a: &Path, b: &Path) -> bool {
    a.starts_with(b) || b.starts_with(a)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_named_the_same_in_every_checkout() {
        let a = Paths::new(
            Path::new("/home/a/repo"),
            Path::new("/home/a/.cache/lade/build/1111"),
            Path::new("/home/a/.cache/lade"),
        );
        let b = Paths::new(
            Path::new("/tmp/b"),
            Path::new("/c/build/2222"),
            Path::new("/c"),
        );
        assert_eq!(
            a.normalize("-o /home/a/.cache/lade/build/1111/linux-amd64/app --x=/home/a/repo/src"),
            b.normalize("-o /c/build/2222/linux-amd64/app --x=/tmp/b/src")
        );
        assert_eq!(
            a.named_in("--remap=/home/a/.cache/lade/build/1111/t=/target"),
            vec![PathBuf::from("/home/a/.cache/lade/build/1111/t")]
        );
    }
}
