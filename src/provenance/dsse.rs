//! DSSE envelopes (github.com/secure-systems-lab/dsse): a payload, its type, and signatures
//! over the pre-authentication encoding ([`pae`]) of the two. lade writes envelopes unsigned;
//! a signer signs [`Envelope::pae`] and adds the result with [`Envelope::add_signature`].

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde::{Deserialize, Serialize};

/// `DSSEv1 <len(type)> <type> <len(body)> <body>`: lengths in decimal bytes, single spaces.
/// This, not the payload alone, is what a signature covers.
pub fn pae(payload_type: &str, payload: &[u8]) -> Vec<u8> {
    let mut out = format!(
        "DSSEv1 {} {payload_type} {} ",
        payload_type.len(),
        payload.len()
    )
    .into_bytes();
    out.extend_from_slice(payload);
    out
}

/// An envelope as it is serialized: `payload` and each `sig` in standard base64.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Envelope {
    pub payload_type: String,
    #[serde(with = "b64")]
    pub payload: Vec<u8>,
    pub signatures: Vec<Signature>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Signature {
    /// May be empty (keyless signers name the key elsewhere).
    pub keyid: String,
    #[serde(with = "b64")]
    pub sig: Vec<u8>,
}

impl Envelope {
    /// An unsigned envelope.
    pub fn new(payload_type: &str, payload: Vec<u8>) -> Self {
        Envelope {
            payload_type: payload_type.to_string(),
            payload,
            signatures: Vec::new(),
        }
    }

    /// The bytes a signature must cover.
    pub fn pae(&self) -> Vec<u8> {
        pae(&self.payload_type, &self.payload)
    }

    /// Adds a signature of [`Envelope::pae`] (raw bytes; encoded when serialized).
    pub fn add_signature(&mut self, keyid: &str, sig: Vec<u8>) {
        self.signatures.push(Signature {
            keyid: keyid.to_string(),
            sig,
        });
    }

    /// Canonical JSON bytes, as attached.
    pub fn to_bytes(&self) -> Vec<u8> {
        crate::image::canonical::to_vec(self).expect("an envelope serializes")
    }
}

mod b64 {
    use super::{Engine, STANDARD};
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(bytes: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&STANDARD.encode(bytes))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        let text = String::deserialize(d)?;
        STANDARD.decode(text).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pae_matches_the_spec_example() {
        // The DSSE specification's test vector.
        assert_eq!(
            pae("http://example.com/HelloWorld", b"hello world"),
            b"DSSEv1 29 http://example.com/HelloWorld 11 hello world".to_vec()
        );
    }

    #[test]
    fn unsigned_then_signed_round_trip() {
        let mut e = Envelope::new("application/vnd.in-toto+json", b"{}".to_vec());
        assert_eq!(
            String::from_utf8(e.to_bytes()).unwrap(),
            r#"{"payload":"e30=","payloadType":"application/vnd.in-toto+json","signatures":[]}"#
        );
        e.add_signature("", vec![1, 2, 3]);
        let back: Envelope = serde_json::from_slice(&e.to_bytes()).unwrap();
        assert_eq!(back, e);
        assert_eq!(back.signatures[0].sig, vec![1, 2, 3]);
    }
}
