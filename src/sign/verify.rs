//! `lade verify`: for the index and each platform manifest a reference names, the signature
//! under `sha256-<hex>.sig` must be a simple-signing payload naming that digest and that
//! repository, signed by the given key. A broken check is a finding in the report, not an
//! error: the report says every one. The artifacts a `sha256-<hex>` fallback index lists
//! (SBOMs, attestations) are listed too.

use super::SignError;
use super::cosign::{
    SIGNATURE_ANNOTATION, SIGNATURE_TYPE, SIMPLE_SIGNING, SignatureManifest, SimpleSigning,
    fallback_tag, signature_tag,
};
use super::key::PublicKey;
use crate::digest::Digest;
use crate::oci::reference::{Reference, same_registry};
use crate::oci::{DOCKER_MANIFEST_LIST, OCI_INDEX};
use crate::registry::{Manifest, RegistryClient, RegistryError};
use base64::Engine;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// A simple-signing payload is a few hundred bytes; refuse to read large blobs as one.
const MAX_PAYLOAD: usize = 64 << 10;

#[derive(Clone, Debug, Serialize)]
pub struct VerifyReport {
    /// The reference as resolved: `registry/repository@digest`.
    pub reference: String,
    pub digest: Digest,
    /// The public key's id ([`PublicKey::keyid`]).
    pub key: String,
    /// The root first (index or manifest), then each platform manifest of an index.
    pub images: Vec<Checked>,
}

/// What was found for one manifest or index.
#[derive(Clone, Debug, Serialize)]
pub struct Checked {
    pub digest: Digest,
    /// `index` or `manifest`.
    pub kind: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub platform: Option<String>,
    /// A signature by the key, naming this digest and repository, is attached.
    pub signed: bool,
    /// The signature manifest's digest, when there is one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub signature: Option<Digest>,
    /// Artifacts listed in the `sha256-<hex>` fallback index.
    pub referrers: Vec<Referrer>,
    /// Each broken check: `CHECK: what is wrong`.
    pub problems: Vec<String>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Referrer {
    pub digest: Digest,
    #[serde(rename = "mediaType", default)]
    pub media_type: String,
    #[serde(
        rename = "artifactType",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub artifact_type: Option<String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
}

impl VerifyReport {
    /// Every broken check, one line each, naming the image it is about.
    pub fn failures(&self) -> Vec<String> {
        self.images
            .iter()
            .flat_map(|c| {
                c.problems
                    .iter()
                    .map(move |p| format!("{}: {p}", c.label()))
            })
            .collect()
    }

    pub fn ok(&self) -> bool {
        self.images
            .iter()
            .all(|c| c.signed && c.problems.is_empty())
    }

    /// What was found, for people.
    pub fn lines(&self) -> Vec<String> {
        let mut out = vec![format!("{} (key {})", self.reference, self.key)];
        for c in &self.images {
            let state = match (&c.signature, c.signed) {
                (Some(s), true) => format!("signed by the key (signature {s})"),
                (Some(s), false) => format!("NOT signed by the key (signature {s})"),
                (None, _) => "NOT signed (no signature)".to_string(),
            };
            out.push(format!("  {}: {state}", c.label()));
            for r in &c.referrers {
                let kind = r.artifact_type.as_deref().unwrap_or(&r.media_type);
                out.push(format!("    referrer {} {kind}", r.digest));
            }
        }
        out
    }
}

impl Checked {
    fn label(&self) -> String {
        match &self.platform {
            Some(p) => format!("{} {p} {}", self.kind, self.digest),
            None => format!("{} {}", self.kind, self.digest),
        }
    }
}

#[derive(Deserialize)]
struct IndexDoc {
    #[serde(default)]
    manifests: Vec<IndexEntry>,
}

#[derive(Deserialize)]
struct IndexEntry {
    digest: Digest,
    #[serde(default)]
    platform: Option<PlatformDoc>,
}

#[derive(Deserialize)]
struct PlatformDoc {
    os: String,
    architecture: String,
    #[serde(default)]
    variant: Option<String>,
}

/// Checks the signatures of what `reference` names, with `key`.
pub async fn verify(
    client: &RegistryClient,
    reference: &Reference,
    key: &PublicKey,
) -> Result<VerifyReport, SignError> {
    let fetch_err = |e: RegistryError| SignError::Fetch {
        reference: reference.to_string(),
        source: Box::new(e),
    };
    let root = client.get_manifest(reference).await.map_err(fetch_err)?;
    let is_index = [OCI_INDEX, DOCKER_MANIFEST_LIST].contains(&root.media_type.as_str());
    let mut subjects = vec![(
        root.digest.clone(),
        if is_index { "index" } else { "manifest" },
        None,
    )];
    if is_index {
        let doc: IndexDoc = parse(&root, reference)?;
        subjects.extend(doc.manifests.into_iter().map(|m| {
            let platform = m.platform.map(|p| match p.variant {
                Some(v) => format!("{}/{}/{v}", p.os, p.architecture),
                None => format!("{}/{}", p.os, p.architecture),
            });
            (m.digest, "manifest", platform)
        }));
    }
    let mut images = Vec::new();
    for (digest, kind, platform) in subjects {
        let mut c = check_signature(client, reference, &digest, key)
            .await
            .map_err(fetch_err)?;
        c.kind = kind;
        c.platform = platform;
        c.referrers = referrers(client, reference, &digest)
            .await
            .map_err(fetch_err)?;
        let attached = super::attestations::problems(client, reference, &digest, &c.referrers, key)
            .await
            .map_err(fetch_err)?;
        c.problems.extend(attached);
        images.push(c);
    }
    Ok(VerifyReport {
        reference: reference.with_digest(&root.digest).to_string(),
        digest: root.digest,
        key: key.keyid(),
        images,
    })
}

fn parse<T: for<'de> Deserialize<'de>>(m: &Manifest, r: &Reference) -> Result<T, SignError> {
    serde_json::from_slice(&m.bytes).map_err(|source| SignError::NotJson {
        reference: r.to_string(),
        source,
    })
}

/// A manifest by tag, or `None` when the repository has no such tag.
async fn manifest_if_any(
    client: &RegistryClient,
    r: &Reference,
    tag: &str,
) -> Result<Option<Manifest>, RegistryError> {
    match client
        .get_manifest_at(&r.registry, &r.repository, tag)
        .await
    {
        Ok(m) => Ok(Some(m)),
        Err(RegistryError::Status { status: 404, .. }) => Ok(None),
        Err(e) => Err(e),
    }
}

async fn check_signature(
    client: &RegistryClient,
    r: &Reference,
    digest: &Digest,
    key: &PublicKey,
) -> Result<Checked, RegistryError> {
    let mut c = Checked {
        digest: digest.clone(),
        kind: "manifest",
        platform: None,
        signed: false,
        signature: None,
        referrers: Vec::new(),
        problems: Vec::new(),
    };
    let tag = signature_tag(digest);
    let Some(sig) = manifest_if_any(client, r, &tag).await? else {
        c.problems
            .push(format!("signature: missing (no tag {tag} in {})", r.name()));
        return Ok(c);
    };
    c.signature = Some(sig.digest.clone());
    let layers: Vec<_> = match serde_json::from_slice::<SignatureManifest>(&sig.bytes) {
        Ok(m) => m
            .layers
            .into_iter()
            .filter(|l| l.media_type == SIMPLE_SIGNING)
            .collect(),
        Err(_) => Vec::new(),
    };
    if layers.is_empty() {
        c.problems
            .push(format!("signature: {tag} has no {SIMPLE_SIGNING} layer"));
        return Ok(c);
    }
    let mut problems = Vec::new();
    for (i, layer) in layers.iter().enumerate() {
        let found = match client
            .fetch_blob_bytes(&r.registry, &r.repository, &layer.digest, MAX_PAYLOAD)
            .await
        {
            Ok(payload) => layer_problems(
                &payload,
                layer.annotations.get(SIGNATURE_ANNOTATION),
                r,
                digest,
                key,
            ),
            Err(e) => vec![format!("payload: {e}")],
        };
        if found.is_empty() {
            // Another signer's layer beside a good one is not a problem.
            c.signed = true;
            return Ok(c);
        }
        let prefix = if layers.len() > 1 {
            format!("layer {i}: ")
        } else {
            String::new()
        };
        problems.extend(found.into_iter().map(|p| format!("{prefix}{p}")));
    }
    c.problems = problems;
    Ok(c)
}

/// The broken checks of one simple-signing layer; empty when it is a good signature.
fn layer_problems(
    payload: &[u8],
    signature: Option<&String>,
    r: &Reference,
    digest: &Digest,
    key: &PublicKey,
) -> Vec<String> {
    let mut problems = Vec::new();
    match serde_json::from_slice::<SimpleSigning>(payload) {
        Err(_) => problems.push("payload: not a cosign simple-signing document".to_string()),
        Ok(p) => {
            if p.critical.kind != SIGNATURE_TYPE {
                problems.push(format!(
                    "payload: type is '{}', not '{SIGNATURE_TYPE}'",
                    p.critical.kind
                ));
            }
            let named = &p.critical.image.docker_manifest_digest;
            if named != digest.as_str() {
                problems.push(format!(
                    "digest: the signature is for {named}, not {digest} it is attached to"
                ));
            }
            let claimed = &p.critical.identity.docker_reference;
            let same_repo = Reference::parse(claimed).is_ok_and(|c| {
                same_registry(&c.registry, &r.registry) && c.repository == r.repository
            });
            if !same_repo {
                problems.push(format!(
                    "reference: the signature is for repository {claimed}, not {}",
                    r.name()
                ));
            }
        }
    }
    let b64 = base64::engine::general_purpose::STANDARD;
    match signature.map(|s| b64.decode(s)) {
        None => problems.push(format!("signature: no {SIGNATURE_ANNOTATION} annotation")),
        Some(Err(_)) => problems.push("signature: the annotation is not base64".to_string()),
        Some(Ok(sig)) if !key.verify(payload, &sig) => problems.push(format!(
            "signature: does not verify with key {} over the payload",
            key.keyid()
        )),
        Some(Ok(_)) => {}
    }
    problems
}

/// The artifacts the `sha256-<hex>` fallback index lists for `digest`; none when it is absent.
async fn referrers(
    client: &RegistryClient,
    r: &Reference,
    digest: &Digest,
) -> Result<Vec<Referrer>, RegistryError> {
    #[derive(Deserialize)]
    struct Listing {
        #[serde(default)]
        manifests: Vec<Referrer>,
    }
    let Some(index) = manifest_if_any(client, r, &fallback_tag(digest)).await? else {
        return Ok(Vec::new());
    };
    // Something else under that tag is not a listing: there is nothing to list.
    Ok(serde_json::from_slice::<Listing>(&index.bytes)
        .map(|l| l.manifests)
        .unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sign::cosign::signature_artifact;
    use crate::sign::key::SigningKey;

    const KEY: &str = "-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgkGQN6TWySUIcD9y6
DMoqCyWTa43FQlEJUn9y4fZQf2WhRANCAAQO6Ag4M0YycWQXCy20Du65U32lwhyd
E3IeVtmfeqsO3ar00pxqo8Px5+daKXegcOHy/0SQ0wxwInn9a4vujzwv
-----END PRIVATE KEY-----
";

    /// The payload and signature annotation of a signature of `digest` in `repo`.
    fn signed(repo: &str, digest: &Digest) -> (Vec<u8>, String) {
        let key = SigningKey::from_pem(KEY).unwrap();
        let a = signature_artifact(&key, repo, digest).unwrap();
        let m: serde_json::Value = serde_json::from_slice(&a.manifest).unwrap();
        let sig = m["layers"][0]["annotations"][SIGNATURE_ANNOTATION]
            .as_str()
            .unwrap()
            .to_string();
        (a.payload, sig)
    }

    #[test]
    fn each_broken_check_is_named() {
        let key = SigningKey::from_pem(KEY).unwrap().public();
        let r = Reference::parse("localhost:5000/team/app:1").unwrap();
        let (a, b) = (Digest::of(b"a"), Digest::of(b"b"));
        let (payload, sig) = signed("localhost:5000/team/app", &a);
        assert!(layer_problems(&payload, Some(&sig), &r, &a, &key).is_empty());

        let copied = layer_problems(&payload, Some(&sig), &r, &b, &key);
        assert_eq!(copied.len(), 1, "{copied:?}");
        assert!(copied[0].starts_with("digest: "), "{copied:?}");

        let (other_repo, other_sig) = signed("localhost:5000/team/other", &a);
        let moved = layer_problems(&other_repo, Some(&other_sig), &r, &a, &key);
        assert_eq!(moved.len(), 1, "{moved:?}");
        assert!(moved[0].starts_with("reference: "), "{moved:?}");

        let mut tampered = payload.clone();
        let at = tampered.len() - 20;
        tampered[at] ^= 1;
        let t = layer_problems(&tampered, Some(&sig), &r, &a, &key);
        assert!(
            t.iter()
                .any(|p| p.starts_with("signature: does not verify")),
            "{t:?}"
        );

        let none = layer_problems(&payload, None, &r, &a, &key);
        assert!(none[0].starts_with("signature: no "), "{none:?}");
    }
}
