//! The layers of a Java image and the files its build stages.

use super::gradle;
use crate::detect::DetectError;
use crate::detect::builder::PlanBuilder;
use crate::plan::{EntryKind, FileEntry, LayerSpec};
use std::path::{Path, PathBuf};

/// Jib's layers, oldest-changing first. The argument file changes only with the
/// dependencies, so it goes with them.
pub fn classpath_layers(layout: &Path) -> Vec<LayerSpec> {
    let layer = |name: &str, entries: Vec<FileEntry>| LayerSpec {
        name: name.into(),
        entries,
    };
    vec![
        layer(
            "dependencies",
            vec![
                tree(layout.join("libs"), "/app/libs"),
                FileEntry {
                    target: "/app/classpath".into(),
                    mode: 0o644,
                    kind: EntryKind::File {
                        source: layout.join("classpath"),
                    },
                },
            ],
        ),
        layer(
            "snapshot dependencies",
            vec![tree(layout.join("snapshot-libs"), "/app/libs")],
        ),
        layer(
            "project dependencies",
            vec![tree(layout.join("project-libs"), "/app/libs")],
        ),
        layer(
            "resources",
            vec![tree(layout.join("resources"), "/app/resources")],
        ),
        layer(
            "classes",
            vec![tree(layout.join("classes"), "/app/classes")],
        ),
    ]
}

pub fn tree(source: PathBuf, target: &str) -> FileEntry {
    FileEntry {
        target: target.into(),
        mode: 0o755,
        kind: EntryKind::Tree {
            source,
            exclude: Vec::new(),
        },
    }
}

/// The project files the build sees: everything .dockerignore keeps, minus the build tools'
/// output directories (`target/` beside a pom.xml, `build/` and `.gradle/` beside a Gradle
/// build file), so a stale local build never leaks into the image.
pub fn staged_files(b: &mut PlanBuilder) -> Result<Vec<String>, DetectError> {
    let entries = b.files(Path::new(""), "/")?;
    let rels: Vec<&str> = entries
        .iter()
        .filter(|e| !matches!(e.kind, EntryKind::Dir))
        .map(|e| e.target.trim_start_matches('/'))
        .collect();
    // The modules are known from the listing itself: no file system lookups per file.
    let module_with = |files: &[&str]| -> std::collections::BTreeSet<String> {
        rels.iter()
            .filter_map(|r| {
                let (parent, name) = r.rsplit_once('/').unwrap_or(("", r));
                files.contains(&name).then(|| parent.to_string())
            })
            .collect()
    };
    let maven = module_with(&["pom.xml"]);
    let gradle = module_with(&gradle::BUILD_FILES);
    let is_output = |rel: &str| {
        let parts: Vec<&str> = rel.split('/').collect();
        parts.iter().enumerate().any(|(i, part)| {
            let module = parts[..i].join("/");
            (*part == "target" && maven.contains(&module))
                || ((*part == "build" || *part == ".gradle") && gradle.contains(&module))
        })
    };
    let files = rels
        .iter()
        .filter(|r| !is_output(r))
        .map(|r| r.to_string())
        .collect();
    Ok(files)
}
