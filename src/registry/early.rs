//! Layer uploads that start while the image is still being made: a layer goes to a registry
//! output as soon as its blob is on disk, so the upload of one layer (or one platform's
//! layers) overlaps the compression of the next, as Jib's pushes overlap its builds. The push
//! then awaits these uploads instead of starting its own, and still writes the manifests and
//! the tag only once every blob is in, so a tag never names anything incomplete.
//!
//! A large layer this run writes goes sooner still: its upload follows the compressor's output
//! ([`crate::growing`]) and finishes with the digest once the layer is done and handed to the
//! output ([`send`](EarlyUploads::send)): until then the bytes sit in an unfinished upload
//! session, which is no blob, so a publish refused after the layer was written leaves nothing
//! in the registry: the session is deleted as the publish ends. Should the registry turn out
//! to hold that digest already, the upload is dropped (its session deleted); should it fail,
//! the finished file is sent the usual way.
//!
//! Each upload follows the push's own rules ([`super::push::send_blob`]): a blob the tag's
//! image names is not asked about, a small blob this run made is sent without a HEAD, and
//! anything else is asked about first — the same requests the push would send, sent earlier.

use super::client::{Access, BlobBody};
use super::push::{BlobJob, Destination, Sent, send_blob};
use super::{Connected, RegistryError};
use crate::digest::Digest;
use crate::growing::GrowingBlob;
use crate::oci::Reference;
use reqwest::Url;
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;
use tokio::sync::{Semaphore, oneshot};
use tokio::task::JoinHandle;

/// A running upload's task.
type Upload = JoinHandle<Result<Sent, RegistryError>>;

/// Smallest layer (its tar) whose upload follows the compressor: below it, the layer is
/// written before the upload would have got going, and following costs a request.
const FOLLOW_FROM: u64 = 8 << 20;

/// The uploads started for one registry output, by blob digest.
pub struct EarlyUploads {
    connected: Arc<Connected>,
    registry: String,
    repository: String,
    /// Transfers in flight at once, as the push allows.
    transfers: Arc<Semaphore>,
    started: Mutex<HashMap<Digest, Upload>>,
    /// Uploads following a layer still being written, until [`send`](Self::send) names its
    /// digest and lets the upload finish through the sender.
    following: Mutex<Vec<Following>>,
    /// Set when an upload that followed a layer failed: the registry may not take bodies of
    /// unknown length, so later layers are sent once written.
    no_following: Arc<AtomicBool>,
    /// The client's retry count when the first upload started: the push reports the retries
    /// of its uploads from there.
    retries_before: OnceLock<u64>,
}

/// An upload following a layer still being written.
struct Following {
    blob: GrowingBlob,
    upload: Upload,
    /// Sent once the layer is handed to the output: the upload may then finish.
    handed: oneshot::Sender<()>,
    /// Where the registry keeps the upload's bytes, once it said: an upload dropped unfinished
    /// is deleted there.
    session: Arc<Mutex<Option<Url>>>,
}

/// How long a publish that fails waits for the registry to delete its unfinished uploads.
const CANCEL_WAIT: Duration = Duration::from_secs(5);

/// One upload started early, to be awaited by the push.
pub(super) struct Started(Upload);

impl Started {
    /// How the upload ended; its error is the push's.
    pub(super) async fn finished(self) -> Result<Sent, RegistryError> {
        match self.0.await {
            Ok(result) => result,
            Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
            Err(_) => Err(RegistryError::Options(
                "an upload started before the push was cancelled".into(),
            )),
        }
    }
}

impl EarlyUploads {
    /// Uploads to `target`'s repository through `connected`'s client and runtime.
    pub fn new(connected: Arc<Connected>, target: &Reference) -> Self {
        let transfers = Arc::new(Semaphore::new(
            connected.client().options().concurrency.max(1),
        ));
        EarlyUploads {
            connected,
            registry: target.registry.clone(),
            repository: target.repository.clone(),
            transfers,
            started: Mutex::new(HashMap::new()),
            following: Mutex::new(Vec::new()),
            no_following: Arc::new(AtomicBool::new(false)),
            retries_before: OnceLock::new(),
        }
    }

    /// Starts uploading `blob` as it is written, if it promises to be large enough for that to
    /// pay (smaller ones are written before an upload would have started); returns at once.
    /// [`send`](Self::send), given its digest once it is written, adopts the upload.
    pub fn follow(&self, blob: GrowingBlob) {
        if blob.estimate() < FOLLOW_FROM || self.no_following.load(Ordering::Relaxed) {
            return;
        }
        let client = self.connected.client().clone();
        self.retries_before.get_or_init(|| client.retries());
        let (registry, repository) = (self.registry.clone(), self.repository.clone());
        let (transfers, no_following) = (self.transfers.clone(), self.no_following.clone());
        let followed = blob.clone();
        let (handed, adopted) = oneshot::channel();
        let session = Arc::new(Mutex::new(None));
        let recorded = session.clone();
        let task = self.connected.spawn(async move {
            let access = Access::push(&repository, &[]);
            let slot = transfers
                .acquire()
                .await
                .map_err(|_| RegistryError::Options("the upload queue was closed".into()))?;
            let patch = client.stream_growing(&registry, &repository, &blob, &access, &recorded);
            // Once the digest is known, a registry that has the blob needs none of it.
            let present = async {
                let (digest, _) = blob.wait().await?;
                if client
                    .held(&registry, &repository)
                    .is_some_and(|h| h.contains(&digest))
                {
                    return Some(());
                }
                let found = client
                    .blob_exists(&registry, &repository, &digest, &access)
                    .await;
                found.ok().flatten().map(|_| ())
            };
            tokio::pin!(patch, present);
            let first = tokio::select! {
                r = &mut patch => Ok(r),
                found = &mut present => Err(found),
            };
            // The upload is completed only once the registry is known to lack the blob.
            let (patched, found) = match first {
                Ok(r) => (r, (&mut present).await),
                Err(Some(())) => return Ok(Sent::Present),
                Err(None) => ((&mut patch).await, None),
            };
            // Every byte is sent: what is left is one small request, which needs no slot.
            drop(slot);
            let sent = match patched {
                Ok((url, _)) if found.is_some() => {
                    client.cancel_upload(&registry, url, &access).await;
                    Ok(Sent::Present)
                }
                // The blob exists once finished: only a layer the output was handed.
                Ok((url, digest)) => match adopted.await {
                    Ok(()) => client
                        .finish_upload(&registry, &repository, url, &digest, &access)
                        .await
                        .map(|()| Sent::Streamed),
                    Err(_) => {
                        client.cancel_upload(&registry, url, &access).await;
                        return Err(RegistryError::Options(
                            "the layer was not handed to the output; its upload was dropped".into(),
                        ));
                    }
                },
                Err(e) => Err(e),
            };
            if let Err(e) = &sent {
                tracing::debug!(error = %e, "following a layer failed; sending it once written");
                no_following.store(true, Ordering::Relaxed);
            }
            sent
        });
        let mut following = self.following.lock().unwrap_or_else(|p| p.into_inner());
        following.push(Following {
            blob: followed,
            upload: task,
            handed,
            session,
        });
    }

    /// The upload following the blob that turned out to be `digest`, if any, with what lets it
    /// finish; taken.
    fn followed(&self, digest: &Digest) -> Option<(Upload, oneshot::Sender<()>)> {
        let mut following = self.following.lock().unwrap_or_else(|p| p.into_inner());
        let i = following
            .iter()
            .position(|f| f.blob.finished().is_some_and(|(d, _)| &d == digest))?;
        let f = following.swap_remove(i);
        Some((f.upload, f.handed))
    }

    /// Starts sending the blob at `path` (`size` bytes, `digest`) and returns at once. `made`
    /// says this run wrote it (rather than finding it in the layer cache). A digest already
    /// started is not started again; an upload already following it is awaited instead, and
    /// the blob sent from `path` only if that upload failed.
    pub fn send(&self, digest: &Digest, size: u64, path: PathBuf, made: bool) {
        let mut started = self.started.lock().unwrap_or_else(|p| p.into_inner());
        let followed = self.followed(digest);
        if started.contains_key(digest) {
            // Two layers of the same bytes, both written by this run: the second's upload
            // would only send them again.
            if let Some((duplicate, _)) = followed {
                duplicate.abort();
            }
            return;
        }
        let followed = followed.map(|(upload, handed)| {
            // The task is gone only when it failed; the upload says so when awaited.
            let _ = handed.send(());
            upload
        });
        let client = self.connected.client().clone();
        self.retries_before.get_or_init(|| client.retries());
        let (registry, repository) = (self.registry.clone(), self.repository.clone());
        let transfers = self.transfers.clone();
        let job = BlobJob {
            digest: digest.clone(),
            size,
            body: BlobBody::File(path),
            mount_from: None,
        };
        let task = self.connected.spawn(async move {
            if let Some(upload) = followed
                && let Ok(Ok(sent)) = upload.await
            {
                return Ok(sent);
            }
            // The scope the probe was granted: no second token is asked for.
            let access = Access::push(&repository, &[]);
            let held = client.held(&registry, &repository);
            let to = Destination {
                client: &client,
                registry: &registry,
                repository: &repository,
                access: &access,
                transfers: &transfers,
            };
            send_blob(&to, &job, held.as_ref(), made).await
        });
        started.insert(digest.clone(), task);
    }

    /// The client's retry count before the first upload started here, if one did.
    pub(super) fn retries_before(&self) -> Option<u64> {
        self.retries_before.get().copied()
    }

    /// The upload of `digest` started here, if any; taken, so it is awaited once.
    pub(super) fn take(&self, digest: &Digest) -> Option<Started> {
        let mut started = self.started.lock().unwrap_or_else(|p| p.into_inner());
        started.remove(digest).map(Started)
    }

    /// The transfers in flight at once, shared with the push that awaits these uploads.
    pub(super) fn transfers(&self) -> Arc<Semaphore> {
        self.transfers.clone()
    }
}

impl Drop for EarlyUploads {
    /// A publish that fails before its push leaves no upload running behind it.
    fn drop(&mut self) {
        let started = self.started.get_mut().unwrap_or_else(|p| p.into_inner());
        for (_, task) in started.drain() {
            task.abort();
        }
        let following = self.following.get_mut().unwrap_or_else(|p| p.into_inner());
        let mut sessions = Vec::new();
        for f in following.drain(..) {
            if f.upload.is_finished() {
                continue;
            }
            f.upload.abort();
            if let Some(url) = f.session.lock().unwrap_or_else(|p| p.into_inner()).take() {
                sessions.push(url);
            }
        }
        self.cancel(sessions);
    }
}

impl EarlyUploads {
    /// Deletes the upload sessions of layers never handed over (a publish refused after its
    /// build, or failing), so their bytes leave the registry now rather than when it expires
    /// them. Bounded: a publish that already failed does not wait long on a registry.
    fn cancel(&self, sessions: Vec<Url>) {
        // Never the case in lade, whose operations are synchronous: blocking inside the
        // runtime would panic, and the sessions then expire in the registry.
        if sessions.is_empty() || tokio::runtime::Handle::try_current().is_ok() {
            return;
        }
        let client = self.connected.client();
        let access = Access::push(&self.repository, &[]);
        let cancels = async {
            for url in sessions {
                client.cancel_upload(&self.registry, url, &access).await;
            }
        };
        // The timer is made inside the runtime, which drives it.
        let _ = self
            .connected
            .block_on(async { tokio::time::timeout(CANCEL_WAIT, cancels).await });
    }
}
