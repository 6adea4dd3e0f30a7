//! Detectors: one module per language. Each only reads files and returns a `Plan` (or nothing
//! when the project is not its kind); none runs a tool. Detection order is the order of
//! `detectors()`; when several match, the first wins unless `language` in lade.toml picks one,
//! and the plan says which others matched.

pub mod builder;
mod files;
pub mod go;
pub mod java;
mod native;
pub mod node;
pub mod python;
pub mod rust;
pub(crate) mod staging;

pub use files::{dir_names, tree_entries};

use crate::config::LadeConfig;
use crate::plan::{Plan, Reason};
use crate::platform::Platform;
use std::path::{Path, PathBuf};

/// What a detector may look at.
pub struct Project<'a> {
    /// Absolute project directory.
    pub dir: &'a Path,
    pub config: &'a LadeConfig,
    pub platforms: &'a [Platform],
    /// `--main` (or `main` in lade.toml): the entrypoint's package or binary.
    pub main: Option<&'a str>,
    /// Where build steps put their outputs, one subdirectory per platform.
    pub out_dir: &'a Path,
    /// `.dockerignore` and the deny list, for files copied from the tree.
    pub filter: &'a crate::ignore::Filter,
}

impl Project<'_> {
    pub fn out_dir_for(&self, p: &Platform) -> PathBuf {
        self.out_dir.join(p.dir_name())
    }
}

pub trait Detector {
    fn name(&self) -> &'static str;
    /// Files whose presence makes this detector look closer; listed in "no project" errors.
    fn looks_for(&self) -> &'static str;
    fn detect(&self, project: &Project) -> Result<Option<Plan>, DetectError>;
}

#[derive(Debug, thiserror::Error)]
pub enum DetectError {
    #[error("no project lade can build in {dir}: looked for {looked_for}")]
    NoProject { dir: PathBuf, looked_for: String },
    #[error("{file}: {detail}")]
    Invalid { file: PathBuf, detail: String },
    #[error("reading {path}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{0}")]
    Unsupported(String),
    #[error("language '{0}' in lade.toml is not one lade knows (known: {1})")]
    UnknownLanguage(String, String),
    #[error("{dir}: {message}")]
    Files { dir: PathBuf, message: String },
}

/// All detectors in detection order.
pub fn detectors() -> Vec<Box<dyn Detector>> {
    vec![
        Box::new(go::GoDetector),
        Box::new(rust::RustDetector),
        Box::new(java::JavaDetector),
        Box::new(node::NodeDetector),
        Box::new(python::PythonDetector),
    ]
}

/// Runs the detectors in order and returns the chosen plan.
pub fn detect(project: &Project) -> Result<Plan, DetectError> {
    let all = detectors();
    if let Some(lang) = &project.config.language {
        let Some(d) = all.iter().find(|d| d.name() == lang) else {
            let names: Vec<&str> = all.iter().map(|d| d.name()).collect();
            return Err(DetectError::UnknownLanguage(lang.clone(), names.join(", ")));
        };
        return d.detect(project)?.ok_or_else(|| DetectError::NoProject {
            dir: project.dir.to_path_buf(),
            looked_for: format!("{} (language = \"{lang}\" in lade.toml)", d.looks_for()),
        });
    }
    let mut chosen: Option<Plan> = None;
    let mut others = Vec::new();
    for d in &all {
        if let Some(plan) = d.detect(project)? {
            if chosen.is_none() {
                chosen = Some(plan);
            } else {
                others.push(d.name());
            }
        }
    }
    let mut plan = chosen.ok_or_else(|| DetectError::NoProject {
        dir: project.dir.to_path_buf(),
        looked_for: all
            .iter()
            .map(|d| d.looks_for())
            .collect::<Vec<_>>()
            .join("; "),
    })?;
    if !others.is_empty() {
        plan.reasons.push(Reason {
            file: "lade.toml".into(),
            why: format!(
                "the project also looks like {}; {} comes first in detection order (set language = \"…\" to choose)",
                others.join(", "),
                plan.detector
            ),
        });
    }
    Ok(plan)
}

/// The image name for a project or package name: `@scope/name` → `name`; characters an image name cannot hold become `-`.
pub(crate) fn image_name(name: &str) -> String {
    let base = name.rsplit('/').next().unwrap_or(name).to_lowercase();
    let cleaned: String = base
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "._-".contains(c) {
                c
            } else {
                '-'
            }
        })
        .collect();
    let trimmed = cleaned.trim_matches(|c: char| !c.is_ascii_alphanumeric());
    if trimmed.is_empty() {
        "app".into()
    } else {
        trimmed.to_string()
    }
}
