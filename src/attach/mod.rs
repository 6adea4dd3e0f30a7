//! Documents attached to a published image as OCI 1.1 referrers: SBOMs and provenance.
//!
//! Each document becomes an artifact manifest whose `subject` is the platform manifest it
//! describes: `artifactType` = the document's media type, config = the empty descriptor, the
//! document as its one layer, and the publish time as `org.opencontainers.image.created`.
//! Every JSON is canonical ([`crate::image::canonical`]) and built only from the image and the
//! publish epoch, so publishing an unchanged image again gives the same artifact digests and a
//! registry already has them.
//!
//! Where they go: [`registry`] pushes them and, for registries without the referrers API,
//! keeps the `sha256-<hex>` fallback index; [`layout`] puts them in an OCI layout, listed in
//! `index.json` as plain manifests with their `subject`.

pub mod layout;
pub mod registry;

use crate::digest::Digest;
use crate::image::canonical;
use crate::oci::{self, JsonBlob, OCI_INDEX, OCI_MANIFEST};
use serde_json::{Value, json};
use std::collections::BTreeMap;

/// The empty JSON blob (`{}`) OCI 1.1 artifacts use as their config.
pub const EMPTY_MEDIA_TYPE: &str = "application/vnd.oci.empty.v1+json";
pub const EMPTY_BYTES: &[u8] = b"{}";
pub const EMPTY_DIGEST: &str =
    "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a";

pub const SPDX_JSON: &str = "application/spdx+json";
pub const CYCLONEDX_JSON: &str = "application/vnd.cyclonedx+json";
pub const IN_TOTO_JSON: &str = "application/vnd.in-toto+json";

#[derive(Debug, thiserror::Error)]
pub enum AttachError {
    #[error("encoding the {artifact_type} artifact manifest")]
    Encode {
        artifact_type: String,
        source: serde_json::Error,
    },
    /// Pushing failed; the registry error names registry, repository and object.
    #[error("{target}: attaching artifacts: {error}")]
    Registry {
        target: String,
        error: Box<crate::registry::RegistryError>,
    },
    #[error("{target}: attaching artifacts: {detail}")]
    Invalid { target: String, detail: String },
    #[error("{target}: attaching artifacts")]
    Layout {
        target: String,
        source: crate::sink::SinkError,
    },
}

/// One document attached to one platform manifest.
#[derive(Clone, Debug)]
pub struct Artifact {
    pub artifact_type: String,
    /// The described manifest's descriptor (media type, digest, size).
    pub subject: JsonBlob,
    /// The document: its bytes are the artifact's one layer.
    pub document: JsonBlob,
    /// The artifact manifest.
    pub manifest: JsonBlob,
    /// The manifest's annotations (also copied into fallback index entries).
    pub annotations: BTreeMap<String, String>,
}

impl Artifact {
    /// The referrer manifest for `document` (canonical bytes of type `artifact_type`) about
    /// `subject`, created at `created` (RFC 3339).
    pub fn new(
        artifact_type: &str,
        subject: &JsonBlob,
        document: Vec<u8>,
        created: &str,
    ) -> Result<Self, AttachError> {
        let document = JsonBlob::new(artifact_type, document);
        let mut annotations = BTreeMap::new();
        annotations.insert(oci::ANNOTATION_CREATED.to_string(), created.to_string());
        let value = json!({
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "artifactType": artifact_type,
            "config": {"mediaType": EMPTY_MEDIA_TYPE, "digest": EMPTY_DIGEST, "size": EMPTY_BYTES.len()},
            "layers": [descriptor_json(&document)],
            "subject": descriptor_json(subject),
            "annotations": annotations,
        });
        let bytes = canonical::to_vec(&value).map_err(|source| AttachError::Encode {
            artifact_type: artifact_type.to_string(),
            source,
        })?;
        Ok(Artifact {
            artifact_type: artifact_type.to_string(),
            subject: subject.clone(),
            document,
            manifest: JsonBlob::new(OCI_MANIFEST, bytes),
            annotations,
        })
    }

    pub fn digest(&self) -> Digest {
        self.manifest.digest()
    }

    /// The entry that lists this artifact in an index: its manifest's descriptor with
    /// `artifactType` and the manifest's annotations, as the referrers API answers.
    pub fn index_entry(&self) -> Value {
        let mut d = descriptor_json(&self.manifest);
        if let Value::Object(m) = &mut d {
            m.insert(
                "artifactType".into(),
                Value::from(self.artifact_type.clone()),
            );
            m.insert("annotations".into(), json!(self.annotations));
        }
        d
    }
}

/// `{mediaType, digest, size}` of a JSON blob.
fn descriptor_json(blob: &JsonBlob) -> Value {
    json!({
        "mediaType": blob.media_type(),
        "digest": blob.digest().to_string(),
        "size": blob.bytes.len(),
    })
}

/// The tag registries without the referrers API keep a subject's referrers under.
pub fn fallback_tag(subject: &Digest) -> String {
    format!("{}-{}", subject.algorithm(), subject.hex())
}

/// What [`merge_index`] decided.
#[derive(Debug, PartialEq)]
pub enum Merged {
    /// Every entry was already there as given: nothing to write.
    Unchanged,
    /// The index to write (canonical bytes).
    Changed(Vec<u8>),
}

/// `existing` (an index, or none) with `entries` added: an entry with the same digest is
/// replaced where it stood, entries other tools put there are kept.
pub fn merge_index(existing: Option<&[u8]>, entries: &[Value]) -> Result<Merged, String> {
    let mut index = match existing {
        Some(bytes) => match serde_json::from_slice::<Value>(bytes) {
            Ok(Value::Object(m)) => m,
            Ok(_) => return Err("the existing referrers index is not a JSON object".into()),
            Err(e) => return Err(format!("the existing referrers index is not JSON: {e}")),
        },
        None => serde_json::Map::new(),
    };
    let mut manifests = match index.remove("manifests") {
        Some(Value::Array(a)) => a,
        None | Some(Value::Null) => Vec::new(),
        Some(_) => return Err("the existing referrers index has no manifests array".into()),
    };
    let mut changed = existing.is_none();
    for entry in entries {
        let digest = entry.get("digest");
        match manifests.iter().position(|m| m.get("digest") == digest) {
            Some(i) if &manifests[i] == entry => {}
            Some(i) => {
                manifests[i] = entry.clone();
                changed = true;
            }
            None => {
                manifests.push(entry.clone());
                changed = true;
            }
        }
    }
    if !changed {
        return Ok(Merged::Unchanged);
    }
    index.insert("schemaVersion".into(), Value::from(2));
    index.insert("mediaType".into(), Value::from(OCI_INDEX));
    index.insert("manifests".into(), Value::Array(manifests));
    canonical::to_vec(&Value::Object(index))
        .map(Merged::Changed)
        .map_err(|e| format!("encoding the referrers index: {e}"))
}

/// What was attached to one output, for `--json`.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Attached {
    /// The platform manifest described.
    pub subject: Digest,
    pub artifact_type: String,
    /// The artifact manifest's digest.
    pub digest: Digest,
    /// Where it is: `REGISTRY/REPO@sha256:…` or `oci:PATH@sha256:…`.
    pub reference: String,
}

/// What attaching to one output transferred.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct AttachStats {
    /// Blobs sent (documents and the empty config).
    pub blobs_uploaded: u64,
    /// Artifact manifests sent.
    pub manifests_pushed: u64,
    /// `sha256-<hex>` fallback indexes written.
    pub indexes_pushed: u64,
}

/// Everything attached to one output.
#[derive(Clone, Debug, serde::Serialize)]
pub struct OutputAttachments {
    /// The `--to` value as given.
    pub target: String,
    pub artifacts: Vec<Attached>,
    pub stats: AttachStats,
}

#[cfg(test)]
mod tests;
