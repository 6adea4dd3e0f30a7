//! npm leaves out an optional package whose `engines.node` or `engines.npm` the running node
//! or npm does not satisfy. `lade npm-install` does the same for the ranges packages use
//! (`>=18`, `^14.17.0 || >=16`, `~1.2`, `1.x`, `*`); any other form, or a version it cannot
//! learn, sends the install to npm.

use crate::detect::node::npm_lock::LockedInstall;
use std::path::{Path, PathBuf};

type Version = (u64, u64, u64);

/// Drops the optional packages whose engines the host's node (and npm) do not satisfy, as
/// npm does; `Err` (why) when that cannot be decided.
pub fn drop_unsatisfied(install: &mut LockedInstall) -> Result<(), String> {
    if install.packages.iter().all(|p| p.engines.is_none()) {
        return Ok(());
    }
    let node = node_version()?;
    let mut npm = None;
    let mut keep = Vec::new();
    for p in std::mem::take(&mut install.packages) {
        let ok = match &p.engines {
            None => true,
            Some(e) => {
                let node_ok = match &e.node {
                    Some(r) => satisfies(node, r).ok_or_else(|| {
                        format!("{}: engines.node `{r}` is not a range lade reads", p.path)
                    })?,
                    None => true,
                };
                let npm_ok = match &e.npm {
                    Some(r) => {
                        let v = match npm {
                            Some(v) => v,
                            None => *npm.insert(npm_version()?),
                        };
                        satisfies(v, r).ok_or_else(|| {
                            format!("{}: engines.npm `{r}` is not a range lade reads", p.path)
                        })?
                    }
                    None => true,
                };
                node_ok && npm_ok
            }
        };
        if ok {
            keep.push(p);
        }
    }
    install.packages = keep;
    Ok(())
}

/// The version of the node npm runs on (its shebang is `/usr/bin/env node`).
fn node_version() -> Result<Version, String> {
    let out = std::process::Command::new("node")
        .arg("--version")
        .output()
        .map_err(|e| format!("cannot run node --version ({e})"))?;
    let text = String::from_utf8_lossy(&out.stdout);
    exact(text.trim().trim_start_matches('v'))
        .ok_or_else(|| format!("node --version printed `{}`", text.trim()))
}

/// npm's version, from the package.json of the npm that PATH finds.
fn npm_version() -> Result<Version, String> {
    let path = crate::env::var_os(crate::env::PATH).unwrap_or_default();
    let npm: PathBuf = std::env::split_paths(&path)
        .map(|d| d.join("npm"))
        .find(|p| p.is_file())
        .and_then(|p| p.canonicalize().ok())
        .ok_or("npm is not on PATH")?;
    let manifest = npm
        .ancestors()
        .skip(1)
        .map(|d| d.join("package.json"))
        .find(|p| is_npm_manifest(p))
        .ok_or_else(|| format!("no package.json of npm above {}", npm.display()))?;
    let v: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&manifest).unwrap_or_default())
            .map_err(|e| format!("{}: {e}", manifest.display()))?;
    v["version"]
        .as_str()
        .and_then(exact)
        .ok_or_else(|| format!("{} has no version", manifest.display()))
}

fn is_npm_manifest(p: &Path) -> bool {
    std::fs::read(p)
        .ok()
        .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
        .is_some_and(|v| v["name"] == "npm")
}

fn exact(v: &str) -> Option<Version> {
    let mut it = v.split('.').map(|n| n.parse::<u64>().ok());
    let version = (it.next()??, it.next()??, it.next()??);
    it.next().is_none().then_some(version)
}

/// Whether `v` satisfies `range` (node-semver's rules for the forms read here); `None` for
/// a form lade does not read (hyphen ranges, prerelease tags, build metadata).
pub fn satisfies(v: Version, range: &str) -> Option<bool> {
    let mut any = false;
    for set in range.split("||") {
        any |= set_allows(v, set)?;
    }
    Some(any)
}

fn set_allows(v: Version, set: &str) -> Option<bool> {
    // `>= 10` is `>=10`: an operator binds to the version after it.
    let mut tokens = Vec::new();
    let mut pending = String::new();
    for t in set.split_whitespace() {
        if t == "-" {
            return None;
        }
        pending.push_str(t);
        if !t.chars().all(|c| "<>=^~".contains(c)) {
            tokens.push(std::mem::take(&mut pending));
        }
    }
    if !pending.is_empty() {
        return None;
    }
    let mut ok = true;
    for t in &tokens {
        ok &= comparator_allows(v, t)?;
    }
    Some(ok)
}

/// A partial version: the numbers given (`x`, `X` and `*` end it).
fn partial(s: &str) -> Option<Vec<u64>> {
    let s = s.strip_prefix('v').unwrap_or(s);
    let mut out = Vec::new();
    for part in s.split('.') {
        if matches!(part, "x" | "X" | "*") {
            break;
        }
        out.push(part.parse().ok()?);
    }
    (out.len() <= 3 && !s.is_empty()).then_some(out)
}

fn comparator_allows(v: Version, t: &str) -> Option<bool> {
    let op_len = t.find(|c: char| !"<>=^~".contains(c)).unwrap_or(t.len());
    let (op, rest) = t.split_at(op_len);
    let p = partial(rest)?;
    let at = |i: usize| p.get(i).copied().unwrap_or(0);
    let lower: Version = (at(0), at(1), at(2));
    // The first version above everything the partial names (`1.2` → 1.3.0).
    let above = |n: usize| -> Version {
        match n {
            0 => (u64::MAX, 0, 0),
            1 => (at(0) + 1, 0, 0),
            2 => (at(0), at(1) + 1, 0),
            _ => (at(0), at(1), at(2) + 1),
        }
    };
    let n = p.len();
    Some(match op {
        "" | "=" => v >= lower && v < above(n),
        ">=" => v >= lower,
        ">" => v >= above(n),
        "<" => v < lower,
        "<=" => v < above(n),
        "~" => v >= lower && v < above(n.clamp(1, 2)),
        "^" => {
            // Up to the first non-zero part given.
            let first = p.iter().position(|&x| x != 0).map_or(n, |i| i + 1);
            v >= lower && v < above(first.min(n).max(1))
        }
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::satisfies;

    #[test]
    fn ranges_packages_use() {
        let v = (20, 20, 2);
        for (range, want) in [
            (">=18", true),
            (">= 18.0.0", true),
            (">=21", false),
            (">18", true),
            (">20", false),
            (">20.19", true),
            ("<21", true),
            ("<=20", true),
            ("<20", false),
            ("^8.16.0 || ^10.6.0 || >=11.0.0", true),
            ("^20.1.0", true),
            ("^20.21", false),
            ("^18.17.0 || ^20.3.0 || >=21.0.0", true),
            ("~20.20.0", true),
            ("~20.19", false),
            ("20.x", true),
            ("20", true),
            ("19.x || 21", false),
            ("*", true),
            (">=12 <21", true),
            (">=12 <20", false),
            ("^0.20.2", false),
        ] {
            assert_eq!(satisfies(v, range), Some(want), "{range}");
        }
        assert_eq!(satisfies((0, 2, 5), "^0.2.3"), Some(true));
        assert_eq!(satisfies((0, 3, 0), "^0.2.3"), Some(false));
        assert_eq!(satisfies((0, 0, 4), "^0.0.3"), Some(false));
        for unread in ["1.0.0 - 2.0.0", ">=20.0.0-rc.1", "latest", ">="] {
            assert_eq!(satisfies(v, unread), None, "{unread}");
        }
    }
}
