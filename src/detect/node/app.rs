//! The application files of a Node image: the project's files at /app (through .dockerignore
//! and package.json's `files`), or, with a build script, the built copy's.

use super::facts::NodeProject;
use super::package::{self, PackageJson};
use super::steps::{self, Runner};
use crate::detect::DetectError;
use crate::detect::builder::PlanBuilder;
use crate::plan::{BuildStep, EntryKind, FileEntry};
use std::path::Path;

/// The project's files at /app, through .dockerignore and without the developer's own
/// node_modules (the image gets the installed one).
pub fn files(b: &mut PlanBuilder, node: &NodeProject) -> Result<Vec<FileEntry>, DetectError> {
    let mut app = b.files(Path::new(""), "/app")?;
    app.retain(|e| {
        let rel = rel_of(&e.target);
        rel != "node_modules" && !rel.starts_with("node_modules/")
    });
    if node.package.files.is_some() {
        b.reason("package.json", "`files` limits the application files");
    }
    Ok(app)
}

/// Without a build script: the files `files` in package.json keeps, when it has one.
pub fn limited(node: &NodeProject, mut app: Vec<FileEntry>) -> Vec<FileEntry> {
    if let Some(files) = &node.package.files {
        let always = always(node);
        app.retain(|e| package::in_files(files, rel_of(&e.target), &always));
    }
    app
}

/// With a build script: the steps that copy the project (`app`) and run the script in
/// `build`, and the application entries the built copy gives.
pub fn build(
    dir: &Path,
    node: &NodeProject,
    runner: &Runner,
    app: &[FileEntry],
    build: &Path,
) -> Result<(Vec<BuildStep>, Vec<FileEntry>), DetectError> {
    let mut copy: Vec<String> = app
        .iter()
        .filter(|e| !matches!(e.kind, EntryKind::Dir))
        .map(|e| rel_of(&e.target).to_string())
        .collect();
    // The build needs the install files even when `files` or the deny list keeps them out
    // of the image; they are left out of the layer again below.
    let mut private = Vec::new();
    for f in &node.install_files {
        if !copy.contains(f) {
            copy.push(f.clone());
            private.push(f.clone());
        }
    }
    let mut build_steps = vec![crate::detect::staging::copy_step(
        "copy the project to the build directory".into(),
        dir,
        &copy,
        build,
    )];
    build_steps.extend(steps::build_script(runner, build));
    let entries = built_app_entries(&node.package, &always(node), build, private)?;
    Ok((build_steps, entries))
}

/// Files that stay in the image whatever `files` says.
fn always(node: &NodeProject) -> Vec<&str> {
    let mut always = vec!["package.json"];
    if let Some(s) = &node.start {
        always.push(s.file.as_str());
    }
    always
}

/// `/app/lib/a.js` → `lib/a.js`.
fn rel_of(target: &str) -> &str {
    target.strip_prefix("/app/").unwrap_or(target)
}

/// Application entries of a project with a build script: the built copy (minus its
/// node_modules and the install-only files), or with `files`, the listed paths of it.
fn built_app_entries(
    pkg: &PackageJson,
    always: &[&str],
    build: &Path,
    private: Vec<String>,
) -> Result<Vec<FileEntry>, DetectError> {
    let tree = |rel: &str, exclude: Vec<String>| FileEntry {
        target: if rel.is_empty() {
            "/app".into()
        } else {
            format!("/app/{rel}")
        },
        mode: 0o755,
        kind: EntryKind::Tree {
            source: if rel.is_empty() {
                build.to_path_buf()
            } else {
                build.join(rel)
            },
            exclude,
        },
    };
    let Some(files) = &pkg.files else {
        let mut exclude = vec!["node_modules".to_string()];
        exclude.extend(private);
        return Ok(vec![tree("", exclude)]);
    };
    let mut entries: Vec<FileEntry> = Vec::new();
    let mut paths: Vec<String> = always.iter().map(|s| s.to_string()).collect();
    for f in files {
        if f.contains(['*', '?', '!', '[']) {
            return Err(DetectError::Unsupported(format!(
                "package.json: `files` entry `{f}` is a pattern; with a build script lade copies `files` entries that name files or directories (list the directories instead)"
            )));
        }
        paths.push(f.trim_start_matches("./").trim_end_matches('/').to_string());
    }
    paths.sort();
    paths.dedup();
    // A path inside a listed directory comes with it (and two entries would collide).
    let inside = |p: &str| {
        paths.iter().any(|q| {
            p.strip_prefix(q.as_str())
                .is_some_and(|r| r.starts_with('/'))
        })
    };
    let paths: Vec<String> = paths.iter().filter(|p| !inside(p)).cloned().collect();
    for p in paths {
        entries.push(tree(&p, vec![]));
    }
    Ok(entries)
}
