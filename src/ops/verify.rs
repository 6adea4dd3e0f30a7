//! `lade verify REF --key PUB.pem`: the signatures of an image in its registry.

use crate::oci::Reference;
use crate::registry::{RegistryOptions, RegistrySession};
use crate::sign::{PublicKey, VerifyReport};
use anyhow::Context;
use std::path::PathBuf;

#[derive(Clone, Debug)]
pub struct VerifyOptions {
    /// A registry reference, by tag or digest, of an index or a manifest.
    pub reference: String,
    /// PEM public key.
    pub key: PathBuf,
    pub registry: RegistryOptions,
}

/// The report lists every broken check; the caller decides what a failed one means.
pub fn verify(opts: &VerifyOptions) -> anyhow::Result<VerifyReport> {
    let key = PublicKey::read(&opts.key)?;
    let reference = Reference::parse(&opts.reference).context("REF")?;
    let session = RegistrySession::new(opts.registry.clone());
    let connected = session.connect()?;
    Ok(connected.block_on(crate::sign::verify(connected.client(), &reference, &key))?)
}
