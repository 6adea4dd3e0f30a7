//! Target platforms (`linux/amd64`, `linux/arm/v7`, …) and their spellings in other tools.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// An OCI platform restricted to what lade can build for.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Platform {
    pub os: String,
    pub architecture: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variant: Option<String>,
}

#[derive(Debug, thiserror::Error)]
#[error("unknown platform '{0}': use OS/ARCH[/VARIANT] with one of {KNOWN}")]
pub struct PlatformError(pub String);

const KNOWN: &str = "linux/amd64, linux/arm64, linux/arm/v7, linux/arm/v6, linux/386, linux/ppc64le, linux/s390x, linux/riscv64";

impl Platform {
    pub fn linux(architecture: &str, variant: Option<&str>) -> Self {
        Platform {
            os: "linux".into(),
            architecture: architecture.into(),
            variant: variant.map(str::to_string),
        }
    }

    /// The platform of the machine lade runs on, when it is one lade knows.
    pub fn host() -> Option<Self> {
        let arch = match std::env::consts::ARCH {
            "x86_64" => "amd64",
            "aarch64" => "arm64",
            "x86" => "386",
            "powerpc64" => "ppc64le",
            "s390x" => "s390x",
            "riscv64" => "riscv64",
            _ => return None,
        };
        Some(Platform::linux(arch, None))
    }

    /// Variant as registries compare it: arm64 without a variant means v8.
    fn normalized_variant(&self) -> Option<&str> {
        match (self.architecture.as_str(), self.variant.as_deref()) {
            ("arm64", None) => Some("v8"),
            (_, v) => v,
        }
    }

    /// Whether an image built for `other` serves this platform.
    pub fn matches(&self, other: &Platform) -> bool {
        self.os == other.os
            && self.architecture == other.architecture
            && (self.normalized_variant() == other.normalized_variant()
                || other.variant.is_none() && self.architecture != "arm")
    }

    /// GOARCH for the Go toolchain.
    pub fn goarch(&self) -> &str {
        &self.architecture
    }

    /// GOARM for 32-bit ARM (`v7` → `7`).
    pub fn goarm(&self) -> Option<&str> {
        if self.architecture == "arm" {
            self.variant.as_deref().map(|v| v.trim_start_matches('v'))
        } else {
            None
        }
    }

    /// A name safe to use as a directory name.
    pub fn dir_name(&self) -> String {
        self.to_string().replace('/', "-")
    }

    /// The ELF machine name (as `file` and goblin say it) binaries for this platform carry.
    pub fn elf_machine(&self) -> Option<u16> {
        use goblin::elf::header::*;
        Some(match self.architecture.as_str() {
            "amd64" => EM_X86_64,
            "arm64" => EM_AARCH64,
            "arm" => EM_ARM,
            "386" => EM_386,
            "ppc64le" => EM_PPC64,
            "s390x" => EM_S390,
            "riscv64" => EM_RISCV,
            _ => return None,
        })
    }
}

impl FromStr for Platform {
    type Err = PlatformError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = || PlatformError(s.to_string());
        let parts: Vec<&str> = s.trim().split('/').collect();
        let (os, arch, variant) = match parts.as_slice() {
            [os, arch] => (*os, *arch, None),
            [os, arch, v] => (*os, *arch, Some(*v)),
            _ => return Err(err()),
        };
        if os != "linux" {
            return Err(err());
        }
        let arch = match arch {
            "x86_64" => "amd64",
            "aarch64" => "arm64",
            a => a,
        };
        let variant = match (arch, variant) {
            ("amd64" | "386" | "ppc64le" | "s390x" | "riscv64", None) => None,
            ("arm64", None | Some("v8")) => None,
            ("arm", Some(v @ ("v6" | "v7"))) => Some(v),
            ("arm", None) => Some("v7"),
            _ => return Err(err()),
        };
        Ok(Platform::linux(arch, variant))
    }
}

impl fmt::Display for Platform {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.os, self.architecture)?;
        if let Some(v) = &self.variant {
            write!(f, "/{v}")?;
        }
        Ok(())
    }
}

/// Parses a comma-separated list, keeping the order given and dropping repeats.
pub fn parse_list(s: &str) -> Result<Vec<Platform>, PlatformError> {
    let mut out: Vec<Platform> = Vec::new();
    for part in s.split(',').filter(|p| !p.trim().is_empty()) {
        let p: Platform = part.parse()?;
        if !out.contains(&p) {
            out.push(p);
        }
    }
    if out.is_empty() {
        return Err(PlatformError(s.to_string()));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_prints() {
        for (input, shown) in [
            ("linux/amd64", "linux/amd64"),
            ("linux/arm64/v8", "linux/arm64"),
            ("linux/aarch64", "linux/arm64"),
            ("linux/arm", "linux/arm/v7"),
            ("linux/arm/v6", "linux/arm/v6"),
        ] {
            assert_eq!(input.parse::<Platform>().unwrap().to_string(), shown);
        }
        for bad in [
            "linux",
            "windows/amd64",
            "linux/sparc",
            "linux/amd64/v3/x",
            "linux/arm64/v7",
        ] {
            assert!(bad.parse::<Platform>().is_err(), "{bad}");
        }
    }

    #[test]
    fn arm64_variant_matching() {
        let a: Platform = "linux/arm64".parse().unwrap();
        let with_v8 = Platform::linux("arm64", Some("v8"));
        assert!(a.matches(&with_v8));
        assert!(with_v8.matches(&a));
        assert!(!a.matches(&"linux/amd64".parse().unwrap()));
    }

    #[test]
    fn list_keeps_order_and_drops_repeats() {
        let l = parse_list("linux/arm64,linux/amd64,linux/arm64").unwrap();
        assert_eq!(l.len(), 2);
        assert_eq!(l[0].architecture, "arm64");
    }
}
