//! Adding manifests that are not tags to an existing OCI layout: referrers (artifact
//! manifests with a `subject`) and their blobs. `index.json` lists each by its descriptor with
//! no `ref.name`, as OCI 1.1 layouts hold referrers, so tools that list a layout's referrers
//! (ORAS's `--oci-layout`, regclient) find them by `subject`; entries with the same digest are
//! replaced, everything else is kept.

use super::SinkError;
use super::oci_layout::{TempFile, invalid, lock_layout, open_layout};
use crate::digest::Digest;
use crate::image::canonical;
use crate::oci::OCI_INDEX;
use serde_json::{Map, Value};
use std::fs;
use std::path::Path;

/// Writes `blobs` (digest and exact bytes) into the layout at `dir` (`--to` value `t`), which
/// must already exist, then adds `entries` (descriptors) to its `index.json`. Returns how
/// many entries were new or changed.
pub fn add(
    t: &str,
    dir: &Path,
    blobs: &[(Digest, &[u8])],
    entries: &[Value],
) -> Result<u64, SinkError> {
    let blob_dir = dir.join("blobs").join("sha256");
    if open_layout(t, dir)?.is_none() {
        return Err(invalid(
            t,
            format!("{} has no index.json to add to", dir.display()),
        ));
    }
    for (digest, bytes) in blobs {
        let dest = blob_dir.join(digest.hex());
        if fs::metadata(&dest).is_ok_and(|m| m.is_file() && m.len() == bytes.len() as u64) {
            continue;
        }
        let mut tmp = TempFile::create(t, &dest)?;
        tmp.write_all(bytes)?;
        tmp.commit()?;
    }
    // Read again under the lock, right before it is replaced, so concurrent writers' tags
    // and referrers stay.
    let _lock = lock_layout(t, dir)?;
    let index_path = dir.join("index.json");
    let mut index = match open_layout(t, dir)? {
        Some(Value::Object(m)) => m,
        _ => Map::new(),
    };
    let mut manifests = match index.remove("manifests") {
        Some(Value::Array(a)) => a,
        _ => Vec::new(),
    };
    let mut changed = 0;
    for entry in entries {
        match manifests
            .iter()
            .position(|m| m.get("digest") == entry.get("digest"))
        {
            Some(i) if &manifests[i] == entry => {}
            Some(i) => {
                manifests[i] = entry.clone();
                changed += 1;
            }
            None => {
                manifests.push(entry.clone());
                changed += 1;
            }
        }
    }
    if changed == 0 {
        return Ok(0);
    }
    index.insert("schemaVersion".into(), Value::from(2));
    index
        .entry("mediaType")
        .or_insert_with(|| Value::from(OCI_INDEX));
    index.insert("manifests".into(), Value::Array(manifests));
    let bytes = canonical::to_vec(&Value::Object(index))
        .map_err(|e| invalid(t, format!("encoding {}: {e}", index_path.display())))?;
    let mut tmp = TempFile::create(t, &index_path)?;
    tmp.write_all(&bytes)?;
    tmp.commit()?;
    Ok(changed)
}
