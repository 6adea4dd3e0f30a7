//! A cache entry as an OCI artifact: a manifest tagged by the layer's key (`lade-<hex>`),
//! whose config is the entry document (what the layer is, which tools made it, its SBOM part)
//! and whose one layer is the image layer itself, so the registry keeps the blob while the
//! entry exists and can mount it into any repository of the same registry.

use super::keys::ToolUse;
use crate::digest::Digest;
use oci_spec::image::Descriptor;
use serde::{Deserialize, Serialize};
use serde_json::json;

pub const ARTIFACT_TYPE: &str = "application/vnd.dev.lade.cache.v1";
pub const ENTRY_MEDIA_TYPE: &str = "application/vnd.dev.lade.cache.entry.v1+json";
pub const KEY_ANNOTATION: &str = "dev.lade.cache.key";
/// An entry document is small; a bigger config is not one of lade's.
pub const ENTRY_LIMIT: usize = 8 << 20;

/// The tag an entry is found by.
pub fn tag(key: &Digest) -> String {
    format!("lade-{}", key.hex())
}

/// What a cached layer is, enough to put it in a manifest and config without its bytes.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LayerRecord {
    pub media_type: String,
    pub digest: Digest,
    pub size: u64,
    pub diff_id: Digest,
    /// The tar's size, for `--json`'s uncompressed sizes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tar_size: Option<u64>,
}

/// A tool a producing step ran, as the machine that built the layer found it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ToolRecord {
    #[serde(flatten)]
    pub tool: ToolUse,
    /// The executable's digest, or what the version command printed (paths normalized).
    pub identity: String,
}

/// The entry document (the artifact's config).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Entry {
    pub key: Digest,
    pub platform: String,
    /// The layer's name in the plan, for people reading the repository.
    pub name: String,
    pub layer: LayerRecord,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tools: Vec<ToolRecord>,
    /// What the layer adds to an SBOM ([`crate::sbom::LayerPart`]), so an image made from
    /// cached layers gets the same SBOM without their files.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sbom: Option<crate::sbom::LayerPart>,
}

impl Entry {
    pub fn layer_descriptor(&self) -> Descriptor {
        crate::oci::descriptor(&self.layer.media_type, self.layer.size, &self.layer.digest)
    }

    /// The entry's canonical bytes and the artifact manifest's, which references them.
    pub fn encode(&self) -> Result<(Vec<u8>, Vec<u8>), serde_json::Error> {
        let entry = crate::image::canonical::to_vec(self)?;
        let manifest = json!({
            "schemaVersion": 2,
            "mediaType": crate::oci::OCI_MANIFEST,
            "artifactType": ARTIFACT_TYPE,
            "config": {
                "mediaType": ENTRY_MEDIA_TYPE,
                "digest": Digest::of(&entry),
                "size": entry.len(),
            },
            "layers": [self.layer_descriptor()],
            "annotations": { KEY_ANNOTATION: self.key.hex() },
        });
        Ok((entry, crate::image::canonical::to_vec(&manifest)?))
    }
}

/// The parts of an artifact manifest an entry is checked against.
#[derive(Debug, Deserialize)]
pub struct ArtifactManifest {
    pub config: Descriptor,
    pub layers: Vec<Descriptor>,
    #[serde(default)]
    pub annotations: std::collections::BTreeMap<String, String>,
}

/// Why an entry found under a key is not used.
#[derive(Debug, thiserror::Error)]
pub enum Invalid {
    #[error("its manifest is not a lade cache entry: {0}")]
    Manifest(String),
    #[error("it is the entry of another key ({0})")]
    OtherKey(String),
    #[error("its document does not parse: {0}")]
    Document(serde_json::Error),
    #[error("its document names layer {named} but the manifest holds {held}")]
    LayerMismatch { named: Digest, held: Digest },
}

/// A descriptor's digest as lade's type, when it is a sha256 digest.
pub fn digest(d: &Descriptor) -> Option<Digest> {
    d.digest().to_string().parse().ok()
}

/// Reads a manifest fetched by an entry's tag; the config descriptor to fetch next.
pub fn check_manifest(bytes: &[u8], key: &Digest) -> Result<ArtifactManifest, Invalid> {
    let m: ArtifactManifest =
        serde_json::from_slice(bytes).map_err(|e| Invalid::Manifest(e.to_string()))?;
    if let Some(d) = std::iter::once(&m.config)
        .chain(&m.layers)
        .find(|d| digest(d).is_none())
    {
        return Err(Invalid::Manifest(format!(
            "digest {} is not sha256",
            d.digest()
        )));
    }
    if m.config.media_type().to_string() != ENTRY_MEDIA_TYPE {
        return Err(Invalid::Manifest(format!(
            "config media type {}",
            m.config.media_type()
        )));
    }
    if m.layers.len() != 1 {
        return Err(Invalid::Manifest(format!("{} layers", m.layers.len())));
    }
    match m.annotations.get(KEY_ANNOTATION) {
        Some(k) if k == key.hex() => Ok(m),
        Some(k) => Err(Invalid::OtherKey(k.clone())),
        None => Err(Invalid::Manifest(format!("no {KEY_ANNOTATION} annotation"))),
    }
}

/// Reads the entry document (its digest already checked against the manifest's config) and
/// checks it against the manifest and the key.
pub fn check_entry(
    bytes: &[u8],
    manifest: &ArtifactManifest,
    key: &Digest,
) -> Result<Entry, Invalid> {
    let entry: Entry = serde_json::from_slice(bytes).map_err(Invalid::Document)?;
    if &entry.key != key {
        return Err(Invalid::OtherKey(entry.key.hex().to_string()));
    }
    let held = digest(&manifest.layers[0]).expect("checked by check_manifest");
    if entry.layer.digest != held || entry.layer.size != manifest.layers[0].size() {
        return Err(Invalid::LayerMismatch {
            named: entry.layer.digest.clone(),
            held,
        });
    }
    Ok(entry)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry() -> Entry {
        Entry {
            key: Digest::of(b"key"),
            platform: "linux/amd64".into(),
            name: "binary".into(),
            layer: LayerRecord {
                media_type: crate::layer::GZIP_LAYER_MEDIA_TYPE.into(),
                digest: Digest::of(b"layer"),
                size: 5,
                diff_id: Digest::of(b"tar"),
                tar_size: Some(10),
            },
            tools: vec![],
            sbom: None,
        }
    }

    #[test]
    fn an_entry_reads_back_and_is_checked_against_its_manifest_and_key() {
        let e = entry();
        let (doc, manifest) = e.encode().unwrap();
        assert_eq!(
            e.encode().unwrap(),
            (doc.clone(), manifest.clone()),
            "canonical"
        );
        let m = check_manifest(&manifest, &e.key).unwrap();
        assert_eq!(crate::oci::digest_of(&m.config), Digest::of(&doc));
        assert_eq!(check_entry(&doc, &m, &e.key).unwrap(), e);

        let other = Digest::of(b"other");
        assert!(matches!(
            check_manifest(&manifest, &other),
            Err(Invalid::OtherKey(_))
        ));
        let mut lying = e.clone();
        lying.layer.digest = Digest::of(b"not the layer");
        let lying_doc = crate::image::canonical::to_vec(&lying).unwrap();
        assert!(matches!(
            check_entry(&lying_doc, &m, &e.key),
            Err(Invalid::LayerMismatch { .. })
        ));
    }
}
