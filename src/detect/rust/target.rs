//! From an OCI platform to a Rust target triple, and what building for it takes: the linker
//! (rust-lld for musl, so no C cross toolchain is needed; the host's cc for its own glibc
//! target; zig for another architecture's glibc), the C compiler for crates that compile C
//! (the host's on its own architecture, zig for the other) and the checks that say what to
//! install when something is missing.

use crate::config::RustLibc;
use crate::plan::{Check, Linkage};
use crate::platform::Platform;
use crate::toolchain::zig::{self, Libc};

/// A Rust target for one platform and how to link for it.
#[derive(Clone, Debug, PartialEq)]
pub struct RustTarget {
    pub triple: String,
    pub linkage: Linkage,
    /// `CARGO_TARGET_<TRIPLE>_LINKER` value, when lade sets one.
    pub linker: Option<String>,
    /// What must be on PATH before building, when something must.
    pub linker_check: Option<Check>,
    /// zig's target when zig links (glibc for another architecture); the build sets the
    /// linker to its wrapper.
    pub zig_link: Option<String>,
}

/// Triples for each architecture: (musl, gnu).
fn row(p: &Platform) -> Option<(&'static str, &'static str)> {
    Some(match (p.architecture.as_str(), p.variant.as_deref()) {
        ("amd64", _) => ("x86_64-unknown-linux-musl", "x86_64-unknown-linux-gnu"),
        ("arm64", _) => ("aarch64-unknown-linux-musl", "aarch64-unknown-linux-gnu"),
        ("arm", Some("v6")) => (
            "arm-unknown-linux-musleabihf",
            "arm-unknown-linux-gnueabihf",
        ),
        ("arm", _) => (
            "armv7-unknown-linux-musleabihf",
            "armv7-unknown-linux-gnueabihf",
        ),
        ("386", _) => ("i686-unknown-linux-musl", "i686-unknown-linux-gnu"),
        ("ppc64le", _) => (
            "powerpc64le-unknown-linux-musl",
            "powerpc64le-unknown-linux-gnu",
        ),
        ("s390x", _) => ("s390x-unknown-linux-musl", "s390x-unknown-linux-gnu"),
        ("riscv64", _) => (
            "riscv64gc-unknown-linux-musl",
            "riscv64gc-unknown-linux-gnu",
        ),
        _ => return None,
    })
}

/// The triple for `platform`: `explicit` (from `[rust.target]`) when given, else the musl or
/// gnu one for `libc`.
pub fn triple_for(
    platform: &Platform,
    libc: RustLibc,
    explicit: Option<&str>,
) -> Result<String, String> {
    if let Some(t) = explicit {
        return Ok(t.to_string());
    }
    let (musl, gnu) =
        row(platform).ok_or_else(|| format!("no Rust target known for {platform}"))?;
    Ok(match libc {
        RustLibc::Musl => musl,
        RustLibc::Gnu => gnu,
    }
    .to_string())
}

/// Static for musl (Rust links musl statically by default), glibc for gnu; anything else is
/// not a Linux userland target lade can put in an image.
pub fn linkage_of(triple: &str) -> Result<Linkage, String> {
    if !triple.contains("-linux-") {
        return Err(format!(
            "target {triple} is not a Linux target; images need linux-musl or linux-gnu"
        ));
    }
    if triple.contains("-musl") {
        Ok(Linkage::Static)
    } else if triple.contains("-gnu") {
        Ok(Linkage::Glibc)
    } else {
        Err(format!(
            "target {triple}: lade knows musl (static) and gnu (glibc) Linux targets"
        ))
    }
}

/// The environment variable cargo reads a target's linker from.
pub fn linker_env(triple: &str) -> String {
    format!(
        "CARGO_TARGET_{}_LINKER",
        triple.to_ascii_uppercase().replace(['-', '.'], "_")
    )
}

/// How to link `triple` when building on `host`. `configured` is a linker from lade.toml;
/// `in_cargo_config` says the project's cargo config already names one (lade then leaves it).
pub fn plan_target(
    platform: &Platform,
    triple: &str,
    host: Option<&Platform>,
    configured: Option<&str>,
    in_cargo_config: bool,
) -> Result<RustTarget, String> {
    let linkage = linkage_of(triple)?;
    let mut t = RustTarget {
        triple: triple.to_string(),
        linkage,
        linker: None,
        linker_check: None,
        zig_link: None,
    };
    if let Some(l) = configured {
        t.linker = Some(l.to_string());
        t.linker_check = Some(Check::Program {
            program: l.to_string(),
            hint: "it is the linker named by [rust] linker in lade.toml".into(),
        });
        return Ok(t);
    }
    if in_cargo_config {
        return Ok(t);
    }
    match linkage {
        // The musl targets ship their C runtime and libc; rust-lld (in rustc's sysroot) links
        // them for any architecture, so no C cross toolchain is needed, and the bytes do not
        // depend on which gcc the machine has.
        Linkage::Static => t.linker = Some("rust-lld".into()),
        Linkage::Glibc => {
            if is_native(platform, triple, host) {
                t.linker_check = Some(Check::Program {
                    program: "cc".into(),
                    hint: "install a C compiler to link glibc binaries (Debian: apt-get install gcc libc6-dev)".into(),
                });
            } else {
                // zig links against its own glibc stubs at the cc base's version: no cross
                // gcc, and the binary asks for no newer glibc than the base has.
                t.zig_link = Some(zig_target(platform, Linkage::Glibc).ok_or_else(|| {
                    format!("no zig target known for {platform}; set [rust] linker")
                })?);
            }
        }
    }
    Ok(t)
}

/// The C compiler lade sets for crates that compile C.
#[derive(Clone, Debug, PartialEq)]
pub enum CCompiler {
    /// zig, for this zig target.
    Zig(String),
    /// `musl-gcc` (Debian's musl-tools): the host's gcc building against musl, for the host's
    /// own musl target.
    MuslGcc(Check),
}

/// The C compiler for crates that compile C (`c_crates`), when lade sets one: on the host's
/// own architecture the host's compiler stays (its cc for glibc, which cc-rs finds by itself;
/// musl-gcc for musl), and zig compiles for every other architecture (Debian has no musl
/// cross gcc, and zig links the glibc target too). `user_cc` says `CC_<triple>` is already set
/// in lade's environment (then it is used as is).
pub fn c_compiler(
    platform: &Platform,
    rt: &RustTarget,
    host: Option<&Platform>,
    c_crates: &[String],
    user_cc: bool,
) -> Option<CCompiler> {
    if c_crates.is_empty() || user_cc {
        return None;
    }
    let native = is_native(platform, &rt.triple, host);
    match rt.linkage {
        Linkage::Static if native => Some(CCompiler::MuslGcc(Check::Program {
            program: "musl-gcc".into(),
            hint: format!(
                "crates here compile C code ({}) for {}; install a musl C compiler (Debian: apt-get install musl-tools)",
                c_crates.join(", "),
                rt.triple
            ),
        })),
        Linkage::Static => zig_target(platform, Linkage::Static).map(CCompiler::Zig),
        Linkage::Glibc => rt.zig_link.clone().map(CCompiler::Zig),
    }
}

/// zig's target for a platform and linkage (glibc at the cc base's version).
fn zig_target(platform: &Platform, linkage: Linkage) -> Option<String> {
    let libc = match linkage {
        Linkage::Static => Libc::Musl,
        Linkage::Glibc => Libc::Glibc,
    };
    zig::target(&platform.architecture, platform.variant.as_deref(), libc)
}

fn is_native(platform: &Platform, triple: &str, host: Option<&Platform>) -> bool {
    host.is_some_and(|h| h.architecture == platform.architecture)
        && triple.starts_with(native_prefix(platform))
}

/// The variable cc-rs reads a target's C compiler from.
pub fn cc_env(triple: &str) -> String {
    format!("CC_{}", triple.replace(['-', '.'], "_"))
}

fn native_prefix(p: &Platform) -> &'static str {
    match p.architecture.as_str() {
        "amd64" => "x86_64-",
        "arm64" => "aarch64-",
        "arm" => "arm",
        "386" => "i686-",
        "ppc64le" => "powerpc64le-",
        "s390x" => "s390x-",
        "riscv64" => "riscv64",
        _ => "\0",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> Platform {
        s.parse().unwrap()
    }

    #[test]
    fn triples() {
        let t = |s, libc| triple_for(&p(s), libc, None).unwrap();
        assert_eq!(
            t("linux/amd64", RustLibc::Musl),
            "x86_64-unknown-linux-musl"
        );
        assert_eq!(
            t("linux/arm64", RustLibc::Musl),
            "aarch64-unknown-linux-musl"
        );
        assert_eq!(t("linux/arm64", RustLibc::Gnu), "aarch64-unknown-linux-gnu");
        assert_eq!(
            t("linux/arm/v7", RustLibc::Musl),
            "armv7-unknown-linux-musleabihf"
        );
        assert_eq!(
            t("linux/arm/v6", RustLibc::Gnu),
            "arm-unknown-linux-gnueabihf"
        );
        assert_eq!(
            triple_for(
                &p("linux/amd64"),
                RustLibc::Musl,
                Some("x86_64-unknown-linux-gnu")
            )
            .unwrap(),
            "x86_64-unknown-linux-gnu"
        );
        assert_eq!(
            linkage_of("aarch64-unknown-linux-musl").unwrap(),
            Linkage::Static
        );
        assert_eq!(
            linkage_of("armv7-unknown-linux-gnueabihf").unwrap(),
            Linkage::Glibc
        );
        assert!(linkage_of("wasm32-wasip1").is_err());
        assert_eq!(
            linker_env("aarch64-unknown-linux-musl"),
            "CARGO_TARGET_AARCH64_UNKNOWN_LINUX_MUSL_LINKER"
        );
    }

    #[test]
    fn linkers() {
        let amd64 = p("linux/amd64");
        let arm64 = p("linux/arm64");
        let musl = plan_target(
            &arm64,
            "aarch64-unknown-linux-musl",
            Some(&amd64),
            None,
            false,
        )
        .unwrap();
        assert_eq!(musl.linker.as_deref(), Some("rust-lld"));
        assert_eq!(musl.linker_check, None);

        let native = plan_target(
            &amd64,
            "x86_64-unknown-linux-gnu",
            Some(&amd64),
            None,
            false,
        )
        .unwrap();
        assert_eq!(
            native.linker, None,
            "the host's cc links native glibc binaries"
        );
        assert!(
            matches!(native.linker_check, Some(Check::Program { ref program, .. }) if program == "cc")
        );

        let cross = plan_target(
            &arm64,
            "aarch64-unknown-linux-gnu",
            Some(&amd64),
            None,
            false,
        )
        .unwrap();
        assert_eq!(cross.linker, None, "the build sets zig's wrapper");
        assert_eq!(cross.linker_check, None);
        assert_eq!(cross.zig_link.as_deref(), Some("aarch64-linux-gnu.2.36"));

        let c = ["aws-lc-sys".to_string()];
        let native_musl = plan_target(
            &amd64,
            "x86_64-unknown-linux-musl",
            Some(&amd64),
            None,
            false,
        )
        .unwrap();
        let host = Some(&amd64);
        assert!(
            matches!(
                c_compiler(&amd64, &native_musl, host, &c, false),
                Some(CCompiler::MuslGcc(Check::Program { program, hint }))
                    if program == "musl-gcc" && hint.contains("musl-tools") && hint.contains("aws-lc-sys")
            ),
            "the host's own musl target keeps the host's compiler"
        );
        assert_eq!(
            c_compiler(&arm64, &musl, host, &c, false),
            Some(CCompiler::Zig("aarch64-linux-musl".into()))
        );
        assert_eq!(
            c_compiler(&arm64, &cross, host, &c, false),
            Some(CCompiler::Zig("aarch64-linux-gnu.2.36".into()))
        );
        assert_eq!(
            c_compiler(&amd64, &native, host, &c, false),
            None,
            "the host's cc for its own glibc target"
        );
        assert_eq!(
            c_compiler(&arm64, &musl, host, &c, true),
            None,
            "the user's CC_<triple>"
        );
        assert_eq!(
            c_compiler(&arm64, &musl, host, &[], false),
            None,
            "no C code"
        );

        let theirs = plan_target(
            &arm64,
            "aarch64-unknown-linux-gnu",
            Some(&amd64),
            None,
            true,
        )
        .unwrap();
        assert_eq!(theirs.linker, None, "the project's cargo config names it");
    }
}
