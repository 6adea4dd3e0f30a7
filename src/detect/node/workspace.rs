//! npm, pnpm and yarn workspaces, as the files say: the workspace root above a package (the nearest
//! ancestor whose pnpm-workspace.yaml `packages` or package.json `workspaces` patterns match the
//! package's directory), and the
//! workspace packages the package depends on, directly or through each other, by name in
//! `dependencies`/`optionalDependencies`. Only reads files.

use super::package::PackageJson;
use crate::detect::DetectError;
pub(crate) use crate::detect::files::dir_matches as matches;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// How deep below the root workspace packages are looked for (`apps/*` is 2).
const MAX_DEPTH: usize = 5;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Workspace {
    /// The directory whose package.json lists the workspaces (the lockfile is there).
    pub root: PathBuf,
    /// The package's directory relative to the root (`apps/web`).
    pub member: String,
    /// Workspace packages the package needs at run time, sorted by directory.
    pub deps: Vec<Member>,
    /// The root package.json's `packageManager` (`pnpm@10.20.0`): the workspace's manager.
    pub package_manager: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Member {
    /// Directory relative to the root (`packages/shared`).
    pub rel: String,
    /// Package name (`@demo/shared`), where node_modules links it.
    pub name: String,
}

impl Workspace {
    /// The workspace `dir` belongs to, if an ancestor's package.json says so.
    pub fn find(dir: &Path, package: &PackageJson) -> Result<Option<Workspace>, DetectError> {
        for root in dir.ancestors().skip(1) {
            let manifest = root.join("package.json");
            if !manifest.is_file() {
                continue;
            }
            // An ancestor's package.json that cannot be read as JSON names no workspaces: it is
            // not lade's to judge (it may belong to something else entirely).
            let Some(root_pkg) = read_json(&manifest) else {
                continue;
            };
            let pnpm = root.join("pnpm-workspace.yaml");
            let patterns = if pnpm.is_file() {
                let text = std::fs::read_to_string(&pnpm).map_err(|source| DetectError::Read {
                    path: pnpm.clone(),
                    source,
                })?;
                pnpm_patterns(&text)
            } else {
                patterns(&root_pkg)
            };
            let Ok(rel) = dir.strip_prefix(root) else {
                continue;
            };
            let rel = rel.to_string_lossy().into_owned();
            if !patterns.iter().any(|p| matches(p, &rel)) {
                continue;
            }
            let members = members(root, &patterns)?;
            let deps = closure(package, &members);
            return Ok(Some(Workspace {
                root: root.to_path_buf(),
                member: rel,
                deps,
                package_manager: root_pkg["packageManager"].as_str().map(str::to_string),
            }));
        }
        Ok(None)
    }

    /// The package.json files of the package and its workspace dependencies, relative to the
    /// root: what npm needs besides the root's files to install for this one package.
    pub fn manifests(&self) -> Vec<String> {
        std::iter::once(self.member.as_str())
            .chain(self.deps.iter().map(|m| m.rel.as_str()))
            .map(|d| format!("{d}/package.json"))
            .collect()
    }
}

/// The workspace root's .yarnrc.yml `nodeLinker` (`pnp`, yarn's default, when the file or the
/// key is missing) and whether the file names the workspace-tools plugin (built into yarn 4,
/// a plugin before).
pub fn yarnrc(root: &Path) -> Result<(String, bool), DetectError> {
    let path = root.join(".yarnrc.yml");
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(source) => return Err(DetectError::Read { path, source }),
    };
    let linker = text
        .lines()
        .filter(|l| !l.starts_with([' ', '\t']))
        .find_map(|l| l.strip_prefix("nodeLinker:"))
        .map(|v| {
            let v = v.split(" #").next().unwrap_or_default().trim();
            v.trim_matches(['"', '\'']).to_string()
        })
        .unwrap_or_else(|| "pnp".into());
    Ok((linker, text.contains("workspace-tools")))
}

/// The dependencies of the package and of the workspace packages it needs (`manifests`, one
/// per package) that a berry `lockfile` has no entry for, as yarn's descriptors
/// (`ms@npm:2.1.2`). Only npm ranges and `workspace:` are checked: other protocols are keyed
/// with more than the manifest says, and the install's own check covers them.
pub fn yarn_unpinned(lockfile: &str, manifests: &[&PackageJson]) -> Vec<String> {
    let keys: BTreeSet<&str> = lockfile
        .lines()
        .filter(|l| !l.starts_with([' ', '#']))
        .filter_map(|l| l.strip_suffix(':'))
        .flat_map(|l| l.split(", "))
        .map(|k| k.trim().trim_matches('"'))
        .collect();
    let mut out = BTreeSet::new();
    for pkg in manifests {
        for (name, range) in pkg.dependencies.iter().chain(&pkg.optional_dependencies) {
            let Some(range) = range.as_str() else {
                continue;
            };
            let descriptor = if range.starts_with("npm:") || range.starts_with("workspace:") {
                format!("{name}@{range}")
            } else if !range.contains([':', '/']) {
                format!("{name}@npm:{range}")
            } else {
                continue;
            };
            if !keys.contains(descriptor.as_str()) {
                out.insert(descriptor);
            }
        }
    }
    out.into_iter().collect()
}

/// `workspaces` as npm reads it: a list of patterns (or yarn's `{"packages": [...]}`).
fn patterns(root_pkg: &serde_json::Value) -> Vec<String> {
    let w = &root_pkg["workspaces"];
    let list = w.as_array().or_else(|| w["packages"].as_array());
    list.into_iter()
        .flatten()
        .filter_map(|p| p.as_str())
        .map(|p| p.trim_start_matches("./").trim_end_matches('/').to_string())
        .filter(|p| !p.is_empty())
        .collect()
}

/// The `packages` list of pnpm-workspace.yaml (a top-level key with `- PATTERN` items);
/// exclusions (`!…`) are left out.
pub fn pnpm_patterns(text: &str) -> Vec<String> {
    let mut in_packages = false;
    let mut out = Vec::new();
    for line in text.lines() {
        let t = line.split(" #").next().unwrap_or("").trim_end();
        if t.is_empty() || t.trim_start().starts_with('#') {
            continue;
        }
        if !t.starts_with([' ', '-']) {
            in_packages = t.trim() == "packages:";
            continue;
        }
        let Some(item) = t.trim_start().strip_prefix('-').filter(|_| in_packages) else {
            continue;
        };
        let item = item.trim().trim_matches(['"', '\'']);
        let item = item.trim_start_matches("./").trim_end_matches('/');
        if !item.is_empty() && !item.starts_with('!') {
            out.push(item.to_string());
        }
    }
    out
}

/// Every workspace package: directories below `root` with a package.json that a pattern
/// matches, by name.
fn members(
    root: &Path,
    patterns: &[String],
) -> Result<BTreeMap<String, (String, PackageJson)>, DetectError> {
    let mut found = BTreeMap::new();
    let walk = walkdir::WalkDir::new(root)
        .min_depth(1)
        .max_depth(MAX_DEPTH)
        .sort_by_file_name()
        .into_iter()
        .filter_entry(|e| {
            let n = e.file_name().to_string_lossy();
            e.file_type().is_dir() && n != "node_modules" && !n.starts_with('.')
        });
    for e in walk {
        let e = e.map_err(|err| DetectError::Files {
            dir: root.to_path_buf(),
            message: format!("listing workspace packages: {err}"),
        })?;
        let Ok(rel) = e.path().strip_prefix(root) else {
            continue;
        };
        let rel = rel.to_string_lossy().into_owned();
        let manifest = e.path().join("package.json");
        if !patterns.iter().any(|p| matches(p, &rel)) || !manifest.is_file() {
            continue;
        }
        let text = std::fs::read_to_string(&manifest).map_err(|source| DetectError::Read {
            path: manifest.clone(),
            source,
        })?;
        let pkg = PackageJson::parse(&text, &manifest)?;
        if let Some(name) = pkg.name.clone() {
            found.insert(name, (rel, pkg));
        }
    }
    Ok(found)
}

/// The workspace packages `package` needs at run time, following their own dependencies.
fn closure(
    package: &PackageJson,
    members: &BTreeMap<String, (String, PackageJson)>,
) -> Vec<Member> {
    let mut seen = BTreeSet::new();
    let mut todo: Vec<&PackageJson> = vec![package];
    while let Some(pkg) = todo.pop() {
        for name in pkg
            .dependencies
            .keys()
            .chain(pkg.optional_dependencies.keys())
        {
            if let Some((rel, dep)) = members.get(name)
                && Some(name) != package.name.as_ref()
                && seen.insert(Member {
                    rel: rel.clone(),
                    name: name.clone(),
                })
            {
                todo.push(dep);
            }
        }
    }
    seen.into_iter().collect()
}

fn read_json(path: &Path) -> Option<serde_json::Value> {
    let text = std::fs::read_to_string(path).ok()?;
    serde_json::from_str(&text).ok()
}
