//! Publishing an [`ImageSet`] to a repository: every blob (skipping what the registry has,
//! mounting base layers from their repository on the same registry), then the per-platform
//! manifests, then the index, then the extra tags. That order means a tag never points at
//! something incomplete.

use super::RegistryError;
use super::client::{Access, BlobBody, RegistryClient, UploadOutcome};
use super::early::EarlyUploads;
use crate::digest::Digest;
use crate::oci::reference::same_registry;
use crate::oci::reference::{self, Reference};
use crate::oci::{BlobSource, ImageSet};
use futures_util::{StreamExt, TryStreamExt, stream};
use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use tokio::sync::Semaphore;

/// What a push did, for `--json` and for tests that count uploads.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct PushStats {
    /// Blobs sent (layers and configs).
    pub blobs_uploaded: u64,
    /// Blobs the repository already had.
    pub blobs_present: u64,
    /// Blobs mounted from another repository of the same registry.
    pub blobs_mounted: u64,
    /// Bytes of the blobs sent.
    pub bytes_uploaded: u64,
    /// Of all these blobs, those whose check or upload started while the image was still
    /// being made (layers, each as soon as it was written), before the push itself began.
    pub blobs_sent_early: u64,
    /// Of the blobs sent, those sent while they were written (large layers this run made),
    /// each upload following the compressor's output.
    pub blobs_streamed: u64,
    /// Manifests and indexes sent (a tag written for the same bytes is not counted again).
    pub manifests_pushed: u64,
    /// Per-platform manifests the repository already had.
    pub manifests_present: u64,
    /// Requests and uploads that were retried.
    pub retries: u64,
}

/// The result of a push.
#[derive(Clone, Debug)]
pub struct PushReport {
    /// `registry/repository@sha256:…` of the root (index, or the manifest for one platform).
    pub reference: Reference,
    pub digest: Digest,
    /// Tags now pointing at the root, the target's first.
    pub tags: Vec<String>,
    pub stats: PushStats,
}

/// Blob HEADs in flight at once.
const MAX_QUESTIONS: usize = 32;

/// Largest blob sent without a HEAD: one this run made, or one the tag's image does not name.
const SEND_UNASKED: u64 = 256 << 10;

pub(super) struct BlobJob {
    pub(super) digest: Digest,
    pub(super) size: u64,
    pub(super) body: BlobBody,
    pub(super) mount_from: Option<String>,
}

/// How one blob came to be in the repository.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Sent {
    /// The repository had it: the tag's image names it, or a HEAD found it.
    Present,
    /// Mounted from another repository of the same registry.
    Mounted,
    Uploaded,
    /// Uploaded while it was written ([`EarlyUploads::follow`]).
    Streamed,
}

/// The blobs of one push by how they came to be in the repository.
#[derive(Default)]
struct Counts {
    uploaded: AtomicU64,
    present: AtomicU64,
    mounted: AtomicU64,
    bytes: AtomicU64,
    early: AtomicU64,
    streamed: AtomicU64,
}

impl Counts {
    fn add(&self, sent: Sent, size: u64) {
        let count = match sent {
            Sent::Present => &self.present,
            Sent::Mounted => &self.mounted,
            Sent::Uploaded | Sent::Streamed => {
                self.bytes.fetch_add(size, Ordering::Relaxed);
                &self.uploaded
            }
        };
        count.fetch_add(1, Ordering::Relaxed);
        if sent == Sent::Streamed {
            self.streamed.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// The blob counts of [`PushStats`]; the rest left to fill.
    fn stats(self) -> PushStats {
        PushStats {
            blobs_uploaded: self.uploaded.into_inner(),
            blobs_present: self.present.into_inner(),
            blobs_mounted: self.mounted.into_inner(),
            bytes_uploaded: self.bytes.into_inner(),
            blobs_sent_early: self.early.into_inner(),
            blobs_streamed: self.streamed.into_inner(),
            ..Default::default()
        }
    }
}

/// Where blobs go, and the transfers allowed at once.
pub(super) struct Destination<'a> {
    pub(super) client: &'a RegistryClient,
    pub(super) registry: &'a str,
    pub(super) repository: &'a str,
    pub(super) access: &'a Access,
    pub(super) transfers: &'a Semaphore,
}

/// Sends one blob unless the repository has it. `held` is what the tag's image names (the
/// repository has those); `made` says this run made the blob. A small blob the tag's image
/// does not name, or that this run made, is most likely new: it is sent without asking first
/// (sending one the registry has costs a few kilobytes; asking costs a round trip).
pub(super) async fn send_blob(
    to: &Destination<'_>,
    job: &BlobJob,
    held: Option<&HashSet<Digest>>,
    made: bool,
) -> Result<Sent, RegistryError> {
    let Destination {
        client,
        registry,
        repository,
        access,
        transfers,
    } = *to;
    let known = held.map(|h| h.contains(&job.digest));
    let unasked = job.size <= SEND_UNASKED
        && !matches!(job.body, BlobBody::Remote { .. })
        && (known == Some(false) || made);
    if known == Some(true)
        || !unasked
            && client
                .blob_exists(registry, repository, &job.digest, access)
                .await?
                .is_some()
    {
        tracing::debug!(digest = %job.digest, "blob already present");
        return Ok(Sent::Present);
    }
    let _slot = transfers
        .acquire()
        .await
        .map_err(|_| RegistryError::Options("the upload queue was closed".into()))?;
    let outcome = client
        .upload_blob(
            registry,
            repository,
            &job.digest,
            job.size,
            &job.body,
            job.mount_from.as_deref(),
            access,
        )
        .await?;
    Ok(match outcome {
        UploadOutcome::Mounted => {
            tracing::debug!(digest = %job.digest, from = ?job.mount_from, "blob mounted");
            Sent::Mounted
        }
        UploadOutcome::Uploaded => {
            tracing::debug!(digest = %job.digest, size = job.size, "blob uploaded");
            Sent::Uploaded
        }
    })
}

/// Pushes `set` to `target` (tag `latest` when it names none) and tags it with `extra_tags`.
pub async fn push(
    client: &RegistryClient,
    target: &Reference,
    extra_tags: &[String],
    set: &ImageSet,
) -> Result<PushReport, RegistryError> {
    push_after(client, target, extra_tags, set, None).await
}

/// [`push`], awaiting the blobs `early` started sending while the set was made rather than
/// sending them again.
pub async fn push_after(
    client: &RegistryClient,
    target: &Reference,
    extra_tags: &[String],
    set: &ImageSet,
    early: Option<&EarlyUploads>,
) -> Result<PushReport, RegistryError> {
    let registry = target.registry.as_str();
    let repository = target.repository.as_str();
    client.add_push_registry(registry);
    let root = set.root();
    let root_digest = root.digest();
    if let Some(d) = &target.digest
        && d != &root_digest
    {
        return Err(RegistryError::Invalid {
            registry: registry.into(),
            action: format!("pushing to {target}"),
            detail: format!("the image built has digest {root_digest}, not the one named"),
        });
    }
    let mut tags: Vec<String> = Vec::new();
    if target.tag.is_some() || target.digest.is_none() {
        tags.push(target.tag_or_latest().to_string());
    }
    for t in extra_tags {
        if !reference::valid_tag(t) {
            return Err(RegistryError::Options(format!(
                "tag '{t}': a tag is 1 to 128 letters, digits, '_', '.' and '-', not starting with '.' or '-'"
            )));
        }
        if !tags.contains(t) {
            tags.push(t.clone());
        }
    }

    let jobs = blob_jobs(set, registry, repository, client.options());
    let mount_from: Vec<String> = jobs.iter().filter_map(|j| j.mount_from.clone()).collect();
    let access = Access::push(repository, &mount_from);
    let retries_before = early
        .and_then(EarlyUploads::retries_before)
        .unwrap_or_else(|| client.retries());

    let counts = Counts::default();
    // The HEADs are all asked at once (an image rarely has more than a few dozen blobs); only
    // the transfers are held to the configured concurrency, counting those started early.
    let transfers = match early {
        Some(e) => e.transfers(),
        None => Arc::new(Semaphore::new(client.options().concurrency.max(1))),
    };
    // What the image the tag holds names, the repository has.
    let held = client.held(registry, repository);
    let made = &set.made;
    stream::iter(jobs.iter().map(Ok::<_, RegistryError>))
        .try_for_each_concurrent(jobs.len().clamp(1, MAX_QUESTIONS), |job| {
            let (access, counts, transfers, held) = (&access, &counts, &transfers, &held);
            async move {
                // A layer sent while the image was still being made: its result is this
                // push's, and it is not sent again.
                let sent = match early.and_then(|e| e.take(&job.digest)) {
                    Some(started) => {
                        counts.early.fetch_add(1, Ordering::Relaxed);
                        started.finished().await?
                    }
                    None => {
                        let to = Destination {
                            client,
                            registry,
                            repository,
                            access,
                            transfers,
                        };
                        let made = made.contains(&job.digest);
                        send_blob(&to, job, held.as_ref(), made).await?
                    }
                };
                counts.add(sent, job.size);
                Ok(())
            }
        })
        .await?;

    let mut stats = counts.stats();

    if set.index.is_some() {
        // Per-platform manifests by digest, so no tag ever names a single platform.
        let results: Vec<bool> = stream::iter(set.images.iter())
            .map(|img| {
                let access = &access;
                async move {
                    let d = img.manifest.digest();
                    if client
                        .head_manifest(registry, repository, d.as_str(), access)
                        .await?
                        .is_some_and(|have| have == d)
                    {
                        return Ok::<_, RegistryError>(false);
                    }
                    client
                        .put_manifest(
                            registry,
                            repository,
                            d.as_str(),
                            &img.manifest.media_type(),
                            &img.manifest.bytes,
                            access,
                        )
                        .await?;
                    Ok(true)
                }
            })
            .buffer_unordered(client.options().concurrency.max(1))
            .try_collect()
            .await?;
        stats.manifests_pushed += results.iter().filter(|p| **p).count() as u64;
        stats.manifests_present += results.iter().filter(|p| !**p).count() as u64;
    }

    let media_type = root.media_type();
    let first = tags
        .first()
        .cloned()
        .unwrap_or_else(|| root_digest.to_string());
    client
        .put_manifest(
            registry,
            repository,
            &first,
            &media_type,
            &root.bytes,
            &access,
        )
        .await?;
    stats.manifests_pushed += 1;
    for t in tags.iter().skip(1) {
        client
            .put_manifest(registry, repository, t, &media_type, &root.bytes, &access)
            .await?;
    }
    stats.retries = client.retries() - retries_before;
    Ok(PushReport {
        reference: target.with_digest(&root_digest),
        digest: root_digest,
        tags,
        stats,
    })
}

/// Every distinct blob the set references, with where its bytes come from and, for base
/// layers already in another repository of the target registry, where to mount it from.
/// `options` say where a remote blob can be pulled from, mirrors first: a base pulled
/// through a mirror on the destination's own registry is mounted from the mirror's
/// repository rather than downloaded and uploaded again (a failed mount still uploads).
fn blob_jobs(
    set: &ImageSet,
    registry: &str,
    repository: &str,
    options: &super::RegistryOptions,
) -> Vec<BlobJob> {
    let mut jobs: Vec<BlobJob> = Vec::new();
    let mut add = |job: BlobJob| {
        if let Some(existing) = jobs.iter_mut().find(|j| j.digest == job.digest) {
            // Prefer bytes on disk, then a mount, over streaming from elsewhere.
            let better = matches!(job.body, BlobBody::File(_))
                && !matches!(existing.body, BlobBody::File(_))
                || (existing.mount_from.is_none() && job.mount_from.is_some());
            if better {
                *existing = job;
            }
            return;
        }
        jobs.push(job);
    };
    for img in &set.images {
        for layer in &img.layers {
            let (body, mount_from) = match &layer.source {
                BlobSource::File(p) => (BlobBody::File(p.clone()), None),
                BlobSource::Remote {
                    registry: src_registry,
                    repository: src_repo,
                } => {
                    let mount = mount_source(
                        options.pull_candidates(src_registry, src_repo),
                        registry,
                        repository,
                    );
                    (
                        BlobBody::Remote {
                            registry: src_registry.clone(),
                            repository: src_repo.clone(),
                        },
                        mount,
                    )
                }
            };
            add(BlobJob {
                digest: layer.digest(),
                size: layer.size(),
                body,
                mount_from,
            });
        }
        add(BlobJob {
            digest: img.config.digest(),
            size: img.config.bytes.len() as u64,
            body: BlobBody::Bytes(img.config.bytes.clone()),
            mount_from: None,
        });
    }
    jobs
}

/// Of the places a remote blob can be pulled from, the first repository on the destination
/// `registry` other than `repository` itself: where the registry can mount it from.
fn mount_source(
    candidates: Vec<(String, String)>,
    registry: &str,
    repository: &str,
) -> Option<String> {
    candidates
        .into_iter()
        .find(|(r, p)| same_registry(r, registry) && p != repository)
        .map(|(_, p)| p)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::oci::mirror::parse_mirror_list;
    use crate::registry::RegistryOptions;

    #[test]
    fn a_base_behind_a_mirror_on_the_destination_registry_is_mounted_from_the_mirror() {
        let options = RegistryOptions {
            mirrors: parse_mirror_list("gcr.io=localhost:5000/cache").unwrap(),
            ..RegistryOptions::default()
        };
        let candidates = options.pull_candidates("gcr.io", "distroless/static");
        assert_eq!(
            mount_source(candidates.clone(), "localhost:5000", "app"),
            Some("cache/distroless/static".into())
        );
        assert_eq!(mount_source(candidates, "other:5000", "app"), None);
        let plain = RegistryOptions::default().pull_candidates("localhost:5000", "base");
        assert_eq!(
            mount_source(plain.clone(), "localhost:5000", "app"),
            Some("base".into())
        );
        assert_eq!(
            mount_source(plain, "localhost:5000", "base"),
            None,
            "same repository"
        );
    }
}
