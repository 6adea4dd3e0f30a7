//! The layers of a package in an npm workspace. The image mirrors how node resolves modules
//! in the workspace, with the package at /app:
//! - the root's node_modules (hoisted dependencies) at /node_modules, which node reaches from
//!   /app and from every workspace package by walking up;
//! - the package's own node_modules (versions that could not be hoisted) at /app/node_modules,
//!   found first, as in the workspace;
//! - each workspace package it depends on as a real directory at /node_modules/NAME (npm links
//!   it there; a link would point outside the image), with its own node_modules inside.
//!
//! pnpm links differently: each package's node_modules holds relative links into the root's
//! virtual store (`../../node_modules/.pnpm/…`) and to the workspace packages
//! (`../../../../packages/shared`). Those links are kept, so with pnpm each workspace package
//! sits at its own workspace path from the image's root (/packages/shared): a link from
//! /app/node_modules climbs to / (where `..` stays) and lands there, as it would in the
//! workspace, since /app is never deeper than the package's own directory.
//!
//! Nothing of the other workspace packages is read or shipped.

use super::package::Manager;
use super::workspace::{Member, Workspace};
use crate::detect::builder::PlanBuilder;
use crate::detect::{DetectError, tree_entries};
use crate::plan::{EntryKind, FileEntry, LayerSpec};
use std::path::Path;

/// The production install of the staging copy `deps` (its root and the members' node_modules;
/// `lade node-finish` makes sure each member has one).
pub fn node_modules(
    ws: &Workspace,
    manager: &Manager,
    app_name: Option<&str>,
    deps: &Path,
) -> LayerSpec {
    let tree = |source: &Path, target: String, exclude: Vec<String>| FileEntry {
        target,
        mode: 0o755,
        kind: EntryKind::Tree {
            source: source.to_path_buf(),
            exclude,
        },
    };
    // npm's links to workspace packages: replaced by the packages themselves. The package's
    // own link is not needed (it runs from /app) and would point at nothing.
    let mut links: Vec<String> = match manager {
        Manager::Pnpm => app_name
            .map(|n| format!(".pnpm/node_modules/{n}"))
            .into_iter()
            .collect(),
        _ => ws.deps.iter().map(|m| m.name.clone()).collect(),
    };
    if !matches!(manager, Manager::Pnpm) {
        links.extend(app_name.map(str::to_string));
    }
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
            format!("{}/node_modules", place(manager, m)),
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
pub fn members(
    b: &mut PlanBuilder,
    ws: &Workspace,
    manager: &Manager,
) -> Result<LayerSpec, DetectError> {
    let mut entries = Vec::new();
    for m in &ws.deps {
        let dir = ws.root.join(&m.rel);
        let top = m.rel.split('/').next().unwrap_or_default();
        if matches!(manager, Manager::Pnpm) && RESERVED.contains(&top) {
            return Err(DetectError::Unsupported(format!(
                "{}: the workspace package {} is in `{top}/`, which pnpm's links would place at /{top} in the image, over the base's own /{top}: move the workspace packages to a directory such as packages/",
                ws.root.join("pnpm-workspace.yaml").display(),
                m.name
            )));
        }
        let filter = crate::ignore::Filter::load(&dir).map_err(|e| DetectError::Files {
            dir: dir.clone(),
            message: e.to_string(),
        })?;
        let target = place(manager, m);
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

/// Top directories of an image that a workspace package must not be placed over.
const RESERVED: &[&str] = &[
    "app",
    "bin",
    "boot",
    "dev",
    "etc",
    "home",
    "lib",
    "lib32",
    "lib64",
    "libx32",
    "media",
    "mnt",
    "node_modules",
    "nodejs",
    "opt",
    "proc",
    "root",
    "run",
    "sbin",
    "srv",
    "sys",
    "tmp",
    "usr",
    "var",
];

/// Where a workspace package goes in the image (see the module's comment).
fn place(manager: &Manager, m: &Member) -> String {
    match manager {
        Manager::Pnpm => format!("/{}", m.rel),
        _ => format!("/node_modules/{}", m.name),
    }
}
