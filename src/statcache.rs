//! A stat cache for source files, as git's index keeps one: (path, size, mtime, ctime, inode,
//! device) → the sha256 of the content. Reuse keys and layer keys ask it for file digests, so
//! a tree whose files have not changed is stat'ed instead of re-read.
//!
//! A cached digest is used only when every stat field matches *and* the file's mtime and ctime
//! are at least [`RACY_MARGIN`] older than the moment the digest was taken. A file rewritten
//! within one timestamp tick of being hashed (git's "racily clean" entries) keeps its mtime, so
//! without that margin the cache could vouch for bytes it never saw; such a file is simply
//! hashed again each time until it has aged. Restoring a changed file's mtime (`touch -d`)
//! still changes its ctime, which the kernel sets and nobody can set back.
//!
//! The cache is one file, `<cache>/stat-cache`, read on first use and written by
//! [`save`]; entries are machine-local (inodes), so the file is never part of any output.

use crate::digest::{Digest, digest_reader};
use std::collections::HashMap;
use std::ffi::OsString;
use std::io::{self, BufReader, Write};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock, PoisonError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

mod seen;
pub use seen::Writing;

/// How much older than its hashing a file must be for its cached digest to count. Covers
/// coarse timestamp ticks (a jiffy on ext4, 2 s on FAT) and small clock steps.
pub const RACY_MARGIN: Duration = Duration::from_secs(2);

/// Entries beyond this many are dropped at save, least recently hashed first, so files of
/// deleted checkouts do not accumulate forever.
const MAX_ENTRIES: usize = 400_000;

const HEADER: &str = "lade stat cache 1";

/// The stat fields that any change of a file's bytes changes (its ctime cannot be set back).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Stat {
    size: u64,
    mtime_ns: i128,
    ctime_ns: i128,
    ino: u64,
    dev: u64,
}

impl Stat {
    pub fn of(meta: &std::fs::Metadata) -> Stat {
        let ns = |s: i64, n: i64| i128::from(s) * 1_000_000_000 + i128::from(n);
        Stat {
            size: meta.len(),
            mtime_ns: ns(meta.mtime(), meta.mtime_nsec()),
            ctime_ns: ns(meta.ctime(), meta.ctime_nsec()),
            ino: meta.ino(),
            dev: meta.dev(),
        }
    }

    /// The file's size.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// Whether both its times are older than [`RACY_MARGIN`] before `now_ns`: a later write
    /// would give it other stat data.
    pub fn aged(&self, now_ns: i128) -> bool {
        self.mtime_ns.max(self.ctime_ns) + (RACY_MARGIN.as_nanos() as i128) < now_ns
    }
}

#[derive(Clone, Debug)]
struct Entry {
    stat: Stat,
    digest: Digest,
    /// When the bytes were read (taken before opening the file).
    hashed_ns: i128,
    /// Looked up or added by this process: kept first when the cache is trimmed.
    used: bool,
}

/// Digests of files by path, trusted while their stat data is unchanged.
pub struct StatCache {
    file: Option<PathBuf>,
    margin: Duration,
    /// Keyed by the path's bytes: hashing a `Path` walks its components, which for the
    /// thousands of lookups of a large tree cost more than the lookups themselves.
    entries: Mutex<HashMap<OsString, Entry>>,
    /// Files read because their entry was missing, stale or too recent (for tests and
    /// benchmarks: how much hashing the cache saved).
    hashed: std::sync::atomic::AtomicUsize,
    /// An entry was added or replaced since the file was read: only then is there anything
    /// to save (a warm publish of a large tree would otherwise rewrite megabytes, twice).
    changed: std::sync::atomic::AtomicBool,
}

impl StatCache {
    /// A cache kept in `file` (read now; an unreadable or foreign file is an empty cache).
    pub fn open(file: &Path) -> StatCache {
        let entries = std::fs::read_to_string(file)
            .map(|text| parse(&text))
            .unwrap_or_default();
        StatCache {
            file: Some(file.to_path_buf()),
            margin: RACY_MARGIN,
            entries: Mutex::new(entries),
            hashed: Default::default(),
            changed: Default::default(),
        }
    }

    /// A cache for this process only.
    pub fn in_memory() -> StatCache {
        StatCache {
            file: None,
            margin: RACY_MARGIN,
            entries: Mutex::default(),
            hashed: Default::default(),
            changed: Default::default(),
        }
    }

    /// The same with another racy margin (tests use a short one instead of waiting seconds).
    pub fn with_margin(mut self, margin: Duration) -> StatCache {
        self.margin = margin;
        self
    }

    /// How many files this cache has read so far.
    pub fn files_hashed(&self) -> usize {
        self.hashed.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// The sha256 and size of the regular file at `path` (symlinks followed), from the cache
    /// when its entry still describes the file, else by reading it.
    pub fn digest(&self, path: &Path) -> io::Result<(Digest, u64)> {
        self.digest_with(path, &std::fs::metadata(path)?)
    }

    /// [`digest`](Self::digest) for a caller that has just stat'ed `path` (symlinks followed:
    /// `meta` must describe the file the path leads to), saving the cache its own stat.
    pub fn digest_with(&self, path: &Path, meta: &std::fs::Metadata) -> io::Result<(Digest, u64)> {
        let stat = Stat::of(meta);
        if meta.is_file()
            && let Some(d) = self.lookup(path, &stat)
        {
            return Ok((d, stat.size));
        }
        let started = now_ns();
        let file = std::fs::File::open(path)?;
        let (digest, size) = digest_reader(BufReader::with_capacity(256 * 1024, file))?;
        self.hashed
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        // The stat taken before reading describes the bytes only if the file did not change
        // meanwhile: record it only when a fresh stat still equals it.
        if meta.is_file()
            && size == stat.size
            && std::fs::metadata(path).map(|m| Stat::of(&m)).ok() == Some(stat)
        {
            self.changed
                .store(true, std::sync::atomic::Ordering::Relaxed);
            self.lock().insert(
                path.as_os_str().to_owned(),
                Entry {
                    stat,
                    digest: digest.clone(),
                    hashed_ns: started,
                    used: true,
                },
            );
        }
        Ok((digest, size))
    }

    /// The digest cached for `path` if its entry still describes `stat` (taken by the
    /// caller), without reading the file.
    pub fn cached(&self, path: &Path, stat: &Stat) -> Option<Digest> {
        self.lookup(path, stat)
    }

    fn lookup(&self, path: &Path, stat: &Stat) -> Option<Digest> {
        let mut entries = self.lock();
        let e = entries.get_mut(path.as_os_str())?;
        let margin = self.margin.as_nanos() as i128;
        let aged = e.stat.mtime_ns.max(e.stat.ctime_ns) + margin <= e.hashed_ns;
        if e.stat == *stat && aged {
            e.used = true;
            Some(e.digest.clone())
        } else {
            None
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<OsString, Entry>> {
        self.entries.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Writes the cache to its file (temp file + rename: a concurrent lade reads the old or the
    /// new cache, never half of one). Nothing to do for an in-memory cache, nor when no entry
    /// changed since the file was read or last saved.
    pub fn save(&self) -> io::Result<()> {
        let Some(file) = &self.file else {
            return Ok(());
        };
        if !self
            .changed
            .swap(false, std::sync::atomic::Ordering::Relaxed)
        {
            return Ok(());
        }
        let entries = self.lock();
        let mut list: Vec<(&OsString, &Entry)> = entries.iter().collect();
        list.sort_by_key(|(_, e)| (std::cmp::Reverse(e.used), std::cmp::Reverse(e.hashed_ns)));
        list.truncate(MAX_ENTRIES);
        let mut text = String::with_capacity(list.len() * 160);
        text.push_str(HEADER);
        text.push('\n');
        for (path, e) in list {
            let Some(p) = path.to_str().filter(|p| !p.contains('\n')) else {
                continue;
            };
            let s = &e.stat;
            text.push_str(&format!(
                "{} {} {} {} {} {} {} {p}\n",
                e.digest.hex(),
                s.size,
                s.mtime_ns,
                s.ctime_ns,
                s.ino,
                s.dev,
                e.hashed_ns
            ));
        }
        drop(entries);
        let dir = file.parent().unwrap_or(Path::new("."));
        std::fs::create_dir_all(dir)?;
        let mut tmp = tempfile::NamedTempFile::new_in(dir)?;
        tmp.write_all(text.as_bytes())?;
        tmp.persist(file).map_err(|e| e.error)?;
        Ok(())
    }
}

/// Now, in nanoseconds since the epoch (the unit of [`Stat`]'s times).
pub fn now_ns() -> i128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as i128)
}

fn parse(text: &str) -> HashMap<OsString, Entry> {
    let mut lines = text.lines();
    if lines.next() != Some(HEADER) {
        return HashMap::new();
    }
    lines.filter_map(parse_line).collect()
}

fn parse_line(line: &str) -> Option<(OsString, Entry)> {
    let mut f = line.splitn(8, ' ');
    let digest: Digest = format!("sha256:{}", f.next()?).parse().ok()?;
    let stat = Stat {
        size: f.next()?.parse().ok()?,
        mtime_ns: f.next()?.parse().ok()?,
        ctime_ns: f.next()?.parse().ok()?,
        ino: f.next()?.parse().ok()?,
        dev: f.next()?.parse().ok()?,
    };
    let hashed_ns = f.next()?.parse().ok()?;
    let path = OsString::from(f.next()?);
    Some((
        path,
        Entry {
            stat,
            digest,
            hashed_ns,
            used: false,
        },
    ))
}

static SHARED: OnceLock<StatCache> = OnceLock::new();

/// Makes `<cache_dir>/stat-cache` the cache [`shared`] returns. Called once per command before
/// any key is computed; later calls (and a [`shared`] before any) keep the first cache.
pub fn init(cache_dir: &Path) {
    let _ = SHARED.set(StatCache::open(&cache_dir.join("stat-cache")));
}

/// The process's cache: the one [`init`] opened, else an in-memory one.
pub fn shared() -> &'static StatCache {
    SHARED.get_or_init(StatCache::in_memory)
}

static SEEN: OnceLock<seen::Seen> = OnceLock::new();

fn seen() -> &'static seen::Seen {
    SEEN.get_or_init(Default::default)
}

/// What to give [`note_seen`] for the stats a walk takes from now on.
pub fn seen_generation() -> u64 {
    seen().generation()
}

/// Keeps the stat data of files (path, metadata) a walk of the project took since
/// [`seen_generation`] said `taken_at`, to stand in for a second stat of each (see
/// `statcache/seen.rs`).
pub fn note_seen<'p>(
    taken_at: u64,
    files: impl IntoIterator<Item = (&'p Path, &'p std::fs::Metadata)>,
) {
    seen().note(taken_at, files);
}

/// The stat data [`note_seen`] kept for `path`, if no build step started since.
pub fn seen_stat(path: &Path) -> Option<Stat> {
    seen().get(path)
}

/// A build step is about to write files: held while it runs.
pub fn step_writing() -> Writing<'static> {
    seen().writing()
}

/// Saves the process's cache, if [`init`] gave it a file.
pub fn save() -> io::Result<()> {
    shared().save()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write_aged(path: &Path, text: &str) {
        std::fs::write(path, text).unwrap();
        // Both timestamps must be older than the margin when hashed.
        std::thread::sleep(Duration::from_millis(30));
    }

    #[test]
    fn unchanged_files_are_not_read_again_and_survive_a_save() {
        let d = tempfile::tempdir().unwrap();
        let f = d.path().join("a.txt");
        write_aged(&f, "one");
        let file = d.path().join("cache");
        let c = StatCache::open(&file).with_margin(Duration::from_millis(10));
        let first = c.digest(&f).unwrap();
        assert_eq!(first, (Digest::of(b"one"), 3));
        assert_eq!(c.digest(&f).unwrap(), first);
        assert_eq!(c.files_hashed(), 1, "the second lookup came from the cache");
        c.save().unwrap();
        let again = StatCache::open(&file).with_margin(Duration::from_millis(10));
        assert_eq!(again.digest(&f).unwrap(), first);
        assert_eq!(again.files_hashed(), 0, "the saved cache answered");
    }

    #[test]
    fn a_cache_is_written_only_when_an_entry_changed() {
        let d = tempfile::tempdir().unwrap();
        let f = d.path().join("a.txt");
        write_aged(&f, "one");
        let file = d.path().join("cache");
        let c = StatCache::open(&file).with_margin(Duration::from_millis(10));
        c.save().unwrap();
        assert!(!file.exists(), "nothing learned, nothing written");
        c.digest(&f).unwrap();
        c.save().unwrap();
        let saved = std::fs::read_to_string(&file).unwrap();
        assert!(saved.contains(&Digest::of(b"one").hex().to_string()));

        // Another process that only finds entries leaves the file alone.
        std::fs::write(&file, format!("{saved}# marker\n")).unwrap();
        let again = StatCache::open(&file).with_margin(Duration::from_millis(10));
        again.digest(&f).unwrap();
        assert_eq!(again.files_hashed(), 0);
        again.save().unwrap();
        assert!(
            std::fs::read_to_string(&file)
                .unwrap()
                .ends_with("# marker\n")
        );

        // A changed file is learned again, and saved.
        write_aged(&f, "two");
        again.digest(&f).unwrap();
        again.save().unwrap();
        let now = std::fs::read_to_string(&file).unwrap();
        assert!(now.contains(&Digest::of(b"two").hex().to_string()), "{now}");
        assert!(!now.contains("# marker"));
    }

    #[test]
    fn a_change_with_the_mtime_put_back_is_read_again() {
        let d = tempfile::tempdir().unwrap();
        let f = d.path().join("a.txt");
        write_aged(&f, "one");
        let c = StatCache::in_memory().with_margin(Duration::from_millis(10));
        c.digest(&f).unwrap();
        let mtime =
            filetime::FileTime::from_last_modification_time(&std::fs::metadata(&f).unwrap());
        std::fs::write(&f, "two").unwrap();
        filetime::set_file_mtime(&f, mtime).unwrap();
        assert_eq!(c.digest(&f).unwrap(), (Digest::of(b"two"), 3));
        assert_eq!(c.files_hashed(), 2);
    }

    #[test]
    fn a_file_as_new_as_its_hashing_is_always_read() {
        let d = tempfile::tempdir().unwrap();
        let f = d.path().join("a.txt");
        std::fs::write(&f, "one").unwrap();
        // The default margin: the file was written just now, so it is racily clean.
        let c = StatCache::in_memory();
        c.digest(&f).unwrap();
        c.digest(&f).unwrap();
        assert_eq!(c.files_hashed(), 2, "a racily clean entry is not trusted");
    }

    #[test]
    fn a_foreign_or_damaged_cache_file_is_an_empty_cache() {
        let d = tempfile::tempdir().unwrap();
        let file = d.path().join("cache");
        std::fs::write(&file, "something else\nxx 1 2\n").unwrap();
        let c = StatCache::open(&file);
        assert!(c.lock().is_empty());
        std::fs::write(&file, format!("{HEADER}\nnot a line\n")).unwrap();
        assert!(StatCache::open(&file).lock().is_empty());
    }
}
