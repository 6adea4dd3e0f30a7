//! Python: requirements.txt, pyproject.toml (PEP 621, poetry, uv, hatch, setuptools), Pipfile,
//! setup.py, or a lone main.py/app.py/server.py.
//!
//! Per platform the plan runs the host's `python3 -m pip` into lade's build directory (never
//! the project tree):
//! - dependencies go to `<out>/deps` with `pip install --target --no-compile`. For a platform
//!   other than the host's, pip is told the target (`--platform manylinux2014_<arch>
//!   --python-version 3.11 --implementation cp --abi cp311`), so native packages come as that
//!   platform's wheels. Unlocked requirements need `--only-binary=:all:` there (pip refuses a
//!   foreign platform otherwise), so a source-only dependency fails with pip naming it. Locked
//!   installs use `--no-deps`, which lets pip build a source-only dependency on the host; that
//!   is right for pure Python, and a helper step then checks every ELF file's machine, failing
//!   with the distribution's name when native code was built for the host's CPU.
//! - Locks (poetry.lock, uv.lock, Pipfile.lock) are read here and turned into a pinned
//!   requirements text with hashes; the plan carries that text, and a helper step writes it to
//!   the build directory before `pip install --require-hashes --no-deps` reads it. So the file
//!   pip sees is exactly what `lade plan` shows, and poetry/pipenv/uv are not needed.
//! - A project with a build backend (`[build-system]`, or setup.py) is built with
//!   `pip wheel --no-deps` from a copy of the tree and installed to `<out>/project`; any other
//!   project's files are copied to /app through .dockerignore.
//! - A helper step then strips what would make the layer differ between runs or hosts:
//!   `__pycache__`, `direct_url.json`, and console-script shebangs naming the host python,
//!   which are rewritten to the base's /usr/bin/python3 so `gunicorn` runs from PATH. No
//!   bytecode is compiled (timestamp-based .pyc files would break reproducibility);
//!   PYTHONDONTWRITEBYTECODE keeps the interpreter from trying at run time.
//!
//! The dependency install (clean, pip, normalize, check) is skipped while a hash of its
//! commands and the requirements' text equals that of the last finished install for the
//! platform (a requirements file that includes others with `-r`/`-c` always installs).
//!
//! Layers: dependencies (/app/.deps) below the application, so a source change leaves the
//! dependency layer byte-identical and the layer cache reuses it.

mod entry;
mod locks;
mod project;
mod steps;
mod version;

use super::{DetectError, Detector, Project, tree_entries};
use crate::plan::{FileEntry, ImageConfigPatch, Plan, Reason};
use std::path::{Path, PathBuf};

pub use entry::PYTHON;
pub use locks::normalize_name;
pub use version::BASE_PYTHON;

pub struct PythonDetector;

/// The default base: a Python 3.11 runtime (Debian 12).
pub const DEFAULT_BASE: &str = "gcr.io/distroless/python3-debian12:nonroot";
/// Where the application's files go.
pub const APP_DIR: &str = "/app";
/// site-packages of the dependencies.
pub const DEPS_DIR: &str = "/app/.deps";
/// site-packages holding the project's own wheel, for packaged projects.
pub const PROJECT_DIR: &str = "/app/.project";
/// The host interpreter that runs pip.
const HOST_PYTHON: &str = "python3";

const SCRIPT_FILES: [&str; 3] = ["main.py", "app.py", "server.py"];

/// Where the dependencies come from.
#[derive(Clone, Debug, PartialEq)]
enum Deps {
    None,
    /// A pinned requirements text (from a lock), installed with --require-hashes --no-deps.
    Locked {
        from: String,
        text: String,
    },
    /// The project's requirements file, installed as is.
    File(PathBuf),
    /// Requirement strings (PEP 621 `dependencies` without a lock).
    List(Vec<String>),
}

impl Detector for PythonDetector {
    fn name(&self) -> &'static str {
        "python"
    }

    fn looks_for(&self) -> &'static str {
        "requirements.txt, pyproject.toml, Pipfile, setup.py or main.py/app.py/server.py (Python)"
    }

    fn detect(&self, project: &Project) -> Result<Option<Plan>, DetectError> {
        let dir = project.dir;
        let has = |f: &str| dir.join(f).is_file();
        let script_file = SCRIPT_FILES.iter().find(|f| has(f)).map(|f| f.to_string());
        let markers = ["requirements.txt", "pyproject.toml", "Pipfile", "setup.py"];
        let Some(marker) = markers
            .iter()
            .map(|m| m.to_string())
            .find(|m| has(m))
            .or_else(|| script_file.clone())
        else {
            return Ok(None);
        };
        let mut reasons = vec![Reason {
            file: marker.clone(),
            why: "Python project".into(),
        }];

        let pyproject = if has("pyproject.toml") {
            Some(project::read_toml(&dir.join("pyproject.toml"))?)
        } else {
            None
        };
        let pipfile = if has("Pipfile") {
            Some(project::read_toml(&dir.join("Pipfile"))?)
        } else {
            None
        };
        check_python_version(dir, pyproject.as_ref(), pipfile.as_ref(), &mut reasons)?;

        let py = pyproject.clone().unwrap_or_default();
        let name = project
            .config
            .name
            .clone()
            .or_else(|| project::get_str(&py, "project.name").map(str::to_string))
            .or_else(|| project::get_str(&py, "tool.poetry.name").map(str::to_string))
            .unwrap_or_else(|| {
                dir.file_name()
                    .map_or_else(|| "app".into(), |n| n.to_string_lossy().into_owned())
            });
        let packaged = (project::get(&py, "build-system.build-backend").is_some()
            && project::get(&py, "tool.poetry.package-mode").and_then(|v| v.as_bool())
                != Some(false))
            || has("setup.py");
        let deps = dependencies(dir, &py, pipfile.is_some())?;
        match &deps {
            Deps::Locked { from, .. } => reasons.push(Reason {
                file: from.clone(),
                why: "locked dependencies, installed with --require-hashes".into(),
            }),
            Deps::File(_) => reasons.push(Reason {
                file: "requirements.txt".into(),
                why: "dependencies".into(),
            }),
            Deps::List(l) => reasons.push(Reason {
                file: "pyproject.toml".into(),
                why: format!(
                    "{} dependencies from [project.dependencies] (no lock file)",
                    l.len()
                ),
            }),
            Deps::None => {}
        }
        if packaged {
            reasons.push(Reason {
                file: if pyproject.is_some() {
                    "pyproject.toml"
                } else {
                    "setup.py"
                }
                .into(),
                why: format!("a package with a build backend: built as a wheel into {PROJECT_DIR}"),
            });
        }

        let candidates = entry::Candidates {
            procfile: if has("Procfile") {
                Some(project::read(&dir.join("Procfile"))?)
            } else {
                None
            },
            scripts: [
                project::keys(&py, "project.scripts"),
                project::keys(&py, "tool.poetry.scripts"),
            ]
            .concat(),
            name: name.clone(),
            root_main: has("__main__.py"),
            main_package: main_package(dir)?,
            script_file,
        };
        let configured = project.config.entrypoint.is_some();
        let choice = match entry::choose(&candidates, APP_DIR) {
            Ok(c) => Some(c),
            Err(_) if configured => None,
            Err(why) => {
                return Err(DetectError::Unsupported(format!(
                    "{}: {why}",
                    dir.display()
                )));
            }
        };
        if let Some(c) = &choice {
            reasons.push(Reason {
                file: c.from.clone(),
                why: format!("entrypoint {}", c.argv.join(" ")),
            });
        }

        let (app_entries, excluded) = if packaged {
            (Vec::new(), Vec::new())
        } else {
            let (entries, mut excluded) =
                tree_entries(dir, Path::new(""), APP_DIR, project.filter)?;
            let (kept, dropped) = without_local_state(entries);
            excluded.extend(dropped);
            (kept, excluded)
        };
        let dist_name = locks::normalize_name(
            project::get_str(&py, "project.name")
                .or_else(|| project::get_str(&py, "tool.poetry.name"))
                .unwrap_or(&name),
        );
        let targets = project
            .platforms
            .iter()
            .map(|p| {
                let out = project.out_dir_for(p);
                steps::target(
                    p,
                    &out,
                    dir,
                    &deps,
                    packaged.then_some(&dist_name),
                    &app_entries,
                )
            })
            .collect();

        let mut config = ImageConfigPatch {
            entrypoint: choice.map(|c| c.argv),
            workdir: Some(APP_DIR.into()),
            ..Default::default()
        };
        let mut pythonpath = vec![if packaged { PROJECT_DIR } else { APP_DIR }];
        let mut path = Vec::new();
        if packaged {
            path.push(format!("{PROJECT_DIR}/bin"));
        }
        if deps != Deps::None {
            pythonpath.push(DEPS_DIR);
            path.push(format!("{DEPS_DIR}/bin"));
        }
        path.push("/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin".into());
        config.env.insert("PYTHONPATH".into(), pythonpath.join(":"));
        config.env.insert("PATH".into(), path.join(":"));
        config
            .env
            .insert("PYTHONDONTWRITEBYTECODE".into(), "1".into());
        config.env.insert("PYTHONUNBUFFERED".into(), "1".into());

        Ok(Some(Plan {
            detector: self.name().into(),
            reasons: merge_reasons(reasons),
            name,
            project_dir: dir.to_path_buf(),
            targets,
            config,
            base: DEFAULT_BASE.into(),
            excluded,
        }))
    }
}

/// One reason per file, its findings joined, so the summary names each file once.
fn merge_reasons(reasons: Vec<Reason>) -> Vec<Reason> {
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

/// Checks every place a project states its Python version against the base's.
fn check_python_version(
    dir: &Path,
    pyproject: Option<&toml::Table>,
    pipfile: Option<&toml::Table>,
    reasons: &mut Vec<Reason>,
) -> Result<(), DetectError> {
    let base = version::base_python_text();
    let mut specs: Vec<(&str, String, bool)> = Vec::new();
    if let Some(py) = pyproject {
        if let Some(s) = project::get_str(py, "project.requires-python") {
            specs.push(("pyproject.toml", s.to_string(), false));
        }
        if let Some(s) = project::get_str(py, "tool.poetry.dependencies.python") {
            specs.push(("pyproject.toml", s.to_string(), false));
        }
    }
    if let Some(p) = pipfile
        && let Some(s) = project::get_str(p, "requires.python_version")
            .or_else(|| project::get_str(p, "requires.python_full_version"))
    {
        specs.push(("Pipfile", s.to_string(), true));
    }
    let pv = dir.join(".python-version");
    if pv.is_file() {
        let text = project::read(&pv)?;
        if let Some(line) = text
            .lines()
            .map(str::trim)
            .find(|l| !l.is_empty() && !l.starts_with('#'))
        {
            specs.push((".python-version", line.to_string(), true));
        }
    }
    for (file, spec, pinned) in specs {
        let ok = if pinned {
            version::pinned_matches(&spec, &BASE_PYTHON)
        } else {
            version::satisfies(&spec, &BASE_PYTHON)
        }
        .map_err(|detail| DetectError::Invalid {
            file: dir.join(file),
            detail,
        })?;
        if !ok {
            return Err(DetectError::Unsupported(format!(
                "{}: the project asks for Python {spec}, but the base image runs Python {base}; change the requirement or use a base with a matching Python",
                dir.join(file).display()
            )));
        }
        reasons.push(Reason {
            file: file.into(),
            why: format!("Python {spec} (the base has {base})"),
        });
    }
    Ok(())
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
    match dependencies(dir, &py, dir.join("Pipfile").is_file())? {
        Deps::Locked { text, .. } => Ok(text),
        _ => Err(DetectError::Unsupported(format!(
            "{}: no poetry.lock, uv.lock or Pipfile.lock to install from",
            dir.display()
        ))),
    }
}

fn dependencies(dir: &Path, py: &toml::Table, pipfile: bool) -> Result<Deps, DetectError> {
    let invalid = |file: &str| {
        let file = dir.join(file);
        move |detail: String| DetectError::Invalid { file, detail }
    };
    let locked = |from: &str, pins: Vec<locks::Pin>| Deps::Locked {
        from: from.into(),
        text: locks::requirements_text(&pins),
    };
    if dir.join("poetry.lock").is_file() {
        let lock = project::read_toml(&dir.join("poetry.lock"))?;
        let pins = locks::poetry(&lock, &project::main_dependency_names(py))
            .map_err(invalid("poetry.lock"))?;
        return Ok(locked("poetry.lock", pins));
    }
    if dir.join("uv.lock").is_file() {
        let lock = project::read_toml(&dir.join("uv.lock"))?;
        return Ok(locked(
            "uv.lock",
            locks::uv(&lock).map_err(invalid("uv.lock"))?,
        ));
    }
    if dir.join("Pipfile.lock").is_file() {
        let path = dir.join("Pipfile.lock");
        let lock: serde_json::Value =
            serde_json::from_str(&project::read(&path)?).map_err(|e| DetectError::Invalid {
                file: path.clone(),
                detail: format!("line {}, column {}: {e}", e.line(), e.column()),
            })?;
        return Ok(locked(
            "Pipfile.lock",
            locks::pipfile(&lock).map_err(invalid("Pipfile.lock"))?,
        ));
    }
    if dir.join("requirements.txt").is_file() {
        return Ok(Deps::File(dir.join("requirements.txt")));
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
    Ok(if list.is_empty() {
        Deps::None
    } else {
        Deps::List(list)
    })
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

fn without_local_state(entries: Vec<FileEntry>) -> (Vec<FileEntry>, Vec<crate::plan::Excluded>) {
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

/// A package directory (`pkg/` or `src/pkg/`) with a `__main__.py`, when there is exactly one.
fn main_package(dir: &Path) -> Result<Option<String>, DetectError> {
    let mut found = Vec::new();
    for base in [dir.to_path_buf(), dir.join("src")] {
        for name in super::dir_names(&base, |n, p| {
            !n.starts_with('.')
                && p.join("__main__.py").is_file()
                && p.join("__init__.py").is_file()
        })? {
            found.push(name);
        }
    }
    Ok((found.len() == 1).then(|| found.remove(0)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::EntryKind;

    #[test]
    fn reasons_name_each_file_once() {
        let r = |f: &str, w: &str| Reason {
            file: f.into(),
            why: w.into(),
        };
        let merged = merge_reasons(vec![
            r("Pipfile", "a"),
            r("main.py", "b"),
            r("Pipfile", "c"),
        ]);
        assert_eq!(merged, vec![r("Pipfile", "a; c"), r("main.py", "b")]);
    }

    #[test]
    fn local_state_is_not_copied() {
        let e = |t: &str| FileEntry {
            target: t.into(),
            mode: 0o644,
            kind: EntryKind::Dir,
        };
        let (kept, dropped) = without_local_state(vec![
            e("/app/main.py"),
            e("/app/.venv"),
            e("/app/.venv/bin/python"),
            e("/app/pkg/__pycache__"),
            e("/app/pkg/__pycache__/m.cpython-311.pyc"),
            e("/app/pkg/m.py"),
            e("/app/old.pyc"),
            e("/app/lade-out"),
        ]);
        let kept: Vec<&str> = kept.iter().map(|e| e.target.as_str()).collect();
        assert_eq!(kept, ["/app/main.py", "/app/pkg/m.py"]);
        let dropped: Vec<&str> = dropped.iter().map(|e| e.path.as_str()).collect();
        assert_eq!(dropped, [".venv", "pkg/__pycache__", "lade-out"]);
    }
}
