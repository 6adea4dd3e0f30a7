//! What Cargo.lock tells before building: which locked packages compile C code (they depend
//! on `cc` or `cmake`), because those need a C compiler for the target, which rust-lld alone
//! does not give. The lockfile lists dependencies for every platform, so a crate that builds
//! C only on another OS counts too; that errs towards asking for a compiler.

use crate::detect::DetectError;
use serde::Deserialize;
use std::path::Path;

#[derive(Debug, Default, Deserialize)]
struct Lockfile {
    #[serde(default)]
    package: Vec<LockedPackage>,
}

#[derive(Debug, Deserialize)]
struct LockedPackage {
    name: String,
    #[serde(default)]
    dependencies: Vec<String>,
}

/// Names of locked packages that build C code, sorted.
pub fn c_building_packages(path: &Path) -> Result<Vec<String>, DetectError> {
    let text = std::fs::read_to_string(path).map_err(|source| DetectError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    parse(&text, path)
}

fn parse(text: &str, path: &Path) -> Result<Vec<String>, DetectError> {
    let lock: Lockfile = toml::from_str(text).map_err(|e| DetectError::Invalid {
        file: path.to_path_buf(),
        detail: e.message().trim().to_string(),
    })?;
    let mut out: Vec<String> = lock
        .package
        .into_iter()
        .filter(|p| {
            p.dependencies.iter().any(|d| {
                // `name`, `name version` or `name version (source)`.
                matches!(d.split_whitespace().next(), Some("cc" | "cmake"))
            })
        })
        .map(|p| p.name)
        .collect();
    out.sort();
    out.dedup();
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_crates_that_compile_c() {
        let lock = r#"
version = 4

[[package]]
name = "aws-lc-sys"
version = "0.47.0"
dependencies = ["cc", "cmake", "dunce"]

[[package]]
name = "zstd-sys"
version = "2.0.0"
dependencies = ["cc 1.2.0 (registry+https://example.invalid/index)", "pkg-config"]

[[package]]
name = "itoa"
version = "1.0.19"

[[package]]
name = "ccx"
version = "1.0.0"
dependencies = ["ccache"]
"#;
        assert_eq!(
            parse(lock, Path::new("Cargo.lock")).unwrap(),
            ["aws-lc-sys", "zstd-sys"]
        );
    }
}
