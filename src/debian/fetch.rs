//! HTTP downloads into a content-addressed cache (`<cache>/debian/sha256/<hex>`). A file is
//! only ever stored under the hash it was checked against, and is hashed again each time it is
//! used, so a corrupted or tampered cache is caught rather than built into an image.
//!
//! The network runs on a private current-thread tokio runtime: callers stay synchronous
//! (`lade publish` is), at the price that this must not be called from inside another
//! runtime.

use super::error::{DebianError, io_err};
use crate::digest::HashingWriter;
use futures_util::StreamExt;
use std::fs;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Downloads running at once: enough to hide per-request latency, few enough to be polite.
const PARALLEL: usize = 4;

/// A file wanted in the cache.
#[derive(Clone, Debug)]
pub struct Want {
    /// URLs to try in order; the next is tried only when one answers 404.
    pub urls: Vec<String>,
    pub sha256: String,
    pub size: u64,
    /// How to name it in errors (`libpq5_15.5-0+deb12u1_amd64.deb`).
    pub what: String,
}

pub struct Fetcher {
    rt: tokio::runtime::Runtime,
    client: reqwest::Client,
    root: PathBuf,
    progress: crate::progress::Reporter,
}

impl Fetcher {
    /// `root` is lade's `cache/debian` directory.
    pub fn new(root: &Path, progress: crate::progress::Reporter) -> Result<Fetcher, DebianError> {
        for d in [root.join("sha256"), root.join("tmp")] {
            fs::create_dir_all(&d).map_err(io_err("creating cache directory", &d))?;
        }
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(io_err("starting the HTTP runtime for", root))?;
        crate::registry::tls::install_provider();
        let client = reqwest::Client::builder()
            .user_agent(concat!("lade/", env!("CARGO_PKG_VERSION")))
            .connect_timeout(Duration::from_secs(15))
            .read_timeout(Duration::from_secs(60))
            .build()
            .map_err(|e| DebianError::Fetch {
                url: String::new(),
                detail: format!("HTTP client: {e}"),
            })?;
        Ok(Fetcher {
            rt,
            client,
            root: root.to_path_buf(),
            progress,
        })
    }

    /// Where the file with this sha256 lives in the cache.
    pub fn cached_path(&self, sha256: &str) -> PathBuf {
        self.root.join("sha256").join(sha256)
    }

    /// A small document whose hash is not known in advance (InRelease). `Ok(None)` on 404.
    pub fn text(&self, url: &str, max: u64) -> Result<Option<String>, DebianError> {
        self.rt.block_on(async {
            let mut resp = match self.get(url).await? {
                Some(r) => r,
                None => return Ok(None),
            };
            let mut body = Vec::new();
            while let Some(chunk) = resp.chunk().await.map_err(|e| fetch_err(url, &e))? {
                body.extend_from_slice(&chunk);
                if body.len() as u64 > max {
                    return Err(DebianError::Fetch {
                        url: url.to_string(),
                        detail: format!("larger than {max} bytes"),
                    });
                }
            }
            String::from_utf8(body)
                .map(Some)
                .map_err(|_| DebianError::Fetch {
                    url: url.to_string(),
                    detail: "not UTF-8 text".into(),
                })
        })
    }

    /// Makes sure each wanted file is in the cache with its hash, downloading what is missing.
    /// Returns the paths (in the order asked) and the number of bytes downloaded.
    pub fn ensure(&self, wants: &[Want]) -> Result<(Vec<PathBuf>, u64), DebianError> {
        let mut missing = Vec::new();
        for (i, w) in wants.iter().enumerate() {
            if !self.verify_cached(w)? {
                missing.push(i);
            }
        }
        let downloaded: u64 = missing.iter().map(|&i| wants[i].size).sum();
        let results: Vec<Result<(), DebianError>> = self.rt.block_on(
            futures_util::stream::iter(missing.iter().map(|&i| self.download(&wants[i])))
                .buffered(PARALLEL)
                .collect(),
        );
        // `buffered` keeps input order, so the first error reported is the first asked for.
        results.into_iter().collect::<Result<Vec<()>, _>>()?;
        Ok((
            wants.iter().map(|w| self.cached_path(&w.sha256)).collect(),
            downloaded,
        ))
    }

    /// Whether the cache holds the file; a present file with other bytes is an error, not a
    /// cache miss: something changed lade's cache behind its back.
    /// The stat cache answers for a file unchanged since it was last read: a publish on a
    /// base built from Debian packages checks them all (a Java runtime's are 50 MB), and
    /// re-reading them was a third of an unchanged Java publish.
    fn verify_cached(&self, w: &Want) -> Result<bool, DebianError> {
        let path = self.cached_path(&w.sha256);
        let meta = match std::fs::metadata(&path) {
            Ok(m) => m,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(false),
            Err(e) => return Err(io_err("opening cached", &path)(e)),
        };
        let (digest, _) = crate::statcache::shared()
            .digest_with(&path, &meta)
            .map_err(io_err("reading cached", &path))?;
        if digest.hex() != w.sha256 {
            return Err(DebianError::Checksum {
                what: format!("cached {} ({})", w.what, path.display()),
                expected: w.sha256.clone(),
                actual: digest.hex().to_string(),
                advice: "the cache was changed outside lade; delete the file to download it again"
                    .into(),
            });
        }
        Ok(true)
    }

    async fn download(&self, w: &Want) -> Result<(), DebianError> {
        let mut last_404 = String::new();
        let task = self
            .progress
            .start(crate::progress::Kind::Download, &w.what, Some(w.size));
        for url in &w.urls {
            let Some(mut resp) = self.get(url).await? else {
                last_404 = url.clone();
                continue;
            };
            let tmp_dir = self.root.join("tmp");
            let tmp = tempfile::NamedTempFile::new_in(&tmp_dir)
                .map_err(io_err("creating a temporary file in", &tmp_dir))?;
            let tmp_path = tmp.path().to_path_buf();
            let mut out = HashingWriter::new(BufWriter::with_capacity(256 * 1024, tmp));
            let mut got = 0u64;
            while let Some(chunk) = resp.chunk().await.map_err(|e| fetch_err(url, &e))? {
                out.write_all(&chunk)
                    .map_err(io_err("writing download to", &tmp_path))?;
                got += chunk.len() as u64;
                task.advance(chunk.len() as u64);
                // A server sending more than the index promised is wrong already; stop reading.
                if got > w.size {
                    break;
                }
            }
            let (buffered, digest, size) = out.finish();
            if size != w.size || digest.hex() != w.sha256 {
                return Err(DebianError::Checksum {
                    what: format!("{} from {url} ({size} bytes, expected {})", w.what, w.size),
                    expected: w.sha256.clone(),
                    actual: digest.hex().to_string(),
                    advice: "the mirror served other bytes than its signed index lists; try again or use another --debian-mirror".into(),
                });
            }
            let tmp = buffered
                .into_inner()
                .map_err(|e| io_err("writing download to", &tmp_path)(e.into_error()))?;
            let dest = self.cached_path(&w.sha256);
            tmp.persist(&dest)
                .map_err(|e| io_err("storing download as", &dest)(e.error))?;
            task.finish();
            return Ok(());
        }
        Err(DebianError::Http {
            url: last_404,
            status: 404,
        })
    }

    /// GET with the status checked; `None` on 404.
    async fn get(&self, url: &str) -> Result<Option<reqwest::Response>, DebianError> {
        let resp = self
            .client
            .get(url)
            .send()
            .await
            .map_err(|e| fetch_err(url, &e))?;
        match resp.status().as_u16() {
            200 => Ok(Some(resp)),
            404 | 410 => Ok(None),
            status => Err(DebianError::Http {
                url: url.to_string(),
                status,
            }),
        }
    }
}

/// reqwest's Display stops at "error sending request"; the cause (connection refused, DNS)
/// is what the user needs.
fn fetch_err(url: &str, e: &reqwest::Error) -> DebianError {
    let mut detail = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        detail = format!("{detail}: {s}");
        source = s.source();
    }
    DebianError::Fetch {
        url: url.to_string(),
        detail,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A cached package is trusted through the stat cache while unchanged, and a package
    /// rewritten behind lade's back is still caught (its mtime and ctime change).
    #[test]
    fn cached_packages_are_checked_and_a_changed_one_is_refused() {
        let d = tempfile::tempdir().unwrap();
        let f = Fetcher::new(d.path(), crate::progress::Reporter::default()).unwrap();
        let body = b"a package".as_slice();
        let want = Want {
            urls: vec![],
            sha256: crate::digest::Digest::of(body).hex().to_string(),
            size: body.len() as u64,
            what: "p.deb".into(),
        };
        assert!(!f.verify_cached(&want).unwrap(), "nothing cached yet");
        let path = f.cached_path(&want.sha256);
        fs::write(&path, body).unwrap();
        assert!(f.verify_cached(&want).unwrap());
        assert!(f.verify_cached(&want).unwrap(), "checked again, unchanged");
        fs::write(&path, b"another package").unwrap();
        let err = f.verify_cached(&want).unwrap_err().to_string();
        assert!(
            err.contains("p.deb") && err.contains("changed outside lade"),
            "{err}"
        );
    }
}
