//! cosign's simple signing: a signature of manifest `D` in repository `R` is an OCI image
//! manifest tagged `sha256-<hex of D>.sig` whose one layer is the payload
//! `{"critical":{"identity":{"docker-reference":R},"image":{"docker-manifest-digest":D},"type":"cosign container image signature"},"optional":null}`
//! with the base64 signature over those bytes in the layer annotation
//! `dev.cosignproject.cosign/signature`; `cosign verify --key` accepts it. Every document is
//! canonical JSON, so the same key and image always give the same signature manifest.

use super::key::{SigningKey, sign};
use crate::digest::Digest;
use crate::image::canonical;
use crate::oci::{OCI_CONFIG, OCI_MANIFEST};
use base64::Engine;
use serde::{Deserialize, Serialize};
use serde_json::json;
use std::collections::BTreeMap;

pub const SIMPLE_SIGNING: &str = "application/vnd.dev.cosign.simplesigning.v1+json";
pub const SIGNATURE_ANNOTATION: &str = "dev.cosignproject.cosign/signature";
pub const SIGNATURE_TYPE: &str = "cosign container image signature";

/// `sha256-<hex>.sig`: where the signatures of `digest` are.
pub fn signature_tag(digest: &Digest) -> String {
    format!("{}.sig", fallback_tag(digest))
}

/// `sha256-<hex>`: the referrers tag schema's index of the artifacts about `digest`.
pub fn fallback_tag(digest: &Digest) -> String {
    format!("{}-{}", digest.algorithm(), digest.hex())
}

/// The simple-signing payload.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SimpleSigning {
    pub critical: Critical,
    pub optional: Option<serde_json::Value>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Critical {
    pub identity: Identity,
    pub image: ImageClaim,
    #[serde(rename = "type")]
    pub kind: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Identity {
    #[serde(rename = "docker-reference")]
    pub docker_reference: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImageClaim {
    #[serde(rename = "docker-manifest-digest")]
    pub docker_manifest_digest: String,
}

/// The payload that says `docker_reference` (`registry/repository`) at `digest`.
pub fn payload(docker_reference: &str, digest: &Digest) -> Result<Vec<u8>, serde_json::Error> {
    canonical::to_vec(&SimpleSigning {
        critical: Critical {
            identity: Identity {
                docker_reference: docker_reference.into(),
            },
            image: ImageClaim {
                docker_manifest_digest: digest.to_string(),
            },
            kind: SIGNATURE_TYPE.into(),
        },
        optional: None,
    })
}

/// A signature manifest and the two blobs it names, as the bytes to push.
#[derive(Clone, Debug)]
pub struct SignatureArtifact {
    /// `sha256-<hex>.sig`.
    pub tag: String,
    pub manifest: Vec<u8>,
    pub config: Vec<u8>,
    pub payload: Vec<u8>,
}

impl SignatureArtifact {
    pub fn digest(&self) -> Digest {
        Digest::of(&self.manifest)
    }
}

/// Signs `digest` in `docker_reference` with `key`.
pub fn signature_artifact(
    key: &SigningKey,
    docker_reference: &str,
    digest: &Digest,
) -> Result<SignatureArtifact, serde_json::Error> {
    let payload = payload(docker_reference, digest)?;
    let payload_digest = Digest::of(&payload);
    let signature = base64::engine::general_purpose::STANDARD.encode(sign(key, &payload));
    // The image config cosign writes (go-containerregistry's empty image plus one layer): a
    // valid config, so tools that treat the signature as an image can read it.
    let config = canonical::to_vec(&json!({
        "architecture": "",
        "config": {},
        "created": "0001-01-01T00:00:00Z",
        "history": [{"created": "0001-01-01T00:00:00Z"}],
        "os": "",
        "rootfs": {"type": "layers", "diff_ids": [payload_digest.to_string()]},
    }))?;
    let manifest = canonical::to_vec(&json!({
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": {
            "mediaType": OCI_CONFIG,
            "digest": Digest::of(&config).to_string(),
            "size": config.len(),
        },
        "layers": [{
            "mediaType": SIMPLE_SIGNING,
            "digest": payload_digest.to_string(),
            "size": payload.len(),
            "annotations": {SIGNATURE_ANNOTATION: signature},
        }],
    }))?;
    Ok(SignatureArtifact {
        tag: signature_tag(digest),
        manifest,
        config,
        payload,
    })
}

/// The parts of a signature manifest `lade verify` reads.
#[derive(Clone, Debug, Deserialize)]
pub struct SignatureManifest {
    #[serde(default)]
    pub layers: Vec<LayerDescriptor>,
}

#[derive(Clone, Debug, Deserialize)]
pub struct LayerDescriptor {
    #[serde(rename = "mediaType")]
    pub media_type: String,
    pub digest: Digest,
    pub size: u64,
    #[serde(default)]
    pub annotations: BTreeMap<String, String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payload_is_cosigns_shape() {
        let d = Digest::of(b"x");
        let p = String::from_utf8(payload("localhost:5000/app", &d).unwrap()).unwrap();
        assert_eq!(
            p,
            format!(
                r#"{{"critical":{{"identity":{{"docker-reference":"localhost:5000/app"}},"image":{{"docker-manifest-digest":"{d}"}},"type":"cosign container image signature"}},"optional":null}}"#
            )
        );
        assert_eq!(signature_tag(&d), format!("sha256-{}.sig", d.hex()));
    }
}
