//! The layers of a package in an npm workspace. The image mirrors how node resolves modules
//! in the workspace, with the package at /app:
//! - the root's node_modules (hoisted dependencies) at /node_modules, which node reaches from
//!   /app and from every workspace package by walking up;
//! - the package's own node_modules (versions that could not be hoisted) at /app/node_modules,
//!   found first, as in the workspace;
//! - each workspace package it depends on as a real directory at /node_modules/NAME (npm links
//!   it there; a link would point outside the image), with its own node_modules inside.
//!
//! Nothing of the other workspace packages is read or shipped.

use super::workspace::Workspace;
use crate::detect::builder::PlanBuilder;
use crate::detect::{DetectError, tree_entries};
use crate::plan::{EntryKind, FileEntry, LayerSpec};
use std::path::Path;

/// The production install of the staging copy `deps` (its root and the members' node_modules;
/// `lade node-finish` makes sure each member has one).
pub fn node_modules(ws: &Workspace, app_name: Option<&str>, deps: &Path) -> LayerSpec {
    let tree = |source: &Path, target: String, exclude: Vec<String>| FileEntry {
        target,
        mode: 0o755,
        kind: EntryKind::Tree {
            source: source.to_path_buf(),
            exclude,
        },
    };
    // npm's links to workspace packages: replaced by the packages themselves (or, for the
    // package's own link, not needed: it runs from /app).
    let mut links: Vec<String> = ws.deps.iter().map(|m| m.name.clone()).collect();
    links.extend(app_name.map(str::to_string));
    let mut entries = vec![
        tree(&deps.join("node_modules"), "/node_modules".into(), links),
        tree(
            &deps.join(&ws.member).join("node_modules"),
            "/app/node_modules".into(),
            vec![],
        ),
    ];
    for m in &ws.deps {
        entries.push(tree(
            &deps.join(&m.rel).join("node_modules"),
            format!("/node_modules/{}/node_modules", m.name),
            vec![],
        ));
    }
    LayerSpec {
        name: "node_modules".into(),
        entries,
    }
}

/// The files of the workspace packages the package depends on, each through its own
/// .dockerignore and the deny list, without a developer's node_modules.
pub fn members(b: &mut PlanBuilder, ws: &Workspace) -> Result<LayerSpec, DetectError> {
    let mut entries = Vec::new();
    for m in &ws.deps {
        let dir = ws.root.join(&m.rel);
        let filter = crate::ignore::Filter::load(&dir).map_err(|e| DetectError::Files {
            dir: dir.clone(),
            message: e.to_string(),
        })?;
        let target = format!("/node_modules/{}", m.name);
        let (files, excluded) = tree_entries(&dir, Path::new(""), &target, &filter)?;
        b.exclude(excluded);
        let own_modules = format!("{target}/node_modules");
        entries.extend(files.into_iter().filter(|e| {
            e.target != own_modules && !e.target.starts_with(&format!("{own_modules}/"))
        }));
    }
    Ok(LayerSpec {
        name: "workspace".into(),
        entries,
    })
}
