//! Lock files read by lade itself (no poetry, pipenv or uv needed): poetry.lock, Pipfile.lock
//! and uv.lock become one pinned requirements text, `name==version` with every hash the lock
//! lists, for `pip install --require-hashes --no-deps`. `--no-deps` is right because a lock
//! already lists the whole closure, and it keeps pip from resolving anything the lock did not
//! decide. Only runtime dependencies are kept: poetry's non-main groups, Pipfile's `develop`
//! and uv's dev groups are left out.
//!
//! A package the lock takes from a directory — a uv workspace member, a uv or poetry path
//! dependency — is not pinned: it is returned as a [`Local`] package, which the plan builds
//! from its sources, while its own dependencies are followed and pinned like any other.

use std::collections::{BTreeMap, BTreeSet};

/// One pinned requirement.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Pin {
    pub name: String,
    pub version: String,
    /// `sha256:…` values.
    pub hashes: Vec<String>,
    /// PEP 508 environment marker, when the lock restricts the package.
    pub marker: Option<String>,
}

/// A package the lock takes from a directory, built from its sources.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Local {
    /// Normalized distribution name.
    pub name: String,
    /// Its directory, relative to the lock's (`packages/shared`, `../lib`).
    pub path: String,
}

/// What a lock says to install: pinned index packages and packages built from directories.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Locked {
    pub pins: Vec<Pin>,
    /// Sorted by name.
    pub local: Vec<Local>,
}

/// The requirements-file text for `pins`, sorted by name so the text (and the layer cache key
/// that depends on it) is stable.
pub fn requirements_text(pins: &[Pin]) -> String {
    let mut sorted: Vec<&Pin> = pins.iter().collect();
    sorted.sort_by(|a, b| a.name.cmp(&b.name));
    let mut s = String::new();
    for p in sorted {
        s.push_str(&format!("{}=={}", p.name, p.version));
        if let Some(m) = &p.marker {
            s.push_str(&format!(" ; {m}"));
        }
        for h in &p.hashes {
            s.push_str(&format!(" \\\n    --hash={h}"));
        }
        s.push('\n');
    }
    s
}

/// PEP 503 normalized name: lowercase, runs of `-_.` become `-`.
pub fn normalize_name(name: &str) -> String {
    let mut out = String::new();
    let mut sep = false;
    for c in name.trim().chars() {
        if matches!(c, '-' | '_' | '.') {
            sep = true;
        } else {
            if sep && !out.is_empty() {
                out.push('-');
            }
            sep = false;
            out.push(c.to_ascii_lowercase());
        }
    }
    out
}

fn str_field<'a>(t: &'a toml::Table, key: &str) -> Option<&'a str> {
    t.get(key).and_then(|v| v.as_str())
}

fn need_hashes(name: &str, hashes: &[String]) -> Result<(), String> {
    if hashes.is_empty() {
        Err(format!(
            "package '{name}' has no hashes in the lock; lade installs locked packages with --require-hashes"
        ))
    } else {
        Ok(())
    }
}

/// poetry.lock. `main_deps` are the project's runtime dependency names (from pyproject.toml),
/// used when the lock does not say which group a package belongs to (lock format 2.0 written
/// by poetry 1.5+ dropped `category`; poetry 2 writes `groups`).
pub fn poetry(lock: &toml::Table, main_deps: &[String]) -> Result<Locked, String> {
    let packages = lock
        .get("package")
        .and_then(|p| p.as_array())
        .map(|a| a.iter().filter_map(|p| p.as_table()).collect::<Vec<_>>())
        .unwrap_or_default();
    let by_name: BTreeMap<String, &toml::Table> = packages
        .iter()
        .filter_map(|p| str_field(p, "name").map(|n| (normalize_name(n), *p)))
        .collect();
    let grouped = packages
        .iter()
        .any(|p| p.contains_key("groups") || p.contains_key("category"));
    let wanted: BTreeSet<String> = if grouped {
        packages
            .iter()
            .filter(|p| {
                let in_main = |v: &toml::Value| v.as_str() == Some("main");
                match (p.get("groups"), p.get("category")) {
                    (Some(g), _) => g.as_array().is_some_and(|a| a.iter().any(in_main)),
                    (None, Some(c)) => in_main(c),
                    (None, None) => false,
                }
            })
            .filter_map(|p| str_field(p, "name").map(normalize_name))
            .collect()
    } else {
        closure(main_deps, |name| {
            by_name
                .get(name)
                .and_then(|p| p.get("dependencies"))
                .and_then(|d| d.as_table())
                .map(|d| d.keys().map(|k| normalize_name(k)).collect())
                .unwrap_or_default()
        })
    };
    let mut out = Locked::default();
    for name in wanted {
        let Some(p) = by_name.get(&name) else {
            return Err(format!(
                "dependency '{name}' is not in the lock; run `poetry lock`"
            ));
        };
        let version =
            str_field(p, "version").ok_or_else(|| format!("package '{name}' has no version"))?;
        if let Some(src) = p.get("source").and_then(|s| s.as_table()) {
            match str_field(src, "type") {
                // A path dependency: its `url` is relative to the project's directory.
                Some("directory") => {
                    let path = str_field(src, "url")
                        .ok_or_else(|| format!("path package '{name}' has no url"))?;
                    out.local.push(Local {
                        name,
                        path: path.to_string(),
                    });
                    continue;
                }
                Some(kind @ ("file" | "git" | "url")) => {
                    return Err(format!(
                        "package '{name}' comes from a {kind} source; lade installs locked packages from the package index, and path dependencies (directories) from their sources"
                    ));
                }
                _ => {}
            }
        }
        let hashes: Vec<String> = p
            .get("files")
            .and_then(|f| f.as_array())
            .map(|a| {
                a.iter()
                    .filter_map(|f| f.as_table().and_then(|t| str_field(t, "hash")))
                    .map(str::to_string)
                    .collect()
            })
            .unwrap_or_default();
        need_hashes(&name, &hashes)?;
        out.pins.push(Pin {
            name,
            version: version.to_string(),
            hashes,
            marker: str_field(p, "markers").map(str::to_string),
        });
    }
    out.local.sort();
    Ok(out)
}

/// Names reachable from `roots` through `deps_of`.
fn closure(roots: &[String], deps_of: impl Fn(&str) -> Vec<String>) -> BTreeSet<String> {
    let mut seen = BTreeSet::new();
    let mut todo: Vec<String> = roots.iter().map(|r| normalize_name(r)).collect();
    while let Some(n) = todo.pop() {
        if seen.insert(n.clone()) {
            todo.extend(deps_of(&n));
        }
    }
    seen
}

/// Pipfile.lock (JSON): the `default` section.
pub fn pipfile(lock: &serde_json::Value) -> Result<Vec<Pin>, String> {
    let default = lock
        .get("default")
        .and_then(|d| d.as_object())
        .ok_or("no \"default\" section")?;
    let mut pins = Vec::new();
    for (name, entry) in default {
        let version = entry
            .get("version")
            .and_then(|v| v.as_str())
            .and_then(|v| v.strip_prefix("=="))
            .ok_or_else(|| {
                format!(
                    "package '{name}' is not pinned to a version from the package index (path, git or editable entries are not supported)"
                )
            })?;
        let hashes: Vec<String> = entry
            .get("hashes")
            .and_then(|h| h.as_array())
            .map(|a| {
                a.iter()
                    .filter_map(|h| h.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default();
        need_hashes(name, &hashes)?;
        pins.push(Pin {
            name: normalize_name(name),
            version: version.to_string(),
            hashes,
            marker: entry
                .get("markers")
                .and_then(|m| m.as_str())
                .map(str::to_string),
        });
    }
    Ok(pins)
}

/// uv.lock: the packages reachable from `member`'s own entry — the package whose source is
/// `virtual` or `editable` at `member`, `.` for the lock's own project, `apps/web` for a
/// workspace member — through `dependencies` and the optional dependencies of extras asked
/// for, never through `dev-dependencies`. A package reached only through edges with markers
/// keeps those markers (or-ed), so a Windows-only dependency stays off Linux. Workspace
/// members and path dependencies reached (`editable` or `directory` sources) are [`Local`].
pub fn uv(lock: &toml::Table, member: &str) -> Result<Locked, String> {
    let packages: Vec<&toml::Table> = lock
        .get("package")
        .and_then(|p| p.as_array())
        .map(|a| a.iter().filter_map(|p| p.as_table()).collect())
        .unwrap_or_default();
    let is_root = |p: &toml::Table| {
        uv_source_dir(p).is_some_and(|(kind, path)| kind != "directory" && path == member)
    };
    let Some(root) = packages.iter().find(|p| is_root(p)) else {
        return Err(uv_no_root(lock, &packages, member));
    };
    let by_name: BTreeMap<String, &toml::Table> = packages
        .iter()
        .filter_map(|p| str_field(p, "name").map(|n| (normalize_name(n), *p)))
        .collect();

    // name → markers of the edges that reach it; None in the set means "unconditionally".
    let mut reached: BTreeMap<String, BTreeSet<Option<String>>> = BTreeMap::new();
    let mut todo: Vec<UvEdge> = uv_edges(root, &[]);
    let mut seen: BTreeSet<UvEdge> = BTreeSet::new();
    while let Some(edge) = todo.pop() {
        if !seen.insert(edge.clone()) {
            continue;
        }
        let (name, marker, extras) = edge;
        let Some(dep) = by_name.get(&name) else {
            return Err(format!(
                "dependency '{name}' is not in the lock; run `uv lock`"
            ));
        };
        reached.entry(name).or_default().insert(marker.clone());
        for (n, m, x) in uv_edges(dep, &extras) {
            let m = match (&marker, m) {
                (None, m) => m,
                (m, None) => m.clone(),
                (Some(a), Some(b)) => Some(format!("({a}) and ({b})")),
            };
            todo.push((n, m, x));
        }
    }
    let mut out = Locked::default();
    for (name, markers) in reached {
        let p = by_name[&name];
        if is_root(p) {
            continue;
        }
        if let Some((kind, path)) = uv_source_dir(p) {
            if kind == "virtual" {
                return Err(format!(
                    "workspace member '{name}' ({path}) is virtual (`tool.uv.package = false`): uv does not install it, so its code would not be in the image; let it be a package or drop the dependency"
                ));
            }
            out.local.push(Local { name, path });
            continue;
        }
        let version =
            str_field(p, "version").ok_or_else(|| format!("package '{name}' has no version"))?;
        if let Some(src) = p.get("source").and_then(|s| s.as_table())
            && !src.contains_key("registry")
        {
            return Err(format!(
                "package '{name}' does not come from a package index or a directory; lade installs locked packages from the index, and workspace members and path dependencies from their sources"
            ));
        }
        let hashes = uv_hashes(p);
        need_hashes(&name, &hashes)?;
        let marker = if markers.contains(&None) {
            None
        } else {
            let all: Vec<String> = markers.into_iter().flatten().collect();
            match all.len() {
                1 => Some(all[0].clone()),
                _ => Some(
                    all.iter()
                        .map(|m| format!("({m})"))
                        .collect::<Vec<_>>()
                        .join(" or "),
                ),
            }
        };
        out.pins.push(Pin {
            name,
            version: version.to_string(),
            hashes,
            marker,
        });
    }
    Ok(out)
}

/// A uv.lock package taken from a directory: its source kind (`virtual`, `editable`,
/// `directory`) and path, relative to the lock's directory (`.` for the project itself).
fn uv_source_dir(p: &toml::Table) -> Option<(&'static str, String)> {
    let src = p.get("source")?.as_table()?;
    ["virtual", "editable", "directory"]
        .into_iter()
        .find_map(|kind| {
            let path = src.get(kind)?.as_str()?;
            let path = path.trim_start_matches("./").trim_end_matches('/');
            Some((
                kind,
                if path.is_empty() {
                    ".".into()
                } else {
                    path.into()
                },
            ))
        })
}

/// Why `member` has no entry in the lock: a workspace root without a project of its own
/// names its members; otherwise the lock is older than the member.
fn uv_no_root(lock: &toml::Table, packages: &[&toml::Table], member: &str) -> String {
    let mut members: Vec<String> = packages
        .iter()
        .filter_map(|p| uv_source_dir(p))
        .filter(|(kind, _)| *kind != "directory")
        .map(|(_, path)| path)
        .collect();
    members.sort();
    if member == "." && lock.contains_key("manifest") && !members.is_empty() {
        return format!(
            "the workspace root has no project of its own; publish a member with `-C ROOT --project MEMBER` or from its directory (members: {})",
            members.join(", ")
        );
    }
    if member == "." {
        return "no package for the project itself (source = { virtual = \".\" } or { editable = \".\" })".into();
    }
    format!(
        "no package for the workspace member {member} (source = {{ virtual = \"{member}\" }} or {{ editable = \"{member}\" }}); run `uv lock`"
    )
}

/// The hashes of a uv.lock package's sdist and wheels.
fn uv_hashes(p: &toml::Table) -> Vec<String> {
    let mut hashes = Vec::new();
    if let Some(h) = p
        .get("sdist")
        .and_then(|s| s.as_table())
        .and_then(|s| str_field(s, "hash"))
    {
        hashes.push(h.to_string());
    }
    if let Some(w) = p.get("wheels").and_then(|w| w.as_array()) {
        hashes.extend(
            w.iter()
                .filter_map(|w| w.as_table().and_then(|t| str_field(t, "hash")))
                .map(str::to_string),
        );
    }
    hashes
}

/// An edge of uv's graph: (normalized name, marker, extras asked for).
type UvEdge = (String, Option<String>, Vec<String>);

/// The edges of a uv package: its `dependencies` plus `optional-dependencies.<extra>` for each
/// extra asked for.
fn uv_edges(pkg: &toml::Table, extras: &[String]) -> Vec<UvEdge> {
    let optional = pkg.get("optional-dependencies").and_then(|o| o.as_table());
    let lists = std::iter::once(pkg.get("dependencies"))
        .chain(extras.iter().map(|e| optional.and_then(|o| o.get(e))));
    let mut out = Vec::new();
    for list in lists.flatten().filter_map(|l| l.as_array()) {
        for d in list.iter().filter_map(|d| d.as_table()) {
            let Some(name) = str_field(d, "name") else {
                continue;
            };
            let extras = d
                .get("extra")
                .and_then(|x| x.as_array())
                .map(|x| {
                    x.iter()
                        .filter_map(|v| v.as_str().map(str::to_string))
                        .collect()
                })
                .unwrap_or_default();
            out.push((
                normalize_name(name),
                str_field(d, "marker").map(str::to_string),
                extras,
            ));
        }
    }
    out
}

#[cfg(test)]
mod tests;
