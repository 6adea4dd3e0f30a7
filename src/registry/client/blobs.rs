//! Blob reads: HEAD, small blobs in memory, and downloads streamed to a file with size and
//! digest checked before the file gets its name.

use super::{Access, RegistryClient, Retry, join, read_limited};
use crate::digest::Digest;
use crate::registry::{RegistryError, transport};
use reqwest::StatusCode;
use reqwest::header;
use sha2::Digest as _;
use std::path::Path;
use tokio::io::AsyncWriteExt;

impl RegistryClient {
    /// `HEAD` a blob: its size if the repository has it.
    pub async fn blob_exists(
        &self,
        registry: &str,
        repository: &str,
        digest: &Digest,
        access: &Access,
    ) -> Result<Option<u64>, RegistryError> {
        let host = self.host(registry)?;
        let action = format!("checking blob {digest} in {repository}");
        let url_path = format!("v2/{repository}/blobs/{digest}");
        let resp = self
            .send(&host, access, &action, Retry::Yes, |c, base| {
                Ok(c.head(join(base, &url_path)?))
            })
            .await?;
        match resp.status() {
            // reqwest reports no body length for HEAD; the header has the blob's size.
            s if s.is_success() => Ok(Some(
                resp.headers()
                    .get(header::CONTENT_LENGTH)
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(0),
            )),
            StatusCode::NOT_FOUND => Ok(None),
            _ => Err(self.status_error(&host, &action, resp).await),
        }
    }

    /// A small blob (an image config) in memory, digest-checked.
    pub async fn fetch_blob_bytes(
        &self,
        registry: &str,
        repository: &str,
        digest: &Digest,
        limit: usize,
    ) -> Result<Vec<u8>, RegistryError> {
        let mut last = None;
        for (reg, repo) in self.inner.options.pull_candidates(registry, repository) {
            let host = self.host(&reg)?;
            let action = format!("fetching blob {digest} from {repo}");
            let url_path = format!("v2/{repo}/blobs/{digest}");
            let result = async {
                let resp = self
                    .send(
                        &host,
                        &Access::pull(&repo),
                        &action,
                        Retry::Yes,
                        |c, base| Ok(c.get(join(base, &url_path)?)),
                    )
                    .await?;
                if !resp.status().is_success() {
                    return Err(self.status_error(&host, &action, resp).await);
                }
                let bytes = read_limited(resp, limit, self.inner.options.timeout)
                    .await
                    .map_err(|f| f.into_error(&reg, &action))?;
                let got = Digest::of(&bytes);
                if &got != digest {
                    return Err(RegistryError::Invalid {
                        registry: reg.clone(),
                        action: action.clone(),
                        detail: format!("the registry sent content with digest {got}"),
                    });
                }
                Ok(bytes)
            }
            .await;
            match result {
                Ok(b) => return Ok(b),
                Err(e) => last = Some(e),
            }
        }
        Err(last.expect("pull_candidates always includes the origin"))
    }

    /// Streams a blob into `dest` (through mirrors first), checking size and digest before the
    /// file appears under its final name. A download cut off midway starts again.
    pub async fn fetch_blob(
        &self,
        registry: &str,
        repository: &str,
        digest: &Digest,
        size: Option<u64>,
        dest: &Path,
    ) -> Result<u64, RegistryError> {
        let mut last = None;
        for (reg, repo) in self.inner.options.pull_candidates(registry, repository) {
            match self.fetch_blob_at(&reg, &repo, digest, size, dest).await {
                Ok(n) => return Ok(n),
                Err(e) => {
                    if reg != registry {
                        tracing::warn!(mirror = %reg, error = %e, "mirror failed; trying the next source");
                    }
                    last = Some(e);
                }
            }
        }
        Err(last.expect("pull_candidates always includes the origin"))
    }

    async fn fetch_blob_at(
        &self,
        registry: &str,
        repository: &str,
        digest: &Digest,
        size: Option<u64>,
        dest: &Path,
    ) -> Result<u64, RegistryError> {
        let host = self.host(registry)?;
        let action = format!("downloading blob {digest} from {repository}");
        let io = |path: &Path, cause: std::io::Error| RegistryError::Io {
            registry: registry.into(),
            action: action.clone(),
            path: path.to_path_buf(),
            cause,
        };
        let dir = dest.parent().unwrap_or(Path::new("."));
        tokio::fs::create_dir_all(dir)
            .await
            .map_err(|e| io(dir, e))?;
        let url_path = format!("v2/{repository}/blobs/{digest}");
        let attempts = self.inner.options.attempts.max(1);
        let mut attempt = 0;
        let task = self.progress().start(
            crate::progress::Kind::Download,
            &format!("{} from {repository}", short(digest)),
            size,
        );
        loop {
            attempt += 1;
            if attempt > 1 {
                task.restart();
            }
            let resp = self
                .send(
                    &host,
                    &Access::pull(repository),
                    &action,
                    Retry::Yes,
                    |c, base| Ok(c.get(join(base, &url_path)?)),
                )
                .await?;
            if !resp.status().is_success() {
                return Err(self.status_error(&host, &action, resp).await);
            }
            // The descriptor's size is all lade will take: a registry that announces or sends
            // more (a blob that never ends) must not fill the disk.
            let oversized = |what: String| RegistryError::Invalid {
                registry: registry.into(),
                action: action.clone(),
                detail: format!(
                    "the image says the blob has {} bytes, but the registry {what}",
                    size.unwrap_or_default()
                ),
            };
            if let (Some(announced), Some(size)) = (resp.content_length(), size)
                && announced > size
            {
                return Err(oversized(format!("announced {announced} bytes")));
            }
            let tmp = tempfile::Builder::new()
                .prefix(".download-")
                .tempfile_in(dir)
                .map_err(|e| io(dir, e))?;
            let (std_file, tmp_path) = tmp.into_parts();
            let mut file =
                tokio::io::BufWriter::with_capacity(1 << 20, tokio::fs::File::from_std(std_file));
            let mut hasher = sha2::Sha256::new();
            let mut n: u64 = 0;
            let idle = self.inner.options.timeout;
            let started = std::time::Instant::now();
            // Without a descriptor's size, the announced length sets the deadline.
            let expected = size.or(resp.content_length()).unwrap_or(0);
            let deadline = transport::deadline(idle, expected);
            let mut stream = resp.bytes_stream();
            let mut cut: Option<Cut> = None;
            loop {
                match transport::next_chunk(&mut stream, idle, started, deadline).await {
                    Ok(None) => break,
                    Ok(Some(Ok(c))) => {
                        if size.is_some_and(|s| n + c.len() as u64 > s) {
                            // The partial file goes with `tmp_path` when it is dropped.
                            return Err(oversized("sent more".into()));
                        }
                        hasher.update(&c);
                        n += c.len() as u64;
                        task.advance(c.len() as u64);
                        file.write_all(&c).await.map_err(|e| io(&tmp_path, e))?;
                    }
                    Ok(Some(Err(e))) => {
                        cut = Some(Cut::Broken(transport::error_chain(&e)));
                        break;
                    }
                    Err(stalled) => {
                        cut = Some(Cut::Stalled(stalled));
                        break;
                    }
                }
            }
            if let Some(cut) = cut {
                if attempt < attempts {
                    match cut {
                        Cut::Stalled(stalled) => {
                            self.say_stalled(registry, &action, attempt, stalled)
                        }
                        Cut::Broken(detail) => {
                            tracing::debug!(%digest, detail, "download cut off; starting again")
                        }
                    }
                    self.pause(registry, &action, attempt, None).await;
                    continue;
                }
                return Err(match cut {
                    Cut::Stalled(stalled) => RegistryError::TimedOut {
                        registry: registry.into(),
                        action,
                        stalled,
                    },
                    Cut::Broken(detail) => RegistryError::Transport {
                        registry: registry.into(),
                        action,
                        detail,
                    },
                });
            }
            file.flush().await.map_err(|e| io(&tmp_path, e))?;
            let got: Digest = format!("sha256:{}", hex::encode(hasher.finalize()))
                .parse()
                .expect("hex of a sha256 is a digest");
            if &got != digest || size.is_some_and(|s| s != n) {
                return Err(RegistryError::Invalid {
                    registry: registry.into(),
                    action,
                    detail: format!("received {n} bytes with digest {got}"),
                });
            }
            // As the blob store does: data on disk before the name, and world-readable like
            // every other blob (temporary files are created 0600; sinks copy the mode).
            file.into_inner()
                .sync_all()
                .await
                .map_err(|e| io(&tmp_path, e))?;
            {
                use std::os::unix::fs::PermissionsExt;
                tokio::fs::set_permissions(&tmp_path, std::fs::Permissions::from_mode(0o644))
                    .await
                    .map_err(|e| io(&tmp_path, e))?;
            }
            tmp_path.persist(dest).map_err(|e| io(dest, e.error))?;
            task.finish();
            return Ok(n);
        }
    }
}

/// How a download ended early.
enum Cut {
    /// The connection broke.
    Broken(String),
    /// Nothing arrived for the idle timeout, or the download passed its deadline.
    Stalled(transport::Stalled),
}

/// `sha256:0123456789ab`: enough of a digest to tell blobs apart in a progress line.
pub(crate) fn short(digest: &Digest) -> String {
    let s = digest.as_str();
    s[..s.len().min(19)].to_string()
}
