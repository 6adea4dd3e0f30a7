//! What a cargo build reads beyond the workspace, and whether the project's own profile speaks
//! about symbols: path dependencies outside the workspace root (they are inputs of the build
//! step), and `strip`/`debug` in the profile being built (if set anywhere, lade does not strip).

use super::cargo_config::CargoConfig;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// Directories of path dependencies (and `[patch]` paths) reachable from the manifests in
/// `manifest_dirs` that lie outside `root`, followed through their own manifests; sorted.
pub fn outside_path_dependencies(root: &Path, manifest_dirs: &[PathBuf]) -> Vec<PathBuf> {
    let mut seen: BTreeSet<PathBuf> = BTreeSet::new();
    let mut todo: Vec<PathBuf> = manifest_dirs.to_vec();
    let mut outside = BTreeSet::new();
    while let Some(dir) = todo.pop() {
        if !seen.insert(dir.clone()) {
            continue;
        }
        for dep in path_dependencies(&dir) {
            if !dep.starts_with(root) {
                outside.insert(dep.clone());
            }
            todo.push(dep);
        }
    }
    outside.into_iter().collect()
}

/// The `path = …` of every dependency table in `dir/Cargo.toml`, resolved against `dir`.
fn path_dependencies(dir: &Path) -> Vec<PathBuf> {
    let Ok(text) = std::fs::read_to_string(dir.join("Cargo.toml")) else {
        return Vec::new();
    };
    let Ok(table) = toml::from_str::<toml::Table>(&text) else {
        return Vec::new();
    };
    let mut tables: Vec<&toml::Table> = Vec::new();
    dependency_tables(&table, &mut tables);
    if let Some(targets) = table.get("target").and_then(toml::Value::as_table) {
        for t in targets.values().filter_map(toml::Value::as_table) {
            dependency_tables(t, &mut tables);
        }
    }
    if let Some(ws) = table.get("workspace").and_then(toml::Value::as_table) {
        dependency_tables(ws, &mut tables);
    }
    if let Some(patch) = table.get("patch").and_then(toml::Value::as_table) {
        tables.extend(patch.values().filter_map(toml::Value::as_table));
    }
    tables
        .iter()
        .flat_map(|t| t.values())
        .filter_map(|d| d.get("path")?.as_str())
        .map(|p| crate::detect::files::lexical_normalize(&dir.join(p)))
        .collect()
}

fn dependency_tables<'a>(t: &'a toml::Table, out: &mut Vec<&'a toml::Table>) {
    let kinds = ["dependencies", "dev-dependencies", "build-dependencies"];
    out.extend(kinds.iter().filter_map(|k| t.get(*k)?.as_table()));
}

/// Whether `profile` (or `release`, which custom profiles build on) sets `strip` or `debug`
/// in the root manifest, a cargo config file, or a `CARGO_PROFILE_*` variable (`env_names`).
pub fn profile_sets_symbols(
    manifest_dir: &Path,
    config: &CargoConfig,
    profile: &str,
    env_names: &[String],
) -> bool {
    let names: Vec<&str> = if profile == "release" {
        vec!["release"]
    } else {
        vec![profile, "release"]
    };
    let manifest: toml::Table = std::fs::read_to_string(manifest_dir.join("Cargo.toml"))
        .ok()
        .and_then(|t| toml::from_str(&t).ok())
        .unwrap_or_default();
    let sets = |t: &toml::Table| {
        names.iter().any(|n| {
            t.get("profile")
                .and_then(|p| p.get(*n))
                .is_some_and(|p| p.get("strip").is_some() || p.get("debug").is_some())
        })
    };
    let from_env = names.iter().any(|n| {
        let prefix = format!("CARGO_PROFILE_{}_", n.to_uppercase().replace('-', "_"));
        env_names
            .iter()
            .any(|v| v == &format!("{prefix}STRIP") || v == &format!("{prefix}DEBUG"))
    });
    sets(&manifest) || config.tables().any(sets) || from_env
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_dependencies_outside_the_workspace_are_followed() {
        let d = tempfile::tempdir().unwrap();
        let r = d.path();
        for (dir, deps) in [
            (
                "ws/app",
                "[dependencies]\ninner = { path = \"../inner\" }\nlib = { path = \"../../lib\" }\nserde = \"1\"\n",
            ),
            ("ws/inner", ""),
            (
                "lib",
                "[target.'cfg(unix)'.dependencies]\ndeep = { path = \"../deep\" }\n",
            ),
            ("deep", ""),
        ] {
            std::fs::create_dir_all(r.join(dir)).unwrap();
            std::fs::write(
                r.join(dir).join("Cargo.toml"),
                format!("[package]\nname = \"x\"\n{deps}"),
            )
            .unwrap();
        }
        let found = outside_path_dependencies(&r.join("ws"), &[r.join("ws/app")]);
        assert_eq!(found, vec![r.join("deep"), r.join("lib")]);
    }

    #[test]
    fn a_profile_that_speaks_of_symbols_is_left_alone() {
        let d = tempfile::tempdir().unwrap();
        let cfg = CargoConfig::default();
        std::fs::write(d.path().join("Cargo.toml"), "[package]\nname = \"x\"\n").unwrap();
        assert!(!profile_sets_symbols(d.path(), &cfg, "release", &[]));
        assert!(profile_sets_symbols(
            d.path(),
            &cfg,
            "release",
            &["CARGO_PROFILE_RELEASE_DEBUG".into()]
        ));
        std::fs::write(
            d.path().join("Cargo.toml"),
            "[package]\nname = \"x\"\n[profile.release]\ndebug = true\n",
        )
        .unwrap();
        assert!(profile_sets_symbols(d.path(), &cfg, "release", &[]));
        assert!(
            profile_sets_symbols(d.path(), &cfg, "dist", &[]),
            "custom profiles inherit release"
        );
        let cfg = CargoConfig::from_texts(&["[profile.dist]\nstrip = false\n"]);
        std::fs::write(d.path().join("Cargo.toml"), "[package]\nname = \"x\"\n").unwrap();
        assert!(profile_sets_symbols(d.path(), &cfg, "dist", &[]));
        assert!(!profile_sets_symbols(d.path(), &cfg, "release", &[]));
    }
}
