//! `--cache-repo` in a publish. Before the build: every layer's portable key is looked up
//! and the steps whose layers were all found are left out of the run (with the checks that
//! read what they would have written: the machine that built them checked them on the same
//! base, which the key holds). After the outputs are written: the layers this machine made are
//! recorded, so the next machine finds them. The repository is a cache: a lookup or a write
//! that fails is a warning, never a failed publish.

use crate::build::key::tool_identity;
use crate::cache_repo::entry::{Entry, LayerRecord, ToolRecord};
use crate::cache_repo::keys::{self, LayerKey, StepId};
use crate::cache_repo::remote::{self, CacheRepo, Found, LayerBytes};
use crate::digest::Digest;
use crate::layer::{BlobStore, Compression, LayerBlob};
use crate::oci::{self, BlobSource, Layer, ResolvedBase};
use crate::plan::{LayerSpec, Plan, StepInput};
use crate::registry::RegistrySession;
use crate::sink::Target;
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};

/// What the cache repository gave a publish, in `--json`.
#[derive(Clone, Debug, Default, Serialize)]
pub struct SharedCacheReport {
    pub repository: String,
    /// Layers whose entry was found and used.
    pub found: usize,
    /// Layers looked up and not found (or found and not usable).
    pub missed: usize,
    /// Build steps not run because every layer they produce was found.
    pub steps_skipped: usize,
    /// Entries written after this publish.
    pub stored: usize,
}

/// The cache repository's answer for one publish's plan.
pub struct Shared {
    repo: CacheRepo,
    keys: Vec<Vec<Option<LayerKey>>>,
    /// Entries found and usable, by (target, layer).
    hits: BTreeMap<(usize, usize), Entry>,
    /// Steps left out of the run.
    pub skip: BTreeSet<StepId>,
    pub report: SharedCacheReport,
}

/// The image's compression as keys name it.
fn compression_name(c: Compression, level: u32) -> String {
    format!("{c:?} {level}")
}

/// Looks every layer of `plan` up in `repo`.
pub fn look_up(
    plan: &Plan,
    repo: &CacheRepo,
    registry: &RegistrySession,
    base: &ResolvedBase,
    compression: Compression,
    level: u32,
    epoch: u64,
) -> anyhow::Result<Shared> {
    let build = super::plan::build_dir(&plan.project_dir);
    let paths = keys::Paths::new(
        &keys::root_of(&plan.project_dir),
        &build,
        &super::cache_dir(),
    );
    let compression = compression_name(compression, level);
    let settings = keys::LayerSettings {
        compression: &compression,
        mtime: epoch,
    };
    let bases: Vec<Option<Digest>> = plan
        .targets
        .iter()
        .map(|t| base.for_platform(&t.platform).map(base_identity))
        .collect();
    let computed = keys::layer_keys(plan, &paths, &settings, &bases)?;
    let mut shared = Shared {
        repo: repo.clone(),
        keys: computed.layers,
        hits: BTreeMap::new(),
        skip: BTreeSet::new(),
        report: SharedCacheReport {
            repository: repo.to_string(),
            ..Default::default()
        },
    };
    let wanted: Vec<((usize, usize), Digest)> = shared
        .keys
        .iter()
        .enumerate()
        .flat_map(|(ti, ls)| {
            ls.iter()
                .enumerate()
                .filter_map(move |(li, k)| Some(((ti, li), k.as_ref()?.key.clone())))
        })
        .collect();
    let connected = match registry.connect() {
        Ok(c) => c,
        Err(e) => {
            tracing::warn!("cache repository {repo}: {e}; building without it");
            return Ok(shared);
        }
    };
    let client = connected.client();
    let answers = connected.block_on(futures_util::future::join_all(
        wanted
            .iter()
            .map(|(_, key)| remote::lookup(client, repo, key)),
    ));
    for ((at, _), answer) in wanted.iter().zip(answers) {
        match answer {
            Ok(Found::Hit(e)) => {
                let key = shared.keys[at.0][at.1].as_ref().expect("looked up");
                match other_tool(plan, key, &e, &paths) {
                    None => {
                        shared.hits.insert(*at, *e);
                    }
                    Some(why) => tracing::debug!("cache entry not used: {why}"),
                }
            }
            Ok(Found::Miss) => {}
            Ok(Found::Ignored(why)) => tracing::warn!("cache entry ignored: {why}"),
            Err(e) => {
                tracing::warn!("cache repository {repo}: {e}; building without it");
                shared.hits.clear();
                break;
            }
        }
    }
    shared.report.found = shared.hits.len();
    shared.report.missed = wanted.len() - shared.hits.len();
    shared.skip = skipped_steps(plan, &shared.keys, &shared.hits, &computed.deps);
    shared.report.steps_skipped = shared.skip.len();
    Ok(shared)
}

/// What names a platform's base image: its config and layers.
fn base_identity(b: &crate::oci::BaseImage) -> Digest {
    // Canonical bytes: the config's maps (labels) are hash maps, whose order changes from one
    // run to the next.
    let config = crate::image::canonical::to_vec(&b.config).expect("an image config serializes");
    let mut s = String::from_utf8_lossy(&config).into_owned();
    for l in &b.layers {
        s.push_str(&format!(" {}", l.digest()));
    }
    Digest::of(s.as_bytes())
}

/// Why an entry's layer was made by another toolchain than this machine's, if it was: a tool
/// this machine has must be the one recorded; one it lacks is taken as recorded.
fn other_tool(plan: &Plan, key: &LayerKey, e: &Entry, paths: &keys::Paths) -> Option<String> {
    for (ti, si) in &key.producers {
        let step = &plan.targets[*ti].steps[*si];
        for input in &step.inputs {
            let Some(Ok(here)) = tool_identity(step, input) else {
                continue;
            };
            let here = paths.normalize(&String::from_utf8_lossy(&here));
            let recorded = e
                .tools
                .iter()
                .find(|r| r.tool.step == step.description && matches_input(&r.tool, input));
            match recorded {
                Some(r) if r.identity == here => {}
                Some(r) => {
                    return Some(format!(
                        "{} was built with {} {} \"{}\", this machine has \"{here}\"",
                        e.name, r.tool.program, r.tool.kind, r.identity
                    ));
                }
                None => return Some(format!("{} records no {input:?}", e.name)),
            }
        }
    }
    None
}

fn matches_input(t: &keys::ToolUse, input: &StepInput) -> bool {
    match input {
        StepInput::Tool { program } => t.kind == "tool" && &t.program == program,
        StepInput::ToolVersion { program, args } => {
            t.kind == "version" && &t.program == program && &t.args == args
        }
        _ => false,
    }
}

/// The steps that need not run: those that produce only layers that were found. A step that
/// produces a layer not found runs, with everything it depends on; so do the steps of a
/// platform with a layer not found that produce no layer (a crate list for the SBOM).
/// Nothing is skipped when nothing was found.
fn skipped_steps(
    plan: &Plan,
    keys: &[Vec<Option<LayerKey>>],
    hits: &BTreeMap<(usize, usize), Entry>,
    deps: &BTreeMap<StepId, Vec<StepId>>,
) -> BTreeSet<StepId> {
    let built_hit = keys.iter().enumerate().any(|(ti, ls)| {
        ls.iter()
            .enumerate()
            .any(|(li, k)| k.as_ref().is_some_and(|k| k.is_built()) && hits.contains_key(&(ti, li)))
    });
    if !built_hit {
        return BTreeSet::new();
    }
    let mut producers = BTreeSet::new();
    let mut needed = BTreeSet::new();
    let mut incomplete = BTreeSet::new();
    for (ti, ls) in keys.iter().enumerate() {
        for (li, k) in ls.iter().enumerate() {
            match k {
                // A layer that cannot be keyed needs whatever its platform builds.
                None if !plan.targets[ti].layers[li].entries.is_empty() => {
                    incomplete.insert(ti);
                }
                None => {}
                Some(k) => {
                    producers.extend(k.producers.iter().copied());
                    if k.is_built() && !hits.contains_key(&(ti, li)) {
                        needed.extend(k.producers.iter().copied());
                        incomplete.insert(ti);
                    }
                }
            }
        }
    }
    for (ti, t) in plan.targets.iter().enumerate() {
        for si in 0..t.steps.len() {
            let id = (ti, si);
            if incomplete.contains(&ti) && !producers.contains(&id) {
                needed.extend(deps.get(&id).into_iter().flatten().copied());
            }
        }
    }
    plan.targets
        .iter()
        .enumerate()
        .flat_map(|(ti, t)| (0..t.steps.len()).map(move |si| (ti, si)))
        .filter(|id| !needed.contains(id))
        .collect()
}

impl Shared {
    /// The found entry for layer `li` of target `ti`, when it is to be used: a layer of
    /// project files always (nothing to tar again), a built one when its steps did not run
    /// (when they did, this machine's own output is written).
    pub fn served(&self, ti: usize, li: usize) -> Option<&Entry> {
        let e = self.hits.get(&(ti, li))?;
        let key = self.keys[ti][li].as_ref()?;
        key.producers
            .iter()
            .all(|id| self.skip.contains(id))
            .then_some(e)
    }

    /// The image layer an entry stands for: its blob stays in the cache repository until an
    /// output needs it (a registry on the same host mounts it).
    pub fn layer(&self, e: &Entry, store: &BlobStore) -> Layer {
        if let Some(size) = e.layer.tar_size {
            crate::layer::sizes::record(store, &e.layer.diff_id, size);
        }
        let local = store.path(&e.layer.digest);
        Layer {
            descriptor: e.layer_descriptor(),
            diff_id: e.layer.diff_id.clone(),
            source: if store.holds(&e.layer.digest, e.layer.size) {
                BlobSource::File(local)
            } else {
                BlobSource::Remote {
                    registry: self.repo.registry.clone(),
                    repository: self.repo.repository.clone(),
                }
            },
        }
    }

    /// Whether the platform has a built layer taken from the cache.
    pub fn serves_built(&self, ti: usize) -> bool {
        self.keys
            .get(ti)
            .is_some_and(|ls| (0..ls.len()).any(|li| self.served_built(ti, li)))
    }

    fn served_built(&self, ti: usize, li: usize) -> bool {
        self.served(ti, li).is_some() && self.keys[ti][li].as_ref().is_some_and(|k| k.is_built())
    }

    /// Records the layers this publish wrote whose entries were not found. `written` is each
    /// target's layers as written (spec, blob); the blobs are mounted from the first registry
    /// output on the cache's registry, else uploaded.
    pub fn store(
        &mut self,
        plan: &Plan,
        written: &[Vec<(usize, LayerBlob)>],
        store: &BlobStore,
        targets: &[Target],
        registry: &RegistrySession,
    ) {
        let mount_from = targets.iter().find_map(|t| match t {
            Target::Registry { reference } => oci::Reference::parse(reference)
                .ok()
                .filter(|r| r.registry == self.repo.registry)
                .map(|r| r.repository),
            _ => None,
        });
        let build = super::plan::build_dir(&plan.project_dir);
        let paths = keys::Paths::new(
            &keys::root_of(&plan.project_dir),
            &build,
            &super::cache_dir(),
        );
        let mut entries = Vec::new();
        for (ti, layers) in written.iter().enumerate() {
            let t = &plan.targets[ti];
            for (li, blob) in layers {
                if self.hits.contains_key(&(ti, *li)) {
                    continue;
                }
                let Some(key) = self.keys[ti][*li].as_ref() else {
                    continue;
                };
                match entry_for(plan, ti, &t.layers[*li], key, blob, store, &paths) {
                    Ok(Some(e)) => entries.push(e),
                    Ok(None) => {}
                    Err(e) => tracing::warn!(
                        "cache repository {}: layer {} ({}) not recorded: {e:#}",
                        self.repo,
                        t.layers[*li].name,
                        t.platform
                    ),
                }
            }
        }
        if entries.is_empty() {
            return;
        }
        let connected = match registry.connect() {
            Ok(c) => c,
            Err(e) => {
                tracing::warn!("cache repository {}: {e}; nothing recorded", self.repo);
                return;
            }
        };
        let client = connected.client();
        for e in &entries {
            let bytes = LayerBytes {
                file: store.path(&e.layer.digest),
                mount_from: mount_from.clone(),
            };
            match connected.block_on(remote::store(client, &self.repo, e, &bytes)) {
                Ok(()) => self.report.stored += 1,
                Err(err) => tracing::warn!(
                    "cache repository {}: layer {} ({}) not recorded: {err}",
                    self.repo,
                    e.name,
                    e.platform
                ),
            }
        }
    }
}

/// The entry for a layer this machine wrote, or `None` when a tool its steps ran cannot be
/// found now (the entry could not say which toolchain made it).
fn entry_for(
    plan: &Plan,
    ti: usize,
    spec: &LayerSpec,
    key: &LayerKey,
    blob: &LayerBlob,
    store: &BlobStore,
    paths: &keys::Paths,
) -> anyhow::Result<Option<Entry>> {
    let mut tools = Vec::new();
    for (pti, psi) in &key.producers {
        let step = &plan.targets[*pti].steps[*psi];
        for input in &step.inputs {
            let Some(tool) = key
                .tools
                .iter()
                .find(|t| t.step == step.description && matches_input(t, input))
            else {
                continue;
            };
            let Some(identity) = tool_identity(step, input) else {
                return Ok(None);
            };
            let identity = identity?;
            tools.push(ToolRecord {
                tool: tool.clone(),
                identity: paths.normalize(&String::from_utf8_lossy(&identity)),
            });
        }
    }
    tools.sort_by(|a, b| a.tool.cmp(&b.tool));
    tools.dedup();
    Ok(Some(Entry {
        key: key.key.clone(),
        platform: plan.targets[ti].platform.to_string(),
        name: spec.name.clone(),
        layer: LayerRecord {
            media_type: blob.media_type.to_string(),
            digest: blob.digest.clone(),
            size: blob.size,
            diff_id: blob.diff_id.clone(),
            tar_size: crate::layer::sizes::recorded(store, &blob.diff_id),
        },
        tools,
        sbom: Some(crate::sbom::layer_part(spec, &plan.detector)?),
    }))
}

/// The base listings (`ops::runtime`'s file trees of a base) missing from the local cache,
/// fetched from the cache repository when it has them, so the runtime check of a machine with
/// an empty cache reads no base layer. Returns those the repository lacks, to be kept there
/// once they are made ([`store_base_listings`]).
pub fn fetch_base_listings(
    repo: &CacheRepo,
    registry: &RegistrySession,
    base: &ResolvedBase,
    store: &BlobStore,
) -> Vec<(Digest, std::path::PathBuf)> {
    let wanted: Vec<(Digest, std::path::PathBuf)> = base
        .images
        .iter()
        .map(|i| super::runtime::listing_file(i, store))
        .filter(|(_, file)| !file.exists())
        .collect();
    if wanted.is_empty() {
        return wanted;
    }
    let Ok(connected) = registry.connect() else {
        return Vec::new();
    };
    let client = connected.client();
    let mut lacking = Vec::new();
    for (key, file) in wanted {
        match connected.block_on(remote::fetch_kept(client, repo, LISTING, &key)) {
            Ok(Some(doc)) if serde_json::from_slice::<oci::FileTree>(&doc).is_ok() => {
                crate::kept::keep(&file, &doc);
            }
            Ok(Some(_)) => tracing::warn!(
                "cache entry ignored: {repo}: the base listing {} does not parse",
                key.hex()
            ),
            Ok(None) => lacking.push((key, file)),
            Err(e) => {
                tracing::warn!("cache repository {repo}: {e}; building without it");
                return Vec::new();
            }
        }
    }
    lacking
}

/// Keeps in the cache repository the base listings it lacked and this machine made.
pub fn store_base_listings(
    repo: &CacheRepo,
    registry: &RegistrySession,
    made: &[(Digest, std::path::PathBuf)],
) {
    let Ok(connected) = registry.connect() else {
        return;
    };
    for (key, file) in made {
        let Ok(doc) = std::fs::read(file) else {
            continue;
        };
        if let Err(e) = connected.block_on(remote::store_kept(
            connected.client(),
            repo,
            LISTING,
            key,
            doc,
        )) {
            tracing::warn!("cache repository {repo}: a base listing not recorded: {e}");
        }
    }
}

/// The kind of kept document a base listing is.
const LISTING: &str = "tree";

/// A platform's layers as its SBOM scan takes them: the part recorded in the cache entry for
/// a layer taken from the cache, the files for the others.
pub fn sbom_layers<'a>(
    shared: Option<&'a Shared>,
    ti: usize,
    specs: &'a [LayerSpec],
) -> Vec<crate::sbom::LadeLayer<'a>> {
    specs
        .iter()
        .enumerate()
        .map(|(li, spec)| {
            match shared
                .and_then(|s| s.served(ti, li))
                .and_then(|e| e.sbom.as_ref())
            {
                Some(part) => crate::sbom::LadeLayer::Part(part),
                None => crate::sbom::LadeLayer::Files(spec),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::{BuildStep, EntryKind, FileEntry, StepOutput, TargetPlan};
    use crate::platform::Platform;
    use std::path::Path;

    /// A Node-shaped plan: per platform, stage the manifests, `npm ci` in the staged copy,
    /// tidy it in place; layers node_modules (built) and app (project files).
    fn node_plan(project: &Path, build: &Path) -> Plan {
        let targets = ["amd64", "arm64"]
            .iter()
            .map(|arch| {
                let deps = build.join(format!("linux-{arch}/node-deps"));
                let manifests = StepInput::Files {
                    root: project.into(),
                    paths: vec!["package.json".into()],
                };
                let stage = BuildStep::new(
                    "stage",
                    crate::plan::LADE_PROGRAM,
                    vec!["stage".into(), "--to".into(), deps.display().to_string()],
                    project,
                )
                .with_input(manifests.clone())
                .with_output(StepOutput::Dir { path: deps.clone() })
                .reused_when_unchanged();
                let install = BuildStep::new("npm ci", "npm", vec!["ci".into()], &deps)
                    .with_input(manifests)
                    .with_input(StepInput::Tool {
                        program: "npm".into(),
                    })
                    .with_output(StepOutput::Dir {
                        path: deps.join("node_modules"),
                    })
                    .reused_when_unchanged();
                let finish = BuildStep::new(
                    "finish",
                    crate::plan::LADE_PROGRAM,
                    vec!["node-finish".into()],
                    &deps,
                );
                let entry = |target: &str, kind| FileEntry {
                    target: target.into(),
                    mode: 0o644,
                    kind,
                };
                TargetPlan {
                    platform: Platform::linux(arch, None),
                    steps: vec![stage, install, finish],
                    layers: vec![
                        LayerSpec {
                            name: "node_modules".into(),
                            entries: vec![entry(
                                "/app/node_modules",
                                EntryKind::Tree {
                                    source: deps.join("node_modules"),
                                    exclude: vec![],
                                },
                            )],
                        },
                        LayerSpec {
                            name: "app".into(),
                            entries: vec![entry(
                                "/app/server.js",
                                EntryKind::File {
                                    source: project.join("server.js"),
                                },
                            )],
                        },
                    ],
                    checks: vec![],
                }
            })
            .collect();
        Plan {
            detector: "node".into(),
            reasons: vec![],
            name: "app".into(),
            project_dir: project.into(),
            targets,
            config: Default::default(),
            base: "scratch".into(),
            excluded: vec![],
        }
    }

    fn keys_of(root: &Path) -> (Plan, keys::Keys) {
        let project = root.join("repo");
        let build = root.join("cache/build/0123");
        let plan = node_plan(&project, &build);
        let paths = keys::Paths::new(&project, &build, &root.join("cache"));
        let settings = keys::LayerSettings {
            compression: "Gzip 6",
            mtime: 1,
        };
        let k = keys::layer_keys(&plan, &paths, &settings, &[None, None]).unwrap();
        (plan, k)
    }

    fn checkout(root: &Path, server: &str, manifest: &str) {
        std::fs::create_dir_all(root.join("repo")).unwrap();
        std::fs::write(root.join("repo/server.js"), server).unwrap();
        std::fs::write(root.join("repo/package.json"), manifest).unwrap();
    }

    fn key(k: &keys::Keys, t: usize, l: usize) -> Digest {
        k.layers[t][l].as_ref().unwrap().key.clone()
    }

    #[test]
    fn layer_keys_follow_what_makes_the_layer_in_any_checkout() {
        let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        checkout(a.path(), "one", "{}");
        checkout(b.path(), "one", "{}");
        let (plan, ka) = keys_of(a.path());
        let (_, kb) = keys_of(b.path());
        for (t, l) in [(0, 0), (0, 1), (1, 0), (1, 1)] {
            assert_eq!(key(&ka, t, l), key(&kb, t, l), "layer {t}/{l}");
        }
        assert_ne!(key(&ka, 0, 0), key(&ka, 1, 0), "platforms differ");
        let nm = ka.layers[0][0].as_ref().unwrap();
        assert_eq!(nm.producers, vec![(0, 0), (0, 1), (0, 2)]);
        assert_eq!(nm.tools.len(), 1, "npm: {:?}", nm.tools);
        assert!(!ka.layers[0][1].as_ref().unwrap().is_built());

        // A source change moves the app layer only; a manifest change the node_modules.
        checkout(b.path(), "two", "{}");
        let (_, kb) = keys_of(b.path());
        assert_eq!(key(&ka, 0, 0), key(&kb, 0, 0));
        assert_ne!(key(&ka, 0, 1), key(&kb, 0, 1));
        checkout(b.path(), "one", "{\"dependencies\":{}}");
        let (_, kb) = keys_of(b.path());
        assert_ne!(key(&ka, 0, 0), key(&kb, 0, 0));
        assert_eq!(key(&ka, 0, 1), key(&kb, 0, 1));

        // All found: nothing runs. amd64's node_modules missing: amd64's steps run.
        let entry = |t: usize, l: usize| Entry {
            key: key(&ka, t, l),
            platform: String::new(),
            name: String::new(),
            layer: LayerRecord {
                media_type: String::new(),
                digest: Digest::of(b"x"),
                size: 1,
                diff_id: Digest::of(b"y"),
                tar_size: None,
            },
            tools: vec![],
            sbom: None,
        };
        let mut hits: BTreeMap<_, _> = [(0, 0), (0, 1), (1, 0), (1, 1)]
            .into_iter()
            .map(|(t, l)| ((t, l), entry(t, l)))
            .collect();
        let all = skipped_steps(&plan, &ka.layers, &hits, &ka.deps);
        assert_eq!(all.len(), 6);
        hits.remove(&(0, 0));
        let some = skipped_steps(&plan, &ka.layers, &hits, &ka.deps);
        assert_eq!(some, [(1, 0), (1, 1), (1, 2)].into_iter().collect());
        hits.clear();
        hits.insert((0, 1), entry(0, 1));
        assert!(
            skipped_steps(&plan, &ka.layers, &hits, &ka.deps).is_empty(),
            "only a layer of project files found: every step runs"
        );
    }

    #[test]
    fn a_base_is_named_the_same_in_every_run_whatever_its_labels() {
        let labels: serde_json::Map<String, serde_json::Value> = (0..32)
            .map(|i| (format!("label.{i}"), serde_json::Value::from(i.to_string())))
            .collect();
        let config = serde_json::json!({
            "architecture": "amd64",
            "os": "linux",
            "config": { "Labels": labels },
            "rootfs": { "type": "layers", "diff_ids": [] },
        })
        .to_string();
        let image = || crate::oci::BaseImage {
            platform: Platform::linux("amd64", None),
            config: serde_json::from_str(&config).unwrap(),
            layers: vec![],
        };
        let first = base_identity(&image());
        for _ in 0..8 {
            assert_eq!(base_identity(&image()), first);
        }
    }

    #[test]
    fn a_step_that_changes_a_directory_it_names_is_a_producer() {
        let a = tempfile::tempdir().unwrap();
        checkout(a.path(), "one", "{}");
        let project = a.path().join("repo");
        let build = a.path().join("cache/build/0123");
        let mut plan = node_plan(&project, &build);
        // The tidy step works from the project and names the directory it changes.
        let finish = &mut plan.targets[0].steps[2];
        finish.dir = project.clone();
        finish.args = vec![
            "node-finish".into(),
            build
                .join("linux-amd64/node-deps/node_modules")
                .display()
                .to_string(),
        ];
        let paths = keys::Paths::new(&project, &build, &a.path().join("cache"));
        let settings = keys::LayerSettings {
            compression: "Gzip 6",
            mtime: 1,
        };
        let k = keys::layer_keys(&plan, &paths, &settings, &[None, None]).unwrap();
        let nm = k.layers[0][0].as_ref().unwrap();
        assert_eq!(nm.producers, vec![(0, 0), (0, 1), (0, 2)]);
        plan.targets[0].steps[2].args.push("--strict".into());
        let k2 = keys::layer_keys(&plan, &paths, &settings, &[None, None]).unwrap();
        assert_ne!(k2.layers[0][0].as_ref().unwrap().key, nm.key);
    }

    #[test]
    fn a_step_of_unknown_effects_makes_its_layers_unkeyed() {
        let a = tempfile::tempdir().unwrap();
        checkout(a.path(), "one", "{}");
        let project = a.path().join("repo");
        let build = a.path().join("cache/build/0123");
        let mut plan = node_plan(&project, &build);
        // A program other than lade, never reused, working in the staged copy.
        plan.targets[0].steps[2].program = "sh".into();
        let paths = keys::Paths::new(&project, &build, &a.path().join("cache"));
        let settings = keys::LayerSettings {
            compression: "Gzip 6",
            mtime: 1,
        };
        let k = keys::layer_keys(&plan, &paths, &settings, &[None, None]).unwrap();
        assert!(k.layers[0][0].is_none());
        assert!(k.layers[0][1].is_some());
        assert!(
            k.layers[1][0].is_some(),
            "the other platform's steps are apart"
        );
    }
}
