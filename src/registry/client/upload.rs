//! Blob uploads: POST (offering a cross-repository mount), then one streamed PUT, or PATCH
//! chunks and a closing PUT for registries that refuse the single PUT; a failed attempt
//! starts a new session.

use super::{Access, BlobBody, Host, RegistryClient, Retry, UploadOutcome, join};
use crate::digest::Digest;
use crate::growing::GrowingBlob;
use crate::progress::{Kind, Task};
use crate::registry::RegistryError;
use crate::registry::transport::{self, ApiError, Progress, tracked};
use reqwest::header;
use reqwest::{Method, StatusCode, Url};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::AsyncSeekExt;

/// Read buffer for streamed uploads: large enough that a loopback upload is not bound by
/// per-read overhead.
const UPLOAD_READ_BUF: usize = 256 << 10;

/// A bound on the size of a blob uploaded as it is written, for the request's deadline
/// (see [`transport::deadline`]): no layer comes near it.
const GROWING_BOUND: u64 = 1 << 40;

/// Why one upload attempt failed; decides whether the upload starts again.
enum UploadFailure {
    /// The registry refuses a monolithic PUT: use PATCH.
    NeedChunked(RegistryError),
    Retry(RegistryError, Option<Duration>),
    Fatal(RegistryError),
}

impl RegistryClient {
    /// Uploads a blob of `size` bytes with `digest`: `POST` (offering a mount from
    /// `mount_from` on the same registry), then one streamed `PUT` with `Content-Length`, or
    /// `PATCH` chunks then `PUT` for registries that refuse the single PUT. A failed attempt
    /// (cut connection, 5xx, 429) starts a new upload session.
    #[allow(clippy::too_many_arguments)]
    pub async fn upload_blob(
        &self,
        registry: &str,
        repository: &str,
        digest: &Digest,
        size: u64,
        body: &BlobBody,
        mount_from: Option<&str>,
        access: &Access,
    ) -> Result<UploadOutcome, RegistryError> {
        let host = self.host(registry)?;
        let action = format!("uploading blob {digest} to {repository}");
        let attempts = self.inner.options.attempts.max(1);
        let mut attempt = 0;
        let mut switched = false;
        // Started once bytes are about to go: a mounted blob moves none.
        let mut task: Option<Arc<Task>> = None;
        loop {
            attempt += 1;
            let location = match self
                .start_upload(
                    &host,
                    repository,
                    mount_from.map(|f| (digest, f)),
                    access,
                    &action,
                )
                .await?
            {
                Started::Mounted => return Ok(UploadOutcome::Mounted),
                Started::At(u) => u,
            };
            let task = match &task {
                Some(t) => {
                    t.restart();
                    t.clone()
                }
                None => task
                    .insert(Arc::new(self.progress().start(
                        Kind::Upload,
                        &format!("{} to {repository}", super::blobs::short(digest)),
                        Some(size),
                    )))
                    .clone(),
            };
            let sent = Sent {
                body,
                size,
                task: &task,
            };
            let result = if host.chunked.load(Ordering::Relaxed) {
                self.patch_upload(&host, location, digest, &sent, access, &action)
                    .await
            } else {
                self.put_upload(&host, location, digest, &sent, access, &action)
                    .await
            };
            match result {
                Ok(()) => {
                    task.finish();
                    return Ok(UploadOutcome::Uploaded);
                }
                Err(UploadFailure::NeedChunked(e)) => {
                    if switched {
                        return Err(e);
                    }
                    tracing::debug!(registry, "registry refused a single PUT; using PATCH");
                    host.chunked.store(true, Ordering::Relaxed);
                    switched = true;
                    attempt -= 1;
                }
                Err(UploadFailure::Retry(e, wait)) if attempt < attempts => {
                    if let RegistryError::TimedOut { stalled, .. } = &e {
                        self.say_stalled(registry, &action, attempt, *stalled);
                    } else {
                        tracing::debug!(error = %e, "upload failed; starting it again");
                    }
                    self.pause(registry, &action, attempt, wait).await;
                }
                Err(UploadFailure::Retry(e, _) | UploadFailure::Fatal(e)) => return Err(e),
            }
        }
    }

    /// Starts uploading a blob while it is still being written: `POST`, then one `PATCH`
    /// whose body follows the file as it grows (chunked, its length unknown until the end).
    /// Returns where the upload goes on and the blob's digest, known once the writer is done;
    /// [`finish_upload`](Self::finish_upload) completes it. One attempt, no retries: the blob
    /// is complete on disk by the time this fails, and the caller sends it the usual way.
    /// `session` is kept up to date with where the upload goes on, so a caller that drops this
    /// future midway can still delete the upload.
    pub async fn stream_growing(
        &self,
        registry: &str,
        repository: &str,
        blob: &GrowingBlob,
        access: &Access,
        session: &Mutex<Option<Url>>,
    ) -> Result<(Url, Digest), RegistryError> {
        let host = self.host(registry)?;
        let action = format!("uploading a layer to {repository} as it is written");
        let Started::At(location) = self
            .start_upload(&host, repository, None, access, &action)
            .await?
        else {
            unreachable!("no mount was offered")
        };
        *session.lock().unwrap_or_else(|p| p.into_inner()) = Some(location.clone());
        let task = Arc::new(self.progress().start(
            Kind::Upload,
            &format!("layer to {repository}"),
            None,
        ));
        // The body's length is unknown: the request is idle only when the writer stops
        // producing bytes for the idle timeout.
        let progress = Progress::new(GROWING_BOUND);
        let body = reqwest::Body::wrap_stream(tracked(
            counted(blob.stream(), task.clone()),
            progress.clone(),
        ));
        let slot = Mutex::new(Some(body));
        let resp = self
            .send_tracked(&host, access, &action, Retry::No, Some(progress), |c, _| {
                let b = body_once(&slot, &host, &action)?;
                Ok(c.request(Method::PATCH, location.clone())
                    .header(header::CONTENT_TYPE, "application/octet-stream")
                    .body(b))
            })
            .await?;
        if resp.status() != StatusCode::ACCEPTED && !resp.status().is_success() {
            return Err(self.status_error(&host, &action, resp).await);
        }
        task.finish();
        let base = self.endpoint(&host).await?;
        let url = location_header(&base, &resp).unwrap_or(location);
        *session.lock().unwrap_or_else(|p| p.into_inner()) = Some(url.clone());
        // The body ended, so the writer is done.
        let (digest, _) = blob.finished().ok_or_else(|| RegistryError::Transport {
            registry: host.registry.clone(),
            action: action.clone(),
            detail: "the layer was not written to the end".into(),
        })?;
        Ok((url, digest))
    }

    /// Completes an upload whose bytes are all sent (`PUT` with the digest, no body).
    pub async fn finish_upload(
        &self,
        registry: &str,
        repository: &str,
        mut url: Url,
        digest: &Digest,
        access: &Access,
    ) -> Result<(), RegistryError> {
        let host = self.host(registry)?;
        let action = format!("uploading blob {digest} to {repository}");
        url.query_pairs_mut().append_pair("digest", digest.as_str());
        let resp = self
            .send(&host, access, &action, Retry::No, |c, _| {
                Ok(c.put(url.clone()).header(header::CONTENT_LENGTH, "0"))
            })
            .await?;
        if !resp.status().is_success() {
            return Err(self.status_error(&host, &action, resp).await);
        }
        Ok(())
    }

    /// Abandons an unfinished upload (`DELETE`), so the registry frees its bytes now rather
    /// than when it expires the session. Best effort: the answer is not looked at.
    pub async fn cancel_upload(&self, registry: &str, url: Url, access: &Access) {
        let Ok(host) = self.host(registry) else {
            return;
        };
        let action = "cancelling an upload";
        let _ = self
            .send(&host, access, action, Retry::No, |c, _| {
                Ok(c.delete(url.clone()))
            })
            .await;
    }

    /// Offers a cross-repository mount only (no upload): whether the registry mounted it.
    pub async fn mount_blob(
        &self,
        registry: &str,
        repository: &str,
        digest: &Digest,
        from: &str,
        access: &Access,
    ) -> Result<bool, RegistryError> {
        let host = self.host(registry)?;
        let action = format!("mounting blob {digest} from {from} into {repository}");
        Ok(matches!(
            self.start_upload(&host, repository, Some((digest, from)), access, &action)
                .await?,
            Started::Mounted
        ))
    }

    async fn start_upload(
        &self,
        host: &Host,
        repository: &str,
        mount: Option<(&Digest, &str)>,
        access: &Access,
        action: &str,
    ) -> Result<Started, RegistryError> {
        let url_path = format!("v2/{repository}/blobs/uploads/");
        let resp = self
            .send(host, access, action, Retry::Yes, |c, base| {
                let mut url = join(base, &url_path)?;
                if let Some((digest, from)) = mount {
                    url.query_pairs_mut()
                        .append_pair("mount", digest.as_str())
                        .append_pair("from", from);
                }
                Ok(c.post(url).header(header::CONTENT_LENGTH, "0"))
            })
            .await?;
        let status = resp.status();
        if status == StatusCode::CREATED && mount.is_some() {
            return Ok(Started::Mounted);
        }
        if status != StatusCode::ACCEPTED {
            return Err(self.status_error(host, action, resp).await);
        }
        let base = self.endpoint(host).await?;
        Ok(Started::At(location_header(&base, &resp).ok_or_else(
            || RegistryError::Invalid {
                registry: host.registry.clone(),
                action: action.into(),
                detail: "the registry started an upload without a valid Location header".into(),
            },
        )?))
    }

    /// A fresh body for one attempt.
    async fn open_body(
        &self,
        sent: &Sent<'_>,
        digest: &Digest,
        range: Option<(u64, u64)>,
        action: &str,
        registry: &str,
        progress: &Arc<Progress>,
    ) -> Result<reqwest::Body, UploadFailure> {
        let progress = progress.clone();
        let task = sent.task.clone();
        let body = sent.body;
        match body {
            BlobBody::Bytes(b) => {
                let part = match range {
                    Some((start, len)) => b[start as usize..(start + len) as usize].to_vec(),
                    None => b.clone(),
                };
                let once = futures_util::stream::iter([Ok::<_, std::io::Error>(part)]);
                Ok(reqwest::Body::wrap_stream(tracked(
                    counted(once, task),
                    progress,
                )))
            }
            BlobBody::File(path) => {
                let io = |e: std::io::Error| {
                    UploadFailure::Fatal(RegistryError::Io {
                        registry: registry.into(),
                        action: action.into(),
                        path: path.clone(),
                        cause: e,
                    })
                };
                let mut f = tokio::fs::File::open(path).await.map_err(io)?;
                Ok(match range {
                    Some((start, len)) => {
                        f.seek(std::io::SeekFrom::Start(start)).await.map_err(io)?;
                        use tokio::io::AsyncReadExt;
                        reqwest::Body::wrap_stream(tracked(
                            counted(
                                tokio_util::io::ReaderStream::with_capacity(
                                    f.take(len),
                                    UPLOAD_READ_BUF,
                                ),
                                task,
                            ),
                            progress,
                        ))
                    }
                    None => reqwest::Body::wrap_stream(tracked(
                        counted(
                            tokio_util::io::ReaderStream::with_capacity(f, UPLOAD_READ_BUF),
                            task,
                        ),
                        progress,
                    )),
                })
            }
            BlobBody::Remote {
                registry: src_registry,
                repository: src_repo,
            } => {
                // A source that stops sending stops the upload's progress: the upload's idle
                // timeout covers both.
                let src = self.source_stream(src_registry, src_repo, digest).await?;
                Ok(reqwest::Body::wrap_stream(tracked(
                    counted(src.bytes_stream(), task),
                    progress,
                )))
            }
        }
    }

    /// The GET response of a blob on another registry, to stream into an upload.
    async fn source_stream(
        &self,
        registry: &str,
        repository: &str,
        digest: &Digest,
    ) -> Result<reqwest::Response, UploadFailure> {
        let mut last = None;
        for (reg, repo) in self.inner.options.pull_candidates(registry, repository) {
            let host = self.host(&reg).map_err(UploadFailure::Fatal)?;
            let action = format!("downloading blob {digest} from {repo}");
            let url_path = format!("v2/{repo}/blobs/{digest}");
            match self
                .send(
                    &host,
                    &Access::pull(&repo),
                    &action,
                    Retry::Yes,
                    |c, base| Ok(c.get(join(base, &url_path)?)),
                )
                .await
            {
                Ok(r) if r.status().is_success() => return Ok(r),
                Ok(r) => last = Some(self.status_error(&host, &action, r).await),
                Err(e) => last = Some(e),
            }
        }
        Err(UploadFailure::Fatal(
            last.expect("pull_candidates always includes the origin"),
        ))
    }

    async fn put_upload(
        &self,
        host: &Host,
        location: Url,
        digest: &Digest,
        sent: &Sent<'_>,
        access: &Access,
        action: &str,
    ) -> Result<(), UploadFailure> {
        let size = sent.size;
        let mut url = location;
        url.query_pairs_mut().append_pair("digest", digest.as_str());
        let progress = Progress::new(size);
        let body = self
            .open_body(sent, digest, None, action, &host.registry, &progress)
            .await?;
        let slot = Mutex::new(Some(body));
        let resp = self
            .send_tracked(host, access, action, Retry::No, Some(progress), |c, _| {
                let body = body_once(&slot, host, action)?;
                Ok(c.put(url.clone())
                    .header(header::CONTENT_TYPE, "application/octet-stream")
                    .header(header::CONTENT_LENGTH, size)
                    .body(body))
            })
            .await
            .map_err(classify)?;
        let status = resp.status();
        if status == StatusCode::CREATED || status.is_success() {
            return Ok(());
        }
        let wait = transport::retry_after(resp.headers());
        let e = self.status_error(host, action, resp).await;
        Err(match status.as_u16() {
            405 | 411 | 413 | 416 | 501 => UploadFailure::NeedChunked(e),
            s if transport::retryable_status(StatusCode::from_u16(s).unwrap_or(status)) => {
                UploadFailure::Retry(e, wait)
            }
            // The upload session may have expired on the registry.
            404 if blob_upload_unknown(&e) => UploadFailure::Retry(e, None),
            _ => UploadFailure::Fatal(e),
        })
    }

    async fn patch_upload(
        &self,
        host: &Host,
        location: Url,
        digest: &Digest,
        sent: &Sent<'_>,
        access: &Access,
        action: &str,
    ) -> Result<(), UploadFailure> {
        let Sent { body, size, .. } = *sent;
        // Only files and bytes can be cut into ranges; a remote stream goes in one PATCH.
        let chunk = match body {
            BlobBody::Remote { .. } => size.max(1),
            _ => self.inner.options.chunk_size.max(1),
        };
        let base = self.endpoint(host).await.map_err(UploadFailure::Fatal)?;
        let mut url = location;
        let mut start = 0u64;
        while start < size {
            let len = chunk.min(size - start);
            let range = match body {
                BlobBody::Remote { .. } => None,
                _ => Some((start, len)),
            };
            let progress = Progress::new(len);
            let b = self
                .open_body(sent, digest, range, action, &host.registry, &progress)
                .await?;
            let slot = Mutex::new(Some(b));
            let target = url.clone();
            let resp = self
                .send_tracked(host, access, action, Retry::No, Some(progress), |c, _| {
                    let b = body_once(&slot, host, action)?;
                    Ok(c.request(Method::PATCH, target.clone())
                        .header(header::CONTENT_TYPE, "application/octet-stream")
                        .header(header::CONTENT_LENGTH, len)
                        .header(
                            header::CONTENT_RANGE,
                            format!("{start}-{}", start + len - 1),
                        )
                        .body(b))
                })
                .await
                .map_err(classify)?;
            if resp.status() != StatusCode::ACCEPTED && !resp.status().is_success() {
                let status = resp.status();
                let wait = transport::retry_after(resp.headers());
                let e = self.status_error(host, action, resp).await;
                return Err(if transport::retryable_status(status) {
                    UploadFailure::Retry(e, wait)
                } else {
                    UploadFailure::Fatal(e)
                });
            }
            if let Some(next) = location_header(&base, &resp) {
                url = next;
            }
            start += len;
        }
        url.query_pairs_mut().append_pair("digest", digest.as_str());
        let resp = self
            .send(host, access, action, Retry::No, |c, _| {
                Ok(c.put(url.clone()).header(header::CONTENT_LENGTH, "0"))
            })
            .await
            .map_err(classify)?;
        if resp.status().is_success() {
            return Ok(());
        }
        let status = resp.status();
        let wait = transport::retry_after(resp.headers());
        let e = self.status_error(host, action, resp).await;
        Err(if transport::retryable_status(status) {
            UploadFailure::Retry(e, wait)
        } else {
            UploadFailure::Fatal(e)
        })
    }
}

enum Started {
    Mounted,
    At(Url),
}

/// What one upload attempt sends, and the task its bytes are counted on.
#[derive(Clone, Copy)]
struct Sent<'a> {
    body: &'a BlobBody,
    size: u64,
    task: &'a Arc<Task>,
}

/// `stream` (a request body), counting its bytes on `task` for the progress display.
fn counted<S, T, E>(stream: S, task: Arc<Task>) -> impl futures_util::Stream<Item = Result<T, E>>
where
    S: futures_util::Stream<Item = Result<T, E>>,
    T: AsRef<[u8]>,
{
    use futures_util::StreamExt;
    stream.inspect(move |chunk| {
        if let Ok(c) = chunk {
            task.advance(c.as_ref().len() as u64);
        }
    })
}

/// The body in `slot`, which streams once: a second call (re-authentication asked for it
/// again) fails, and the upload starts over instead.
fn body_once(
    slot: &Mutex<Option<reqwest::Body>>,
    host: &Host,
    action: &str,
) -> Result<reqwest::Body, RegistryError> {
    slot.lock()
        .expect("lock")
        .take()
        .ok_or_else(|| RegistryError::Transport {
            registry: host.registry.clone(),
            action: action.into(),
            detail: "authentication expired during the upload".into(),
        })
}

/// Connection problems during an upload are worth a new session; the rest are final.
fn classify(e: RegistryError) -> UploadFailure {
    match e {
        RegistryError::Transport { .. } | RegistryError::TimedOut { .. } => {
            UploadFailure::Retry(e, None)
        }
        other => UploadFailure::Fatal(other),
    }
}

fn blob_upload_unknown(e: &RegistryError) -> bool {
    matches!(e, RegistryError::Status { errors, .. }
        if errors.iter().any(|ApiError { code, .. }| code == "BLOB_UPLOAD_UNKNOWN"))
}

/// The upload URL from a `Location` header, absolute or relative to the registry.
fn location_header(base: &Url, resp: &reqwest::Response) -> Option<Url> {
    let l = resp.headers().get(header::LOCATION)?.to_str().ok()?;
    base.join(l).ok()
}
