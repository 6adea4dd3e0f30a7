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
