//! The content-addressed blob store on disk: `ROOT/blobs/sha256/<hex>`.
//!
//! Every blob is first written to a temporary file under `ROOT/tmp/` and renamed into place only
//! once its digest is known, so a name under `blobs/` always holds the complete bytes of that
//! digest: a crash leaves at worst a stray temporary file, never a truncated blob.

use crate::digest::{Digest, HashingWriter};
use crate::growing::{self, GrowingBlob, Growth};
use std::fs;
use std::io::{self, BufWriter, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};
use tempfile::NamedTempFile;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("blob store {path}")]
    Io { path: PathBuf, source: io::Error },
}

fn io_err(path: &Path) -> impl FnOnce(io::Error) -> StoreError + '_ {
    move |source| StoreError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Big enough that the compressor's output (tens of KiB per call) goes straight to the file.
const WRITE_BUFFER: usize = 256 * 1024;

pub struct BlobStore {
    root: PathBuf,
}

impl BlobStore {
    /// Opens (creating when missing) the store at `root`.
    pub fn open(root: &Path) -> Result<Self, StoreError> {
        // Absolute, so the blob paths handed to sinks stay valid if the process changes directory.
        let root = std::path::absolute(root).map_err(io_err(root))?;
        let store = BlobStore { root };
        for dir in [store.blob_dir(), store.tmp_dir()] {
            fs::create_dir_all(&dir).map_err(io_err(&dir))?;
        }
        // Runs that were killed left their temporary files; everything in tmp/ is one.
        sweep_stale_temporaries(&store.tmp_dir(), |_| true);
        Ok(store)
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Where the blob with this digest lives (whether or not it exists).
    pub fn path(&self, digest: &Digest) -> PathBuf {
        self.root
            .join("blobs")
            .join(digest.algorithm())
            .join(digest.hex())
    }

    pub fn contains(&self, digest: &Digest) -> bool {
        self.path(digest).is_file()
    }

    /// Stores `bytes` and returns their digest.
    pub fn put_bytes(&self, bytes: &[u8]) -> Result<Digest, StoreError> {
        let digest = Digest::of(bytes);
        if self.holds(&digest, bytes.len() as u64) {
            return Ok(digest);
        }
        let mut w = self.writer()?;
        w.write_all(bytes).map_err(io_err(&w.temp_path))?;
        let (written, _) = w.commit()?;
        debug_assert_eq!(written, digest);
        Ok(written)
    }

    /// A writer whose bytes become a blob when committed.
    pub fn writer(&self) -> Result<BlobWriter, StoreError> {
        let dir = self.tmp_dir();
        // The PID in the name tells a later sweep whether the writer is still running.
        let file = tempfile::Builder::new()
            .prefix(&format!("blob.tmp-{}-", std::process::id()))
            .tempfile_in(&dir)
            .map_err(io_err(&dir))?;
        let temp_path = file.path().to_path_buf();
        Ok(BlobWriter {
            inner: HashingWriter::new(BufWriter::with_capacity(
                WRITE_BUFFER,
                Tapped { file, growth: None },
            )),
            temp_path,
            blob_dir: self.blob_dir(),
        })
    }

    /// Whether the blob is present, `size` bytes long and hashing to `digest`. A blob damaged
    /// on disk (truncated, or the same size with other bytes) is then written again rather
    /// than reused: trusted, it would fail every output that reads it and every push (a
    /// registry answers DIGEST_INVALID), publish after publish. The digest comes through the
    /// stat cache, as source files' do: a blob is read once, and again only when its size,
    /// times or inode change (a write in place changes its ctime, whatever its mtime says).
    /// Re-reading every cached layer on every publish cost a warm publish of a 400 MiB tree
    /// about a quarter of its time, all of it before the first upload.
    pub(crate) fn holds(&self, digest: &Digest, size: u64) -> bool {
        held(crate::statcache::shared(), &self.path(digest), digest, size)
    }

    /// Where temporary files live: on the same filesystem as the blobs, so renames are atomic.
    pub(crate) fn tmp_dir(&self) -> PathBuf {
        self.root.join("tmp")
    }

    fn blob_dir(&self) -> PathBuf {
        self.root.join("blobs").join("sha256")
    }
}

/// Any temporary file this old is stale: a running writer keeps its file's mtime fresh.
const STALE_AFTER: Duration = Duration::from_secs(60 * 60);

/// A temporary file whose name carries the PID of a process that is not running is stale
/// sooner. Not at once: a writer in another PID namespace sharing the directory (a container
/// mounting the same cache) has a PID that means nothing here, and it is only told apart by
/// keeping its file's mtime fresh.
const DEAD_OWNER_GRACE: Duration = Duration::from_secs(10 * 60);

/// The PID in a temporary file name `NAME.tmp-PID-SUFFIX`, as lade's writers name them.
pub fn temp_owner(name: &str) -> Option<u32> {
    let (_, rest) = name.rsplit_once(".tmp-")?;
    let (pid, suffix) = rest.split_once('-')?;
    if suffix.is_empty() {
        return None;
    }
    pid.parse().ok()
}

/// Removes the stale temporary files directly in `dir` whose names `is_temporary` accepts:
/// older than [`STALE_AFTER`], or named for a PID that is not running and older than
/// [`DEAD_OWNER_GRACE`]. The files of running writers are fresh and stay. Best effort: a sweep
/// that cannot list or remove something must not fail the run that tidies up; it returns how
/// many files it removed.
pub fn sweep_stale_temporaries(dir: &Path, is_temporary: impl Fn(&str) -> bool) -> usize {
    let Ok(entries) = fs::read_dir(dir) else {
        return 0;
    };
    let now = SystemTime::now();
    let mut removed = 0;
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(name) = name.to_str().filter(|n| is_temporary(n)) else {
            continue;
        };
        let Ok(meta) = entry.metadata() else {
            continue;
        };
        if !meta.is_file() {
            continue;
        }
        // A time in the future (clock skew) counts as fresh.
        let age = meta
            .modified()
            .ok()
            .and_then(|m| now.duration_since(m).ok())
            .unwrap_or_default();
        let owner_gone = temp_owner(name).is_some_and(|pid| !process_running(pid));
        let stale = age >= STALE_AFTER || (owner_gone && age >= DEAD_OWNER_GRACE);
        if stale && fs::remove_file(entry.path()).is_ok() {
            tracing::debug!("removed stale temporary file {}", entry.path().display());
            removed += 1;
        }
    }
    removed
}

/// Whether a process with this PID exists. Only known where /proc lists processes (Linux);
/// elsewhere every owner counts as running and files go by age alone.
fn process_running(pid: u32) -> bool {
    let proc = Path::new("/proc");
    !proc.join("self").exists() || proc.join(pid.to_string()).exists()
}

/// Whether the file at `path` holds `digest` (`size` bytes), through `cache`: its digest as the
/// cache knows it, else read.
fn held(cache: &crate::statcache::StatCache, path: &Path, digest: &Digest, size: u64) -> bool {
    cache
        .digest(path)
        .is_ok_and(|(d, n)| &d == digest && n == size)
}

/// Streams bytes into a temporary file, hashing them; `commit` moves the file into place.
/// Dropping it without committing deletes the temporary file.
pub struct BlobWriter {
    inner: HashingWriter<BufWriter<Tapped>>,
    temp_path: PathBuf,
    blob_dir: PathBuf,
}

/// The temporary file, telling a follower (if any) what reached it.
struct Tapped {
    file: NamedTempFile,
    growth: Option<Growth>,
}

impl Write for Tapped {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.file.write(buf)?;
        if let Some(g) = &mut self.growth {
            g.wrote(n);
        }
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.file.flush()
    }
}

impl BlobWriter {
    /// The temporary file being written, for error messages.
    pub fn temp_path(&self) -> &Path {
        &self.temp_path
    }

    /// A reader of the blob as it is written (see [`crate::growing`]), `estimate` bytes or
    /// so. Asked before anything is written, so the reader starts at the blob's first byte.
    pub fn follow(&mut self, estimate: u64) -> Result<GrowingBlob, StoreError> {
        let tapped = self.inner.get_mut().get_mut();
        debug_assert!(tapped.growth.is_none(), "one follower per blob");
        let file = tapped
            .file
            .as_file()
            .try_clone()
            .map_err(io_err(&self.temp_path))?;
        let (growth, blob) = growing::follow(file, estimate);
        tapped.growth = Some(growth);
        Ok(blob)
    }

    pub fn commit(self) -> Result<(Digest, u64), StoreError> {
        let BlobWriter {
            inner,
            temp_path,
            blob_dir,
        } = self;
        let (buffered, digest, size) = inner.finish();
        let Tapped { file, growth } = buffered
            .into_inner()
            .map_err(|e| io_err(&temp_path)(e.into_error()))?;
        // Every byte is in the file: a follower may finish now, while the file is synced.
        if let Some(g) = growth {
            g.done(&digest, size);
        }
        let dest = blob_dir.join(digest.hex());
        // Through the stat cache: rewriting a layer whose blob is already stored (its cache
        // entry gone) would otherwise read the whole blob back.
        if fs::metadata(&dest).is_ok_and(|m| m.is_file() && m.len() == size)
            && held(crate::statcache::shared(), &dest, &digest, size)
        {
            // The bytes are already there. Leaving the existing file alone keeps its inode
            // stable for anyone who hard-linked it into a layout. A damaged file is replaced.
            return Ok((digest, size));
        }
        // The data must be on disk before the name is, or a power loss could leave a
        // zero-length file under a valid digest name.
        file.as_file().sync_all().map_err(io_err(&temp_path))?;
        // Temporary files are created 0600; blobs are public content and sinks copy the mode.
        fs::set_permissions(&temp_path, fs::Permissions::from_mode(0o644))
            .map_err(io_err(&temp_path))?;
        file.persist(&dest).map_err(|e| io_err(&dest)(e.error))?;
        Ok((digest, size))
    }
}

impl Write for BlobWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.inner.write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn put_bytes_is_content_addressed() {
        let dir = tempfile::tempdir().unwrap();
        let store = BlobStore::open(&dir.path().join("store")).unwrap();
        let d = store.put_bytes(b"{\"a\":1}").unwrap();
        assert_eq!(d, Digest::of(b"{\"a\":1}"));
        assert!(store.contains(&d));
        assert_eq!(fs::read(store.path(&d)).unwrap(), b"{\"a\":1}");
        let mode = fs::metadata(store.path(&d)).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o644);
        // A second put of the same bytes is a no-op and leaves nothing behind in tmp.
        assert_eq!(store.put_bytes(b"{\"a\":1}").unwrap(), d);
        assert_eq!(fs::read_dir(store.tmp_dir()).unwrap().count(), 0);
    }

    #[test]
    fn uncommitted_writer_leaves_no_blob() {
        let dir = tempfile::tempdir().unwrap();
        let store = BlobStore::open(dir.path()).unwrap();
        let mut w = store.writer().unwrap();
        w.write_all(b"half a layer").unwrap();
        let temp = w.temp_path().to_path_buf();
        assert!(temp.starts_with(store.tmp_dir()));
        drop(w);
        assert!(!temp.exists());
        assert!(!store.contains(&Digest::of(b"half a layer")));
        let blobs = fs::read_dir(store.root().join("blobs/sha256")).unwrap();
        assert_eq!(blobs.count(), 0);
    }

    #[test]
    fn writer_commit_reports_digest_and_size() {
        let dir = tempfile::tempdir().unwrap();
        let store = BlobStore::open(dir.path()).unwrap();
        let mut w = store.writer().unwrap();
        let big = vec![7u8; 3 * WRITE_BUFFER + 5];
        w.write_all(&big).unwrap();
        let (d, n) = w.commit().unwrap();
        assert_eq!((d.clone(), n), (Digest::of(&big), big.len() as u64));
        assert_eq!(fs::read(store.path(&d)).unwrap(), big);
    }

    #[test]
    fn corrupt_blob_of_the_right_size_is_replaced() {
        let dir = tempfile::tempdir().unwrap();
        let store = BlobStore::open(dir.path()).unwrap();
        let d = store.put_bytes(b"complete").unwrap();
        fs::write(store.path(&d), b"c0mplete").unwrap();
        assert!(!store.holds(&d, 8), "a blob with other bytes is not held");
        assert_eq!(store.put_bytes(b"complete").unwrap(), d);
        assert_eq!(fs::read(store.path(&d)).unwrap(), b"complete");

        // A writer producing the digest of a damaged file replaces it too.
        let big = vec![7u8; WRITE_BUFFER + 5];
        let mut w = store.writer().unwrap();
        w.write_all(&big).unwrap();
        let (d, _) = w.commit().unwrap();
        let mut bad = big.clone();
        bad[WRITE_BUFFER] ^= 1;
        fs::write(store.path(&d), &bad).unwrap();
        let mut w = store.writer().unwrap();
        w.write_all(&big).unwrap();
        assert_eq!(w.commit().unwrap(), (d.clone(), big.len() as u64));
        assert_eq!(fs::read(store.path(&d)).unwrap(), big);
        assert_eq!(fs::read_dir(store.tmp_dir()).unwrap().count(), 0);
    }

    #[test]
    fn temp_owner_reads_the_pid_of_temporary_names() {
        assert_eq!(temp_owner("index.json.tmp-1234-0"), Some(1234));
        assert_eq!(temp_owner("blob.tmp-77-Ab3xYz"), Some(77));
        assert_eq!(temp_owner("a.tmp-b.tmp-9-1"), Some(9));
        assert_eq!(temp_owner(".tmpAb3xYz"), None);
        assert_eq!(temp_owner("index.json.tmp-12-"), None);
        assert_eq!(temp_owner("x.tmp-pid-1"), None);
        assert_eq!(temp_owner("index.json"), None);
    }

    #[test]
    fn opening_the_store_sweeps_only_stale_temporary_files() {
        let dir = tempfile::tempdir().unwrap();
        let store = BlobStore::open(dir.path()).unwrap();
        let tmp = store.tmp_dir();
        let dead = dead_pid();
        let me = std::process::id();
        let old = SystemTime::now() - STALE_AFTER - Duration::from_secs(60);
        let plant = |name: &str, mtime: Option<SystemTime>| {
            let path = tmp.join(name);
            fs::write(&path, b"partial").unwrap();
            if let Some(t) = mtime {
                fs::File::options()
                    .write(true)
                    .open(&path)
                    .unwrap()
                    .set_modified(t)
                    .unwrap();
            }
        };
        let recent_dead = SystemTime::now() - DEAD_OWNER_GRACE - Duration::from_secs(60);
        plant(&format!("blob.tmp-{dead}-gone"), Some(recent_dead));
        plant(".tmpOldUnnamed", Some(old));
        plant(&format!("blob.tmp-{me}-old"), Some(old));
        plant(&format!("blob.tmp-{me}-live"), None);
        plant(&format!("blob.tmp-{dead}-justnow"), None);
        let store = BlobStore::open(dir.path()).unwrap();
        let mut left: Vec<String> = fs::read_dir(store.tmp_dir())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        left.sort();
        let mut want = vec![
            format!("blob.tmp-{dead}-justnow"),
            format!("blob.tmp-{me}-live"),
        ];
        want.sort();
        assert_eq!(left, want, "stale files are removed, fresh ones stay");
    }

    /// The PID of a process that has exited.
    fn dead_pid() -> u32 {
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let pid = child.id();
        child.wait().unwrap();
        assert!(!process_running(pid), "pid {pid} was reused at once");
        pid
    }

    #[test]
    fn a_held_blob_is_read_once_and_again_after_a_change_in_place() {
        use crate::statcache::StatCache;
        let dir = tempfile::tempdir().unwrap();
        let store = BlobStore::open(dir.path()).unwrap();
        let d = store.put_bytes(b"complete").unwrap();
        let path = store.path(&d);
        // Older than the cache's racy margin, so its entry counts.
        std::thread::sleep(Duration::from_millis(30));
        let cache = StatCache::in_memory().with_margin(Duration::from_millis(10));
        assert!(held(&cache, &path, &d, 8));
        assert!(held(&cache, &path, &d, 8));
        assert_eq!(
            cache.files_hashed(),
            1,
            "the second check came from the cache"
        );
        assert!(!held(&cache, &path, &d, 9), "a wrong size is never held");

        // Same size, other bytes, the old mtime put back: the ctime still tells.
        let mtime = filetime::FileTime::from_last_modification_time(&fs::metadata(&path).unwrap());
        fs::write(&path, b"c0mplete").unwrap();
        filetime::set_file_mtime(&path, mtime).unwrap();
        assert!(
            !held(&cache, &path, &d, 8),
            "the damaged blob is read again"
        );
        assert_eq!(cache.files_hashed(), 2);
    }

    #[test]
    fn truncated_blob_is_replaced() {
        let dir = tempfile::tempdir().unwrap();
        let store = BlobStore::open(dir.path()).unwrap();
        let d = store.put_bytes(b"complete").unwrap();
        fs::write(store.path(&d), b"compl").unwrap();
        assert_eq!(store.put_bytes(b"complete").unwrap(), d);
        assert_eq!(fs::read(store.path(&d)).unwrap(), b"complete");
    }
}
