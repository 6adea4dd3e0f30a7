//! `lade.lock`: the digest each registry base resolved to, so the next publish builds on the
//! same bytes even if the tag moved. `--refresh-base` resolves the tag again and updates it.

use crate::digest::Digest;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

pub const FILE_NAME: &str = "lade.lock";

const HEADER: &str = "# lade.lock: base image digests pinned by lade.\n# `lade publish --refresh-base` resolves the tags again and updates this file.\n";

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Lock {
    #[serde(default, rename = "base", skip_serializing_if = "Vec::is_empty")]
    pub bases: Vec<LockedBase>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LockedBase {
    /// The base as written in lade.toml or `--base`.
    pub name: String,
    /// The index or manifest digest it resolved to.
    pub digest: Digest,
}

#[derive(Debug, thiserror::Error)]
pub enum LockError {
    #[error("{path}: {action}")]
    Io {
        path: PathBuf,
        action: &'static str,
        source: std::io::Error,
    },
    #[error("{path} is not valid (delete it to resolve bases again): {detail}")]
    Invalid { path: PathBuf, detail: String },
}

impl Lock {
    pub fn path(project_dir: &Path) -> PathBuf {
        project_dir.join(FILE_NAME)
    }

    /// The lock in `project_dir`; empty when there is none.
    pub fn read(project_dir: &Path) -> Result<Lock, LockError> {
        let path = Lock::path(project_dir);
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Lock::default()),
            Err(source) => {
                return Err(LockError::Io {
                    path,
                    action: "reading",
                    source,
                });
            }
        };
        toml::from_str(&text).map_err(|e| LockError::Invalid {
            path,
            detail: e.message().to_string(),
        })
    }

    pub fn pinned(&self, name: &str) -> Option<&Digest> {
        self.bases
            .iter()
            .find(|b| b.name == name)
            .map(|b| &b.digest)
    }

    /// Records `name` → `digest`; returns whether anything changed.
    pub fn set(&mut self, name: &str, digest: &Digest) -> bool {
        match self.bases.iter_mut().find(|b| b.name == name) {
            Some(b) if &b.digest == digest => false,
            Some(b) => {
                b.digest = digest.clone();
                true
            }
            None => {
                self.bases.push(LockedBase {
                    name: name.to_string(),
                    digest: digest.clone(),
                });
                self.bases.sort_by(|a, b| a.name.cmp(&b.name));
                true
            }
        }
    }

    /// Writes the lock (through a temporary file, so a crash never leaves half a lock).
    pub fn write(&self, project_dir: &Path) -> Result<(), LockError> {
        let path = Lock::path(project_dir);
        let body = toml::to_string(self).map_err(|e| LockError::Invalid {
            path: path.clone(),
            detail: e.to_string(),
        })?;
        let io = |action, source| LockError::Io {
            path: path.clone(),
            action,
            source,
        };
        let mut tmp = tempfile::NamedTempFile::new_in(project_dir)
            .map_err(|e| io("creating a temporary file beside", e))?;
        use std::io::Write;
        tmp.write_all(format!("{HEADER}{body}").as_bytes())
            .map_err(|e| io("writing", e))?;
        tmp.persist(&path).map_err(|e| io("replacing", e.error))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_update() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(Lock::read(dir.path()).unwrap(), Lock::default());
        let mut lock = Lock::default();
        let d1 = Digest::of(b"1");
        let d2 = Digest::of(b"2");
        assert!(lock.set("alpine:3.20", &d1));
        assert!(!lock.set("alpine:3.20", &d1));
        lock.write(dir.path()).unwrap();
        let text = std::fs::read_to_string(dir.path().join(FILE_NAME)).unwrap();
        assert!(text.starts_with("# lade.lock"), "{text}");
        let mut back = Lock::read(dir.path()).unwrap();
        assert_eq!(back.pinned("alpine:3.20"), Some(&d1));
        assert!(back.set("alpine:3.20", &d2));
        assert_eq!(back.pinned("alpine:3.20"), Some(&d2));
        std::fs::write(dir.path().join(FILE_NAME), "[[base]]\nname = 1\n").unwrap();
        assert!(Lock::read(dir.path()).is_err());
    }
}
