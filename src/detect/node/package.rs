//! The pure parts of Node detection: reading package.json, choosing the package manager from
//! the lockfiles present, choosing the start command, matching `files`, and comparing
//! `engines.node` with the base's node.

use crate::detect::DetectError;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::Path;

/// The fields of package.json lade reads; everything else is ignored.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PackageJson {
    pub name: Option<String>,
    pub main: Option<String>,
    #[serde(default)]
    pub scripts: BTreeMap<String, String>,
    #[serde(default)]
    pub dependencies: BTreeMap<String, serde_json::Value>,
    #[serde(default)]
    pub optional_dependencies: BTreeMap<String, serde_json::Value>,
    pub files: Option<Vec<String>>,
    pub package_manager: Option<String>,
    #[serde(default)]
    pub engines: BTreeMap<String, serde_json::Value>,
}

impl PackageJson {
    /// Parses `text`; errors name `path` with the line and column.
    pub fn parse(text: &str, path: &Path) -> Result<PackageJson, DetectError> {
        serde_json::from_str(text).map_err(|e| DetectError::Invalid {
            file: path.to_path_buf(),
            detail: format!("line {}, column {}: {e}", e.line(), e.column()),
        })
    }

    pub fn engines_node(&self) -> Option<&str> {
        self.engines.get("node").and_then(|v| v.as_str())
    }

    /// Whether there is anything to install for production.
    pub fn has_dependencies(&self) -> bool {
        !self.dependencies.is_empty() || !self.optional_dependencies.is_empty()
    }
}

/// The package manager that installs dependencies.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Manager {
    /// `locked`: package-lock.json or npm-shrinkwrap.json pins the tree (`npm ci`).
    Npm {
        locked: bool,
    },
    /// yarn.lock; `berry` is yarn 2+ (`__metadata` in the lockfile, .yarnrc.yml or
    /// `packageManager: yarn@2+`).
    Yarn {
        berry: bool,
    },
    Pnpm,
}

impl Manager {
    pub fn name(&self) -> &'static str {
        match self {
            Manager::Npm { .. } => "npm",
            Manager::Yarn { .. } => "yarn",
            Manager::Pnpm => "pnpm",
        }
    }
}

/// The lockfiles lade knows, in the order they are looked for.
pub const LOCKFILES: &[&str] = &[
    "package-lock.json",
    "npm-shrinkwrap.json",
    "yarn.lock",
    "pnpm-lock.yaml",
];

/// The manager for a project whose directory holds `lockfiles` (names from [`LOCKFILES`]), with
/// `package_manager` from package.json, `yarn_lock_head` the start of yarn.lock and `yarnrc_yml`
/// whether .yarnrc.yml exists. Returns the manager, the lockfile that decided (if any) and
/// notes for the plan's reasons.
pub fn choose_manager(
    lockfiles: &[&str],
    package_manager: Option<&str>,
    yarn_lock_head: &str,
    yarnrc_yml: bool,
) -> (Manager, Option<String>, Vec<String>) {
    let mut notes = Vec::new();
    let declared = package_manager.map(|p| {
        let (name, version) = p.split_once('@').unwrap_or((p, ""));
        (name.to_string(), version.to_string())
    });
    let declared_major = declared
        .as_ref()
        .and_then(|(_, v)| v.split('.').next()?.parse::<u32>().ok());
    let lock = LOCKFILES.iter().find(|l| lockfiles.contains(l)).copied();
    if lockfiles.len() > 1 {
        notes.push(format!(
            "several lockfiles ({}): {} is used",
            lockfiles.join(", "),
            lock.unwrap_or("?")
        ));
    }
    let manager = match lock {
        Some("package-lock.json" | "npm-shrinkwrap.json") => Manager::Npm { locked: true },
        Some("yarn.lock") => Manager::Yarn {
            berry: yarn_lock_head.contains("__metadata:")
                || yarnrc_yml
                || (declared.as_ref().is_some_and(|(n, _)| n == "yarn")
                    && declared_major.is_some_and(|m| m >= 2)),
        },
        Some("pnpm-lock.yaml") => Manager::Pnpm,
        _ => match declared.as_ref().map(|(n, _)| n.as_str()) {
            // Without a lockfile nothing is pinned whichever manager runs; npm is always there.
            Some(other) if other != "npm" => {
                notes.push(format!(
                    "packageManager names {other} but there is no lockfile: npm installs instead"
                ));
                Manager::Npm { locked: false }
            }
            _ => Manager::Npm { locked: false },
        },
    };
    if lock.is_some()
        && let Some((name, _)) = &declared
        && name != manager.name()
    {
        notes.push(format!(
            "packageManager names {name}, but the lockfile is {}'s: {} installs",
            manager.name(),
            manager.name()
        ));
    }
    (manager, lock.map(str::to_string), notes)
}

/// Where the start command came from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StartSource {
    Procfile,
    StartScript,
    Main,
    DefaultFile(String),
}

/// The start command: the script file (relative to the project) and its arguments, and where
/// it came from; `skipped` notes candidates that could not be used.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Start {
    pub file: String,
    pub args: Vec<String>,
    pub source: StartSource,
}

/// Chooses how the app starts: Procfile `web:`, else `scripts.start` when it is a plain
/// `node FILE …`, else `main`, else the first of `default_files` that `exists`. Returns the
/// choice (if any) and notes on candidates passed over.
pub fn choose_start(
    procfile: Option<&str>,
    pkg: &PackageJson,
    default_files: &[&str],
    exists: impl Fn(&str) -> bool,
) -> (Option<Start>, Vec<String>) {
    let mut notes = Vec::new();
    if let Some(text) = procfile
        && let Some(cmd) = text.lines().find_map(|l| l.trim().strip_prefix("web:"))
    {
        match plain_node_command(cmd.trim()) {
            Some((file, args)) => {
                return (
                    Some(Start {
                        file,
                        args,
                        source: StartSource::Procfile,
                    }),
                    notes,
                );
            }
            None => notes.push(format!(
                "Procfile web: `{}` is not a plain `node FILE …` command",
                cmd.trim()
            )),
        }
    }
    if let Some(start) = pkg.scripts.get("start") {
        match plain_node_command(start) {
            Some((file, args)) => {
                return (
                    Some(Start {
                        file,
                        args,
                        source: StartSource::StartScript,
                    }),
                    notes,
                );
            }
            None => notes.push(format!(
                "scripts.start `{start}` is not a plain `node FILE …` command, so it is not used (lade runs node itself so signals reach the app)"
            )),
        }
    }
    if let Some(main) = &pkg.main {
        return (
            Some(Start {
                file: clean_path(main),
                args: vec![],
                source: StartSource::Main,
            }),
            notes,
        );
    }
    let found = default_files.iter().find(|f| exists(f)).map(|f| Start {
        file: f.to_string(),
        args: vec![],
        source: StartSource::DefaultFile(f.to_string()),
    });
    (found, notes)
}

/// `node server.js --port 1` → (`server.js`, [`--port`, `1`]); `None` for anything a shell
/// would have to interpret (variables, operators, quotes) or that does not run a file.
fn plain_node_command(cmd: &str) -> Option<(String, Vec<String>)> {
    if cmd.contains(|c: char| "$&|;<>`'\"\\()*?".contains(c)) {
        return None;
    }
    let mut words = cmd.split_whitespace();
    if words.next()? != "node" {
        return None;
    }
    let file = words.next()?;
    if file.starts_with('-') {
        return None;
    }
    Some((clean_path(file), words.map(str::to_string).collect()))
}

/// `./dist/index.js` → `dist/index.js`.
fn clean_path(p: &str) -> String {
    let mut p = p.trim();
    while let Some(rest) = p.strip_prefix("./") {
        p = rest;
    }
    p.trim_end_matches('/').to_string()
}

/// Whether the project-relative path `rel` is part of the package per its `files` list (npm's
/// rules, simplified: an entry names a file or a directory and everything in it, `*` and `**`
/// glob; package.json and the start file are always in).
pub fn in_files(files: &[String], rel: &str, always: &[&str]) -> bool {
    if always.contains(&rel) {
        return true;
    }
    files.iter().any(|pattern| {
        let pattern = clean_path(pattern);
        if pattern.is_empty() {
            return false;
        }
        if pattern.starts_with('!') {
            return false;
        }
        if glob_match(&pattern, rel) {
            return true;
        }
        // A directory entry takes everything below it; a directory on the way to a listed
        // path is needed to hold it.
        rel.strip_prefix(&pattern)
            .is_some_and(|rest| rest.starts_with('/'))
            || pattern
                .strip_prefix(rel)
                .is_some_and(|rest| rest.starts_with('/'))
    })
}

/// `*` matches within one path element, `**` across elements.
fn glob_match(pattern: &str, path: &str) -> bool {
    fn go(p: &[u8], s: &[u8]) -> bool {
        match p.first() {
            None => s.is_empty(),
            Some(b'*') if p.get(1) == Some(&b'*') => {
                let rest = p[2..].strip_prefix(b"/").unwrap_or(&p[2..]);
                (0..=s.len()).any(|i| go(rest, &s[i..]))
            }
            Some(b'*') => (0..=s.len())
                .take_while(|&i| i == 0 || s[i - 1] != b'/')
                .any(|i| go(&p[1..], &s[i..])),
            Some(c) => s.first() == Some(c) && go(&p[1..], &s[1..]),
        }
    }
    go(pattern.as_bytes(), path.as_bytes())
}

/// The node major version of a base, when its reference says it (`…/nodejs22-debian12`,
/// `node:20-slim`).
pub fn base_node_major(base: &str) -> Option<u32> {
    let name = base.rsplit('/').next().unwrap_or(base);
    let digits = |s: &str| -> Option<u32> {
        let d: String = s.chars().take_while(char::is_ascii_digit).collect();
        d.parse().ok()
    };
    if let Some(i) = name.find("nodejs") {
        return digits(&name[i + 6..]);
    }
    name.strip_prefix("node:").and_then(digits)
}

/// Whether node `major` can satisfy the semver range `range` (`>=18`, `^20.1`, `18.x || 20`,
/// `>=18 <21`). Only majors are compared; a range lade cannot read counts as satisfied.
pub fn range_allows_major(range: &str, major: u32) -> bool {
    range.split("||").any(|alt| {
        let alt = alt.trim();
        if alt.is_empty() || alt == "*" || alt == "x" {
            return true;
        }
        // `1.2.3 - 2.3.4` hyphen ranges.
        if let Some((lo, hi)) = alt.split_once(" - ") {
            return match (lead_major(lo), lead_major(hi)) {
                (Some(l), Some(h)) => l <= major && major <= h,
                _ => true,
            };
        }
        alt.split_whitespace().all(|c| {
            let (op, v) = match c.find(|ch: char| ch.is_ascii_digit()) {
                Some(i) => (&c[..i], &c[i..]),
                None => return true,
            };
            let Some(m) = lead_major(v) else { return true };
            let exact_zero = v.split('.').skip(1).all(|p| p == "0" || p.is_empty());
            match op.trim_start_matches('v') {
                ">=" => major >= m,
                ">" => major > m || (major == m && !exact_zero),
                "<=" => major <= m,
                "<" => major < m || (major == m && !exact_zero),
                "" | "=" | "^" | "~" => major == m,
                _ => true,
            }
        })
    })
}

fn lead_major(v: &str) -> Option<u32> {
    v.trim()
        .trim_start_matches(['v', '='])
        .split('.')
        .next()?
        .parse()
        .ok()
}

#[cfg(test)]
mod tests;
