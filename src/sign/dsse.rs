//! Signing and checking DSSE envelopes (in-toto attestations, [`crate::provenance::dsse`])
//! with the keys of [`super::key`]: the signature covers the pre-authentication encoding,
//! never the payload alone.

use super::key::{PublicKey, SigningKey, sign};
use crate::provenance::dsse::Envelope;

pub use crate::provenance::dsse::pae;

pub const IN_TOTO: &str = "application/vnd.in-toto+json";

/// Adds `key`'s signature over the envelope's PAE (deterministic for ECDSA keys).
pub fn sign_envelope(key: &SigningKey, envelope: &mut Envelope) {
    let sig = sign(key, &envelope.pae());
    envelope.add_signature(&key.keyid(), sig);
}

/// `body` in an envelope signed by `key`.
pub fn envelope(key: &SigningKey, payload_type: &str, body: &[u8]) -> Envelope {
    let mut e = Envelope::new(payload_type, body.to_vec());
    sign_envelope(key, &mut e);
    e
}

/// The body, if one of the envelope's signatures is `key`'s.
pub fn verified_body(key: &PublicKey, envelope: &Envelope) -> Option<Vec<u8>> {
    let message = envelope.pae();
    envelope
        .signatures
        .iter()
        .any(|s| key.verify(&message, &s.sig))
        .then(|| envelope.payload.clone())
}

#[cfg(test)]
mod tests {
    use super::*;

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
