//! `lade cargo-crates`: the crates a Rust build links into its binaries, with the features they
//! were built with, for the SBOM. Cargo.lock lists every package of the workspace's graph
//! (dev- and build-dependencies, other platforms' dependencies, other members' crates); cargo's
//! own resolution for the target triple (`cargo metadata --filter-platform`) says what the
//! selected packages really depend on and which features are on. Build-dependencies and
//! proc-macros run on the host and are not in the binary, so only normal dependencies are
//! followed.

use super::TaskError;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::{Command, Stdio};

/// One crate linked into the binaries, as written to the step's output file.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct LinkedCrate {
    pub name: String,
    pub version: String,
    /// `registry+…`, `git+…`; absent for path dependencies outside the registry.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    pub features: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub license: Option<String>,
}

#[derive(Deserialize)]
struct Metadata {
    packages: Vec<Package>,
    resolve: Option<Resolve>,
}

#[derive(Deserialize)]
struct Package {
    id: String,
    name: String,
    version: String,
    source: Option<String>,
    license: Option<String>,
    #[serde(default)]
    targets: Vec<CrateTarget>,
}

#[derive(Deserialize)]
struct CrateTarget {
    kind: Vec<String>,
}

#[derive(Deserialize)]
struct Resolve {
    nodes: Vec<Node>,
}

#[derive(Deserialize)]
struct Node {
    id: String,
    #[serde(default)]
    deps: Vec<NodeDep>,
    #[serde(default)]
    features: Vec<String>,
}

#[derive(Deserialize)]
struct NodeDep {
    pkg: String,
    #[serde(default)]
    dep_kinds: Vec<DepKind>,
}

#[derive(Deserialize)]
struct DepKind {
    /// `null` for a normal dependency, `"dev"` or `"build"` otherwise.
    kind: Option<String>,
}

/// What the build compiled: the same flags as its `cargo build`, so cargo resolves the same
/// features.
pub struct Selection {
    pub triple: String,
    pub packages: Vec<String>,
    pub locked: bool,
    pub features: Option<String>,
    pub no_default_features: bool,
}

/// Runs cargo's resolution for the selection in the current directory (the step's, the
/// project's) and writes the crates its packages link to `out` (JSON, sorted).
pub fn crates(sel: &Selection, out: &Path) -> Result<(), TaskError> {
    let dir = Path::new(".");
    let triple = sel.triple.as_str();
    let mut cmd = Command::new("cargo");
    cmd.args(["metadata", "--format-version", "1", "--offline"])
        .args(["--filter-platform", triple]);
    if sel.locked {
        cmd.arg("--locked");
    }
    if let Some(f) = &sel.features {
        cmd.args(["--features", f]);
    }
    if sel.no_default_features {
        cmd.arg("--no-default-features");
    }
    let output = cmd
        .stdin(Stdio::null())
        .stderr(Stdio::inherit())
        .output()
        .map_err(TaskError::io("running cargo metadata in", dir))?;
    if !output.status.success() {
        return Err(TaskError::Refused(format!(
            "cargo metadata --filter-platform {triple} failed ({})",
            output.status
        )));
    }
    let metadata: Metadata = serde_json::from_slice(&output.stdout).map_err(|e| {
        TaskError::Refused(format!("cargo metadata printed what lade cannot read: {e}"))
    })?;
    let linked = linked(&metadata, &sel.packages)?;
    let json = serde_json::to_vec_pretty(&linked).expect("crates serialize");
    std::fs::write(out, json).map_err(TaskError::io("writing", out))
}

/// The crates reachable from `roots` (package names) through normal dependencies, roots and
/// proc-macros left out.
fn linked(m: &Metadata, roots: &[String]) -> Result<Vec<LinkedCrate>, TaskError> {
    let by_id: BTreeMap<&str, &Package> = m.packages.iter().map(|p| (p.id.as_str(), p)).collect();
    let nodes: BTreeMap<&str, &Node> = m
        .resolve
        .as_ref()
        .map(|r| r.nodes.iter().map(|n| (n.id.as_str(), n)).collect())
        .unwrap_or_default();
    let mut todo: Vec<&str> = Vec::new();
    for r in roots {
        let found = nodes
            .keys()
            .copied()
            .filter(|id| by_id.get(id).is_some_and(|p| &p.name == r))
            .collect::<Vec<_>>();
        if found.is_empty() {
            return Err(TaskError::Refused(format!(
                "cargo metadata knows no package `{r}` in this workspace"
            )));
        }
        todo.extend(found);
    }
    let root_ids: BTreeSet<&str> = todo.iter().copied().collect();
    let mut seen: BTreeSet<&str> = BTreeSet::new();
    while let Some(id) = todo.pop() {
        if !seen.insert(id) {
            continue;
        }
        let Some(node) = nodes.get(id) else { continue };
        for d in &node.deps {
            let normal = d.dep_kinds.is_empty() || d.dep_kinds.iter().any(|k| k.kind.is_none());
            if normal {
                todo.push(d.pkg.as_str());
            }
        }
    }
    let mut out: Vec<LinkedCrate> = seen
        .into_iter()
        .filter(|id| !root_ids.contains(id))
        .filter_map(|id| {
            let p = by_id.get(id)?;
            // A proc-macro runs in the compiler, on the host; nothing of it is linked.
            if p.targets
                .iter()
                .any(|t| t.kind.iter().any(|k| k == "proc-macro"))
            {
                return None;
            }
            let mut features = nodes
                .get(id)
                .map(|n| n.features.clone())
                .unwrap_or_default();
            features.sort();
            Some(LinkedCrate {
                name: p.name.clone(),
                version: p.version.clone(),
                source: p.source.clone(),
                features,
                license: p.license.clone(),
            })
        })
        .collect();
    out.sort();
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normal_dependencies_only_with_their_features() {
        let json = r#"{
          "packages": [
            {"id": "app 0.1.0 (path+file:///p)", "name": "app", "version": "0.1.0", "source": null, "license": null, "targets": [{"kind": ["bin"]}]},
            {"id": "serde 1.0.1 (registry+x)", "name": "serde", "version": "1.0.1", "source": "registry+x", "license": "MIT OR Apache-2.0", "targets": [{"kind": ["lib"]}]},
            {"id": "serde_derive 1.0.1 (registry+x)", "name": "serde_derive", "version": "1.0.1", "source": "registry+x", "license": null, "targets": [{"kind": ["proc-macro"]}]},
            {"id": "cc 1.0.0 (registry+x)", "name": "cc", "version": "1.0.0", "source": "registry+x", "license": null, "targets": [{"kind": ["lib"]}]},
            {"id": "tempfile 3.0.0 (registry+x)", "name": "tempfile", "version": "3.0.0", "source": "registry+x", "license": null, "targets": [{"kind": ["lib"]}]},
            {"id": "itoa 1.0.0 (registry+x)", "name": "itoa", "version": "1.0.0", "source": "registry+x", "license": null, "targets": [{"kind": ["lib"]}]}
          ],
          "resolve": {"nodes": [
            {"id": "app 0.1.0 (path+file:///p)", "features": [], "deps": [
              {"pkg": "serde 1.0.1 (registry+x)", "dep_kinds": [{"kind": null}]},
              {"pkg": "cc 1.0.0 (registry+x)", "dep_kinds": [{"kind": "build"}]},
              {"pkg": "tempfile 3.0.0 (registry+x)", "dep_kinds": [{"kind": "dev"}]}]},
            {"id": "serde 1.0.1 (registry+x)", "features": ["std", "derive", "default"], "deps": [
              {"pkg": "serde_derive 1.0.1 (registry+x)", "dep_kinds": [{"kind": null}]},
              {"pkg": "itoa 1.0.0 (registry+x)", "dep_kinds": [{"kind": null}]}]},
            {"id": "serde_derive 1.0.1 (registry+x)", "features": [], "deps": []},
            {"id": "cc 1.0.0 (registry+x)", "features": [], "deps": []},
            {"id": "tempfile 3.0.0 (registry+x)", "features": [], "deps": []},
            {"id": "itoa 1.0.0 (registry+x)", "features": [], "deps": []}
          ]}
        }"#;
        let m: Metadata = serde_json::from_str(json).unwrap();
        let got = linked(&m, &["app".to_string()]).unwrap();
        let names: Vec<(&str, Vec<&str>)> = got
            .iter()
            .map(|c| {
                (
                    c.name.as_str(),
                    c.features.iter().map(String::as_str).collect(),
                )
            })
            .collect();
        assert_eq!(
            names,
            [
                ("itoa", vec![]),
                ("serde", vec!["default", "derive", "std"])
            ]
        );
        assert_eq!(got[1].license.as_deref(), Some("MIT OR Apache-2.0"));
        assert!(linked(&m, &["nope".to_string()]).is_err());
    }
}
