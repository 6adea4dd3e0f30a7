//! The lock file (`lade-base.lock`, TOML): every package of a base per architecture with its
//! version, .deb path and sha256. With a matching lock lade neither reads the archive's indexes
//! nor resolves anything, so the base is the same bytes until the lock is updated, and a warm
//! cache needs no network at all.

use super::error::{DebianError, io_err};
use super::resolve::Skipped;
use crate::base_spec::Preset;
use serde::{Deserialize, Serialize};
use std::path::Path;

pub const LOCK_VERSION: u32 = 1;

/// One pinned package.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Pinned {
    pub arch: String,
    /// The tier (and layer) it is installed in.
    pub tier: String,
    pub name: String,
    pub version: String,
    /// The suite it came from, which decides the archive root (`debian-security` or not).
    pub suite: String,
    /// Path below the archive root.
    pub filename: String,
    pub sha256: String,
    pub size: u64,
}

/// A skipped dependency, kept so a build from the lock reports the same as the build that
/// resolved it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LockedSkip {
    pub arch: String,
    pub tier: String,
    pub dependency: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub needed_by: String,
    pub reason: String,
}

impl LockedSkip {
    pub fn skipped(&self) -> Skipped {
        Skipped {
            dependency: self.dependency.clone(),
            needed_by: self.needed_by.clone(),
            reason: self.reason.clone(),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BaseLock {
    pub version: u32,
    pub preset: Preset,
    /// The extra packages asked for, sorted.
    #[serde(default)]
    pub packages: Vec<String>,
    #[serde(default, rename = "package")]
    pub pinned: Vec<Pinned>,
    #[serde(default, rename = "skipped")]
    pub skipped: Vec<LockedSkip>,
}

const HEADER: &str = "# lade-base.lock: the Debian packages of a lade base image, pinned by sha256.\n\
# Written by lade; commit it. `lade base build --update` resolves again.\n\n";

impl BaseLock {
    /// Reads the lock at `path`; `Ok(None)` when there is none.
    pub fn load(path: &Path) -> Result<Option<BaseLock>, DebianError> {
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(io_err("reading", path)(e)),
        };
        let lock: BaseLock = toml::from_str(&text).map_err(|e| DebianError::Lock {
            path: path.to_path_buf(),
            detail: e.message().trim().to_string(),
        })?;
        if lock.version != LOCK_VERSION {
            return Err(DebianError::Lock {
                path: path.to_path_buf(),
                detail: format!(
                    "version {} is not one this lade reads ({LOCK_VERSION})",
                    lock.version
                ),
            });
        }
        Ok(Some(lock))
    }

    /// Writes atomically, so an interrupted build never leaves half a lock.
    pub fn save(&self, path: &Path) -> Result<(), DebianError> {
        let body = toml::to_string(self).map_err(|e| DebianError::Lock {
            path: path.to_path_buf(),
            detail: e.to_string(),
        })?;
        let dir = match path.parent() {
            Some(d) if !d.as_os_str().is_empty() => d,
            _ => Path::new("."),
        };
        let mut tmp = tempfile::NamedTempFile::new_in(dir)
            .map_err(io_err("creating a temporary file in", dir))?;
        std::io::Write::write_all(&mut tmp, format!("{HEADER}{body}").as_bytes())
            .map_err(io_err("writing", tmp.path()))?;
        tmp.persist(path)
            .map_err(|e| io_err("writing", path)(e.error))?;
        Ok(())
    }

    /// Whether this lock pins what is asked for: the same preset and extra packages, and
    /// every architecture.
    pub fn covers(&self, preset: Preset, packages: &[String], archs: &[String]) -> bool {
        self.preset == preset
            && self.packages == packages
            && archs
                .iter()
                .all(|a| self.pinned.iter().any(|p| &p.arch == a))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lock() -> BaseLock {
        BaseLock {
            version: LOCK_VERSION,
            preset: Preset::Cc,
            packages: vec!["libpq5".into()],
            pinned: vec![Pinned {
                arch: "amd64".into(),
                tier: "cc".into(),
                name: "libc6".into(),
                version: "2.36-9+deb12u10".into(),
                suite: "bookworm-security".into(),
                filename: "pool/updates/main/g/glibc/libc6_2.36-9+deb12u10_amd64.deb".into(),
                sha256: "a".repeat(64),
                size: 2_757_000,
            }],
            skipped: vec![LockedSkip {
                arch: "amd64".into(),
                tier: "static".into(),
                dependency: "awk".into(),
                needed_by: "base-files".into(),
                reason: "r".into(),
            }],
        }
    }

    #[test]
    fn round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("lade-base.lock");
        assert_eq!(BaseLock::load(&path).unwrap(), None);
        lock().save(&path).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.starts_with("# lade-base.lock"), "{text}");
        assert!(text.contains("[[package]]"), "{text}");
        assert_eq!(BaseLock::load(&path).unwrap(), Some(lock()));
    }

    #[test]
    fn covers_only_the_same_request() {
        let l = lock();
        let amd = vec!["amd64".to_string()];
        assert!(l.covers(Preset::Cc, &["libpq5".into()], &amd));
        assert!(!l.covers(Preset::Cc, &[], &amd));
        assert!(!l.covers(Preset::Python3, &["libpq5".into()], &amd));
        assert!(!l.covers(Preset::Cc, &["libpq5".into()], &["arm64".into()]));
    }

    #[test]
    fn bad_lock_names_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("l.lock");
        std::fs::write(&path, "version = 1\npreset = \"cc\"\nbogus = 1\n").unwrap();
        let e = BaseLock::load(&path).unwrap_err().to_string();
        assert!(e.contains("l.lock") && e.contains("bogus"), "{e}");
        std::fs::write(&path, "version = 9\npreset = \"cc\"\n").unwrap();
        assert!(
            BaseLock::load(&path)
                .unwrap_err()
                .to_string()
                .contains("version 9")
        );
    }
}
