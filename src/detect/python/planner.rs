//! A Python project's plan: dependencies and the project installed per platform by the
//! host's pip into lade's build directory, the application below at /app, on a base whose
//! Python the project accepts.

use super::facts::{Deps, PythonProject};
use super::version::{self, WHEEL_PYTHON};
use super::{
    APP_DIR, DEFAULT_BASE, DEPS_DIR, LOCAL_DIR, PROJECT_DIR, entry, locks, project, steps,
};
use crate::detect::builder::{DirName, PlanBuilder};
use crate::detect::{DetectError, Project};
use crate::plan::{Check, FileEntry, Plan, PythonRequirement, Reason};
use std::path::Path;

pub fn plan(py: &PythonProject, project: &Project) -> Result<Plan, DetectError> {
    let mut b = PlanBuilder::new("python", project);
    let dir = project.dir;
    b.reason(py.marker.clone(), "Python project");
    let requirements = python_requirements(&mut b, py)?;
    let name = b.name(py.name.clone(), DirName::AsIs);
    deps_reasons(&mut b, py);
    let candidates = entry::Candidates {
        name: name.clone(),
        ..py.entry.clone()
    };
    let choice = match entry::choose(&candidates, APP_DIR) {
        Ok(c) => Some(c),
        Err(_) if project.config.entrypoint.is_some() => None,
        Err(why) => {
            return Err(DetectError::Unsupported(format!(
                "{}: {why}",
                dir.display()
            )));
        }
    };
    if let Some(c) = &choice {
        b.reason(c.from.clone(), format!("entrypoint {}", c.argv.join(" ")));
    }
    let app_entries = if py.packaged {
        Vec::new()
    } else {
        let entries = b.files(Path::new(""), APP_DIR)?;
        let (kept, dropped) = without_local_state(entries);
        b.exclude(dropped);
        kept
    };
    let dist_name = locks::normalize_name(
        project::get_str(&py.pyproject, "project.name")
            .or_else(|| project::get_str(&py.pyproject, "tool.poetry.name"))
            .unwrap_or(&name),
    );
    let packaged = py.packaged.then_some(&dist_name);
    b.per_platform(|p, out| {
        let mut target = steps::target(p, &out, dir, &py.deps, &py.local, packaged, &app_entries);
        let wheels_for = steps::fetches_foreign_wheels(p, &py.deps)
            .then(|| format!("{}.{}", WHEEL_PYTHON[0], WHEEL_PYTHON[1]));
        if !requirements.is_empty() || wheels_for.is_some() {
            target.checks.push(Check::PythonVersion {
                requirements: requirements.clone(),
                wheels_for,
            });
        }
        Ok(target)
    })?;
    b.config().entrypoint = choice.map(|c| c.argv);
    b.config().workdir = Some(APP_DIR.into());
    env(&mut b, py);
    let mut plan = b.finish(name, DEFAULT_BASE);
    plan.reasons = merge_reasons(plan.reasons);
    Ok(plan)
}

/// Where the dependencies come from, and whether the project is built as a wheel.
fn deps_reasons(b: &mut PlanBuilder, py: &PythonProject) {
    match &py.deps {
        Deps::Locked { from, .. } => b.reason(
            from.clone(),
            "locked dependencies, installed with --require-hashes",
        ),
        Deps::File(_) => b.reason("requirements.txt", "dependencies"),
        Deps::List(l) => b.reason(
            "pyproject.toml",
            format!(
                "{} dependencies from [project.dependencies] (no lock file)",
                l.len()
            ),
        ),
        Deps::None => {}
    }
    if let Some(ws) = &py.workspace {
        b.reason(
            ws.root.join("pyproject.toml").display().to_string(),
            format!(
                "uv workspace member {}: only what it needs is installed, from the root's uv.lock",
                ws.member
            ),
        );
    }
    if !py.local.is_empty() {
        let dirs: Vec<String> = py
            .local
            .iter()
            .map(|l| format!("{} ({})", l.name, l.dir.display()))
            .collect();
        b.reason(
            match &py.deps {
                Deps::Locked { from, .. } => from.clone(),
                _ => "pyproject.toml".into(),
            },
            format!(
                "built from their directories into {LOCAL_DIR}: {}",
                dirs.join(", ")
            ),
        );
    }
    if py.packaged {
        b.reason(
            if py.has_pyproject {
                "pyproject.toml"
            } else {
                "setup.py"
            },
            format!("a package with a build backend: built as a wheel into {PROJECT_DIR}"),
        );
    }
}

/// The interpreter's search paths and settings: the project (or its wheel) and the
/// dependencies on PYTHONPATH and PATH, no bytecode written, output unbuffered.
fn env(b: &mut PlanBuilder, py: &PythonProject) {
    let mut pythonpath = vec![if py.packaged { PROJECT_DIR } else { APP_DIR }];
    let mut path = Vec::new();
    if py.packaged {
        path.push(format!("{PROJECT_DIR}/bin"));
    }
    if !py.local.is_empty() {
        pythonpath.push(LOCAL_DIR);
        path.push(format!("{LOCAL_DIR}/bin"));
    }
    if py.deps != Deps::None {
        pythonpath.push(DEPS_DIR);
        path.push(format!("{DEPS_DIR}/bin"));
    }
    path.push("/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin".into());
    let env = &mut b.config().env;
    env.insert("PYTHONPATH".into(), pythonpath.join(":"));
    env.insert("PATH".into(), path.join(":"));
    env.insert("PYTHONDONTWRITEBYTECODE".into(), "1".into());
    env.insert("PYTHONUNBUFFERED".into(), "1".into());
}

/// Every place the project states its Python version, read (a specifier lade cannot read is an
/// error naming its file) and kept for the check against the base's real Python, which
/// `ops::runtime` makes once the base's files are known: a detector cannot know the base.
fn python_requirements(
    b: &mut PlanBuilder,
    py: &PythonProject,
) -> Result<Vec<PythonRequirement>, DetectError> {
    let dir = b.dir();
    let mut out = Vec::new();
    for v in &py.versions {
        version::validate(&v.spec, v.pinned).map_err(|detail| DetectError::Invalid {
            file: dir.join(v.file),
            detail,
        })?;
        b.reason(
            v.file,
            format!(
                "Python {} (checked against the base's Python before building)",
                v.spec
            ),
        );
        out.push(PythonRequirement {
            file: v.file.to_string(),
            spec: v.spec.clone(),
            pinned: v.pinned,
        });
    }
    Ok(out)
}

/// One reason per file, its findings joined, so the summary names each file once.
pub(super) fn merge_reasons(reasons: Vec<Reason>) -> Vec<Reason> {
    let mut out: Vec<Reason> = Vec::new();
    for r in reasons {
        match out.iter_mut().find(|o| o.file == r.file) {
            Some(o) => {
                o.why.push_str("; ");
                o.why.push_str(&r.why);
            }
            None => out.push(r),
        }
    }
    out
}

/// Directories a Python checkout accumulates that are not the application: virtualenvs,
/// bytecode and tool caches, and lade's default output. Copying them would make /app depend
/// on the developer's machine (and a previous image would end up inside the next).
const LOCAL_STATE: &[&str] = &[
    ".venv",
    "venv",
    "__pycache__",
    ".pytest_cache",
    ".mypy_cache",
    ".ruff_cache",
    ".tox",
    ".nox",
    "lade-out",
];

pub(super) fn without_local_state(
    entries: Vec<FileEntry>,
) -> (Vec<FileEntry>, Vec<crate::plan::Excluded>) {
    let mut kept = Vec::new();
    let mut dropped = Vec::new();
    for e in entries {
        let rel = e
            .target
            .strip_prefix(APP_DIR)
            .unwrap_or(&e.target)
            .trim_start_matches('/');
        let mut parts = rel.split('/');
        let top_hit = parts.clone().find(|c| LOCAL_STATE.contains(c));
        let is_pyc = rel.ends_with(".pyc");
        match top_hit {
            Some(c) => {
                // Report the directory once, not every file in it.
                if parts.next_back() == Some(c) {
                    dropped.push(crate::plan::Excluded {
                        path: rel.to_string(),
                        reason: "python: local state (virtualenv, caches, lade output)".into(),
                    });
                }
            }
            None if is_pyc => {}
            None => kept.push(e),
        }
    }
    (kept, dropped)
}
