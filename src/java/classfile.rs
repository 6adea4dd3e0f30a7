//! Class-file versions: which Java release a project's bytecode needs.

use super::JavaError;
use super::jar::{EntryKind, Source};
use std::path::Path;

/// Class file major version from the first 8 bytes (0xCAFEBABE, minor u16, major u16); None if
/// not a class file.
pub fn major_version(header: &[u8]) -> Option<u16> {
    if header.len() < 8 || header[..4] != [0xCA, 0xFE, 0xBA, 0xBE] {
        return None;
    }
    let major = u16::from_be_bytes([header[6], header[7]]);
    // 45 is Java 1.0; Mach-O universal binaries share the magic but hold a small count there.
    (major >= 45).then_some(major)
}

/// Java release for a major version: 52 → 8, 61 → 17, 65 → 21 (major - 44).
pub fn java_release(major: u16) -> u16 {
    major.saturating_sub(44)
}

/// Highest major version among .class files under a directory (recursively) or inside a jar;
/// None when there are none. Classes under `META-INF/versions/` (multi-release jars) are left
/// out: they target newer releases on purpose, and the base classes say what the jar needs.
pub fn max_major(path: &Path) -> Result<Option<u16>, JavaError> {
    let mut src = Source::open(path)?;
    max_major_in(&mut src, "")
}

/// [`max_major`] over the entries under the jar-relative `prefix` (empty or ending in `/`).
pub(crate) fn max_major_in(src: &mut Source, prefix: &str) -> Result<Option<u16>, JavaError> {
    let mut max: Option<u16> = None;
    src.for_each_entry(|entry| {
        if entry.kind != EntryKind::File {
            return Ok(());
        }
        let Some(rel) = entry.path.strip_prefix(prefix) else {
            return Ok(());
        };
        if !rel.ends_with(".class") || rel.starts_with("META-INF/versions/") {
            return Ok(());
        }
        if let Some(major) = major_version(&entry.head(8)?) {
            max = Some(max.map_or(major, |m| m.max(major)));
        }
        Ok(())
    })?;
    Ok(max)
}
