//! The runtime check: lade never writes an image whose entrypoint cannot start. The image's
//! filesystem is known before anything is written — the base's file listing (read from its
//! layers, fetched and listed once per base and kept in the cache) with lade's layers over it —
//! and the entrypoint's program must be there, executable, and for a script, so must its
//! interpreter. Programs are found as the runtime finds them: a path as given, a name on the
//! image's PATH. Nothing comes from the base's name.
//!
//! Two passes: [`prepare`] before the build, with the base and the files the plan already
//! names (a program no build output can provide fails here, before any build step), and
//! [`verify`] after it, with the build outputs. A bare interpreter name the base keeps off
//! PATH is taken from the base's own Entrypoint first ([`adopt_base_interpreter`]).

mod python;

use crate::layer::BlobStore;
use crate::oci::tree::{FileTree, Node, layer_tar};
use crate::oci::{BaseImage, ResolvedBase};
use crate::plan::{Check, EntryKind, FileEntry, Plan};
use crate::platform::Platform;
use crate::sink::BlobProvider;
use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};

/// The PATH a runtime uses when the image sets none (Docker's and runc's default).
const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    #[error(
        "the image for {platform} cannot start: {what}, in neither the base {base} nor lade's layers; {fix} (--no-verify skips this check)"
    )]
    Missing {
        platform: Platform,
        what: String,
        base: String,
        fix: String,
    },
    #[error(
        "the image for {platform} cannot start: {path} is in the image but not executable (its mode has no x bit) (--no-verify skips this check)"
    )]
    NotExecutable { platform: Platform, path: String },
    #[error(
        "the image for {platform} cannot run the project: {file} asks for Python {spec}, but the base {base} has Python {has}; use a base with a matching Python (--base, or base in lade.toml) or change the requirement (--no-verify skips this check)"
    )]
    PythonVersion {
        platform: Platform,
        file: String,
        spec: String,
        base: String,
        has: String,
    },
    #[error(
        "the image for {platform} cannot run its dependencies: they are wheels for Python {wheels} (fetched for {platform}, not the host), but the base {base} has Python {has}; use a base with Python {wheels} (drop --base for the default) (--no-verify skips this check)"
    )]
    WheelPython {
        platform: Platform,
        wheels: String,
        base: String,
        has: String,
    },
    #[error("the image for {platform} has no entrypoint and no cmd: set `entrypoint` in lade.toml")]
    NoCommand { platform: Platform },
    #[error("listing the files of the base {base}")]
    Read {
        base: String,
        #[source]
        source: std::io::Error,
    },
    #[error("fetching a layer of the base {base}")]
    Fetch {
        base: String,
        #[source]
        source: Box<crate::sink::SinkError>,
    },
}

/// The base's file tree per platform; `None` where a layer's compression has no decoder here.
pub struct BaseTrees {
    trees: BTreeMap<String, Option<FileTree>>,
}

impl BaseTrees {
    /// Lists every platform image of `base`, fetching registry-only layers through `blobs`
    /// into the store. A listing is kept in `<cache>/base-trees/` under a digest of the layer
    /// digests, so a base is listed once.
    pub fn read(
        base: &ResolvedBase,
        blobs: &dyn BlobProvider,
        store: &BlobStore,
    ) -> Result<BaseTrees, Box<RuntimeError>> {
        let mut trees = BTreeMap::new();
        for image in &base.images {
            let tree = listing(&base.name, image, blobs, store)?;
            trees.insert(image.platform.to_string(), tree);
        }
        Ok(BaseTrees { trees })
    }

    fn get(&self, platform: &Platform) -> Option<&FileTree> {
        self.trees
            .get(&platform.to_string())
            .and_then(Option::as_ref)
    }
}

/// The key of a base image's file listing (a digest of its layers' diff_ids) and the file
/// it is kept in under the cache.
pub fn listing_file(image: &BaseImage, store: &BlobStore) -> (crate::digest::Digest, PathBuf) {
    let ids: Vec<&str> = image.layers.iter().map(|l| l.diff_id.as_str()).collect();
    let key = crate::digest::Digest::of(ids.join("\n").as_bytes());
    let file = store
        .root()
        .join("base-trees")
        .join(format!("{}.json", key.hex()));
    (key, file)
}

fn listing(
    name: &str,
    image: &BaseImage,
    blobs: &dyn BlobProvider,
    store: &BlobStore,
) -> Result<Option<FileTree>, Box<RuntimeError>> {
    let read_err = |source| {
        Box::new(RuntimeError::Read {
            base: name.to_string(),
            source,
        })
    };
    let (_, cached) = listing_file(image, store);
    if let Some(tree) = crate::kept::read_json::<FileTree>(&cached) {
        return Ok(Some(tree));
    }
    let mut tree = FileTree::default();
    for layer in &image.layers {
        let path = blobs.local_path(layer).map_err(|e| {
            Box::new(RuntimeError::Fetch {
                base: name.to_string(),
                source: Box::new(e),
            })
        })?;
        let file = std::fs::File::open(&path).map_err(read_err)?;
        // zstd and others: no decoder here, so nothing can be said about the tree.
        let Some(reader) = layer_tar(file, layer.descriptor.media_type().as_ref()) else {
            return Ok(None);
        };
        tree.apply_layer(reader).map_err(read_err)?;
    }
    crate::kept::keep_json(&cached, &tree);
    Ok(Some(tree))
}

/// Whether proving the entrypoint needs the base's files: not when every platform's program
/// is a file lade ships itself at a path the plan names (a Go or Rust binary, whose linkage
/// `ops::checks` verifies) and nothing else is asked of the base. A base only in a registry is
/// then not downloaded: its layers are mounted, never fetched, for registry outputs.
pub fn needs_base_files(plan: &Plan) -> bool {
    let Some(program) = plan
        .config
        .entrypoint
        .as_ref()
        .or(plan.config.cmd.as_ref())
        .and_then(|a| a.first())
    else {
        return true;
    };
    plan.targets.iter().any(|t| {
        t.checks
            .iter()
            .any(|c| matches!(c, Check::ImageHas { .. } | Check::PythonVersion { .. }))
            || !t
                .layers
                .iter()
                .flat_map(|l| &l.entries)
                .any(|e| e.target == *program && matches!(e.kind, EntryKind::File { .. }))
    })
}

/// What the image will run, from the base's config with lade's over it.
struct Command {
    argv: Vec<String>,
    env: Vec<String>,
    path: Vec<String>,
    workdir: String,
}

fn command(plan: &Plan, image: &BaseImage) -> Command {
    let base = image.config.config().clone().unwrap_or_default();
    let merged = crate::image::assemble::merge_config(base.clone(), &plan.config);
    let mut argv = merged.entrypoint().clone().unwrap_or_default();
    argv.extend(merged.cmd().clone().unwrap_or_default());
    let env = merged.env().clone().unwrap_or_default();
    let path = env
        .iter()
        .find_map(|e| e.strip_prefix("PATH="))
        .unwrap_or(DEFAULT_PATH);
    Command {
        argv,
        env: env.clone(),
        path: path
            .split(':')
            .filter(|d| !d.is_empty())
            .map(str::to_string)
            .collect(),
        workdir: merged.working_dir().clone().unwrap_or_else(|| "/".into()),
    }
}

/// Where a program is in `tree`: absolute paths and paths with a slash as given (relative to
/// the working directory), bare names on PATH.
fn locate(tree: &FileTree, program: &str, cmd: &Command) -> Option<String> {
    if program.starts_with('/') {
        return tree.has_file(program).then(|| program.to_string());
    }
    if program.contains('/') {
        let p = format!("{}/{program}", cmd.workdir.trim_end_matches('/'));
        return tree.has_file(&p).then_some(p);
    }
    cmd.path
        .iter()
        .map(|d| format!("{}/{program}", d.trim_end_matches('/')))
        .find(|p| tree.has_file(p))
}

/// Whether the image path `path` is, or is under, a build output whose files are known only
/// after the build (a `Tree` entry of lade's layers).
fn under_build_output(plan: &Plan, platform: &Platform, path: &str) -> bool {
    plan.targets
        .iter()
        .filter(|t| &t.platform == platform)
        .flat_map(|t| t.layers.iter().flat_map(|l| &l.entries))
        .any(|e| {
            matches!(e.kind, EntryKind::Tree { .. })
                && (path == e.target || path.starts_with(&format!("{}/", e.target)))
        })
}

/// An entrypoint that starts with a bare interpreter name (`node`) runs the base's own
/// interpreter when the base keeps it off PATH and its Entrypoint is that program by path:
/// distroless Node keeps `node` only at `/nodejs/bin/node`, wherever the image is mirrored.
/// The base's config and files say so, not its name. Without file listings (`--no-verify`)
/// the config alone decides.
pub fn adopt_base_interpreter(plan: &mut Plan, base: &ResolvedBase, trees: Option<&BaseTrees>) {
    let Some(program) = plan
        .config
        .entrypoint
        .as_ref()
        .and_then(|e| e.first())
        .filter(|p| !p.contains('/'))
        .cloned()
    else {
        return;
    };
    let own: Vec<String> = base
        .images
        .iter()
        .filter_map(|i| {
            i.config
                .config()
                .as_ref()?
                .entrypoint()
                .as_ref()?
                .first()
                .cloned()
        })
        .collect();
    // Every platform's base must agree: the config is one for all of them.
    let Some(first) = own.first().cloned() else {
        return;
    };
    if own.len() != base.images.len()
        || own.iter().any(|o| *o != first)
        || !first.starts_with('/')
        || first.rsplit('/').next() != Some(program.as_str())
    {
        return;
    }
    if let Some(trees) = trees {
        let needed = base.images.iter().all(|image| {
            trees.get(&image.platform).is_some_and(|tree| {
                let cmd = command(plan, image);
                locate(tree, &program, &cmd).is_none() && tree.has_file(&first)
            })
        });
        if !needed {
            return;
        }
    }
    if let Some(e) = plan.config.entrypoint.as_mut() {
        e[0] = first;
    }
}

/// Before the build: fails when the entrypoint's program is in neither the base nor anything
/// lade's layers can provide, so a wrong base never costs a build.
pub fn prepare(
    plan: &mut Plan,
    base: &ResolvedBase,
    trees: &BaseTrees,
) -> Result<(), Box<RuntimeError>> {
    for i in 0..plan.targets.len() {
        let platform = plan.targets[i].platform.clone();
        let (Some(image), Some(base_tree)) = (base.for_platform(&platform), trees.get(&platform))
        else {
            continue;
        };
        let mut tree = base_tree.clone();
        overlay_known(&mut tree, plan, &platform);
        let cmd = command(plan, image);
        for check in &plan.targets[i].checks {
            match check {
                Check::ImageHas { path, what } if !tree.has_file(path) => {
                    let what = format!("{what} {path}");
                    return Err(missing_what(plan, &platform, &base.name, &what));
                }
                Check::PythonVersion {
                    requirements,
                    wheels_for,
                } => check_python(
                    &tree,
                    &cmd,
                    requirements,
                    wheels_for.as_deref(),
                    &platform,
                    &base.name,
                )?,
                _ => {}
            }
        }
        let Some(program) = cmd.argv.first().cloned() else {
            return Err(Box::new(RuntimeError::NoCommand { platform }));
        };
        if locate(&tree, &program, &cmd).is_some() {
            continue;
        }
        let candidates: Vec<String> = if program.contains('/') {
            vec![program.clone()]
        } else {
            cmd.path.iter().map(|d| format!("{d}/{program}")).collect()
        };
        if candidates
            .iter()
            .any(|c| under_build_output(plan, &platform, c))
        {
            // A build output may hold it: `verify` decides after the build.
            continue;
        }
        return Err(missing(plan, &platform, &base.name, &program, &cmd));
    }
    Ok(())
}

/// The base's real Python against what the project asks for and the wheels fetched for it.
/// A base whose files and config name no Python version is let through with a warning: the
/// interpreter check (`Check::ImageHas`) has already said whether there is one at all.
fn check_python(
    tree: &FileTree,
    cmd: &Command,
    requirements: &[crate::plan::PythonRequirement],
    wheels_for: Option<&str>,
    platform: &Platform,
    base: &str,
) -> Result<(), Box<RuntimeError>> {
    let Some(found) = python::find(tree, &cmd.env) else {
        tracing::warn!(
            "the base {base} does not say which Python it has (no python3.X file or PYTHON_VERSION): the project's Python requirements were not checked for {platform}"
        );
        return Ok(());
    };
    if let Some(r) = python::unmet(&found, requirements) {
        return Err(Box::new(RuntimeError::PythonVersion {
            platform: platform.clone(),
            file: r.file.clone(),
            spec: r.spec.clone(),
            base: base.to_string(),
            has: found.to_string(),
        }));
    }
    if let Some(wheels) = wheels_for
        && !python::wheels_fit(&found, wheels)
    {
        return Err(Box::new(RuntimeError::WheelPython {
            platform: platform.clone(),
            wheels: wheels.to_string(),
            base: base.to_string(),
            has: found.to_string(),
        }));
    }
    Ok(())
}

/// After the build, for one platform: the program is in its image (base plus every layer lade
/// writes), is executable, and when lade's layers hold it as a script, its interpreter is
/// there too.
pub fn verify(
    plan: &Plan,
    platform: &Platform,
    base: &ResolvedBase,
    trees: &BaseTrees,
    listings: &crate::layer::tree::Listings,
) -> Result<(), Box<RuntimeError>> {
    let (Some(image), Some(base_tree)) = (base.for_platform(platform), trees.get(platform)) else {
        return Ok(());
    };
    let mut tree = base_tree.clone();
    overlay_all(&mut tree, plan, platform, listings);
    let cmd = command(plan, image);
    let Some(program) = cmd.argv.first() else {
        return Err(Box::new(RuntimeError::NoCommand {
            platform: platform.clone(),
        }));
    };
    let Some(found) = locate(&tree, program, &cmd) else {
        return Err(missing(plan, platform, &base.name, program, &cmd));
    };
    let real = tree.resolve(&found).unwrap_or(found.clone());
    if !tree.is_executable(&real) {
        return Err(Box::new(RuntimeError::NotExecutable {
            platform: platform.clone(),
            path: real,
        }));
    }
    let source = source_of(plan, platform, listings, &real);
    let Some(interpreter) = source.and_then(|src| shebang(&src)) else {
        return Ok(());
    };
    // `#!/usr/bin/env python3` runs the first python3 on PATH.
    let (prog, what) = match interpreter.as_slice() {
        [env, name, ..] if env.ends_with("/env") => (
            name.clone(),
            format!("{name} (the interpreter of {real}, found through {env})"),
        ),
        [first, ..] => (
            first.clone(),
            format!("{first} (the interpreter of {real})"),
        ),
        [] => return Ok(()),
    };
    if interpreter.len() > 1 && interpreter[0].ends_with("/env") && !tree.has_file(&interpreter[0])
    {
        return Err(missing_what(plan, platform, &base.name, &interpreter[0]));
    }
    match locate(&tree, &prog, &cmd) {
        Some(p) if tree.is_executable(&p) => {}
        Some(p) => {
            return Err(Box::new(RuntimeError::NotExecutable {
                platform: platform.clone(),
                path: p,
            }));
        }
        None => return Err(missing_what(plan, platform, &base.name, &what)),
    }
    Ok(())
}

fn missing(
    plan: &Plan,
    platform: &Platform,
    base: &str,
    program: &str,
    cmd: &Command,
) -> Box<RuntimeError> {
    let what = if program.contains('/') {
        format!("its entrypoint {program} is missing")
    } else {
        format!(
            "its entrypoint `{program}` is not on its PATH ({})",
            cmd.path.join(":")
        )
    };
    Box::new(RuntimeError::Missing {
        platform: platform.clone(),
        what,
        base: base.to_string(),
        fix: fix(plan),
    })
}

fn missing_what(plan: &Plan, platform: &Platform, base: &str, what: &str) -> Box<RuntimeError> {
    Box::new(RuntimeError::Missing {
        platform: platform.clone(),
        what: format!("{what} is missing"),
        base: base.to_string(),
        fix: fix(plan),
    })
}

/// What to do, by what the project needs from its base.
fn fix(plan: &Plan) -> String {
    let runtime = match plan.detector.as_str() {
        "node" => Some((
            "Node",
            "gcr.io/distroless/nodejs22-debian12",
            "debian12/nodejs",
        )),
        "python" => Some((
            "Python",
            "gcr.io/distroless/python3-debian12",
            "debian12/python3",
        )),
        "java" => Some(("Java", "gcr.io/distroless/java17-debian12", "debian12/java")),
        _ => None,
    };
    match runtime {
        Some((lang, distroless, preset)) => format!(
            "a {lang} project needs a base with its runtime: drop --base / [base] to get the default ({distroless}), or use --base {preset}"
        ),
        None => "use a base that has it (--base), or set `entrypoint` in lade.toml".to_string(),
    }
}

/// The interpreter line of a script: `#!/usr/bin/python3 -u` → `["/usr/bin/python3", "-u"]`.
fn shebang(path: &Path) -> Option<Vec<String>> {
    let mut head = [0u8; 256];
    let n = std::fs::File::open(path).ok()?.read(&mut head).ok()?;
    let line = head[..n].strip_prefix(b"#!")?;
    let end = line.iter().position(|b| *b == b'\n').unwrap_or(line.len());
    let text = String::from_utf8_lossy(&line[..end]);
    Some(text.split_whitespace().map(str::to_string).collect())
}

/// lade's entries whose place and kind the plan already knows (files, directories, links);
/// build outputs are known only after the build.
fn overlay_known(tree: &mut FileTree, plan: &Plan, platform: &Platform) {
    for e in entries(plan, platform) {
        overlay_entry(tree, e);
    }
}

/// Every entry of lade's layers, build outputs expanded as the layer writer expands them.
fn overlay_all(
    tree: &mut FileTree,
    plan: &Plan,
    platform: &Platform,
    listings: &crate::layer::tree::Listings,
) {
    each_entry(plan, platform, listings, |e| overlay_entry(tree, e));
}

/// The host file behind image path `target`: the last file entry there, as the last entry at a
/// path is the one the image holds. Looked up once, for the one program checked, instead of
/// keeping a map of every file of a large tree.
fn source_of(
    plan: &Plan,
    platform: &Platform,
    listings: &crate::layer::tree::Listings,
    target: &str,
) -> Option<PathBuf> {
    let mut found = None;
    each_entry(plan, platform, listings, |e| {
        if let EntryKind::File { source } = &e.kind
            && e.target == target
        {
            found = Some(source.clone());
        }
    });
    found
}

/// `f` on each entry of the platform's layers, in order, trees expanded.
fn each_entry(
    plan: &Plan,
    platform: &Platform,
    listings: &crate::layer::tree::Listings,
    mut f: impl FnMut(&FileEntry),
) {
    for e in entries(plan, platform) {
        let EntryKind::Tree { source, exclude } = &e.kind else {
            f(e);
            continue;
        };
        // An output that cannot be read fails the layer writer next, naming it; here it
        // only holds nothing.
        let expanded = listings
            .expand("runtime check", &e.target, source, exclude)
            .unwrap_or_default();
        expanded.iter().for_each(&mut f);
    }
}

/// Puts `e` into `tree`.
fn overlay_entry(tree: &mut FileTree, e: &FileEntry) {
    match &e.kind {
        EntryKind::File { .. } => tree.insert(e.target.clone(), Node::File, e.mode),
        EntryKind::Dir => tree.insert(e.target.clone(), Node::Dir, e.mode),
        EntryKind::Symlink { link } => {
            tree.insert(e.target.clone(), Node::Symlink(link.clone()), e.mode)
        }
        EntryKind::Tree { .. } => {}
    }
}

fn entries<'a>(plan: &'a Plan, platform: &'a Platform) -> impl Iterator<Item = &'a FileEntry> {
    plan.targets
        .iter()
        .filter(move |t| &t.platform == platform)
        .flat_map(|t| t.layers.iter().flat_map(|l| &l.entries))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::{LayerSpec, TargetPlan};

    fn file(target: &str, source: &Path) -> FileEntry {
        FileEntry {
            target: target.into(),
            mode: 0o755,
            kind: EntryKind::File {
                source: source.to_path_buf(),
            },
        }
    }

    /// The host file read for a script's interpreter line is the one the image holds at that
    /// path: the last file entry there, trees expanded in their place.
    #[test]
    fn the_source_of_an_image_path_is_its_last_file_entry() {
        let d = tempfile::tempdir().unwrap();
        let out = d.path().join("out");
        std::fs::create_dir_all(out.join("bin")).unwrap();
        std::fs::write(out.join("bin/run"), "#!/bin/sh").unwrap();
        let first = d.path().join("first");
        let last = d.path().join("last");
        let platform: Platform = "linux/amd64".parse().unwrap();
        let layer = |entries| LayerSpec {
            name: "app".into(),
            entries,
        };
        let plan = Plan {
            detector: "test".into(),
            reasons: vec![],
            name: "app".into(),
            project_dir: d.path().into(),
            targets: vec![TargetPlan {
                platform: platform.clone(),
                steps: vec![],
                layers: vec![
                    layer(vec![file("/app/bin/run", &first)]),
                    layer(vec![FileEntry {
                        target: "/app".into(),
                        mode: 0o755,
                        kind: EntryKind::Tree {
                            source: out.clone(),
                            exclude: vec![],
                        },
                    }]),
                    layer(vec![
                        file("/app/bin/tool", &last),
                        FileEntry {
                            target: "/app/bin/tool".into(),
                            mode: 0o755,
                            kind: EntryKind::Dir,
                        },
                    ]),
                ],
                checks: vec![],
            }],
            config: Default::default(),
            base: "scratch".into(),
            excluded: vec![],
        };
        let listings = crate::layer::tree::Listings::default();
        let source = |target| source_of(&plan, &platform, &listings, target);
        // The tree's file comes after the first layer's and wins.
        assert_eq!(source("/app/bin/run"), Some(out.join("bin/run")));
        // A directory after a file is no file entry: the file's source stays the answer
        // (the tree check then finds no executable file there).
        assert_eq!(source("/app/bin/tool"), Some(last));
        assert_eq!(source("/app/bin"), None);
        assert_eq!(source("/nowhere"), None);
        let other: Platform = "linux/arm64".parse().unwrap();
        assert_eq!(source_of(&plan, &other, &listings, "/app/bin/run"), None);
    }
}
