//! Crates compiled into a Rust binary. Exactly, from the list the plan's `lade cargo-crates`
//! step wrote beside the binaries (cargo's own resolution for the target: only normal
//! dependencies of the built packages, with the features they were built with); else, for a
//! build without that list, every `[[package]]` of the project's Cargo.lock with a `source`
//! (registry or git crates; workspace members have none). Both → `pkg:cargo/<name>@<version>`.

use super::{Found, SbomError, pct};
use crate::plan::{EntryKind, LayerSpec};
use crate::tasks::cargo::LinkedCrate;
use serde::Deserialize;
use std::path::Path;

/// Property names: CycloneDX properties, SPDX annotations.
const PROP_FEATURES: &str = "lade:cargo:features";
const PROP_SOURCE: &str = "lade:cargo:source";

#[derive(Deserialize)]
struct Lock {
    #[serde(default)]
    package: Vec<LockPackage>,
}

#[derive(Deserialize)]
struct LockPackage {
    name: String,
    version: String,
    source: Option<String>,
}

/// The crates the lists beside the binaries of `layers` name (`lade cargo-crates`), or
/// `None` when there is no list.
pub(super) fn linked_lists(layers: &[LayerSpec]) -> Result<Option<Vec<Found>>, SbomError> {
    let lists: std::collections::BTreeSet<std::path::PathBuf> = layers
        .iter()
        .flat_map(|l| &l.entries)
        .filter_map(|e| match &e.kind {
            EntryKind::File { source } => {
                Some(source.parent()?.join(crate::detect::rust::CRATES_FILE))
            }
            _ => None,
        })
        .filter(|p| p.is_file())
        .collect();
    if lists.is_empty() {
        return Ok(None);
    }
    let mut out = Vec::new();
    for l in &lists {
        out.append(&mut linked_crates(l)?);
    }
    Ok(Some(out))
}

/// The packages of the project's Cargo.lock, for a build without crate lists.
pub(super) fn lock_packages(dir: &Path) -> Result<Vec<Found>, SbomError> {
    match cargo_lock(dir) {
        Some(lock) => cargo_packages(&lock),
        None => Ok(Vec::new()),
    }
}

fn linked_crates(path: &Path) -> Result<Vec<Found>, SbomError> {
    let bytes = std::fs::read(path).map_err(|source| SbomError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    let crates: Vec<LinkedCrate> =
        serde_json::from_slice(&bytes).map_err(|e| SbomError::Invalid {
            path: path.to_path_buf(),
            detail: e.to_string(),
        })?;
    Ok(crates
        .into_iter()
        .map(|c| {
            let mut properties = Vec::new();
            if let Some(s) = &c.source {
                properties.push((PROP_SOURCE.to_string(), s.clone()));
            }
            properties.push((PROP_FEATURES.to_string(), c.features.join(",")));
            Found {
                purl: format!("pkg:cargo/{}@{}", pct(&c.name), pct(&c.version)),
                license: c.license.as_deref().and_then(super::plain_license),
                name: c.name,
                version: c.version,
                source_info: "cargo's resolution for the build (lade cargo-crates)".into(),
                properties,
            }
        })
        .collect())
}

/// The Cargo.lock of the project directory or of the workspace above it it is a member of:
/// the nearest directory with both a Cargo.toml and a Cargo.lock, as cargo finds it.
fn cargo_lock(dir: &Path) -> Option<std::path::PathBuf> {
    dir.ancestors()
        .filter(|d| d.join("Cargo.toml").is_file())
        .map(|d| d.join("Cargo.lock"))
        .find(|l| l.is_file())
}

fn cargo_packages(path: &Path) -> Result<Vec<Found>, SbomError> {
    let text = std::fs::read_to_string(path).map_err(|source| SbomError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    let lock: Lock = toml::from_str(&text).map_err(|e| SbomError::Invalid {
        path: path.to_path_buf(),
        detail: e.message().to_string(),
    })?;
    Ok(lock
        .package
        .into_iter()
        .filter(|p| p.source.is_some())
        .map(|p| Found {
            purl: format!("pkg:cargo/{}@{}", pct(&p.name), pct(&p.version)),
            name: p.name,
            version: p.version,
            license: None,
            source_info: "Cargo.lock".into(),
            properties: Vec::new(),
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cargo_lock_of_the_workspace_root() {
        let t = tempfile::tempdir().unwrap();
        let root = t.path();
        std::fs::create_dir_all(root.join("crates/app")).unwrap();
        std::fs::write(root.join("Cargo.toml"), "[workspace]\n").unwrap();
        std::fs::write(root.join("crates/app/Cargo.toml"), "[package]\n").unwrap();
        std::fs::write(
            root.join("Cargo.lock"),
            "version = 4\n\n[[package]]\nname = \"app\"\nversion = \"0.1.0\"\n\n[[package]]\nname = \"serde\"\nversion = \"1.0.200\"\nsource = \"registry+https://github.com/rust-lang/crates.io-index\"\n",
        )
        .unwrap();
        let f = lock_packages(&root.join("crates/app")).unwrap();
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].purl, "pkg:cargo/serde@1.0.200");
        assert_eq!(f[0].source_info, "Cargo.lock");
        let node = super::super::Project {
            dir: &root.join("crates/app"),
            detector: "node",
            cache: None,
        };
        let parts = [super::super::LayerPart::default()];
        let mut notes = Vec::new();
        assert!(
            super::super::part::project_packages(&parts, &node, &mut notes)
                .unwrap()
                .is_empty()
        );
        std::fs::write(root.join("Cargo.lock"), "[[package]]\nname = 1\n").unwrap();
        let err = lock_packages(root).unwrap_err();
        assert!(err.to_string().contains("Cargo.lock"), "{err}");
    }
}
