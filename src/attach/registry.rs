//! Pushing artifacts to a registry repository. First, at once: a HEAD of each artifact
//! manifest, whether the registry has the referrers API, and the `sha256-<subject hex>`
//! fallback indexes. Then the documents of the artifacts that are missing (and the empty
//! config, HEAD first), their manifests by digest, and, when the registry has no referrers
//! API, each fallback index merged and written back when something is missing from it.
//!
//! Everything up to the fallback index may go out before the image it speaks of: blobs and
//! manifests pushed by digest are seen by no one who does not know their digest. The fallback
//! index is a tag anyone listing the repository sees, so it waits for the image
//! ([`ImageWritten`]): a push that fails leaves no tag behind.

use super::{Artifact, AttachError, AttachStats, Attached, EMPTY_BYTES, Merged, fallback_tag};
use crate::digest::Digest;
use crate::oci::{OCI_INDEX, Reference};
use crate::registry::client::{Access, BlobBody, RegistryClient};
use crate::registry::{RegistryError, RegistrySession};

/// Whether the image an output's artifacts speak of was written to it, as its writer says
/// through the [`ImageWrittenSignal`] made with it.
pub struct ImageWritten(Option<tokio::sync::watch::Receiver<Option<bool>>>);

/// Says whether the image was written; dropped unsaid, it was not.
pub struct ImageWrittenSignal(tokio::sync::watch::Sender<Option<bool>>);

impl ImageWritten {
    /// For an output being written while its artifacts are attached.
    pub fn pending() -> (ImageWrittenSignal, ImageWritten) {
        let (tx, rx) = tokio::sync::watch::channel(None);
        (ImageWrittenSignal(tx), ImageWritten(Some(rx)))
    }

    /// For an output whose image is there already.
    pub fn already() -> ImageWritten {
        ImageWritten(None)
    }

    async fn wait(self) -> bool {
        let Some(mut rx) = self.0 else {
            return true;
        };
        rx.wait_for(Option::is_some)
            .await
            .is_ok_and(|written| *written == Some(true))
    }
}

impl ImageWrittenSignal {
    pub fn said(self, written: bool) {
        // `send_replace` keeps the value even when nobody waits (the attachment ended first).
        self.0.send_replace(Some(written));
    }
}

/// Attaches `artifacts` to the images pushed to `reference` (`--to` value `target`). The
/// fallback indexes are written once `written` says the image is there, and not at all when
/// it says it is not.
///
/// `new_subjects` are images this run made: their artifacts are most likely not there yet.
pub fn attach(
    target: &str,
    reference: &str,
    session: &RegistrySession,
    artifacts: &[Artifact],
    new_subjects: &[Digest],
    written: ImageWritten,
) -> Result<(Vec<Attached>, AttachStats), AttachError> {
    let err = |error: RegistryError| AttachError::Registry {
        target: target.to_string(),
        error: Box::new(error),
    };
    let reference = Reference::parse(reference).map_err(|e| err(e.into()))?;
    let connected = session.connect().map_err(err)?;
    let client = connected.client();
    let stats = connected
        .block_on(push(
            client,
            &reference,
            artifacts,
            new_subjects,
            written,
            target,
        ))
        .map_err(|e| match e {
            Pushed::Registry(e) => err(e),
            Pushed::Invalid(detail) => AttachError::Invalid {
                target: target.to_string(),
                detail,
            },
        })?;
    let attached = artifacts
        .iter()
        .map(|a| Attached {
            subject: a.subject.digest(),
            artifact_type: a.artifact_type.clone(),
            digest: a.digest(),
            reference: reference.with_digest(&a.digest()).to_string(),
        })
        .collect();
    Ok((attached, stats))
}

enum Pushed {
    Registry(RegistryError),
    Invalid(String),
}

impl From<RegistryError> for Pushed {
    fn from(e: RegistryError) -> Self {
        Pushed::Registry(e)
    }
}

async fn push(
    client: &RegistryClient,
    reference: &Reference,
    artifacts: &[Artifact],
    new_subjects: &[Digest],
    written: ImageWritten,
    target: &str,
) -> Result<AttachStats, Pushed> {
    let (registry, repository) = (reference.registry.as_str(), reference.repository.as_str());
    let access = Access::push(repository, &[]);
    let mut stats = AttachStats::default();
    let mut subjects: Vec<Digest> = artifacts.iter().map(|a| a.subject.digest()).collect();
    subjects.dedup();
    let Some(first) = subjects.first() else {
        return Ok(stats);
    };
    // An image this run made (`new_subjects`) most likely has no artifacts yet (each names its
    // image), so their documents go out at once, beside the questions, instead of after them;
    // should they be there after all, sending them again changes nothing.
    let fresh = subjects.iter().all(|s| new_subjects.contains(s));
    // Every request is a round trip the registry answers on its own, so the questions that
    // do not depend on each other are asked at once: which artifacts are there already,
    // whether the registry lists referrers itself, and what the fallback indexes hold.
    let present = futures_util::future::try_join_all(artifacts.iter().map(|a| {
        let access = &access;
        async move {
            if fresh {
                return Ok::<_, RegistryError>(false);
            }
            let d = a.digest();
            let have = client
                .head_manifest(registry, repository, d.as_str(), access)
                .await?;
            Ok(have.is_some_and(|have| have == d))
        }
    }));
    let indexes = futures_util::future::try_join_all(
        subjects
            .iter()
            .map(|subject| fallback_index(client, registry, repository, subject)),
    );
    let questions = futures_util::future::try_join3(
        present,
        client.has_referrers_api(registry, repository, first, &access),
        indexes,
    );
    let (missing, lists_referrers, indexes, uploaded) = if fresh {
        let all: Vec<&Artifact> = artifacts.iter().collect();
        let ((present, lists, indexes), uploaded) = futures_util::future::try_join(
            questions,
            send_documents(client, registry, repository, &access, &all),
        )
        .await?;
        (missing_of(artifacts, &present), lists, indexes, uploaded)
    } else {
        let (present, lists, indexes) = questions.await?;
        let missing = missing_of(artifacts, &present);
        let uploaded = send_documents(client, registry, repository, &access, &missing).await?;
        (missing, lists, indexes, uploaded)
    };
    stats.blobs_uploaded += uploaded;
    futures_util::future::try_join_all(missing.iter().map(|a| {
        let access = &access;
        async move {
            client
                .put_manifest(
                    registry,
                    repository,
                    a.digest().as_str(),
                    &a.manifest.media_type(),
                    &a.manifest.bytes,
                    access,
                )
                .await
        }
    }))
    .await?;
    stats.manifests_pushed += missing.len() as u64;
    if lists_referrers {
        tracing::debug!(target, "the registry lists referrers itself");
        return Ok(stats);
    }
    if !written.wait().await {
        tracing::debug!(target, "the image was not written: no fallback index");
        return Ok(stats);
    }
    for (subject, existing) in subjects.iter().zip(indexes) {
        let entries: Vec<_> = artifacts
            .iter()
            .filter(|a| &a.subject.digest() == subject)
            .map(Artifact::index_entry)
            .collect();
        let tag = fallback_tag(subject);
        let merged = super::merge_index(existing.as_deref(), &entries)
            .map_err(|e| Pushed::Invalid(format!("{repository}:{tag}: {e}")))?;
        if let Merged::Changed(bytes) = merged {
            client
                .put_manifest(registry, repository, &tag, OCI_INDEX, &bytes, &access)
                .await?;
            stats.indexes_pushed += 1;
        }
    }
    Ok(stats)
}

/// The artifacts the repository does not hold (`present`: per artifact, whether it does).
fn missing_of<'a>(artifacts: &'a [Artifact], present: &[bool]) -> Vec<&'a Artifact> {
    artifacts
        .iter()
        .zip(present)
        .filter(|(_, there)| !**there)
        .map(|(a, _)| a)
        .collect()
}

/// Sends the documents of `missing` and, when there are any, the empty config (asked about
/// first: it usually is there). The documents are sent without asking: each names its image,
/// so a missing artifact's document is new. Returns how many blobs were sent.
async fn send_documents(
    client: &RegistryClient,
    registry: &str,
    repository: &str,
    access: &Access,
    missing: &[&Artifact],
) -> Result<u64, RegistryError> {
    let mut blobs: Vec<(Digest, &[u8], bool)> = Vec::new();
    if !missing.is_empty() {
        blobs.push((Digest::of(EMPTY_BYTES), EMPTY_BYTES, true));
    }
    for a in missing {
        if !blobs.iter().any(|(d, _, _)| d == &a.document.digest()) {
            blobs.push((a.document.digest(), &a.document.bytes, false));
        }
    }
    let uploaded = futures_util::future::try_join_all(blobs.into_iter().map(
        |(digest, bytes, ask)| async move {
            if ask
                && client
                    .blob_exists(registry, repository, &digest, access)
                    .await?
                    .is_some()
            {
                return Ok::<_, RegistryError>(0);
            }
            let body = BlobBody::Bytes(bytes.to_vec());
            let size = bytes.len() as u64;
            client
                .upload_blob(registry, repository, &digest, size, &body, None, access)
                .await?;
            Ok(1)
        },
    ))
    .await?;
    Ok(uploaded.iter().sum())
}

/// The subject's fallback index as the registry holds it (`None`: there is none yet).
async fn fallback_index(
    client: &RegistryClient,
    registry: &str,
    repository: &str,
    subject: &Digest,
) -> Result<Option<Vec<u8>>, RegistryError> {
    match client
        .get_manifest_at(registry, repository, &fallback_tag(subject))
        .await
    {
        Ok(m) => Ok(Some(m.bytes)),
        Err(RegistryError::Status { status: 404, .. }) => Ok(None),
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::ImageWritten;

    fn waited(w: ImageWritten) -> bool {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap()
            .block_on(w.wait())
    }

    #[test]
    fn the_fallback_index_waits_for_what_the_writer_says() {
        assert!(waited(ImageWritten::already()));
        let (signal, w) = ImageWritten::pending();
        signal.said(true);
        assert!(waited(w));
        let (signal, w) = ImageWritten::pending();
        signal.said(false);
        assert!(!waited(w));
        // A writer that ended without saying (a panic) did not write the image.
        let (signal, w) = ImageWritten::pending();
        drop(signal);
        assert!(!waited(w));
        // Said from another thread while the attachment waits.
        let (signal, w) = ImageWritten::pending();
        let t = std::thread::spawn(move || {
            std::thread::sleep(std::time::Duration::from_millis(50));
            signal.said(true);
        });
        assert!(waited(w));
        t.join().unwrap();
    }
}
