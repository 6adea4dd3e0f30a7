//! Signing and verifying keys: PEM PKCS#8 private keys and PEM SubjectPublicKeyInfo public
//! keys, ECDSA P-256 (what cosign makes) or Ed25519. ECDSA signatures are RFC 6979
//! deterministic, so the same key over the same bytes gives the same signature and a
//! republished image gets byte-identical signature artifacts.

use super::KeyError;
use ed25519_dalek::Signer as _;
use p256::ecdsa::signature::Verifier as _;
use p256::pkcs8::{DecodePrivateKey, DecodePublicKey, EncodePublicKey};
use std::path::Path;

/// A private key. `Debug` never shows key material.
pub enum SigningKey {
    EcdsaP256(p256::ecdsa::SigningKey),
    Ed25519(ed25519_dalek::SigningKey),
}

/// A public key (`lade verify --key`).
#[derive(Clone)]
pub enum PublicKey {
    EcdsaP256(p256::ecdsa::VerifyingKey),
    Ed25519(ed25519_dalek::VerifyingKey),
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SigningKey({}, {})", self.algorithm(), self.keyid())
    }
}

impl std::fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "PublicKey({}, {})", self.algorithm(), self.keyid())
    }
}

/// Signs `message` with `key`: an ASN.1 DER signature for ECDSA P-256 (SHA-256), the 64 raw
/// bytes for Ed25519. For DSSE envelopes, `message` is the PAE ([`super::dsse::pae`]).
pub fn sign(key: &SigningKey, message: &[u8]) -> Vec<u8> {
    key.sign(message)
}

impl SigningKey {
    /// Reads and parses a PEM PKCS#8 private key. The error names the file and never quotes it.
    pub fn read(path: &Path) -> Result<Self, KeyError> {
        let text = std::fs::read_to_string(path).map_err(|source| KeyError::Read {
            what: "signing key",
            path: path.to_path_buf(),
            source,
        })?;
        Self::from_pem(&text).map_err(|why| KeyError::Parse {
            what: "signing key",
            path: path.to_path_buf(),
            why,
        })
    }

    /// Parses a PEM PKCS#8 private key; the error says what the text was instead.
    pub fn from_pem(text: &str) -> Result<Self, &'static str> {
        if let Ok(k) = p256::ecdsa::SigningKey::from_pkcs8_pem(text) {
            return Ok(SigningKey::EcdsaP256(k));
        }
        if let Ok(k) = ed25519_dalek::SigningKey::from_pkcs8_pem(text) {
            return Ok(SigningKey::Ed25519(k));
        }
        Err(private_key_problem(text))
    }

    pub fn sign(&self, message: &[u8]) -> Vec<u8> {
        match self {
            SigningKey::EcdsaP256(k) => {
                let sig: p256::ecdsa::Signature = k.sign(message);
                sig.to_der().as_bytes().to_vec()
            }
            SigningKey::Ed25519(k) => k.sign(message).to_bytes().to_vec(),
        }
    }

    pub fn public(&self) -> PublicKey {
        match self {
            SigningKey::EcdsaP256(k) => PublicKey::EcdsaP256(*k.verifying_key()),
            SigningKey::Ed25519(k) => PublicKey::Ed25519(k.verifying_key()),
        }
    }

    /// The key's id: the public key's (see [`PublicKey::keyid`]).
    pub fn keyid(&self) -> String {
        self.public().keyid()
    }

    pub fn algorithm(&self) -> &'static str {
        self.public().algorithm()
    }
}

impl PublicKey {
    /// Reads and parses a PEM SubjectPublicKeyInfo (`openssl pkey -pubout`, cosign's `.pub`).
    pub fn read(path: &Path) -> Result<Self, KeyError> {
        let text = std::fs::read_to_string(path).map_err(|source| KeyError::Read {
            what: "public key",
            path: path.to_path_buf(),
            source,
        })?;
        Self::from_pem(&text).map_err(|why| KeyError::Parse {
            what: "public key",
            path: path.to_path_buf(),
            why,
        })
    }

    pub fn from_pem(text: &str) -> Result<Self, &'static str> {
        if let Ok(k) = p256::ecdsa::VerifyingKey::from_public_key_pem(text) {
            return Ok(PublicKey::EcdsaP256(k));
        }
        if let Ok(k) = ed25519_dalek::VerifyingKey::from_public_key_pem(text) {
            return Ok(PublicKey::Ed25519(k));
        }
        Err(if text.contains("-----BEGIN PUBLIC KEY-----") {
            "a public key of another algorithm or curve; lade verifies ECDSA P-256 and Ed25519"
        } else {
            "not a PEM public key (BEGIN PUBLIC KEY)"
        })
    }

    /// Whether `signature` (as [`sign`] makes it) is this key's over `message`.
    pub fn verify(&self, message: &[u8], signature: &[u8]) -> bool {
        match self {
            PublicKey::EcdsaP256(k) => p256::ecdsa::Signature::from_der(signature)
                .is_ok_and(|s| k.verify(message, &s).is_ok()),
            PublicKey::Ed25519(k) => ed25519_dalek::Signature::from_slice(signature)
                .is_ok_and(|s| k.verify_strict(message, &s).is_ok()),
        }
    }

    /// `sha256:` hex of the DER SubjectPublicKeyInfo: names the key in DSSE envelopes and
    /// reports without revealing anything a public key does not.
    pub fn keyid(&self) -> String {
        let der = match self {
            PublicKey::EcdsaP256(k) => k.to_public_key_der(),
            PublicKey::Ed25519(k) => k.to_public_key_der(),
        };
        // Encoding a valid key cannot fail; an empty id would only make reports less useful.
        der.map(|d| crate::digest::Digest::of(d.as_bytes()).to_string())
            .unwrap_or_default()
    }

    pub fn algorithm(&self) -> &'static str {
        match self {
            PublicKey::EcdsaP256(_) => "ecdsa-p256",
            PublicKey::Ed25519(_) => "ed25519",
        }
    }
}

/// Why a PEM text is not a private key lade can use, from its label only (never its content).
fn private_key_problem(text: &str) -> &'static str {
    if text.contains("-----BEGIN ENCRYPTED PRIVATE KEY-----") {
        "an encrypted key; give an unencrypted PKCS#8 key (openssl pkcs8 -topk8 -nocrypt)"
    } else if text.contains("-----BEGIN EC PRIVATE KEY-----") {
        "a SEC1 EC key; convert it to PKCS#8 with openssl pkcs8 -topk8 -nocrypt"
    } else if text.contains("-----BEGIN PRIVATE KEY-----") {
        "a private key of another algorithm or curve; lade signs with ECDSA P-256 or Ed25519"
    } else {
        "not a PEM PKCS#8 private key (BEGIN PRIVATE KEY)"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // A throwaway P-256 key made for these tests (openssl genpkey -algorithm EC).
    const P256_KEY: &str = "-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgkGQN6TWySUIcD9y6
DMoqCyWTa43FQlEJUn9y4fZQf2WhRANCAAQO6Ag4M0YycWQXCy20Du65U32lwhyd
E3IeVtmfeqsO3ar00pxqo8Px5+daKXegcOHy/0SQ0wxwInn9a4vujzwv
-----END PRIVATE KEY-----
";

    const P256_PUB: &str = "-----BEGIN PUBLIC KEY-----
MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEDugIODNGMnFkFwsttA7uuVN9pcIc
nRNyHlbZn3qrDt2q9NKcaqPD8efnWil3oHDh8v9EkNMMcCJ5/WuL7o88Lw==
-----END PUBLIC KEY-----
";

    // openssl genpkey -algorithm ed25519, and its -pubout.
    const ED25519_KEY: &str = "-----BEGIN PRIVATE KEY-----
MC4CAQAwBQYDK2VwBCIEIIU8cb1PKodWUr3+E21UEkHc96Y3uwllAqW+SUN/bWJs
-----END PRIVATE KEY-----
";
    const ED25519_PUB: &str = "-----BEGIN PUBLIC KEY-----
MCowBQYDK2VwAyEA0lPxWWcy0V9raEsMAxeRLcmHD4coFHGBoqhZ8VIjLsE=
-----END PUBLIC KEY-----
";

    #[test]
    fn openssl_public_keys_verify_their_private_keys_signatures() {
        for (private, public, alg) in [
            (P256_KEY, P256_PUB, "ecdsa-p256"),
            (ED25519_KEY, ED25519_PUB, "ed25519"),
        ] {
            let k = SigningKey::from_pem(private).unwrap();
            let p = PublicKey::from_pem(public).unwrap();
            assert_eq!(k.algorithm(), alg);
            assert_eq!(k.keyid(), p.keyid());
            let sig = sign(&k, b"payload");
            assert!(p.verify(b"payload", &sig), "{alg}");
            assert!(!p.verify(b"other", &sig), "{alg}");
        }
        let ed = PublicKey::from_pem(ED25519_PUB).unwrap();
        let ecdsa_sig = sign(&SigningKey::from_pem(P256_KEY).unwrap(), b"payload");
        assert!(!ed.verify(b"payload", &ecdsa_sig));
    }

    #[test]
    fn ecdsa_signatures_are_deterministic_and_verify() {
        let k = SigningKey::from_pem(P256_KEY).unwrap();
        let a = sign(&k, b"payload");
        assert_eq!(a, sign(&k, b"payload"));
        assert!(k.public().verify(b"payload", &a));
        assert!(!k.public().verify(b"payloaD", &a));
        assert!(k.keyid().starts_with("sha256:"));
    }

    #[test]
    fn bad_keys_say_what_they_are() {
        assert!(
            SigningKey::from_pem(
                "-----BEGIN EC PRIVATE KEY-----\nAA==\n-----END EC PRIVATE KEY-----\n"
            )
            .unwrap_err()
            .contains("SEC1")
        );
        assert!(
            SigningKey::from_pem("hello")
                .unwrap_err()
                .contains("not a PEM")
        );
        assert!(PublicKey::from_pem(P256_KEY).is_err());
    }

    #[test]
    fn debug_shows_no_key_material() {
        let k = SigningKey::from_pem(P256_KEY).unwrap();
        let shown = format!("{k:?}");
        assert!(
            shown.starts_with("SigningKey(ecdsa-p256, sha256:"),
            "{shown}"
        );
    }
}
