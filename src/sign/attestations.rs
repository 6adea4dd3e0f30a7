//! What `lade verify` checks of the artifacts attached to an image: each one's `subject` is
//! the manifest it is listed for, and an in-toto attestation is a DSSE envelope signed by the
//! key whose statement names that manifest.

use super::dsse::{IN_TOTO, verified_body};
use super::key::PublicKey;
use super::verify::Referrer;
use crate::digest::Digest;
use crate::oci::reference::Reference;
use crate::provenance::dsse::Envelope;
use crate::registry::{RegistryClient, RegistryError};
use serde::Deserialize;

/// Attestations are small JSON documents; a larger blob is not one lade wrote.
const MAX_DOCUMENT: usize = 16 << 20;

#[derive(Deserialize)]
struct ArtifactManifest {
    #[serde(default)]
    subject: Option<Descriptor>,
    #[serde(default)]
    layers: Vec<Descriptor>,
}

#[derive(Deserialize)]
struct Descriptor {
    digest: Digest,
}

/// The broken checks of `referrers`, listed for `digest`, one line each.
pub async fn problems(
    client: &RegistryClient,
    r: &Reference,
    digest: &Digest,
    referrers: &[Referrer],
    key: &PublicKey,
) -> Result<Vec<String>, RegistryError> {
    let mut problems = Vec::new();
    for referrer in referrers {
        let m = client
            .get_manifest_at(&r.registry, &r.repository, referrer.digest.as_str())
            .await?;
        let Ok(artifact) = serde_json::from_slice::<ArtifactManifest>(&m.bytes) else {
            problems.push(format!(
                "attestation: {} is not a manifest",
                referrer.digest
            ));
            continue;
        };
        // An entry without a subject was put there by another tool: nothing to check.
        if let Some(s) = &artifact.subject
            && s.digest != *digest
        {
            problems.push(format!(
                "subject: artifact {} is about {}, not {digest} it is listed for",
                referrer.digest, s.digest
            ));
        }
        if referrer.artifact_type.as_deref() != Some(IN_TOTO) {
            continue;
        }
        let Some(layer) = artifact.layers.first() else {
            problems.push(format!("attestation: {} has no document", referrer.digest));
            continue;
        };
        let bytes = client
            .fetch_blob_bytes(&r.registry, &r.repository, &layer.digest, MAX_DOCUMENT)
            .await?;
        problems.extend(envelope_problems(&bytes, &referrer.digest, digest, key));
    }
    Ok(problems)
}

/// The broken checks of one DSSE envelope attached to `digest`.
fn envelope_problems(
    bytes: &[u8],
    artifact: &Digest,
    digest: &Digest,
    key: &PublicKey,
) -> Vec<String> {
    let Ok(envelope) = serde_json::from_slice::<Envelope>(bytes) else {
        return vec![format!("attestation: {artifact} is not a DSSE envelope")];
    };
    let Some(body) = verified_body(key, &envelope) else {
        return vec![format!(
            "attestation: {artifact} is not signed by key {}",
            key.keyid()
        )];
    };
    let statement: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
    let named = statement["subject"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|s| s["digest"]["sha256"].as_str())
        .any(|hex| hex == digest.hex());
    if named {
        Vec::new()
    } else {
        vec![format!(
            "attestation: the statement in {artifact} does not name {digest}"
        )]
    }
}
