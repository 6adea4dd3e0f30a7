//! DSSE envelopes (in-toto attestations) signed with the keys of [`super::key`]: the signature
//! covers the pre-authentication encoding, never the payload alone.

use super::key::{PublicKey, SigningKey, sign};
use base64::Engine;
use serde::{Deserialize, Serialize};

pub const IN_TOTO: &str = "application/vnd.in-toto+json";

/// PAE: `DSSEv1 <len(type)> <type> <len(body)> <body>`, lengths in decimal bytes.
pub fn pae(payload_type: &str, body: &[u8]) -> Vec<u8> {
    let mut out = format!(
        "DSSEv1 {} {payload_type} {} ",
        payload_type.len(),
        body.len()
    )
    .into_bytes();
    out.extend_from_slice(body);
    out
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Envelope {
    #[serde(rename = "payloadType")]
    pub payload_type: String,
    /// Base64 of the body.
    pub payload: String,
    pub signatures: Vec<EnvelopeSignature>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EnvelopeSignature {
    pub keyid: String,
    /// Base64 of [`sign`] over the PAE.
    pub sig: String,
}

/// `body` in an envelope signed by `key` (deterministic for ECDSA keys).
pub fn envelope(key: &SigningKey, payload_type: &str, body: &[u8]) -> Envelope {
    let b64 = base64::engine::general_purpose::STANDARD;
    Envelope {
        payload_type: payload_type.into(),
        payload: b64.encode(body),
        signatures: vec![EnvelopeSignature {
            keyid: key.keyid(),
            sig: b64.encode(sign(key, &pae(payload_type, body))),
        }],
    }
}

/// The body, if one of the envelope's signatures is `key`'s.
pub fn verified_body(key: &PublicKey, envelope: &Envelope) -> Option<Vec<u8>> {
    let b64 = base64::engine::general_purpose::STANDARD;
    let body = b64.decode(&envelope.payload).ok()?;
    let message = pae(&envelope.payload_type, &body);
    envelope
        .signatures
        .iter()
        .filter_map(|s| b64.decode(&s.sig).ok())
        .any(|sig| key.verify(&message, &sig))
        .then_some(body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pae_matches_the_spec_example() {
        assert_eq!(
            pae("http://example.com/HelloWorld", b"hello world"),
            b"DSSEv1 29 http://example.com/HelloWorld 11 hello world".to_vec()
        );
    }

    #[test]
    fn envelopes_verify_with_the_public_key_only() {
        let key = SigningKey::from_pem(
            "-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgkGQN6TWySUIcD9y6
DMoqCyWTa43FQlEJUn9y4fZQf2WhRANCAAQO6Ag4M0YycWQXCy20Du65U32lwhyd
E3IeVtmfeqsO3ar00pxqo8Px5+daKXegcOHy/0SQ0wxwInn9a4vujzwv
-----END PRIVATE KEY-----
",
        )
        .unwrap();
        let e = envelope(&key, IN_TOTO, br#"{"_type":"x"}"#);
        assert_eq!(
            e,
            envelope(&key, IN_TOTO, br#"{"_type":"x"}"#),
            "deterministic"
        );
        assert_eq!(e.signatures[0].keyid, key.keyid());
        assert_eq!(
            verified_body(&key.public(), &e).as_deref(),
            Some(&br#"{"_type":"x"}"#[..])
        );
        let mut changed = e.clone();
        changed.payload_type = "text/plain".into();
        assert_eq!(verified_body(&key.public(), &changed), None);
    }
}
