//! `lade node-finish`: run after a production install, in its staging directory.
//! 1. Package managers leave bookkeeping in node_modules that the app never reads and that may
//!    hold timestamps or absolute paths (pnpm's .modules.yaml has `prunedAt`); removing it
//!    keeps the dependency layer byte-identical for the same lockfile and platform.
//! 2. A package that compiles native code at install time (binding.gyp or `gypfile: true`)
//!    cannot be built for another architecture here: its install scripts did not run (lade
//!    passes --ignore-scripts for a foreign platform), so this fails, naming the packages,
//!    rather than ship an image that crashes on require(). For the host's platform the scripts
//!    may still have been skipped (npm 11 runs a dependency's install scripts only when
//!    approved): a package with no compiled .node file fails the same way, saying how to
//!    approve it.
//! 3. In an npm, pnpm or yarn workspace, a package's own node_modules exists only when npm put something in
//!    it; each staged package gets one, so the plan can place it whether or not npm did.
//! 4. A yarn berry install is checked against yarn.lock (`yarn_lock`): its production install
//!    cannot be made immutable by a flag.

use super::TaskError;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

const BOOKKEEPING: &[&str] = &[
    ".package-lock.json",
    ".modules.yaml",
    ".yarn-integrity",
    ".yarn-state.yml",
    ".package-map.json",
    ".pnpm-workspace-state.json",
    ".pnpm-workspace-state-v1.json",
    ".pnpm/lock.yaml",
    ".cache",
];

/// Tidies `dir/node_modules` and checks its native packages for `platform` (`linux/arm64`);
/// `native` says the install was for the host itself, so install scripts could run.
pub fn finish(dir: &Path, platform: &str, host: &str, native: bool) -> Result<(), TaskError> {
    let root = dir.join("node_modules");
    std::fs::create_dir_all(&root).map_err(TaskError::io("creating", &root))?;
    workspace_modules(dir)?;
    // Before the bookkeeping goes: yarn's own record of what it installed is what is checked.
    super::yarn_lock::check(dir)?;
    for f in BOOKKEEPING {
        let p = root.join(f);
        let gone = match std::fs::symlink_metadata(&p) {
            Ok(m) if m.is_dir() => std::fs::remove_dir_all(&p),
            Ok(_) => std::fs::remove_file(&p),
            Err(_) => Ok(()),
        };
        gone.map_err(TaskError::io("removing", &p))?;
    }
    let arch = platform.split('/').nth(1).unwrap_or_default();
    let mut scan = Scan {
        dir,
        arch,
        native,
        seen: BTreeSet::new(),
        found: Vec::new(),
    };
    scan.visit(&root);
    if scan.found.is_empty() {
        return Ok(());
    }
    let names = scan.found.join(", ");
    let verb = if scan.found.len() == 1 {
        "compiles"
    } else {
        "compile"
    };
    Err(TaskError::Refused(if native {
        format!(
            "{names} {verb} native code at install time, but no compiled addon was found: its install script did not run. npm 11 and pnpm 10 run a dependency's install scripts only when approved: run `npm install-scripts approve <package>` (allowScripts in package.json) or `pnpm approve-builds`, then publish again."
        )
    } else {
        format!(
            "{names} {verb} native code at install time (binding.gyp) and cannot be built for {platform} on this {host} machine without emulation. Build the {platform} image on a {platform} machine, leave {platform} out of the platforms, or use a package that ships prebuilt binaries."
        )
    }))
}

/// Creates node_modules in every staged workspace package (a directory below `dir` with a
/// package.json), when `dir/package.json` lists workspaces or pnpm-workspace.yaml is there.
fn workspace_modules(dir: &Path) -> Result<(), TaskError> {
    let manifest = dir.join("package.json");
    let is_workspace = std::fs::read(&manifest)
        .ok()
        .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
        .is_some_and(|v| !v["workspaces"].is_null())
        || dir.join("pnpm-workspace.yaml").is_file();
    if !is_workspace {
        return Ok(());
    }
    let walk = walkdir::WalkDir::new(dir)
        .min_depth(1)
        .into_iter()
        .filter_entry(|e| e.file_type().is_dir() && e.file_name() != "node_modules");
    for e in walk {
        let e = e.map_err(|err| TaskError::io("listing", dir)(err.into()))?;
        if e.path().join("package.json").is_file() {
            let m = e.path().join("node_modules");
            std::fs::create_dir_all(&m).map_err(TaskError::io("creating", &m))?;
        }
    }
    Ok(())
}

struct Scan<'a> {
    dir: &'a Path,
    arch: &'a str,
    native: bool,
    /// Real paths already checked: pnpm links one package from many places.
    seen: BTreeSet<PathBuf>,
    found: Vec<String>,
}

impl Scan<'_> {
    fn visit(&mut self, dir: &Path) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        let mut entries: Vec<_> = entries.filter_map(Result::ok).collect();
        entries.sort_by_key(|e| e.file_name());
        for e in entries {
            let p = e.path();
            let Ok(kind) = e.file_type() else { continue };
            if e.file_name().to_string_lossy().starts_with('@') && kind.is_dir() {
                self.visit(&p);
                continue;
            }
            if !kind.is_dir() && !kind.is_symlink() {
                continue;
            }
            let Ok(real) = std::fs::canonicalize(&p) else {
                continue;
            };
            if !self.seen.insert(real.clone()) {
                continue;
            }
            self.check(&p, &real);
            self.visit(&real.join("node_modules"));
        }
    }

    fn check(&mut self, p: &Path, real: &Path) {
        let pkg: serde_json::Value = match std::fs::read(real.join("package.json"))
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
        {
            Some(v) => v,
            None => {
                // pnpm's virtual store (.pnpm) holds packages one level further down.
                if p.file_name().is_some_and(|n| n == ".pnpm") {
                    self.visit(real);
                }
                return;
            }
        };
        let gyp = real.join("binding.gyp").exists() || pkg["gypfile"] == true;
        if !gyp {
            return;
        }
        // Packages that ship prebuilt binaries per platform (prebuildify) need no compiler.
        let node_arch = node_arch(self.arch);
        let prebuilt = [node_arch, self.arch]
            .iter()
            .any(|a| real.join("prebuilds").join(format!("linux-{a}")).exists());
        if prebuilt || (self.native && has_addon(real, 0)) {
            return;
        }
        let name = pkg["name"].as_str().map(str::to_string).unwrap_or_else(|| {
            p.file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default()
        });
        let rel = p.strip_prefix(self.dir).unwrap_or(p);
        self.found.push(format!("{name} ({})", rel.display()));
    }
}

/// Whether an install script left a compiled addon (`*.node`) in the package.
fn has_addon(dir: &Path, depth: usize) -> bool {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return false;
    };
    entries.filter_map(Result::ok).any(|e| {
        let Ok(kind) = e.file_type() else {
            return false;
        };
        let name = e.file_name();
        (kind.is_file() && name.to_string_lossy().ends_with(".node"))
            || (kind.is_dir()
                && name != "node_modules"
                && depth < 6
                && has_addon(&e.path(), depth + 1))
    })
}

/// node's names for architectures (`process.arch`).
fn node_arch(arch: &str) -> &str {
    match arch {
        "amd64" => "x64",
        "386" => "ia32",
        "ppc64le" => "ppc64",
        other => other,
    }
}
