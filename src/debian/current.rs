//! What a lock's request resolves to in the archive today, without downloading a package:
//! `lade base outdated` compares it with the lock's pins.

use super::DebianOptions;
use super::archive::{Archive, Mirrors};
use super::build::{keyring, resolve_arch, tiers};
use super::error::DebianError;
use super::fetch::Fetcher;
use super::lock::{BaseLock, Pinned};
use crate::base_spec::BaseSpec;

/// The packages `lock`'s preset and extra packages resolve to now, for the architectures it
/// pins (signed indexes read as a build reads them; no .deb is fetched).
pub fn current_pins(lock: &BaseLock, opts: &DebianOptions) -> Result<Vec<Pinned>, DebianError> {
    let spec = BaseSpec {
        preset: lock.preset,
        packages: lock.packages.clone(),
        root: false,
    };
    let mut archs: Vec<&str> = lock.pinned.iter().map(|p| p.arch.as_str()).collect();
    archs.sort();
    archs.dedup();
    let mirrors = Mirrors::from_main(&opts.mirror, opts.security_mirror.as_deref());
    let fetcher = Fetcher::new(&opts.cache_dir.join("debian"), opts.progress.clone())?;
    let keyring = keyring(opts)?;
    let opened = Archive::open(&fetcher, &mirrors, keyring.as_ref(), opts.now)?;
    let tiers = tiers(&spec);
    let mut pins = Vec::new();
    for arch in archs {
        let index = opened.archive.index(arch)?;
        pins.extend(resolve_arch(&index, &tiers, &lock.packages)?.0);
    }
    Ok(pins)
}
