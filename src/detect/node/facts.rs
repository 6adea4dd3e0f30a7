//! What a Node project is, as its files say: package.json (or a lone script), the package
//! manager its lockfile picks, how it starts and the files an install reads. Nothing here
//! decides what goes into an image.

use super::package::{self, Manager, PackageJson, Start};
use super::workspace::Workspace;
use crate::detect::DetectError;
use std::path::Path;

/// Files run as the app when there is no package.json, or nothing in it says how to start.
pub const DEFAULT_FILES: &[&str] = &["server.js", "index.js", "app.js"];

/// Files the package managers read when installing (besides the lockfile); copied to the
/// staging directories when present. `.npmrc` may hold registry credentials: it is used on the
/// host and never reaches a layer.
const INSTALL_FILES: &[&str] = &[
    "package.json",
    ".npmrc",
    ".yarnrc",
    ".yarnrc.yml",
    "pnpm-workspace.yaml",
    ".pnpmfile.cjs",
    "patches",
    ".yarn/releases",
    ".yarn/plugins",
    ".yarn/patches",
];

#[derive(Clone, Debug)]
pub struct NodeProject {
    /// package.json; empty for a lone script.
    pub package: PackageJson,
    /// The project has a package.json.
    pub has_package_json: bool,
    /// Without package.json: the script that makes it a Node project.
    pub script: Option<String>,
    pub manager: Manager,
    /// The lockfile that decided the manager.
    pub lockfile: Option<String>,
    /// How the app starts, when something says.
    pub start: Option<Start>,
    /// What the choice of manager passed over (several lockfiles, another packageManager).
    pub manager_notes: Vec<String>,
    /// Start commands passed over, and why.
    pub start_notes: Vec<String>,
    /// The install files (and lockfile) the project has, relative to [`NodeProject::install_root`].
    pub install_files: Vec<String>,
    /// The npm workspace the package belongs to, when its lockfile is the workspace root's.
    pub workspace: Option<Workspace>,
    /// An npm lockfile and package.json, as text, outside a workspace: what decides whether
    /// lade may install from npm's cache itself (`npm_lock`).
    pub npm_lock: Option<NpmLockText>,
}

#[derive(Clone, Debug)]
pub struct NpmLockText {
    pub lockfile: String,
    pub package_json: String,
}

impl NodeProject {
    /// The project in `dir`; `None` when it has neither package.json nor a default script.
    pub fn read(dir: &Path) -> Result<Option<NodeProject>, DetectError> {
        let pkg_path = dir.join("package.json");
        let has_package_json = pkg_path.is_file();
        let mut script = None;
        let package = if has_package_json {
            PackageJson::parse(&read(&pkg_path)?, &pkg_path)?
        } else {
            match DEFAULT_FILES.iter().find(|f| dir.join(f).is_file()) {
                Some(f) => {
                    script = Some(f.to_string());
                    PackageJson::default()
                }
                None => return Ok(None),
            }
        };
        let has_lockfile = |d: &Path| package::LOCKFILES.iter().any(|l| d.join(l).is_file());
        // A package without a lockfile of its own may be a workspace package: then the
        // workspace root's lockfile and install files decide.
        let workspace = match has_package_json && !has_lockfile(dir) {
            true => Workspace::find(dir, &package)?,
            false => None,
        };
        let install_dir = workspace.as_ref().map_or(dir, |w| w.root.as_path());
        let lockfiles: Vec<&str> = package::LOCKFILES
            .iter()
            .copied()
            .filter(|l| install_dir.join(l).is_file())
            .collect();
        let yarn_lock_head = if lockfiles.contains(&"yarn.lock") {
            read(&install_dir.join("yarn.lock"))?
                .chars()
                .take(2048)
                .collect()
        } else {
            String::new()
        };
        let (manager, lockfile, manager_notes) = package::choose_manager(
            &lockfiles,
            declared_manager(&package, workspace.as_ref()),
            &yarn_lock_head,
            install_dir.join(".yarnrc.yml").is_file(),
        );
        let procfile = match dir.join("Procfile") {
            p if p.is_file() => Some(read(&p)?),
            _ => None,
        };
        let (start, start_notes) =
            package::choose_start(procfile.as_deref(), &package, DEFAULT_FILES, |f| {
                dir.join(f).is_file()
            });
        let mut install_files: Vec<String> = INSTALL_FILES
            .iter()
            .copied()
            .chain(lockfile.as_deref())
            .filter(|f| install_dir.join(f).exists())
            .map(str::to_string)
            .collect();
        if let Some(w) = &workspace {
            install_files.extend(w.manifests());
        }
        let npm_lock = match (&manager, &lockfile, &workspace) {
            (Manager::Npm { locked: true }, Some(l), None) => Some(NpmLockText {
                lockfile: read(&dir.join(l))?,
                package_json: read(&pkg_path)?,
            }),
            _ => None,
        };
        Ok(Some(NodeProject {
            npm_lock,
            package,
            has_package_json,
            script,
            manager,
            lockfile,
            start,
            manager_notes,
            start_notes,
            install_files,
            workspace,
        }))
    }

    /// `packageManager`: the workspace root's, else the package's own.
    pub fn declared_manager(&self) -> Option<&str> {
        declared_manager(&self.package, self.workspace.as_ref())
    }

    /// Where the install runs from: the workspace root, else the project itself.
    pub fn install_root<'a>(&'a self, dir: &'a Path) -> &'a Path {
        self.workspace.as_ref().map_or(dir, |w| w.root.as_path())
    }
}

fn declared_manager<'a>(package: &'a PackageJson, ws: Option<&'a Workspace>) -> Option<&'a str> {
    ws.and_then(|w| w.package_manager.as_deref())
        .or(package.package_manager.as_deref())
}

fn read(path: &Path) -> Result<String, DetectError> {
    std::fs::read_to_string(path).map_err(|source| DetectError::Read {
        path: path.to_path_buf(),
        source,
    })
}
