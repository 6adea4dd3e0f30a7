//! Distroless-equivalent base images built straight from Debian 12 packages, with no Docker,
//! dpkg, chroot or maintainer scripts: lade reads the archive itself (signed InRelease →
//! Packages → .deb, every step checked by SHA256), resolves dependencies, unpacks the .debs
//! merged-/usr aware, generates what maintainer scripts would (users, CA stores) and writes
//! one reproducible layer per tier.
//!
//! Entry point: [`build_base`]. Flow: `archive` (+ `signature`, `release`, `fetch`) →
//! `index` → `resolve` per tier of the `presets` → `lock` → `fetch` the .debs → `deb`
//! unpack (`ar`, `paths`) → `layers` (+ `certs`, `system`) → `crate::layer` writer →
//! `crate::image::assemble`.

mod ar;
mod archive;
mod build;
mod certs;
pub(crate) mod control;
mod current;
mod deb;
mod error;
mod fetch;
mod index;
mod layers;
mod lock;
mod paths;
mod presets;
mod release;
mod resolve;
mod signature;
mod system;
pub mod version;

pub use archive::{DEFAULT_MIRROR, SuiteReport};
pub use build::{
    BaseBuild, BuildReport, Event, LABEL_BASE, LABEL_PACKAGES, PackageReport, PlatformReport,
    TierReport, build_base, builds_for,
};
pub use current::current_pins;
pub use error::DebianError;
pub use lock::{BaseLock, Pinned};
pub use resolve::Skipped;

use std::path::PathBuf;

/// Where packages come from and how the build is checked and pinned.
#[derive(Clone, Debug)]
pub struct DebianOptions {
    /// Archive root of bookworm and bookworm-updates.
    pub mirror: String,
    /// Archive root of bookworm-security; by default `…/debian-security` beside `mirror`.
    pub security_mirror: Option<String>,
    /// A keyring to trust instead of the Debian archive keys lade ships.
    pub keyring: Option<PathBuf>,
    /// Check InRelease signatures (on by default). Off, the report says they were not checked.
    pub verify_signatures: bool,
    /// Lock file to read (when it covers the request) and write.
    pub lock: Option<PathBuf>,
    /// Resolve again even if the lock covers the request.
    pub update: bool,
    /// Entry times and `created`: SOURCE_DATE_EPOCH, else 0. A fixed value keeps base layers
    /// identical across apps and days.
    pub epoch: u64,
    /// lade's cache directory; downloads and unpacked packages go to `debian/` below it.
    pub cache_dir: PathBuf,
    /// The present time (Unix seconds), checked against `Valid-Until` of Release files.
    pub now: u64,
    /// Where package downloads report their bytes.
    pub progress: crate::progress::Reporter,
}

impl DebianOptions {
    pub fn new(cache_dir: PathBuf) -> DebianOptions {
        DebianOptions {
            mirror: DEFAULT_MIRROR.to_string(),
            security_mirror: None,
            keyring: None,
            verify_signatures: true,
            lock: None,
            update: false,
            epoch: 0,
            cache_dir,
            now: std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_secs()),
            progress: Default::default(),
        }
    }
}
