//! Crates compiled into a Rust binary, from the project's Cargo.lock: every `[[package]]` with a
//! `source` (registry or git crates; workspace members have none) → `pkg:cargo/<name>@<version>`.

use super::{Found, SbomError, pct};
use serde::Deserialize;
use std::path::Path;

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

/// The packages the project's lock file lists, for the detectors that compile them in.
pub(super) fn project_packages(dir: &Path, detector: &str) -> Result<Vec<Found>, SbomError> {
    match detector {
        "rust" => match cargo_lock(dir) {
            Some(lock) => cargo_packages(&lock),
            None => Ok(Vec::new()),
        },
        _ => Ok(Vec::new()),
    }
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
        let f = project_packages(&root.join("crates/app"), "rust").unwrap();
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].purl, "pkg:cargo/serde@1.0.200");
        assert_eq!(f[0].source_info, "Cargo.lock");
        assert!(
            project_packages(&root.join("crates/app"), "node")
                .unwrap()
                .is_empty()
        );
        std::fs::write(root.join("Cargo.lock"), "[[package]]\nname = 1\n").unwrap();
        let err = project_packages(root, "rust").unwrap_err();
        assert!(err.to_string().contains("Cargo.lock"), "{err}");
    }
}
