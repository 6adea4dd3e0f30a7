//! What a Go project is, as its files say: the module, the root's files and the main packages
//! lade can build. Nothing here decides what goes into an image.

use crate::detect::{DetectError, dir_names};
use std::path::{Path, PathBuf};

/// A Go module (or loose files with no go.mod) in a directory.
#[derive(Clone, Debug, PartialEq)]
pub struct GoProject {
    /// go.mod's `module`; `None` for loose `*.go` files.
    pub module: Option<String>,
    /// Non-test `.go` files directly in the project directory, sorted.
    pub root_files: Vec<String>,
    /// Main packages in the root and (in a module) `cmd/*`, in that order.
    pub mains: Vec<GoPackage>,
    /// `vendor/modules.txt` beside go.mod.
    pub vendored: bool,
    /// A `kodata/` directory at the root.
    pub root_kodata: bool,
    /// What a build reads outside the directory: an enclosing go.work, its modules, local
    /// `replace` targets.
    pub outside: Vec<PathBuf>,
}

/// A main package.
#[derive(Clone, Debug, PartialEq)]
pub struct GoPackage {
    /// Its directory relative to the project: `.` or `cmd/x`.
    pub rel: String,
    /// The first of its files that imports "C" (cgo).
    pub cgo: Option<PathBuf>,
    /// A `kodata/` directory beside its files.
    pub kodata: bool,
}

impl GoProject {
    /// The project in `dir`; `None` when there is neither go.mod nor a `.go` file.
    pub fn read(dir: &Path) -> Result<Option<GoProject>, DetectError> {
        let go_mod = dir.join("go.mod");
        let module = if go_mod.is_file() {
            Some(
                module_path(&read(&go_mod)?).ok_or_else(|| DetectError::Invalid {
                    file: go_mod.clone(),
                    detail: "no `module` line; run `go mod init NAME`".into(),
                })?,
            )
        } else {
            None
        };
        let root_files = go_files(dir)?;
        if module.is_none() && root_files.is_empty() {
            return Ok(None);
        }
        let mut mains = Vec::new();
        if package_name(dir, &root_files)?.as_deref() == Some("main") {
            mains.push(GoPackage::read(dir, ".")?);
        }
        if module.is_some() {
            for sub in dir_names(&dir.join("cmd"), |_, path| path.is_dir())? {
                if let Some(p) = GoPackage::main_at(dir, &format!("cmd/{sub}"))? {
                    mains.push(p);
                }
            }
        }
        Ok(Some(GoProject {
            vendored: module.is_some() && dir.join("vendor/modules.txt").is_file(),
            root_kodata: dir.join("kodata").is_dir(),
            outside: super::outside::outside_inputs(dir),
            module,
            root_files,
            mains,
        }))
    }
}

impl GoPackage {
    /// The package in `dir`/`rel` when it is a main package.
    pub fn main_at(dir: &Path, rel: &str) -> Result<Option<GoPackage>, DetectError> {
        let pkg_dir = dir.join(rel);
        if package_name(&pkg_dir, &go_files(&pkg_dir)?)?.as_deref() != Some("main") {
            return Ok(None);
        }
        Ok(Some(GoPackage::read(dir, rel)?))
    }

    fn read(dir: &Path, rel: &str) -> Result<GoPackage, DetectError> {
        let pkg_dir = dir.join(rel);
        let mut cgo = None;
        for f in go_files(&pkg_dir)? {
            let path = pkg_dir.join(&f);
            if imports_c(&read(&path)?) {
                cgo = Some(path);
                break;
            }
        }
        Ok(GoPackage {
            rel: rel.to_string(),
            cgo,
            kodata: pkg_dir.join("kodata").is_dir(),
        })
    }
}

impl GoProject {
    /// The files in `dir` that `go build` of the main packages at `mains` (directories relative
    /// to `dir`) can read, relative and sorted, so that the build's reuse key leaves the rest
    /// out: a change to `kodata/`, a README or a package no main imports cannot change the
    /// binaries and must not run the build again. They are the module files and, for every
    /// package the mains import from the module (or from `vendor/`), directly or not, its
    /// sources and symlinks; below a package that embeds files (`//go:embed`), everything.
    /// `None` — the whole directory counts — when another module's files may be found here (a
    /// go.work, a local `replace`) or a package imports "C" or has SWIG files (cgo directives
    /// and SWIG interfaces may name any file).
    /// Imports are read generously (every quoted path of an import declaration, build
    /// constraints ignored): an extra package only costs a few more stats.
    pub fn build_files(
        &self,
        dir: &Path,
        mains: &[&str],
    ) -> Result<Option<Vec<String>>, DetectError> {
        if !super::outside::module_only(dir) {
            return Ok(None);
        }
        // Listed even when missing: one appearing changes the key.
        let mut files: Vec<String> = ["go.mod", "go.sum", "vendor/modules.txt"]
            .map(String::from)
            .to_vec();
        let mut todo: Vec<String> = mains.iter().map(|m| m.to_string()).collect();
        let mut seen = std::collections::BTreeSet::new();
        while let Some(rel) = todo.pop() {
            if !seen.insert(rel.clone()) {
                continue;
            }
            let pkg = Package::read(dir, &rel)?;
            if pkg.cgo {
                return Ok(None);
            }
            if pkg.embeds {
                files.extend(everything_below(dir, &rel)?);
            } else {
                files.extend(pkg.files);
            }
            for import in pkg.imports {
                if let Some(found) = self.local_package(dir, &import) {
                    todo.push(found);
                }
            }
        }
        files.sort();
        files.dedup();
        Ok(Some(files))
    }

    /// The directory (relative to `dir`) of the package `import` names when it is in the
    /// project: the module's own, or a vendored one.
    fn local_package(&self, dir: &Path, import: &str) -> Option<String> {
        let module = self.module.as_deref()?;
        let rel = if import == module {
            ".".to_string()
        } else if let Some(rest) = import
            .strip_prefix(module)
            .and_then(|r| r.strip_prefix('/'))
        {
            rest.to_string()
        } else if self.vendored {
            format!("vendor/{import}")
        } else {
            return None;
        };
        dir.join(&rel).is_dir().then_some(rel)
    }
}

/// What the go command reads of a package directory besides `.go` files: the other sources a
/// package may hold (assembly, C and friends for cgo, SWIG, precompiled `.syso` objects), and
/// a main package's profile.
const BUILD_EXTENSIONS: &[&str] = &[
    "go", "s", "S", "sx", "c", "cc", "cpp", "cxx", "h", "hh", "hpp", "hxx", "m", "f", "F", "for",
    "f90", "swig", "swigcxx", "syso",
];

/// One package directory as `go build` sees it.
struct Package {
    /// Its build files and symlinks, relative to the project.
    files: Vec<String>,
    /// Import paths of its non-test files.
    imports: Vec<String>,
    embeds: bool,
    cgo: bool,
}

impl Package {
    fn read(dir: &Path, rel: &str) -> Result<Package, DetectError> {
        let pkg_dir = dir.join(rel);
        let read_err = |source| DetectError::Read {
            path: pkg_dir.clone(),
            source,
        };
        let mut pkg = Package {
            files: Vec::new(),
            imports: Vec::new(),
            embeds: false,
            cgo: false,
        };
        for entry in std::fs::read_dir(&pkg_dir).map_err(read_err)? {
            let entry = entry.map_err(read_err)?;
            let kind = entry.file_type().map_err(read_err)?;
            let name = entry.file_name().to_string_lossy().into_owned();
            let path = if rel == "." {
                name.clone()
            } else {
                format!("{rel}/{name}")
            };
            let ext = name.rsplit_once('.').map(|(_, e)| e);
            if kind.is_symlink() {
                pkg.files.push(path.clone());
            } else if !kind.is_file() || !ext.is_some_and(|e| BUILD_EXTENSIONS.contains(&e)) {
                if name == "default.pgo" {
                    pkg.files.push(path);
                }
                continue;
            } else {
                pkg.files.push(path.clone());
            }
            // SWIG interface files include whatever they name, as cgo does.
            pkg.cgo |= matches!(ext, Some("swig" | "swigcxx"));
            if ext != Some("go") {
                continue;
            }
            // Bytes, not text: a file need not be UTF-8 for the scan below.
            let bytes = std::fs::read(entry.path()).map_err(|source| DetectError::Read {
                path: entry.path(),
                source,
            })?;
            let text = String::from_utf8_lossy(&bytes);
            pkg.embeds |= text.contains("//go:embed");
            if !name.ends_with("_test.go") {
                pkg.cgo |= imports_c(&text);
                pkg.imports.extend(imports(&text));
            }
        }
        Ok(pkg)
    }
}

/// Every file and symlink below `rel` (what `//go:embed` patterns can name), relative to `dir`.
fn everything_below(dir: &Path, rel: &str) -> Result<Vec<String>, DetectError> {
    let mut out = Vec::new();
    for entry in walkdir::WalkDir::new(dir.join(rel)) {
        let entry = entry.map_err(|e| DetectError::Read {
            path: e.path().unwrap_or(dir).to_path_buf(),
            source: e.into(),
        })?;
        if entry.file_type().is_dir() {
            continue;
        }
        let inner = entry
            .path()
            .strip_prefix(dir)
            .expect("the walk yields paths under its root");
        out.push(inner.to_string_lossy().into_owned());
    }
    Ok(out)
}

/// The paths of a Go file's import declarations: every quoted string of an `import` line or
/// block (a quoted word in a comment there is taken too: an extra package is harmless, a
/// missed one would not be).
pub(super) fn imports(src: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut in_block = false;
    for line in src.lines() {
        let l = line.trim();
        if in_block {
            let body = l.split(')').next().unwrap_or("");
            quoted(body, &mut out);
            in_block = !l.contains(')');
            continue;
        }
        let Some(rest) = l.strip_prefix("import") else {
            continue;
        };
        let rest = rest.trim_start();
        match rest.strip_prefix('(') {
            Some(body) => {
                quoted(body.split(')').next().unwrap_or(""), &mut out);
                in_block = !body.contains(')');
            }
            None => quoted(rest, &mut out),
        }
    }
    out
}

/// The contents of each `"…"` or `` `…` `` in `s`.
fn quoted(s: &str, out: &mut Vec<String>) {
    let mut rest = s;
    while let Some(i) = rest.find(['"', '`']) {
        let q = rest.as_bytes()[i] as char;
        let after = &rest[i + 1..];
        let Some(j) = after.find(q) else {
            return;
        };
        out.push(after[..j].to_string());
        rest = &after[j + 1..];
    }
}

fn read(path: &Path) -> Result<String, DetectError> {
    std::fs::read_to_string(path).map_err(|source| DetectError::Read {
        path: path.to_path_buf(),
        source,
    })
}

/// The `module` directive of a go.mod.
pub(super) fn module_path(go_mod: &str) -> Option<String> {
    go_mod.lines().find_map(|l| {
        let rest = l.trim().strip_prefix("module")?;
        if !rest.starts_with([' ', '\t']) {
            return None;
        }
        let m = rest.split("//").next()?.trim().trim_matches('"');
        (!m.is_empty()).then(|| m.to_string())
    })
}

/// `example.com/svc/v2` → `svc`, as `go install` names binaries.
pub fn module_binary_name(module: &str) -> String {
    let mut parts: Vec<&str> = module.split('/').collect();
    if parts.len() > 1
        && let Some(last) = parts.last()
        && last.len() > 1
        && last.starts_with('v')
        && last[1..].bytes().all(|b| b.is_ascii_digit())
    {
        parts.pop();
    }
    parts.last().copied().unwrap_or("app").to_string()
}

/// Non-test `.go` files directly in `dir`, sorted by name.
fn go_files(dir: &Path) -> Result<Vec<String>, DetectError> {
    dir_names(dir, |name, path| {
        name.ends_with(".go") && !name.ends_with("_test.go") && path.is_file()
    })
}

/// The package clause shared by `files` in `dir` (the first file's, as the compiler would
/// complain about a mismatch itself).
fn package_name(dir: &Path, files: &[String]) -> Result<Option<String>, DetectError> {
    for f in files {
        let text = read(&dir.join(f))?;
        if let Some(p) = package_clause(&text) {
            return Ok(Some(p));
        }
    }
    Ok(None)
}

pub(super) fn package_clause(src: &str) -> Option<String> {
    let mut in_block_comment = false;
    for line in src.lines() {
        let mut l = line.trim();
        if in_block_comment {
            match l.find("*/") {
                Some(i) => {
                    in_block_comment = false;
                    l = l[i + 2..].trim();
                }
                None => continue,
            }
        }
        if l.starts_with("/*") && !l.contains("*/") {
            in_block_comment = true;
            continue;
        }
        if let Some(rest) = l.strip_prefix("package ") {
            return rest
                .split_whitespace()
                .next()
                .map(|s| s.trim_end_matches(';').to_string());
        }
    }
    None
}

pub(super) fn imports_c(src: &str) -> bool {
    let mut in_import_block = false;
    for line in src.lines() {
        let l = line.trim();
        if in_import_block {
            if l.starts_with(')') {
                in_import_block = false;
            } else if l == "\"C\"" || l.starts_with("\"C\" ") {
                return true;
            }
        } else if l == "import \"C\"" || l.starts_with("import \"C\" ") {
            return true;
        } else if l.starts_with("import (") {
            in_import_block = true;
        }
    }
    false
}
