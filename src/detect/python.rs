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
//! - Packages a lock takes from directories — members of a uv workspace (the project is found
//!   to be one by looking upward for a pyproject.toml whose `[tool.uv.workspace]` lists it; the
//!   root's uv.lock then locks it) and uv or poetry path dependencies — are each copied out of
//!   the tree, built with `pip wheel --no-deps` and installed to `<out>/local`; their own
//!   dependencies come from the lock like the project's. Nothing of a workspace member the
//!   project does not need is read.
//!
//! Layers: dependencies (/app/.deps), then local packages (/app/.workspace), below the application, so a source change leaves the
//! dependency layer byte-identical and the layer cache reuses it.

//!
//! `facts` reads the project (with `project`, `locks`, `entry`), `planner` turns it into a
//! plan with `steps`, checking its Python against the base's (`version`).

mod entry;
mod facts;
mod locks;
mod planner;
mod project;
mod steps;
mod version;
mod workspace;

use super::{DetectError, Detector, Project};
use crate::plan::Plan;
use facts::Deps;

pub use entry::PYTHON;
pub use facts::{PythonProject, locked_requirements};
pub use locks::normalize_name;
pub use version::{WHEEL_PYTHON, holds as python_requirement_holds};

pub struct PythonDetector;

/// The default base: a Python 3.11 runtime (Debian 12).
pub const DEFAULT_BASE: &str = "gcr.io/distroless/python3-debian12:nonroot";
/// Where the application's files go.
pub const APP_DIR: &str = "/app";
/// site-packages of the dependencies.
pub const DEPS_DIR: &str = "/app/.deps";
/// site-packages of the packages built from directories: uv workspace members and path
/// dependencies the project needs.
pub const LOCAL_DIR: &str = "/app/.workspace";
/// site-packages holding the project's own wheel, for packaged projects.
pub const PROJECT_DIR: &str = "/app/.project";
/// The host interpreter that runs pip.
const HOST_PYTHON: &str = "python3";

impl Detector for PythonDetector {
    fn name(&self) -> &'static str {
        "python"
    }

    fn looks_for(&self) -> &'static str {
        "requirements.txt, pyproject.toml, Pipfile, setup.py or main.py/app.py/server.py (Python)"
    }

    fn detect(&self, project: &Project) -> Result<Option<Plan>, DetectError> {
        match PythonProject::read(project.dir)? {
            Some(py) => planner::plan(&py, project).map(Some),
            None => Ok(None),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::planner::{merge_reasons, without_local_state};
    use super::*;
    use crate::plan::EntryKind;
    use crate::plan::{FileEntry, Reason};

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

    #[test]
    fn facts_of_a_pyproject_with_a_requirements_file() {
        let t = tempfile::tempdir().unwrap();
        let write = |f: &str, text: &str| {
            let p = t.path().join(f);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, text).unwrap();
        };
        write(
            "pyproject.toml",
            "[project]\nname = \"Web-App\"\nrequires-python = \">=3.9\"\n[project.scripts]\nweb = \"web:main\"\n",
        );
        write("requirements.txt", "flask\n");
        write(".python-version", "# pinned\n3.11\n");
        write("web/__init__.py", "");
        write("web/__main__.py", "");
        let py = PythonProject::read(t.path()).unwrap().unwrap();
        assert_eq!(py.marker, "requirements.txt");
        assert_eq!(py.name.as_deref(), Some("Web-App"));
        assert!(!py.packaged && py.has_pyproject);
        assert_eq!(py.deps, Deps::File(t.path().join("requirements.txt")));
        let versions: Vec<(&str, &str, bool)> = py
            .versions
            .iter()
            .map(|v| (v.file, v.spec.as_str(), v.pinned))
            .collect();
        assert_eq!(
            versions,
            [
                ("pyproject.toml", ">=3.9", false),
                (".python-version", "3.11", true)
            ]
        );
        assert_eq!(py.entry.scripts, ["web"]);
        assert_eq!(py.entry.main_package.as_deref(), Some("web"));
        let empty = tempfile::tempdir().unwrap();
        assert!(PythonProject::read(empty.path()).unwrap().is_none());
    }

    /// A uv workspace member without a lock of its own is locked by the root's uv.lock, from
    /// its own entry; a uv path dependency of the root project is a local package too.
    #[test]
    fn facts_of_a_uv_workspace_member_and_a_path_dependency() {
        let t = tempfile::tempdir().unwrap();
        let write = |f: &str, text: &str| {
            let p = t.path().join(f);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, text).unwrap();
        };
        let pkg = |name: &str, source: &str, deps: &str| {
            format!(
                "[[package]]\nname = \"{name}\"\nversion = \"1\"\nsource = {source}\ndependencies = [{deps}]\n"
            )
        };
        write(
            "ws/pyproject.toml",
            "[project]\nname = \"root\"\ndependencies = [\"tool\"]\n[tool.uv.workspace]\nmembers = [\"apps/*\", \"libs/*\"]\n[tool.uv.sources]\ntool = { path = \"../tool\" }\n",
        );
        write("ws/main.py", "");
        write("ws/apps/web/pyproject.toml", "[project]\nname = \"web\"\n");
        write("ws/apps/web/main.py", "");
        write(
            "ws/libs/core/pyproject.toml",
            "[project]\nname = \"core\"\n",
        );
        let lock = [
            pkg("root", "{ virtual = \".\" }", "{ name = \"tool\" }"),
            pkg("tool", "{ directory = \"../tool\" }", ""),
            pkg("web", "{ virtual = \"apps/web\" }", "{ name = \"core\" }"),
            pkg("core", "{ editable = \"libs/core\" }", ""),
        ]
        .concat();
        write("ws/uv.lock", &format!("version = 1\n{lock}"));

        let web = PythonProject::read(&t.path().join("ws/apps/web"))
            .unwrap()
            .unwrap();
        assert_eq!(web.workspace.as_ref().unwrap().member, "apps/web");
        assert_eq!(web.deps, Deps::None, "nothing from the index");
        let local = |py: &PythonProject| -> Vec<(String, std::path::PathBuf)> {
            py.local
                .iter()
                .map(|l| (l.name.clone(), l.dir.clone()))
                .collect()
        };
        assert_eq!(
            local(&web),
            [("core".into(), t.path().join("ws/libs/core"))]
        );

        // The root's path dependency has nothing to build from: the lock and path are named.
        let e = PythonProject::read(&t.path().join("ws"))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("uv.lock") && e.contains("'tool'") && e.contains("../tool"),
            "{e}"
        );
        write("tool/setup.py", "");
        let root = PythonProject::read(&t.path().join("ws")).unwrap().unwrap();
        assert_eq!(root.workspace, None, "the root locks itself");
        assert_eq!(local(&root), [("tool".into(), t.path().join("tool"))]);
    }
}
