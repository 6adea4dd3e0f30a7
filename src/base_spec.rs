//! Which base lade builds from Debian packages a name means: the presets' names and
//! `debian12/PRESET[+PKG…][:root]` (`--base`, lade.toml's `base = "…"` or `[base]` table).
//! Data only, so configuration can check a base name without depending on the Debian
//! builder (`crate::debian`, which gives each preset its packages and files).

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// A Debian base preset, after distroless's images of the same names.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Preset {
    Static,
    Cc,
    Python3,
    Nodejs,
    Java,
}

pub const PRESETS: &[Preset] = &[
    Preset::Static,
    Preset::Cc,
    Preset::Python3,
    Preset::Nodejs,
    Preset::Java,
];

impl Preset {
    /// The C library its images carry: `static` has none, every other preset Debian's glibc.
    pub fn libc(self) -> &'static str {
        match self {
            Preset::Static => "none",
            _ => "glibc",
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Preset::Static => "static",
            Preset::Cc => "cc",
            Preset::Python3 => "python3",
            Preset::Nodejs => "nodejs",
            Preset::Java => "java",
        }
    }
}

impl fmt::Display for Preset {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Preset {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        PRESETS
            .iter()
            .copied()
            .find(|p| p.name() == s)
            .ok_or_else(|| s.to_string())
    }
}

/// A preset name (or `:variant`) lade does not know.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "unknown base preset '{0}': use static, cc, python3, nodejs or java (add :root for the root variant)"
)]
pub struct UnknownPreset(pub String);

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
    pub fn parse(preset: &str, packages: &[String], root: bool) -> Result<BaseSpec, UnknownPreset> {
        let (name, variant) = match preset.split_once(':') {
            Some((n, v)) => (n, Some(v)),
            None => (preset, None),
        };
        let preset: Preset = name
            .parse()
            .map_err(|_| UnknownPreset(preset.to_string()))?;
        let root = match variant {
            None | Some("nonroot") => root,
            Some("root") => true,
            Some(_) => return Err(UnknownPreset(preset.to_string())),
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
    pub fn parse_reference(reference: &str) -> Option<Result<BaseSpec, UnknownPreset>> {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for p in PRESETS {
            assert_eq!(p.name().parse::<Preset>().unwrap(), *p);
        }
        assert!("distroless".parse::<Preset>().is_err());
    }

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
