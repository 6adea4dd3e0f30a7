//! `publish --sign-key`: the key is read before anything is built, and every registry output
//! gets a cosign signature for its index and each platform manifest once it is pushed.

use crate::oci::{ImageSet, Reference};
use crate::registry::RegistrySession;
use crate::sign::{Signed, SigningKey};
use crate::sink::Target;
use anyhow::Context;

/// The key `--sign-key` (or `LADE_SIGN_KEY`) names, checked now so a bad key fails first.
pub fn read_key(path: Option<&std::path::Path>) -> anyhow::Result<Option<SigningKey>> {
    // The flag is named: the error of a key file alone does not say where the path came from.
    path.map(|p| SigningKey::read(p).context("--sign-key"))
        .transpose()
}

/// Signs the root and, for an index, each platform manifest in every registry target; nothing
/// without a key.
pub fn sign_outputs(
    key: Option<&SigningKey>,
    set: &ImageSet,
    targets: &[Target],
    registry: &RegistrySession,
) -> anyhow::Result<Vec<Signed>> {
    let Some(key) = key else {
        return Ok(Vec::new());
    };
    let mut subjects = vec![set.root().digest()];
    if set.index.is_some() {
        subjects.extend(set.images.iter().map(|i| i.manifest.digest()));
    }
    if !targets.iter().any(|t| matches!(t, Target::Registry { .. })) {
        tracing::warn!("--sign-key: no registry output, so nothing was signed");
    }
    let mut signed = Vec::new();
    for t in targets {
        let Target::Registry { reference } = t else {
            continue;
        };
        let r = Reference::parse(reference).with_context(|| format!("--to {reference}"))?;
        let connected = registry.connect()?;
        signed.extend(connected.block_on(crate::sign::attach(
            connected.client(),
            &r.registry,
            &r.repository,
            &subjects,
            key,
        ))?);
    }
    Ok(signed)
}
