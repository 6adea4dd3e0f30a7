//! Artifacts in an OCI layout output: the documents, the empty config and the artifact
//! manifests go to `blobs/sha256/`, and `index.json` lists each artifact manifest (with its
//! `artifactType` and annotations, no `ref.name`). The manifests carry their `subject`, which
//! is how OCI 1.1 layouts are searched for referrers; no fallback tag is needed in a layout.

use super::{Artifact, AttachError, AttachStats, Attached, EMPTY_BYTES};
use crate::digest::Digest;
use std::path::Path;

/// Adds `artifacts` to the layout at `path` (`--to` value `target`), already written.
pub fn attach(
    target: &str,
    path: &Path,
    artifacts: &[Artifact],
) -> Result<(Vec<Attached>, AttachStats), AttachError> {
    let mut blobs: Vec<(Digest, &[u8])> = vec![(Digest::of(EMPTY_BYTES), EMPTY_BYTES)];
    for a in artifacts {
        for blob in [&a.document, &a.manifest] {
            if !blobs.iter().any(|(d, _)| d == &blob.digest()) {
                blobs.push((blob.digest(), &blob.bytes));
            }
        }
    }
    let entries: Vec<_> = artifacts.iter().map(Artifact::index_entry).collect();
    let added =
        crate::sink::layout_referrers::add(target, path, &blobs, &entries).map_err(|source| {
            AttachError::Layout {
                target: target.to_string(),
                source,
            }
        })?;
    let attached = artifacts
        .iter()
        .map(|a| Attached {
            subject: a.subject.digest(),
            artifact_type: a.artifact_type.clone(),
            digest: a.digest(),
            reference: format!("{target}@{}", a.digest()),
        })
        .collect();
    let stats = AttachStats {
        manifests_pushed: added,
        ..Default::default()
    };
    Ok((attached, stats))
}
