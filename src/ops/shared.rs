//! What the projects of one run share ([`super::multi`]): one registry client — connections,
//! credential lookups, tokens — for projects that reach registries alike, and each base
//! resolved once for projects that name it alike. A project's image does not depend on
//! either: a shared base is the value its own resolution would have given.

use crate::oci::{Mirror, ResolvedBase};
use crate::platform::Platform;
use crate::registry::{RegistryOptions, RegistrySession};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

#[derive(Clone, Debug, Default)]
pub struct Shared {
    inner: Arc<Inner>,
}

#[derive(Default)]
struct Inner {
    sessions: Mutex<Vec<(Reach, RegistrySession)>>,
    bases: Mutex<HashMap<BaseKey, Arc<Mutex<Option<ResolvedBase>>>>>,
}

impl std::fmt::Debug for Inner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shared").finish_non_exhaustive()
    }
}

/// What, besides the run's flags and environment (the same for every project), decides how a
/// project reaches registries: its lade.toml's `[registry]` mirrors, insecure hosts and CAs.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Reach {
    mirrors: Vec<Mirror>,
    insecure: Vec<String>,
    cas: Vec<PathBuf>,
}

/// A base as one project resolves it: the reference, the platforms, the directory a relative
/// layout path starts from, and lade.lock's pin.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct BaseKey {
    reference: String,
    platforms: Vec<String>,
    dir: PathBuf,
    pin: Option<String>,
}

impl Shared {
    /// A session for a project whose registry settings are `options`: joined to the run's
    /// session for the same settings, made now if this is the first project with them.
    pub fn session(
        &self,
        options: RegistryOptions,
        progress: crate::progress::Reporter,
    ) -> RegistrySession {
        let reach = Reach {
            mirrors: options.mirrors.clone(),
            insecure: options.insecure.clone(),
            cas: options.cas.clone(),
        };
        let mut sessions = self
            .inner
            .sessions
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        let hub = match sessions.iter().find(|(r, _)| *r == reach) {
            Some((_, s)) => s.clone(),
            None => {
                // The hub reports nothing itself: each project's session reports its own
                // transfers.
                let s = RegistrySession::new(options.clone());
                sessions.push((reach, s.clone()));
                s
            }
        };
        hub.joined(options, progress)
    }

    /// The base `reference` for `platforms`, resolved by `resolve` unless a project of the run
    /// already resolved it the same way. Projects asking at once wait for the first; a failure
    /// is not kept, so the next project tries (and reports) it again.
    pub fn base<E>(
        &self,
        reference: &str,
        platforms: &[Platform],
        dir: &Path,
        pin: Option<&crate::digest::Digest>,
        resolve: impl FnOnce() -> Result<ResolvedBase, E>,
    ) -> Result<ResolvedBase, E> {
        let key = BaseKey {
            reference: reference.to_string(),
            platforms: platforms.iter().map(|p| p.to_string()).collect(),
            dir: dir.to_path_buf(),
            pin: pin.map(|d| d.to_string()),
        };
        let slot = self
            .inner
            .bases
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry(key)
            .or_default()
            .clone();
        let mut slot = slot.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(b) = &*slot {
            return Ok(b.clone());
        }
        let b = resolve()?;
        *slot = Some(b.clone());
        Ok(b)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn projects_reaching_registries_alike_share_a_client() {
        let shared = Shared::default();
        let a = shared.session(RegistryOptions::default(), Default::default());
        let b = shared.session(RegistryOptions::default(), Default::default());
        let other = shared.session(
            RegistryOptions {
                insecure: vec!["r.local:5000".into()],
                ..Default::default()
            },
            Default::default(),
        );
        let (a, b, other) = (
            a.connect().unwrap(),
            b.connect().unwrap(),
            other.connect().unwrap(),
        );
        assert!(a.client().shares_state_with(b.client()));
        assert!(!a.client().shares_state_with(other.client()));
    }

    #[test]
    fn a_base_is_resolved_once_per_key_and_a_failure_is_not_kept() {
        let shared = Shared::default();
        let amd64 = [Platform::linux("amd64", None)];
        let calls = std::cell::Cell::new(0);
        let resolve = || -> Result<ResolvedBase, String> {
            calls.set(calls.get() + 1);
            Ok(ResolvedBase {
                name: "scratch".into(),
                digest: None,
                images: Vec::new(),
            })
        };
        let dir = Path::new("/p");
        shared.base("scratch", &amd64, dir, None, resolve).unwrap();
        shared.base("scratch", &amd64, dir, None, resolve).unwrap();
        assert_eq!(calls.get(), 1);
        shared
            .base("scratch", &amd64, Path::new("/q"), None, resolve)
            .unwrap();
        assert_eq!(calls.get(), 2, "another directory is another key");
        let failed: Result<ResolvedBase, String> =
            shared.base("x", &amd64, dir, None, || Err("down".into()));
        assert!(failed.is_err());
        shared.base("x", &amd64, dir, None, resolve).unwrap();
        assert_eq!(calls.get(), 3, "a failure is tried again");
    }
}
