//! `lade base outdated`: every base a project pins — registry and layout bases in lade.lock by
//! digest, Debian-built bases in lade-base.lock by package — resolved again and compared.
//! Only manifests, configs and the archive's indexes are read.

use super::rebase::PlatformPackage;
use crate::base;
use crate::debian::{self, BaseLock, DebianOptions, Pinned};
use crate::digest::Digest;
use crate::lock::Lock;
use crate::oci::ResolvedBase;
use crate::rebase::{PackageChange, package_changes};
use crate::registry::{RegistryOptions, RegistrySession};
use anyhow::Context;
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

pub const BASE_LOCK: &str = "lade-base.lock";

#[derive(Clone, Debug)]
pub struct OutdatedOptions {
    /// Project directories; each one's lade.lock and lade-base.lock are read.
    pub dirs: Vec<PathBuf>,
    pub registry: RegistryOptions,
    /// Where lade-base.lock's packages are resolved again.
    pub debian: DebianOptions,
}

#[derive(Clone, Debug, Serialize)]
pub struct OutdatedReport {
    pub bases: Vec<BaseStatus>,
}

/// One pinned base.
#[derive(Clone, Debug, Serialize)]
pub struct BaseStatus {
    /// The lock file that pins it.
    pub lock: PathBuf,
    pub name: String,
    /// lade.lock's digest and the one its name resolves to now (absent for lade-base.lock).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pinned: Option<Digest>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub current: Option<Digest>,
    pub outdated: bool,
    /// Debian packages whose versions differ (lade bases only).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub packages: Vec<PlatformPackage>,
}

impl OutdatedReport {
    pub fn outdated(&self) -> usize {
        self.bases.iter().filter(|b| b.outdated).count()
    }

    pub fn lines(&self) -> Vec<String> {
        let mut out = Vec::new();
        for b in &self.bases {
            let state = match (&b.pinned, &b.current, b.outdated) {
                (Some(p), Some(c), true) => format!("outdated: {p} → {c}"),
                (_, _, true) => "outdated".to_string(),
                _ => "up to date".to_string(),
            };
            out.push(format!("{}: {}: {state}", b.lock.display(), b.name));
            for p in &b.packages {
                out.push(format!("  [{}] {}", p.platform, p.change));
            }
        }
        out
    }
}

pub fn outdated(opts: &OutdatedOptions) -> anyhow::Result<OutdatedReport> {
    let registry = RegistrySession::new(opts.registry.clone());
    let mut bases = Vec::new();
    for dir in &opts.dirs {
        if !dir.is_dir() {
            anyhow::bail!(
                "-C {}: not a directory; name a project directory",
                dir.display()
            );
        }
        let lock = Lock::read(dir)?;
        for b in &lock.bases {
            bases.push(
                registry_base(dir, &b.name, &b.digest, &registry)
                    .with_context(|| format!("{}: base {}", Lock::path(dir).display(), b.name))?,
            );
        }
        let path = dir.join(BASE_LOCK);
        if let Some(l) = BaseLock::load(&path)? {
            let current = debian::current_pins(&l, &opts.debian)
                .with_context(|| format!("{}: resolving its packages again", path.display()))?;
            let packages = pin_changes(&l.pinned, &current);
            let mut spec = format!("debian12/{}", l.preset);
            for p in &l.packages {
                spec.push('+');
                spec.push_str(p);
            }
            bases.push(BaseStatus {
                lock: path,
                name: spec,
                pinned: None,
                current: None,
                outdated: !packages.is_empty(),
                packages,
            });
        }
    }
    Ok(OutdatedReport { bases })
}

/// A lade.lock entry: the digest its name resolves to now, and for lade bases the packages.
fn registry_base(
    dir: &Path,
    name: &str,
    pinned: &Digest,
    registry: &RegistrySession,
) -> anyhow::Result<BaseStatus> {
    let now = base::image::read(name, dir, registry)?;
    let current = now.root.digest.clone();
    let mut packages = Vec::new();
    if &current != pinned {
        let then = base::resolve_with(name, &now.root.platforms, dir, registry, Some(pinned))?;
        packages = platform_changes(&then, &now.image);
    }
    Ok(BaseStatus {
        lock: Lock::path(dir),
        name: name.to_string(),
        outdated: &current != pinned,
        pinned: Some(pinned.clone()),
        current: Some(current),
        packages,
    })
}

fn platform_changes(then: &ResolvedBase, now: &ResolvedBase) -> Vec<PlatformPackage> {
    let mut out = Vec::new();
    for n in &now.images {
        if let Some(t) = then.for_platform(&n.platform) {
            out.extend(
                package_changes(&t.config, &n.config)
                    .into_iter()
                    .map(|change| PlatformPackage {
                        platform: n.platform.to_string(),
                        change,
                    }),
            );
        }
    }
    out
}

/// The packages whose pinned version differs from the current one, per architecture.
fn pin_changes(pinned: &[Pinned], current: &[Pinned]) -> Vec<PlatformPackage> {
    let by_key = |pins: &[Pinned]| -> BTreeMap<(String, String), String> {
        pins.iter()
            .map(|p| ((p.arch.clone(), p.name.clone()), p.version.clone()))
            .collect()
    };
    let (old, new) = (by_key(pinned), by_key(current));
    let mut keys: Vec<&(String, String)> = old.keys().chain(new.keys()).collect();
    keys.sort();
    keys.dedup();
    keys.into_iter()
        .filter(|k| old.get(*k) != new.get(*k))
        .map(|k| PlatformPackage {
            platform: k.0.clone(),
            change: PackageChange {
                name: k.1.clone(),
                old: old.get(k).cloned(),
                new: new.get(k).cloned(),
            },
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pin(arch: &str, name: &str, version: &str) -> Pinned {
        Pinned {
            arch: arch.into(),
            tier: "cc".into(),
            name: name.into(),
            version: version.into(),
            suite: "bookworm".into(),
            filename: format!("pool/{name}.deb"),
            sha256: "0".repeat(64),
            size: 1,
        }
    }

    #[test]
    fn changed_pins_are_listed_per_architecture() {
        let old = [
            pin("amd64", "libc6", "2.36-9"),
            pin("arm64", "libc6", "2.36-9"),
        ];
        let new = [
            pin("amd64", "libc6", "2.36-9+deb12u10"),
            pin("arm64", "libc6", "2.36-9"),
            pin("arm64", "zlib1g", "1:1.2.13"),
        ];
        let lines: Vec<String> = pin_changes(&old, &new)
            .iter()
            .map(|c| format!("[{}] {}", c.platform, c.change))
            .collect();
        assert_eq!(
            lines,
            vec![
                "[amd64] libc6 2.36-9 → 2.36-9+deb12u10",
                "[arm64] zlib1g (none) → 1:1.2.13"
            ]
        );
        assert!(pin_changes(&old, &old).is_empty());
    }
}
