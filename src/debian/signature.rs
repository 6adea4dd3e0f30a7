//! OpenPGP checks of the archive's Release files with rPGP (pure Rust, so lade needs no gpg and
//! no C crypto library). lade trusts the Debian archive keys it ships (`keys/`), or a keyring
//! the user names. Only the text a signature covers is returned, so nothing unsigned can be
//! parsed by mistake.

use pgp::composed::{
    CleartextSignedMessage, Deserializable, DetachedSignature, PublicOrSecret, SignedPublicKey,
};
use pgp::packet::Signature;
use pgp::types::KeyDetails;
use std::io::Cursor;

/// The Debian archive keys for bookworm (and the neighbouring releases that co-sign it).
const DEBIAN_KEYS: &str = include_str!("keys/debian-archive-keys.asc");

/// Public keys whose signatures lade accepts.
pub struct Keyring {
    keys: Vec<SignedPublicKey>,
    /// Where the keys came from, for reports.
    pub origin: String,
}

impl Keyring {
    /// The keys shipped with lade.
    pub fn debian() -> Keyring {
        Keyring::parse(DEBIAN_KEYS.as_bytes(), "lade's Debian archive keys")
            .expect("the keys shipped in src/debian/keys parse")
    }

    /// Keys from an armored or binary keyring (`/usr/share/keyrings/…gpg`). A subkey whose
    /// binding signature does not verify is dropped, as gpg would ignore it. (User-id
    /// certifications are not checked: distribution keyrings carry third-party ones that
    /// cannot be verified without the certifiers' keys, and trust here comes from the keyring
    /// file itself.)
    pub fn parse(bytes: &[u8], origin: &str) -> Result<Keyring, String> {
        let (iter, _) = PublicOrSecret::from_reader_many(Cursor::new(bytes))
            .map_err(|e| format!("not an OpenPGP keyring: {e}"))?;
        let mut keys = Vec::new();
        for item in iter {
            let key = match item {
                Ok(PublicOrSecret::Public(k)) => k,
                Ok(PublicOrSecret::Secret(k)) => k.to_public_key(),
                // One key in a format rPGP does not know must not hide the others.
                Err(_) => continue,
            };
            let mut key = key;
            let primary = key.primary_key.clone();
            key.public_subkeys
                .retain(|sub| sub.verify_bindings(&primary).is_ok());
            keys.push(key);
        }
        if keys.is_empty() {
            return Err("no usable public keys in it".into());
        }
        Ok(Keyring {
            keys,
            origin: origin.to_string(),
        })
    }

    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// The first key (primary or subkey) that made `sig` over `data`, named by the primary
    /// key's fingerprint and first user id.
    fn signer(&self, sig: &Signature, data: &[u8]) -> Option<String> {
        for key in &self.keys {
            let ok = sig.verify(key, Cursor::new(data)).is_ok()
                || key
                    .public_subkeys
                    .iter()
                    .any(|sub| sig.verify(sub, Cursor::new(data)).is_ok());
            if ok {
                let uid = key
                    .details
                    .users
                    .first()
                    .and_then(|u| u.id.as_str().map(str::to_string))
                    .unwrap_or_default();
                return Some(
                    format!("{} {uid}", key.primary_key.fingerprint())
                        .trim()
                        .to_string(),
                );
            }
        }
        None
    }
}

/// A Release text whose signature verified.
#[derive(Debug)]
pub struct Verified {
    /// The signed text, with `\n` line ends.
    pub text: String,
    /// Fingerprint and user id of the key that signed it.
    pub signer: String,
}

/// Checks a clearsigned InRelease file; at least one of its signatures must come from a key
/// in `keyring`.
pub fn verify_inrelease(keyring: &Keyring, data: &str) -> Result<Verified, String> {
    let (msg, _) = CleartextSignedMessage::from_string(data)
        .map_err(|e| format!("not a clearsigned OpenPGP message: {e}"))?;
    // The signature covers the text with CRLF line ends; rPGP hands out exactly that.
    let signed = msg.signed_text();
    for sig in msg.signatures() {
        if let Some(signer) = keyring.signer(sig, signed.as_bytes()) {
            return Ok(Verified {
                text: signed.replace("\r\n", "\n"),
                signer,
            });
        }
    }
    Err(format!(
        "none of its {} signature(s) verifies with {} ({} keys)",
        msg.signatures().len(),
        keyring.origin,
        keyring.len()
    ))
}

/// Checks a detached `Release.gpg` over `data` (the Release file's bytes).
pub fn verify_detached(keyring: &Keyring, data: &[u8], sig: &[u8]) -> Result<String, String> {
    let sigs: Vec<DetachedSignature> = match DetachedSignature::from_armor_many(Cursor::new(sig)) {
        Ok((iter, _)) => iter.filter_map(Result::ok).collect(),
        Err(_) => DetachedSignature::from_bytes_many(Cursor::new(sig))
            .map_err(|e| format!("not an OpenPGP signature: {e}"))?
            .filter_map(Result::ok)
            .collect(),
    };
    for s in &sigs {
        if let Some(signer) = keyring.signer(&s.signature, data) {
            return Ok(signer);
        }
    }
    Err(format!(
        "none of its {} signature(s) verifies with {} ({} keys)",
        sigs.len(),
        keyring.origin,
        keyring.len()
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A real InRelease of bookworm-updates, kept as a fixture so the check runs offline.
    const INRELEASE: &str = include_str!("testdata/bookworm-updates-InRelease");

    #[test]
    fn host_binary_keyring_parses() {
        // Debian hosts have the binary keyring, with third-party certifications on its keys.
        let path = "/usr/share/keyrings/debian-archive-keyring.gpg";
        let bytes = std::fs::read(path)
            .unwrap_or_else(|e| panic!("{path}: {e} (apt-get install debian-archive-keyring)"));
        let k = Keyring::parse(&bytes, path).unwrap();
        assert!(k.len() >= 6, "{} keys", k.len());
        assert!(verify_inrelease(&k, INRELEASE).is_ok());
    }

    #[test]
    fn shipped_keys_parse() {
        let k = Keyring::debian();
        assert!(k.len() >= 6, "{} keys", k.len());
    }

    #[test]
    fn real_inrelease_verifies() {
        let v = verify_inrelease(&Keyring::debian(), INRELEASE).unwrap();
        assert!(v.text.starts_with("Origin: Debian\n"), "{}", &v.text[..40]);
        assert!(v.text.contains("Codename: bookworm"));
        assert!(!v.text.contains('\r'));
        assert!(v.signer.contains("bookworm"), "{}", v.signer);
    }

    #[test]
    fn tampered_inrelease_fails() {
        let tampered = INRELEASE.replacen("Codename: bookworm", "Codename: bookwurm", 1);
        assert_ne!(tampered, INRELEASE);
        let err = verify_inrelease(&Keyring::debian(), &tampered).unwrap_err();
        assert!(err.contains("verifies"), "{err}");
    }

    #[test]
    fn other_keyring_fails() {
        // A keyring with only the bullseye keys cannot check a bookworm-updates InRelease
        // signed by the bookworm and trixie keys.
        let all = Keyring::debian();
        let bullseye: Vec<SignedPublicKey> = all
            .keys
            .into_iter()
            .filter(|k| {
                k.details
                    .users
                    .iter()
                    .any(|u| u.id.as_str().is_some_and(|s| s.contains("11/bullseye")))
            })
            .collect();
        assert!(!bullseye.is_empty());
        let only = Keyring {
            keys: bullseye,
            origin: "test".into(),
        };
        assert!(verify_inrelease(&only, INRELEASE).is_err());
    }
}
