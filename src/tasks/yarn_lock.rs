//! Yarn berry's production install, held to its lockfile. `yarn workspaces focus` (the only
//! production-only install berry has) takes no `--immutable`: a manifest whose range the
//! lockfile does not pin is resolved anew, silently, and the lockfile is left as it was. So
//! after the install every package yarn recorded in node_modules/.yarn-state.yml must be one
//! the staged yarn.lock resolves to; one that is not means yarn.lock is out of date.

use super::TaskError;
use std::collections::BTreeSet;
use std::path::Path;

/// Checks the berry install in `dir` (a no-op for any other install: no .yarn-state.yml or
/// no berry yarn.lock beside it).
pub fn check(dir: &Path) -> Result<(), TaskError> {
    let state_path = dir.join("node_modules/.yarn-state.yml");
    let lock_path = dir.join("yarn.lock");
    if !state_path.is_file() || !lock_path.is_file() {
        return Ok(());
    }
    let read = |p: &Path| std::fs::read_to_string(p).map_err(TaskError::io("reading", p));
    let lock = read(&lock_path)?;
    if !lock.contains("__metadata:") {
        return Ok(());
    }
    let unpinned = unpinned(&read(&state_path)?, &lock);
    if unpinned.is_empty() {
        return Ok(());
    }
    Err(TaskError::Refused(format!(
        "yarn.lock does not pin {}: it is out of date with the package.json files; run `yarn install` in the workspace root and commit yarn.lock",
        unpinned.join(", ")
    )))
}

/// The locators installed (the top-level keys of .yarn-state.yml, but its `__metadata`) that
/// no `resolution:` of the lockfile names.
fn unpinned(state: &str, lock: &str) -> Vec<String> {
    let pinned: BTreeSet<&str> = lock
        .lines()
        .filter_map(|l| l.trim_start().strip_prefix("resolution:"))
        .map(unquote)
        .collect();
    state
        .lines()
        .filter(|l| !l.starts_with([' ', '#']) && !l.is_empty())
        .filter_map(|l| l.strip_suffix(':'))
        .map(unquote)
        .filter(|k| *k != "__metadata" && !pinned.contains(k))
        .map(str::to_string)
        .collect()
}

fn unquote(s: &str) -> &str {
    let s = s.trim();
    s.strip_prefix('"')
        .and_then(|s| s.strip_suffix('"'))
        .unwrap_or(s)
}

#[cfg(test)]
mod tests {
    use super::unpinned;

    const LOCK: &str = r#"__metadata:
  version: 10
  cacheKey: 10c0

"ms@npm:2.1.3":
  version: 2.1.3
  resolution: "ms@npm:2.1.3"

"web@workspace:apps/web":
  version: 0.0.0-use.local
  resolution: "web@workspace:apps/web"
"#;

    #[test]
    fn installed_packages_must_be_resolutions_of_the_lockfile() {
        let state = "# Warning: generated\n\n__metadata:\n  version: 1\n  nmMode: classic\n\n\"ms@npm:2.1.3\":\n  locations:\n    - \"node_modules/ms\"\n\n\"web@workspace:apps/web\":\n  locations:\n    - \"node_modules/web\"\n";
        assert!(unpinned(state, LOCK).is_empty());
        let drifted = state.replace("ms@npm:2.1.3", "ms@npm:2.1.2");
        assert_eq!(unpinned(&drifted, LOCK), ["ms@npm:2.1.2"]);
    }
}
