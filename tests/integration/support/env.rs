//! A private playground per test: its own temp root, `LADE_CACHE_DIR`, working directory and
//! copies of the examples, so tests never share state and never write into the repository.

use super::lade::Lade;
use std::fs;
use std::path::{Path, PathBuf};
use tempfile::TempDir;

pub struct TestEnv {
    root: TempDir,
    /// `LADE_CACHE_DIR` for every `lade` this environment runs.
    pub cache: PathBuf,
    /// The working directory `lade` runs in, so relative paths land in the temp root.
    pub work: PathBuf,
}

impl TestEnv {
    /// A fresh environment. Set `LADE_TEST_KEEP=1` to keep its files for a post-mortem; the
    /// path is printed either way (cargo shows it for failing tests).
    pub fn new() -> TestEnv {
        let mut root = tempfile::Builder::new()
            .prefix("lade-it-")
            .tempdir()
            .expect("create temp dir");
        if std::env::var_os("LADE_TEST_KEEP").is_some() {
            root.disable_cleanup(true);
        }
        eprintln!("test files in {}", root.path().display());
        let cache = root.path().join("cache");
        let work = root.path().join("work");
        fs::create_dir_all(&cache).unwrap();
        fs::create_dir_all(&work).unwrap();
        TestEnv { root, cache, work }
    }

    /// A path inside the temp root (not created).
    pub fn path(&self, rel: &str) -> PathBuf {
        self.root.path().join(rel)
    }

    /// A new empty directory inside the temp root.
    pub fn dir(&self, rel: &str) -> PathBuf {
        let p = self.path(rel);
        fs::create_dir_all(&p).unwrap();
        p
    }

    /// Copies `examples/<name>` to `<root>/<dest>` and returns the copy.
    pub fn copy_example(&self, name: &str, dest: &str) -> PathBuf {
        let to = self.path(dest);
        copy_tree(&example_dir(name), &to);
        to
    }

    /// `lade` with this environment's cache and working directory.
    pub fn lade(&self) -> Lade {
        Lade::new(&self.cache, &self.work)
    }

    /// `lade` with another cache directory (to prove results do not depend on the cache).
    pub fn lade_with_cache(&self, cache: &Path) -> Lade {
        fs::create_dir_all(cache).unwrap();
        Lade::new(cache, &self.work)
    }
}

pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

pub fn example_dir(name: &str) -> PathBuf {
    let p = repo_root().join("examples").join(name);
    assert!(p.is_dir(), "missing example {}", p.display());
    p
}

/// Copies a directory tree (files, directories, symlinks), keeping permission bits.
pub fn copy_tree(from: &Path, to: &Path) {
    for entry in walkdir::WalkDir::new(from).sort_by_file_name() {
        let entry = entry.unwrap();
        let rel = entry.path().strip_prefix(from).unwrap();
        let dest = to.join(rel);
        let ft = entry.file_type();
        if ft.is_dir() {
            fs::create_dir_all(&dest).unwrap();
        } else if ft.is_symlink() {
            std::os::unix::fs::symlink(fs::read_link(entry.path()).unwrap(), &dest).unwrap();
        } else {
            fs::copy(entry.path(), &dest).unwrap();
        }
    }
}

/// Writes `contents` to `path`, creating parent directories.
pub fn write_file(path: &Path, contents: &str) {
    if let Some(parent) = path.parent() {
        fs::create_dir_all(parent).unwrap();
    }
    fs::write(path, contents).unwrap();
}

/// Sets the modification and access time of every file and directory under `dir`.
pub fn set_tree_mtime(dir: &Path, unix_seconds: i64) {
    let t = filetime::FileTime::from_unix_time(unix_seconds, 0);
    for entry in walkdir::WalkDir::new(dir).contents_first(true) {
        let entry = entry.unwrap();
        if !entry.file_type().is_symlink() {
            filetime::set_file_times(entry.path(), t, t).unwrap();
        }
    }
}
