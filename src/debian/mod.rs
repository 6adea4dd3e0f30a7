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
    BaseBuild, BuildReport, Event, PackageReport, PlatformReport, TierReport, build_base,
};
pub use error::DebianError;
pub use lock::BaseLock;
pub use presets::{PRESETS, Preset};
pub use resolve::Skipped;

use serde::{Deserialize, Serialize};
use std::fmt;
use std::path::PathBuf;

/// What base to build: a preset, extra packages and whether it runs as root. This is also the
/// shape of lade.toml's `[base]` table (`preset = "python3"`, `packages = ["libpq5"]`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BaseSpec {
    pub preset: Preset,
    #[serde(default)]
    pub packages: Vec<String>,
    /// The root variant (User 0) instead of nonroot (User 65532, WorkingDir /home/nonroot).
    #[serde(default)]
    pub root: bool,
}

impl BaseSpec {
    /// `cc`, `cc:root` or `cc:nonroot`, with extra packages; `root` (a `--root` flag) also
    /// selects the root variant.
    pub fn parse(preset: &str, packages: &[String], root: bool) -> Result<BaseSpec, DebianError> {
        let (name, variant) = match preset.split_once(':') {
            Some((n, v)) => (n, Some(v)),
            None => (preset, None),
        };
        let preset: Preset = name
            .parse()
            .map_err(|_| DebianError::UnknownPreset(preset.to_string()))?;
        let root = match variant {
            None | Some("nonroot") => root,
            Some("root") => true,
            Some(_) => return Err(DebianError::UnknownPreset(preset.to_string())),
        };
        let mut packages: Vec<String> = packages
            .iter()
            .flat_map(|p| p.split(','))
            .map(|p| p.trim().to_string())
            .filter(|p| !p.is_empty())
            .collect();
        packages.sort();
        packages.dedup();
        Ok(BaseSpec {
            preset,
            packages,
            root,
        })
    }

    /// A base reference in the form this type displays as, `debian12/PRESET[+PKG…][:root]`
    /// (`debian12/python3+libpq5`), so `--base` and lade.toml's `base = "…"` can name one;
    /// `None` when `reference` is not of that form.
    pub fn parse_reference(reference: &str) -> Option<Result<BaseSpec, DebianError>> {
        let rest = reference.strip_prefix("debian12/")?;
        let (rest, root) = match rest.strip_suffix(":root") {
            Some(r) => (r, true),
            None => (rest.strip_suffix(":nonroot").unwrap_or(rest), false),
        };
        let mut parts = rest.split('+');
        let preset = parts.next().unwrap_or("");
        let packages: Vec<String> = parts.map(str::to_string).collect();
        Some(BaseSpec::parse(preset, &packages, root))
    }

    /// The extra packages, sorted and without repeats (what the lock records).
    pub fn normalized_packages(&self) -> Vec<String> {
        let mut p = self.packages.clone();
        p.sort();
        p.dedup();
        p
    }
}

/// `debian12/cc+libpq5:root`: the name reports and annotations use.
impl fmt::Display for BaseSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "debian12/{}", self.preset)?;
        for p in self.normalized_packages() {
            write!(f, "+{p}")?;
        }
        if self.root {
            f.write_str(":root")?;
        }
        Ok(())
    }
}

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
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spec_parsing() {
        let s =
            BaseSpec::parse("cc:root", &["libpq5,zlib1g".into(), "libpq5".into()], false).unwrap();
        assert_eq!(s.preset, Preset::Cc);
        assert!(s.root);
        assert_eq!(s.packages, ["libpq5", "zlib1g"]);
        assert_eq!(s.to_string(), "debian12/cc+libpq5+zlib1g:root");
        assert!(!BaseSpec::parse("static:nonroot", &[], false).unwrap().root);
        assert!(BaseSpec::parse("python3", &[], true).unwrap().root);
        assert!(BaseSpec::parse("ruby", &[], false).is_err());
        assert!(BaseSpec::parse("cc:sudo", &[], false).is_err());
        let r = BaseSpec::parse_reference("debian12/cc+libpq5+zlib1g:root")
            .unwrap()
            .unwrap();
        assert_eq!(r, s, "the displayed name parses back");
        assert!(BaseSpec::parse_reference("oci:./bases:cc").is_none());
        assert!(BaseSpec::parse_reference("debian12/ruby").unwrap().is_err());
        let toml: BaseSpec =
            toml::from_str("preset = \"python3\"\npackages = [\"libpq5\"]\n").unwrap();
        assert_eq!(toml.preset, Preset::Python3);
        assert!(!toml.root);
    }
}
