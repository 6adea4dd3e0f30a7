//! Signatures: cosign's simple signing for published images (`publish --sign-key`), the checks
//! of `lade verify`, and DSSE envelopes for attestations.
//!
//! - [`key`]: PEM keys (ECDSA P-256, Ed25519) and [`key::sign`], the one signing primitive.
//! - [`cosign`]: the simple-signing payload and the signature manifest, as canonical bytes.
//! - [`dsse`]: the pre-authentication encoding and envelopes signed with the same keys.
//! - [`attach`]: pushes signature manifests under `sha256-<hex>.sig` tags.
//! - [`verify`]: fetches and checks them, and lists the referrers a fallback index names.

pub mod attach;
pub mod attestations;
pub mod cosign;
pub mod dsse;
pub mod key;
pub mod verify;

pub use attach::{Signed, attach};
pub use key::{PublicKey, SigningKey, sign};
pub use verify::{VerifyReport, verify};

use crate::digest::Digest;
use crate::registry::RegistryError;
use std::path::PathBuf;

/// A key file that cannot be used. The message names the file, never its content.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("reading {what} {}", path.display())]
    Read {
        what: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{what} {}: {why}", path.display())]
    Parse {
        what: &'static str,
        path: PathBuf,
        why: &'static str,
    },
}

#[derive(Debug, thiserror::Error)]
pub enum SignError {
    #[error("signing {subject} in {repository}")]
    Push {
        repository: String,
        subject: Digest,
        #[source]
        source: Box<RegistryError>,
    },
    #[error("encoding the signature of {subject}")]
    Encode {
        subject: Digest,
        #[source]
        source: serde_json::Error,
    },
    #[error("verifying {reference}")]
    Fetch {
        reference: String,
        #[source]
        source: Box<RegistryError>,
    },
    #[error("verifying {reference}: the registry sent a manifest that is not JSON")]
    NotJson {
        reference: String,
        #[source]
        source: serde_json::Error,
    },
}
