//! End-to-end tests of `LayerWriter`: spec in, blob and cache record out, read back with
//! independent decoders (flate2's GzDecoder, the tar crate's reader, sha2 via `Digest::of`).

use super::*;
use crate::plan::{EntryKind, FileEntry};
use std::fs;
use std::io::Read;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::time::{Duration, SystemTime};

const MTIME: u64 = 1_700_000_000;

fn file(target: &str, mode: u32, source: &Path) -> FileEntry {
    FileEntry {
        target: target.into(),
        mode,
        kind: EntryKind::File {
            source: source.to_path_buf(),
        },
    }
}

fn dir(target: &str, mode: u32) -> FileEntry {
    FileEntry {
        target: target.into(),
        mode,
        kind: EntryKind::Dir,
    }
}

fn symlink(target: &str, link: &str) -> FileEntry {
    FileEntry {
        target: target.into(),
        mode: 0o777,
        kind: EntryKind::Symlink { link: link.into() },
    }
}

/// Writes the sample sources into `dir` and returns the spec that uses them. Host modes and
/// mtimes are set from `host_mode` / `host_age` so callers can vary them.
fn sample(host_dir: &Path, host_mode: u32, host_age: Duration) -> LayerSpec {
    let put = |name: &str, bytes: &[u8]| {
        let p = host_dir.join(name);
        fs::write(&p, bytes).unwrap();
        fs::set_permissions(&p, fs::Permissions::from_mode(host_mode)).unwrap();
        let f = fs::File::options().write(true).open(&p).unwrap();
        f.set_modified(SystemTime::now() - host_age).unwrap();
        p
    };
    let server = put("server", &b"#!/bin/sh\necho hello\n".repeat(500));
    let config = put("config.json", b"{\"port\":8080}\n");
    LayerSpec {
        name: "app".into(),
        entries: vec![
            file("/app/server", 0o755, &server),
            symlink("/app/current", "server"),
            file("/etc/app/config.json", 0o644, &config),
            dir("/tmp", 0o1777),
        ],
    }
}

fn gunzip(path: &Path) -> Vec<u8> {
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(fs::File::open(path).unwrap())
        .read_to_end(&mut out)
        .unwrap();
    out
}

fn open_store(dir: &Path) -> BlobStore {
    BlobStore::open(&dir.join("store")).unwrap()
}

#[test]
fn same_spec_from_different_hosts_is_identical() {
    let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let spec_a = sample(a.path(), 0o600, Duration::from_secs(10));
    let spec_b = sample(b.path(), 0o755, Duration::from_secs(86_400 * 400));
    let (store_a, store_b) = (open_store(a.path()), open_store(b.path()));
    let la = LayerWriter::new(&store_a, MTIME).write(&spec_a).unwrap();
    let lb = LayerWriter::new(&store_b, MTIME).write(&spec_b).unwrap();
    assert!(!la.cached && !lb.cached);
    assert_eq!((&la.digest, &la.diff_id), (&lb.digest, &lb.diff_id));
    assert_eq!(
        fs::read(store_a.path(&la.digest)).unwrap(),
        fs::read(store_b.path(&lb.digest)).unwrap()
    );
}

#[test]
fn thread_count_does_not_change_bytes() {
    let src = tempfile::tempdir().unwrap();
    let big = src.path().join("big");
    // Several gzip blocks, so the threaded path really splits the work.
    let body: Vec<u8> = (0..2 * gzip::BLOCK_SIZE as u32 + 777)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8 & 0x3f)
        .collect();
    fs::write(&big, &body).unwrap();
    let spec = LayerSpec {
        name: "big".into(),
        entries: vec![file("/big", 0o644, &big)],
    };
    // gzip's own tests cover 1, 2 and 4 threads; this checks the writer passes the setting on.
    let digests: Vec<_> = [1, 3]
        .into_iter()
        .map(|t| {
            let dir = tempfile::tempdir().unwrap();
            let store = open_store(dir.path());
            let l = LayerWriter::new(&store, MTIME)
                .with_threads(t)
                .write(&spec)
                .unwrap();
            (l.digest, l.diff_id)
        })
        .collect();
    assert_eq!(digests[0], digests[1]);
}

#[test]
fn tar_is_sorted_with_fixed_metadata() {
    let dir = tempfile::tempdir().unwrap();
    let spec = sample(dir.path(), 0o600, Duration::from_secs(3));
    let store = open_store(dir.path());
    let l = LayerWriter::new(&store, MTIME).write(&spec).unwrap();
    let tar_bytes = gunzip(&store.path(&l.digest));
    let mut ar = tar::Archive::new(&tar_bytes[..]);
    let mut got = Vec::new();
    for e in ar.entries().unwrap() {
        let mut e = e.unwrap();
        let h = e.header().clone();
        assert_eq!((h.uid().unwrap(), h.gid().unwrap()), (0, 0));
        assert_eq!(h.mtime().unwrap(), MTIME);
        assert_eq!(h.username_bytes(), Some(&b""[..]));
        assert_eq!(h.groupname_bytes(), Some(&b""[..]));
        assert!(
            e.pax_extensions().unwrap().is_none(),
            "no xattrs or PAX records"
        );
        let mut body = Vec::new();
        e.read_to_end(&mut body).unwrap();
        let link = e.link_name().unwrap().map(|l| l.display().to_string());
        got.push((
            e.path().unwrap().display().to_string(),
            h.entry_type(),
            h.mode().unwrap(),
            body.len(),
            link,
        ));
    }
    use tar::EntryType::{Directory as D, Regular as F, Symlink as L};
    let server_len = b"#!/bin/sh\necho hello\n".len() * 500;
    assert_eq!(
        got,
        [
            ("app/".into(), D, 0o755, 0, None),
            ("app/current".into(), L, 0o777, 0, Some("server".into())),
            ("app/server".into(), F, 0o755, server_len, None),
            ("etc/".into(), D, 0o755, 0, None),
            ("etc/app/".into(), D, 0o755, 0, None),
            ("etc/app/config.json".into(), F, 0o644, 14, None),
            ("tmp/".into(), D, 0o1777, 0, None),
        ]
    );
}

#[test]
fn digests_match_the_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let spec = sample(dir.path(), 0o644, Duration::ZERO);
    let store = open_store(dir.path());
    let l = LayerWriter::new(&store, MTIME).write(&spec).unwrap();
    let blob = fs::read(store.path(&l.digest)).unwrap();
    assert_eq!(Digest::of(&blob), l.digest);
    assert_eq!(blob.len() as u64, l.size);
    assert_eq!(Digest::of(&gunzip(&store.path(&l.digest))), l.diff_id);
    assert_ne!(l.digest, l.diff_id);
    // Nothing half-written is left behind.
    assert_eq!(fs::read_dir(store.tmp_dir()).unwrap().count(), 0);
}

#[test]
fn unchanged_input_is_a_cache_hit() {
    let dir = tempfile::tempdir().unwrap();
    let spec = sample(dir.path(), 0o644, Duration::ZERO);
    let store = open_store(dir.path());
    let first = LayerWriter::new(&store, MTIME).write(&spec).unwrap();
    assert!(!first.cached);
    let blob = store.path(&first.digest);
    let before = fs::metadata(&blob).unwrap().modified().unwrap();
    // Any attempt to write a blob now fails (no temp dir), so a hit proves nothing was written.
    fs::remove_dir(store.tmp_dir()).unwrap();
    let second = LayerWriter::new(&store, MTIME).write(&spec).unwrap();
    assert!(second.cached);
    assert_eq!(
        (&second.digest, &second.diff_id, second.size),
        (&first.digest, &first.diff_id, first.size)
    );
    assert_eq!(fs::metadata(&blob).unwrap().modified().unwrap(), before);
    // The layer's name is not part of the key: same bytes, same blob.
    let renamed = LayerSpec {
        name: "other".into(),
        ..spec.clone()
    };
    assert!(
        LayerWriter::new(&store, MTIME)
            .write(&renamed)
            .unwrap()
            .cached
    );
    // A different mtime is a different layer, and needs the temp dir.
    let err = LayerWriter::new(&store, MTIME + 1)
        .write(&spec)
        .unwrap_err();
    assert!(matches!(err, LayerError::Store { .. }), "{err:?}");
}

#[test]
fn missing_blob_is_a_miss() {
    let dir = tempfile::tempdir().unwrap();
    let spec = sample(dir.path(), 0o644, Duration::ZERO);
    let store = open_store(dir.path());
    let first = LayerWriter::new(&store, MTIME).write(&spec).unwrap();
    fs::remove_file(store.path(&first.digest)).unwrap();
    let again = LayerWriter::new(&store, MTIME).write(&spec).unwrap();
    assert!(!again.cached);
    assert_eq!(again.digest, first.digest);
    assert!(store.contains(&again.digest));
}

#[test]
fn changed_content_changes_digest() {
    let dir = tempfile::tempdir().unwrap();
    let spec = sample(dir.path(), 0o644, Duration::ZERO);
    let store = open_store(dir.path());
    let first = LayerWriter::new(&store, MTIME).write(&spec).unwrap();
    // Same size, one byte different: a stat-size check alone would miss this.
    fs::write(dir.path().join("config.json"), b"{\"port\":8081}\n").unwrap();
    let second = LayerWriter::new(&store, MTIME).write(&spec).unwrap();
    assert!(!second.cached);
    assert_ne!(second.digest, first.digest);
    assert_ne!(second.diff_id, first.diff_id);
}

#[test]
fn invalid_specs_are_typed_errors() {
    let dir = tempfile::tempdir().unwrap();
    let store = open_store(dir.path());
    let w = LayerWriter::new(&store, MTIME);
    let src = dir.path().join("f");
    fs::write(&src, b"x").unwrap();
    let dup = LayerSpec {
        name: "dup".into(),
        entries: vec![file("/a", 0o644, &src), file("/a", 0o755, &src)],
    };
    assert!(matches!(
        w.write(&dup),
        Err(LayerError::Duplicate { layer, target }) if layer == "dup" && target == "/a"
    ));
    let bad = LayerSpec {
        name: "bad".into(),
        entries: vec![file("/a/../etc/passwd", 0o644, &src)],
    };
    assert!(matches!(
        w.write(&bad),
        Err(LayerError::BadTarget { layer, target }) if layer == "bad" && target == "/a/../etc/passwd"
    ));
    let missing = dir.path().join("missing");
    let unreadable = LayerSpec {
        name: "gone".into(),
        entries: vec![file("/a", 0o644, &missing)],
    };
    assert!(matches!(
        w.write(&unreadable),
        Err(LayerError::Read { layer, path, .. }) if layer == "gone" && path == missing
    ));
}

/// Pinned on purpose: layer digests are lade's reproducibility promise, and they depend on the
/// tar encoding and on the exact deflate implementation. flate2 silently switches backend (and
/// so changes every byte) if any crate in the graph enables a C zlib feature, and zlib-rs may
/// tune its match finder in a release. This test fails on any such change, so it is noticed and
/// the cache FORMAT string bumped, instead of users seeing "reproducible" images differ.
#[test]
fn golden_digest() {
    let dir = tempfile::tempdir().unwrap();
    let spec = sample(dir.path(), 0o644, Duration::ZERO);
    let store = open_store(dir.path());
    let l = LayerWriter::new(&store, MTIME)
        .with_threads(1)
        .write(&spec)
        .unwrap();
    assert_eq!(
        (l.digest.as_str(), l.diff_id.as_str(), l.size),
        (
            "sha256:3ca88ffa72f02bc8ede85fa814dacc7afeb04de699ce2a0082f4ae14069d971b",
            "sha256:f545edaee37fff84f8a5921f97ec052415f21172b2a6f688daf2033971d3035f",
            320
        )
    );
}

/// Throughput on a real tree, for humans: `LADE_BENCH_DIR=/some/tree LADE_BENCH_THREADS=2
/// cargo test --release --lib layer::tests::bench -- --ignored --nocapture`. Ignored because it
/// needs a tree and a release build to mean anything.
#[test]
#[ignore]
fn bench_layer_writer() {
    use crate::env::{LADE_BENCH_DIR, LADE_BENCH_THREADS};
    let Some(src) = crate::env::var_os(LADE_BENCH_DIR).map(std::path::PathBuf::from) else {
        panic!("set {LADE_BENCH_DIR} to a directory to pack");
    };
    let threads = crate::env::var(LADE_BENCH_THREADS).map_or(1, |t| t.parse().unwrap());
    let mut entries = Vec::new();
    let mut bytes = 0u64;
    for e in walkdir::WalkDir::new(&src).min_depth(1) {
        let e = e.unwrap();
        let meta = fs::symlink_metadata(e.path()).unwrap();
        let kind = if meta.is_symlink() {
            let link = fs::read_link(e.path()).unwrap();
            EntryKind::Symlink {
                link: link.display().to_string(),
            }
        } else if meta.is_dir() {
            EntryKind::Dir
        } else {
            bytes += meta.len();
            EntryKind::File {
                source: e.path().to_path_buf(),
            }
        };
        let rel = e.path().strip_prefix(&src).unwrap().display().to_string();
        entries.push(FileEntry {
            target: format!("/data/{rel}"),
            mode: meta.permissions().mode() & 0o7777,
            kind,
        });
    }
    let spec = LayerSpec {
        name: "bench".into(),
        entries,
    };
    let dir = tempfile::tempdir().unwrap();
    let store = open_store(dir.path());
    let w = LayerWriter::new(&store, MTIME).with_threads(threads);
    let start = std::time::Instant::now();
    let miss = w.write(&spec).unwrap();
    let miss_s = start.elapsed().as_secs_f64();
    let start = std::time::Instant::now();
    assert!(w.write(&spec).unwrap().cached);
    let hit_s = start.elapsed().as_secs_f64();
    let mib = bytes as f64 / f64::from(1 << 20);
    eprintln!(
        "{mib:.1} MiB in {} entries, {threads} threads: write {miss_s:.2} s ({:.1} MiB/s), \
         {:.1}% of input, cache hit {hit_s:.3} s, {}",
        spec.entries.len(),
        mib / miss_s,
        100.0 * miss.size as f64 / bytes as f64,
        miss.digest
    );
}

#[test]
fn owners_reach_the_headers_and_the_cache_key() {
    let d = tempfile::tempdir().unwrap();
    let store = open_store(d.path());
    let spec = LayerSpec {
        name: "base".into(),
        entries: vec![dir("/home/nonroot", 0o700), dir("/tmp", 0o1777)],
    };
    let writer = LayerWriter::new(&store, MTIME);
    let plain = writer.write(&spec).unwrap();
    let owners = Owners::from([("/home/nonroot".to_string(), (65532, 65532))]);
    let owned = writer.write_owned(&spec, &owners).unwrap();
    assert_ne!(
        plain.digest, owned.digest,
        "the owner is part of the bytes and the key"
    );
    assert!(!owned.cached);
    let tar = gunzip(&store.path(&owned.digest));
    let mut ar = tar::Archive::new(&tar[..]);
    let got: Vec<(String, u64, u64)> = ar
        .entries()
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            let h = e.header();
            (
                e.path().unwrap().to_string_lossy().into_owned(),
                h.uid().unwrap(),
                h.gid().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        got,
        [
            ("home/".to_string(), 0, 0),
            ("home/nonroot/".to_string(), 65532, 65532),
            ("tmp/".to_string(), 0, 0)
        ]
    );
    // An owner for a path the layer does not have is a mistake, not silently ignored.
    let stray = Owners::from([("/nowhere".to_string(), (1, 1))]);
    assert!(matches!(
        writer.write_owned(&spec, &stray),
        Err(LayerError::BadTarget { .. })
    ));
}

/// The detector's walk stat'ed a file and a build step then rewrote it with bytes of the same
/// size and its old mtime: the layer fingerprint must see the new bytes, not trust the walk's
/// stat (which the process's stat cache, once the file aged, would still vouch for).
#[test]
fn a_file_a_step_rewrote_after_the_walk_is_fingerprinted_again() {
    use crate::build::RunOptions;
    use crate::plan::BuildStep;
    use crate::plan::TargetPlan;
    let d = tempfile::tempdir().unwrap();
    let src = d.path().join("src");
    fs::create_dir_all(&src).unwrap();
    let data = src.join("data");
    fs::write(&data, "aaaa").unwrap();
    // Old enough for the stat cache to trust its entry.
    std::thread::sleep(crate::statcache::RACY_MARGIN + Duration::from_millis(100));
    let before = source::fingerprint("t", &data).unwrap();
    assert_eq!(before.digest, Digest::of(b"aaaa"));
    let filter = crate::ignore::Filter::parse("", &src.join(".dockerignore")).unwrap();
    let walked = filter.walk(&src, Path::new("")).unwrap();
    assert_eq!(walked.entries.len(), 1);
    let step = BuildStep::new(
        "rewrite",
        "sh",
        vec![
            "-c".into(),
            "t=$(stat -c %Y data) && printf bbbb > data && touch -d @$t data".into(),
        ],
        &src,
    );
    let targets = vec![TargetPlan {
        platform: "linux/amd64".parse().unwrap(),
        steps: vec![step],
        layers: Vec::new(),
        checks: Vec::new(),
    }];
    let opts = RunOptions::in_dir(d.path());
    crate::build::run(&targets, &opts, |_| {}, |_| Ok::<_, ()>(())).unwrap();
    let after = source::fingerprint("t", &data).unwrap();
    assert_eq!(after.digest, Digest::of(b"bbbb"));
    assert_eq!(after.size, 4);
}

/// With no step in between, the walk's stat stands in for a second one: the fingerprint is the
/// one a fresh stat gives.
#[test]
fn a_file_the_walk_stated_is_fingerprinted_as_a_fresh_stat_would() {
    let d = tempfile::tempdir().unwrap();
    let data = d.path().join("data");
    fs::write(&data, "cccc").unwrap();
    std::thread::sleep(crate::statcache::RACY_MARGIN + Duration::from_millis(100));
    let fresh = source::fingerprint("t", &data).unwrap();
    let filter = crate::ignore::Filter::parse("", &d.path().join(".dockerignore")).unwrap();
    filter.walk(d.path(), Path::new("")).unwrap();
    let seen = crate::statcache::seen_stat(&data);
    let again = source::fingerprint("t", &data).unwrap();
    assert_eq!(again, fresh);
    assert_eq!(again.digest, Digest::of(b"cccc"));
    assert!(again.stamp.is_some(), "aged, so its stat vouches for it");
    // Another test's step may have run meanwhile; when none did, the walk's stat was kept.
    if let Some(s) = seen {
        assert_eq!(Some(s), again.stamp);
    }
}
