//! Which packages a `cargo build` in the project directory builds, and the workspace around
//! them: members from `[workspace] members` (globs allowed) minus `exclude`, narrowed to
//! `default-members`, or to the root package when there is one — the same choice cargo makes,
//! so lade's image holds the binaries `cargo build` would produce. A package that is a member
//! of a workspace further up uses that workspace's Cargo.lock and root.

use super::manifest::{Manifest, PackageInfo};
use crate::detect::DetectError;
use std::path::{Component, Path, PathBuf};

#[derive(Clone, Debug)]
pub struct Workspace {
    /// Directory of the workspace's root manifest: the project directory, or an ancestor when
    /// the project is a member of a workspace above it.
    pub root: PathBuf,
    /// Whether the project's Cargo.toml declares `[workspace]` itself.
    pub declared: bool,
    /// Name of the project directory's own package, if it has one.
    pub root_package: Option<String>,
    /// Every member (for messages).
    pub members: Vec<PathBuf>,
    /// The packages `cargo build` in the project directory builds, in member order.
    pub selected: Vec<PackageInfo>,
}

impl Workspace {
    pub fn lockfile(&self) -> Option<PathBuf> {
        Some(self.root.join("Cargo.lock")).filter(|p| p.is_file())
    }
}

/// Reads the project's Cargo.toml and its workspace; `None` when there is no Cargo.toml.
pub fn load(project_dir: &Path) -> Result<Option<Workspace>, DetectError> {
    let manifest_path = project_dir.join("Cargo.toml");
    if !manifest_path.is_file() {
        return Ok(None);
    }
    let manifest = Manifest::read(&manifest_path)?;
    if let Some(ws) = &manifest.workspace {
        let edition = ws.package.as_ref().and_then(|p| p.edition.as_deref());
        let members = member_dirs(project_dir, &ws.members, &ws.exclude, &manifest_path)?;
        let root_pkg = PackageInfo::from_manifest(&manifest, &manifest_path, edition)?;
        let selected_dirs: Vec<PathBuf> = match &ws.default_members {
            Some(defaults) => member_dirs(project_dir, defaults, &[], &manifest_path)?,
            None if root_pkg.is_some() => vec![project_dir.to_path_buf()],
            None => members.clone(),
        };
        let mut selected = Vec::new();
        for dir in &selected_dirs {
            if dir == project_dir {
                selected.extend(root_pkg.clone());
                continue;
            }
            let path = dir.join("Cargo.toml");
            let m = Manifest::read(&path)?;
            let pkg = PackageInfo::from_manifest(&m, &path, edition)?.ok_or_else(|| {
                DetectError::Invalid {
                    file: path.clone(),
                    detail: "a workspace member needs a [package] table".into(),
                }
            })?;
            selected.push(pkg);
        }
        let mut all = members;
        if root_pkg.is_some() && !all.iter().any(|m| m == project_dir) {
            all.insert(0, project_dir.to_path_buf());
        }
        return Ok(Some(Workspace {
            root: project_dir.to_path_buf(),
            declared: true,
            root_package: root_pkg.map(|p| p.name),
            members: all,
            selected,
        }));
    }
    let (root, edition) =
        enclosing_workspace(project_dir)?.unwrap_or_else(|| (project_dir.to_path_buf(), None));
    let pkg = PackageInfo::from_manifest(&manifest, &manifest_path, edition.as_deref())?
        .ok_or_else(|| DetectError::Invalid {
            file: manifest_path.clone(),
            detail: "neither a [package] nor a [workspace] table".into(),
        })?;
    Ok(Some(Workspace {
        root,
        declared: false,
        root_package: Some(pkg.name.clone()),
        members: vec![project_dir.to_path_buf()],
        selected: vec![pkg],
    }))
}

/// The first ancestor whose Cargo.toml has a `[workspace]` listing `dir` as a member, with
/// its `[workspace.package] edition`. Cargo stops at the first `[workspace]` going up, and so
/// does this; one that does not list `dir` means `dir` is on its own.
fn enclosing_workspace(dir: &Path) -> Result<Option<(PathBuf, Option<String>)>, DetectError> {
    for ancestor in dir.ancestors().skip(1) {
        let path = ancestor.join("Cargo.toml");
        if !path.is_file() {
            continue;
        }
        let m = Manifest::read(&path)?;
        let Some(ws) = &m.workspace else { continue };
        let members = member_dirs(ancestor, &ws.members, &ws.exclude, &path)?;
        if members.iter().any(|m| m == dir) {
            let edition = ws.package.as_ref().and_then(|p| p.edition.clone());
            return Ok(Some((ancestor.to_path_buf(), edition)));
        }
        return Ok(None);
    }
    Ok(None)
}

/// Member directories for `patterns` (paths or globs relative to `root`), without those under
/// an `exclude` path, sorted and without repeats. A glob match without a Cargo.toml is not a
/// member; a plain path without one is an error, as in cargo.
fn member_dirs(
    root: &Path,
    patterns: &[String],
    exclude: &[String],
    manifest: &Path,
) -> Result<Vec<PathBuf>, DetectError> {
    let excluded: Vec<PathBuf> = exclude.iter().map(|e| normalize(&root.join(e))).collect();
    let mut out = Vec::new();
    for pattern in patterns {
        let is_glob = pattern.contains(['*', '?', '[']);
        let components: Vec<&str> = pattern
            .split('/')
            .filter(|c| !c.is_empty() && *c != ".")
            .collect();
        let mut dirs = Vec::new();
        expand(root, &components, &mut dirs).map_err(|source| DetectError::Read {
            path: root.to_path_buf(),
            source,
        })?;
        if !is_glob && dirs.is_empty() {
            dirs.push(normalize(&root.join(pattern)));
        }
        for d in dirs {
            let d = normalize(&d);
            if excluded.iter().any(|e| d.starts_with(e)) {
                continue;
            }
            if !d.join("Cargo.toml").is_file() {
                if is_glob {
                    continue;
                }
                return Err(DetectError::Invalid {
                    file: manifest.to_path_buf(),
                    detail: format!(
                        "workspace member `{pattern}` has no Cargo.toml ({} is missing)",
                        d.join("Cargo.toml").display()
                    ),
                });
            }
            if !out.contains(&d) {
                out.push(d);
            }
        }
    }
    out.sort();
    Ok(out)
}

/// Directories under `dir` matching the path `pattern` component by component: `*` and `?`
/// within a name, `**` for any number of directories. Hidden directories only match a pattern
/// that starts with a dot, as with the glob crate cargo uses.
fn expand(dir: &Path, pattern: &[&str], out: &mut Vec<PathBuf>) -> std::io::Result<()> {
    let Some((first, rest)) = pattern.split_first() else {
        if dir.is_dir() {
            out.push(dir.to_path_buf());
        }
        return Ok(());
    };
    if *first == ".." || !first.contains(['*', '?', '[']) {
        return expand(&dir.join(first), rest, out);
    }
    if *first == "**" {
        expand(dir, rest, out)?;
        for sub in subdirs(dir)? {
            expand(&dir.join(&sub), pattern, out)?;
        }
        return Ok(());
    }
    for sub in subdirs(dir)? {
        if (sub.starts_with('.') && !first.starts_with('.')) || !glob_match(first, &sub) {
            continue;
        }
        expand(&dir.join(&sub), rest, out)?;
    }
    Ok(())
}

fn subdirs(dir: &Path) -> std::io::Result<Vec<String>> {
    let rd = match std::fs::read_dir(dir) {
        Ok(rd) => rd,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    let mut out = Vec::new();
    for e in rd {
        let e = e?;
        if e.path().is_dir() {
            out.push(e.file_name().to_string_lossy().into_owned());
        }
    }
    out.sort();
    Ok(out)
}

/// `*` (any run), `?` (one character) and `[abc]`/`[a-z]`/`[!x]` classes within one name.
fn glob_match(pattern: &str, name: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let n: Vec<char> = name.chars().collect();
    fn go(p: &[char], n: &[char]) -> bool {
        match p.first() {
            None => n.is_empty(),
            Some('*') => (0..=n.len()).any(|i| go(&p[1..], &n[i..])),
            Some('?') => !n.is_empty() && go(&p[1..], &n[1..]),
            Some('[') => {
                let Some(end) = p.iter().position(|&c| c == ']') else {
                    return n.first() == Some(&'[') && go(&p[1..], &n[1..]);
                };
                let Some(&c) = n.first() else { return false };
                let class = &p[1..end];
                let (negate, class) = match class.first() {
                    Some('!') => (true, &class[1..]),
                    _ => (false, class),
                };
                let mut hit = false;
                let mut i = 0;
                while i < class.len() {
                    if i + 2 < class.len() && class[i + 1] == '-' {
                        hit |= class[i] <= c && c <= class[i + 2];
                        i += 3;
                    } else {
                        hit |= class[i] == c;
                        i += 1;
                    }
                }
                hit != negate && go(&p[end + 1..], &n[1..])
            }
            Some(&c) => n.first() == Some(&c) && go(&p[1..], &n[1..]),
        }
    }
    go(&p, &n)
}

/// `a/./b/../c` → `a/c`, without touching the filesystem (members need not exist yet for
/// `exclude` to name them).
fn normalize(p: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in p.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir => {
                out.pop();
            }
            other => out.push(other),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, files: &[(&str, &str)]) {
        for (name, text) in files {
            let p = dir.join(name);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, text).unwrap();
        }
    }

    fn pkg(name: &str) -> String {
        format!("[package]\nname = \"{name}\"\nedition = \"2021\"\n")
    }

    fn selected(ws: &Workspace) -> Vec<&str> {
        ws.selected.iter().map(|p| p.name.as_str()).collect()
    }

    #[test]
    fn globs() {
        assert!(glob_match("*", "abc"));
        assert!(glob_match("svc-*", "svc-api"));
        assert!(!glob_match("svc-*", "lib-api"));
        assert!(glob_match("a?c", "abc"));
        assert!(glob_match("[ab]x", "bx"));
        assert!(glob_match("[a-c]x", "cx"));
        assert!(!glob_match("[!a-c]x", "cx"));
    }

    #[test]
    fn virtual_workspace_members_globs_and_exclude() {
        let t = tempfile::tempdir().unwrap();
        let root = t.path();
        write(
            root,
            &[
                (
                    "Cargo.toml",
                    "[workspace]\nmembers = [\"crates/*\", \"tools/cli\"]\nexclude = [\"crates/old\"]\n[workspace.package]\nedition = \"2021\"\n",
                ),
                (
                    "crates/api/Cargo.toml",
                    "[package]\nname = \"api\"\nedition.workspace = true\n",
                ),
                ("crates/api/src/main.rs", ""),
                ("crates/core/Cargo.toml", &pkg("core")),
                ("crates/core/src/lib.rs", ""),
                ("crates/old/Cargo.toml", &pkg("old")),
                ("crates/notes/README", ""),
                ("crates/.hidden/Cargo.toml", &pkg("hidden")),
                ("tools/cli/Cargo.toml", &pkg("cli")),
                ("tools/cli/src/main.rs", ""),
            ],
        );
        let ws = load(root).unwrap().unwrap();
        assert!(ws.declared);
        assert_eq!(ws.root_package, None);
        assert_eq!(selected(&ws), ["api", "core", "cli"]);
        assert_eq!(ws.selected[0].bins[0].name, "api");

        write(
            root,
            &[(
                "Cargo.toml",
                "[workspace]\nmembers = [\"crates/*\", \"tools/cli\"]\nexclude = [\"crates/old\"]\ndefault-members = [\"tools/cli\"]\n",
            )],
        );
        assert_eq!(selected(&load(root).unwrap().unwrap()), ["cli"]);

        write(
            root,
            &[("Cargo.toml", "[workspace]\nmembers = [\"tools/missing\"]\n")],
        );
        let e = load(root).unwrap_err().to_string();
        assert!(
            e.contains("workspace member `tools/missing` has no Cargo.toml"),
            "{e}"
        );
    }

    #[test]
    fn root_package_with_members_builds_the_root() {
        let t = tempfile::tempdir().unwrap();
        let root = t.path();
        write(
            root,
            &[
                (
                    "Cargo.toml",
                    "[package]\nname = \"app\"\nedition = \"2021\"\n[workspace]\nmembers = [\"xtask\"]\n",
                ),
                ("src/main.rs", ""),
                ("xtask/Cargo.toml", &pkg("xtask")),
                ("xtask/src/main.rs", ""),
            ],
        );
        let ws = load(root).unwrap().unwrap();
        assert_eq!(selected(&ws), ["app"]);
        assert_eq!(ws.members.len(), 2);
    }

    #[test]
    fn a_member_finds_its_workspace_above() {
        let t = tempfile::tempdir().unwrap();
        let root = t.path();
        write(
            root,
            &[
                (
                    "Cargo.toml",
                    "[workspace]\nmembers = [\"svc/*\"]\n[workspace.package]\nedition = \"2015\"\n",
                ),
                ("Cargo.lock", ""),
                (
                    "svc/a/Cargo.toml",
                    "[package]\nname = \"a\"\nedition.workspace = true\n[[bin]]\nname = \"x\"\npath = \"src/x.rs\"\n",
                ),
                ("svc/a/src/main.rs", ""),
            ],
        );
        let member = root.join("svc/a");
        let ws = load(&member).unwrap().unwrap();
        assert_eq!(ws.root, root);
        assert_eq!(ws.lockfile(), Some(root.join("Cargo.lock")));
        // Edition 2015 inherited: the declared [[bin]] turns inference off.
        let bins: Vec<&str> = ws.selected[0]
            .bins
            .iter()
            .map(|b| b.name.as_str())
            .collect();
        assert_eq!(bins, ["x"]);
        assert!(load(&root.join("svc")).unwrap().is_none());
    }
}
