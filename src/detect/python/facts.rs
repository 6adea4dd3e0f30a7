//! What a Python project is, as its files say: the file that makes it one, pyproject.toml,
//! the Python versions it asks for, its dependencies (a lock turned into pinned requirements,
//! requirements.txt, or PEP 621's list), whether it is a package with a build backend, and
//! what could start it. Nothing here decides what goes into an image.

use super::workspace::UvWorkspace;
use super::{entry, locks, project};
use crate::detect::{DetectError, dir_names};
use std::path::{Path, PathBuf};

const SCRIPT_FILES: [&str; 3] = ["main.py", "app.py", "server.py"];
const MARKERS: [&str; 4] = ["requirements.txt", "pyproject.toml", "Pipfile", "setup.py"];

/// Where the dependencies come from.
#[derive(Clone, Debug, PartialEq)]
pub enum Deps {
    None,
    /// A pinned requirements text (from a lock), installed with --require-hashes --no-deps.
    Locked {
        /// The lock, as the project's directory reaches it (`uv.lock`, `../../uv.lock`).
        from: String,
        /// The lock's path.
        lock: PathBuf,
        text: String,
    },
    /// The project's requirements file, installed as is.
    File(PathBuf),
    /// Requirement strings (PEP 621 `dependencies` without a lock).
    List(Vec<String>),
}

/// A package the lock takes from a directory (a uv workspace member, a path dependency): built
/// from its sources into the image.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LocalPackage {
    /// Normalized distribution name.
    pub name: String,
    pub dir: PathBuf,
}

/// The project's dependencies, as its files and lock say.
#[derive(Clone, Debug, PartialEq)]
pub(super) struct Dependencies {
    pub deps: Deps,
    /// Sorted by name.
    pub local: Vec<LocalPackage>,
    /// The uv workspace whose lock locks the project, when it is a member of one.
    pub workspace: Option<UvWorkspace>,
}

/// A Python version the project asks for, and where.
#[derive(Clone, Debug, PartialEq)]
pub struct VersionSpec {
    pub file: &'static str,
    pub spec: String,
    /// A version to match (`3.11`, Pipfile, .python-version) rather than a range.
    pub pinned: bool,
}

#[derive(Clone, Debug, PartialEq)]
pub struct PythonProject {
    /// The file that makes it a Python project.
    pub marker: String,
    /// pyproject.toml (empty when there is none).
    pub pyproject: toml::Table,
    pub has_pyproject: bool,
    pub versions: Vec<VersionSpec>,
    /// `project.name`, else `tool.poetry.name`.
    pub name: Option<String>,
    /// A package with a build backend (`[build-system]` or setup.py), built as a wheel.
    pub packaged: bool,
    pub deps: Deps,
    /// Packages built from directories: workspace members and path dependencies it needs.
    pub local: Vec<LocalPackage>,
    pub workspace: Option<UvWorkspace>,
    /// What could start it (its `name` is the project's name once the planner has it).
    pub entry: entry::Candidates,
}

impl PythonProject {
    /// The project in `dir`; `None` when nothing marks it as Python.
    pub fn read(dir: &Path) -> Result<Option<PythonProject>, DetectError> {
        let has = |f: &str| dir.join(f).is_file();
        let script_file = SCRIPT_FILES.iter().find(|f| has(f)).map(|f| f.to_string());
        let Some(marker) = MARKERS
            .iter()
            .map(|m| m.to_string())
            .find(|m| has(m))
            .or_else(|| script_file.clone())
        else {
            return Ok(None);
        };
        let pyproject = match has("pyproject.toml") {
            true => Some(project::read_toml(&dir.join("pyproject.toml"))?),
            false => None,
        };
        let pipfile = match has("Pipfile") {
            true => Some(project::read_toml(&dir.join("Pipfile"))?),
            false => None,
        };
        let versions = version_specs(dir, pyproject.as_ref(), pipfile.as_ref())?;
        let has_pyproject = pyproject.is_some();
        let py = pyproject.unwrap_or_default();
        let name = project::get_str(&py, "project.name")
            .or_else(|| project::get_str(&py, "tool.poetry.name"))
            .map(str::to_string);
        let packaged = (project::get(&py, "build-system.build-backend").is_some()
            && project::get(&py, "tool.poetry.package-mode").and_then(|v| v.as_bool())
                != Some(false))
            || has("setup.py");
        let Dependencies {
            deps,
            local,
            workspace,
        } = dependencies(dir, &py, pipfile.is_some())?;
        let entry = entry::Candidates {
            procfile: match has("Procfile") {
                true => Some(project::read(&dir.join("Procfile"))?),
                false => None,
            },
            scripts: [
                project::keys(&py, "project.scripts"),
                project::keys(&py, "tool.poetry.scripts"),
            ]
            .concat(),
            name: String::new(),
            root_main: has("__main__.py"),
            main_package: main_package(dir)?,
            script_file,
        };
        Ok(Some(PythonProject {
            marker,
            pyproject: py,
            has_pyproject,
            versions,
            name,
            packaged,
            deps,
            local,
            workspace,
            entry,
        }))
    }
}

/// Every place the project states its Python version.
fn version_specs(
    dir: &Path,
    pyproject: Option<&toml::Table>,
    pipfile: Option<&toml::Table>,
) -> Result<Vec<VersionSpec>, DetectError> {
    let mut specs = Vec::new();
    let mut push = |file, spec: &str, pinned| {
        specs.push(VersionSpec {
            file,
            spec: spec.to_string(),
            pinned,
        })
    };
    if let Some(py) = pyproject {
        if let Some(s) = project::get_str(py, "project.requires-python") {
            push("pyproject.toml", s, false);
        }
        if let Some(s) = project::get_str(py, "tool.poetry.dependencies.python") {
            push("pyproject.toml", s, false);
        }
    }
    if let Some(p) = pipfile
        && let Some(s) = project::get_str(p, "requires.python_version")
            .or_else(|| project::get_str(p, "requires.python_full_version"))
    {
        push("Pipfile", s, true);
    }
    let pv = dir.join(".python-version");
    if pv.is_file() {
        let text = project::read(&pv)?;
        if let Some(line) = text
            .lines()
            .map(str::trim)
            .find(|l| !l.is_empty() && !l.starts_with('#'))
        {
            push(".python-version", line, true);
        }
    }
    Ok(specs)
}

/// The pinned requirements text of the project's lock (poetry.lock, uv.lock, Pipfile.lock),
/// as `lade python-requirements` writes it for pip: read again from the files when the step
/// runs, so the plan carries the lock's path rather than its text.
pub fn locked_requirements(dir: &Path) -> Result<String, DetectError> {
    let py = if dir.join("pyproject.toml").is_file() {
        project::read_toml(&dir.join("pyproject.toml"))?
    } else {
        toml::Table::new()
    };
    match dependencies(dir, &py, dir.join("Pipfile").is_file())?.deps {
        Deps::Locked { text, .. } => Ok(text),
        _ => Err(DetectError::Unsupported(format!(
            "{}: no poetry.lock, uv.lock or Pipfile.lock to install from",
            dir.display()
        ))),
    }
}

pub(super) fn dependencies(
    dir: &Path,
    py: &toml::Table,
    pipfile: bool,
) -> Result<Dependencies, DetectError> {
    let invalid = |file: &Path| {
        let file = file.to_path_buf();
        move |detail: String| DetectError::Invalid { file, detail }
    };
    let plain = |deps| Dependencies {
        deps,
        local: Vec::new(),
        workspace: None,
    };
    if dir.join("poetry.lock").is_file() {
        let path = dir.join("poetry.lock");
        let lock = project::read_toml(&path)?;
        let locked =
            locks::poetry(&lock, &project::main_dependency_names(py)).map_err(invalid(&path))?;
        return locked_deps("poetry.lock".into(), &path, locked, None);
    }
    if dir.join("uv.lock").is_file() {
        let path = dir.join("uv.lock");
        let lock = project::read_toml(&path)?;
        let locked = locks::uv(&lock, ".").map_err(invalid(&path))?;
        return locked_deps("uv.lock".into(), &path, locked, None);
    }
    if dir.join("Pipfile.lock").is_file() {
        let path = dir.join("Pipfile.lock");
        let lock: serde_json::Value =
            serde_json::from_str(&project::read(&path)?).map_err(|e| DetectError::Invalid {
                file: path.clone(),
                detail: format!("line {}, column {}: {e}", e.line(), e.column()),
            })?;
        let pins = locks::pipfile(&lock).map_err(invalid(&path))?;
        let locked = locks::Locked {
            pins,
            local: Vec::new(),
        };
        return locked_deps("Pipfile.lock".into(), &path, locked, None);
    }
    if dir.join("pyproject.toml").is_file()
        && let Some(ws) = UvWorkspace::find(dir)?
    {
        let path = ws.lock();
        if !path.is_file() {
            return Err(DetectError::Unsupported(format!(
                "{}: {} is a uv workspace member, but the workspace has no uv.lock; run `uv lock` in {} so the image installs exactly what was locked",
                ws.root.join("pyproject.toml").display(),
                ws.member,
                ws.root.display()
            )));
        }
        let lock = project::read_toml(&path)?;
        let locked = locks::uv(&lock, &ws.member).map_err(invalid(&path))?;
        let up = "../".repeat(Path::new(&ws.member).components().count());
        return locked_deps(format!("{up}uv.lock"), &path, locked, Some(ws));
    }
    if dir.join("requirements.txt").is_file() {
        return Ok(plain(Deps::File(dir.join("requirements.txt"))));
    }
    if pipfile {
        return Err(DetectError::Unsupported(format!(
            "{}: a Pipfile without Pipfile.lock; run `pipenv lock` so the image installs exactly what was tested",
            dir.join("Pipfile").display()
        )));
    }
    if !project::keys(py, "tool.poetry.dependencies")
        .iter()
        .all(|k| k == "python")
    {
        return Err(DetectError::Unsupported(format!(
            "{}: poetry dependencies without poetry.lock; run `poetry lock`",
            dir.join("pyproject.toml").display()
        )));
    }
    let list = project::pep621_dependencies(py);
    Ok(plain(if list.is_empty() {
        Deps::None
    } else {
        Deps::List(list)
    }))
}

/// A lock's pins and local packages as the project's dependencies. Local packages' paths are
/// relative to the lock's directory; each must be a directory pip can build (a pyproject.toml
/// or setup.py). A lock whose only packages are local installs nothing from the index.
fn locked_deps(
    from: String,
    lock: &Path,
    locked: locks::Locked,
    workspace: Option<UvWorkspace>,
) -> Result<Dependencies, DetectError> {
    let base = lock.parent().unwrap_or(Path::new("."));
    let mut local = Vec::new();
    for l in locked.local {
        let dir = crate::detect::files::lexical_normalize(&base.join(&l.path));
        if !dir.join("pyproject.toml").is_file() && !dir.join("setup.py").is_file() {
            return Err(DetectError::Invalid {
                file: lock.to_path_buf(),
                detail: format!(
                    "package '{}' is taken from {} ({}), which has no pyproject.toml or setup.py to build it from",
                    l.name,
                    l.path,
                    dir.display()
                ),
            });
        }
        local.push(LocalPackage { name: l.name, dir });
    }
    let deps = if locked.pins.is_empty() && !local.is_empty() {
        Deps::None
    } else {
        Deps::Locked {
            from,
            lock: lock.to_path_buf(),
            text: locks::requirements_text(&locked.pins),
        }
    };
    Ok(Dependencies {
        deps,
        local,
        workspace,
    })
}

/// A package directory (`pkg/` or `src/pkg/`) with a `__main__.py`, when there is exactly one.
fn main_package(dir: &Path) -> Result<Option<String>, DetectError> {
    let mut found = Vec::new();
    for base in [dir.to_path_buf(), dir.join("src")] {
        for name in dir_names(&base, |n, p| {
            !n.starts_with('.')
                && p.join("__main__.py").is_file()
                && p.join("__init__.py").is_file()
        })? {
            found.push(name);
        }
    }
    Ok((found.len() == 1).then(|| found.remove(0)))
}
