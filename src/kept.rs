//! Derived data kept in lade's cache so it is computed once: a base's file listing, its SBOM
//! scan, a layer's tar size. Best effort both ways — a file that is missing or does not parse
//! is computed again, and a write that fails costs a recomputation next time — and written
//! through a temporary file renamed into place, so a concurrent lade reads the old file or the
//! new one, never half of one.

use serde::Serialize;
use serde::de::DeserializeOwned;
use std::io::Write;
use std::path::Path;

/// The JSON value kept at `path`, if there is one that parses.
pub fn read_json<T: DeserializeOwned>(path: &Path) -> Option<T> {
    serde_json::from_slice(&std::fs::read(path).ok()?).ok()
}

/// Keeps `value` as JSON at `path`.
pub fn keep_json<T: Serialize>(path: &Path, value: &T) {
    if let Ok(json) = serde_json::to_vec(value) {
        keep(path, &json);
    }
}

/// Keeps `bytes` at `path`, creating its directory.
pub fn keep(path: &Path, bytes: &[u8]) {
    let Some(dir) = path.parent() else { return };
    if std::fs::create_dir_all(dir).is_err() {
        return;
    }
    if let Ok(mut tmp) = tempfile::NamedTempFile::new_in(dir)
        && tmp.write_all(bytes).is_ok()
    {
        let _ = tmp.persist(path);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kept_values_read_back_and_damaged_ones_do_not() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("a/b/v.json");
        assert_eq!(read_json::<Vec<u32>>(&p), None);
        keep_json(&p, &vec![1u32, 2]);
        assert_eq!(read_json::<Vec<u32>>(&p), Some(vec![1, 2]));
        keep(&p, b"{not json");
        assert_eq!(read_json::<Vec<u32>>(&p), None);
        assert_eq!(
            std::fs::read_dir(p.parent().unwrap()).unwrap().count(),
            1,
            "no temporary left"
        );
    }
}
