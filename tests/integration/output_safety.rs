//! Outputs and the cache stay sound when runs overlap, die or find something unexpected:
//! concurrent publishes into one layout, archive paths that are not regular files, a corrupt
//! blob in the cache, temporary files left by killed runs.

use crate::support::TestEnv;
use crate::support::lade::{LadeRun, root_digest};
use crate::support::layout::{self, Layout};
use crate::support::tools::{run_ok, tool};
use std::fs;
use std::os::unix::fs::FileTypeExt;
use std::path::Path;

/// `lade publish` of go-hello for linux/amd64 with `cache` as LADE_CACHE_DIR to `to`.
fn publish(env: &TestEnv, cache: &Path, project: &Path, to: &str) -> LadeRun {
    env.lade_with_cache(cache)
        .arg("publish")
        .arg("-C")
        .arg(project)
        .args(["--platform", "linux/amd64", "--json", "--to", to])
        .run()
}

#[test]
fn concurrent_publishes_into_one_layout_keep_every_tag() {
    let env = TestEnv::new();
    let p = env.copy_example("go-hello", "go-hello");
    // One cache per process, so the layout is all they share. A first publish per cache makes
    // the concurrent ones short and alike, so they overlap while writing the layout.
    let caches: Vec<_> = (0..4).map(|i| env.path(&format!("cache-{i}"))).collect();
    for (i, cache) in caches.iter().enumerate() {
        let warm = env.path(&format!("warm-{i}"));
        publish(&env, cache, &p, &format!("oci:{}", warm.display())).success();
    }
    // Into a new directory (which no writer may mistake for a foreign one while another is
    // creating it), then into the existing layout.
    let out = env.path("shared");
    for round in 0..2 {
        let runs: Vec<LadeRun> = std::thread::scope(|s| {
            let handles: Vec<_> = caches
                .iter()
                .enumerate()
                .map(|(i, cache)| {
                    let to = format!("oci:{}:r{round}-t{i}", out.display());
                    let (env, p) = (&env, &p);
                    s.spawn(move || publish(env, cache, p, &to))
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        let digests: Vec<String> = runs
            .into_iter()
            .map(|r| root_digest(&r.success().json()))
            .collect();

        let layout = Layout::open(&out);
        let mut tags = layout.tags();
        tags.sort();
        let want: Vec<String> = (0..=round)
            .flat_map(|r| (0..caches.len()).map(move |i| format!("r{r}-t{i}")))
            .collect();
        assert_eq!(
            tags, want,
            "round {round}: every publish's tag is in index.json"
        );
        layout.verify_blobs();
        for (i, digest) in digests.iter().enumerate() {
            let tag = format!("r{round}-t{i}");
            assert_eq!(layout.tagged(&tag)["digest"], digest.as_str(), "{tag}");
            // oci-image-tool refuses a layout with several tags: validate each on its own.
            let img = layout.image(&tag, "amd64");
            let single = layout.extract(&img, &env.path(&format!("single-{tag}")), &tag);
            layout::validate(&single.dir, &tag);
        }
    }
}

#[test]
fn archive_outputs_refuse_paths_that_are_not_regular_files() {
    let env = TestEnv::new();
    let p = env.copy_example("go-hello", "go-hello");
    let fifo = env.path("a-fifo.tar");
    run_ok(tool("mkfifo").arg(&fifo));
    let pointed_at = env.path("pointed-at.tar");
    fs::write(&pointed_at, "not lade's").unwrap();
    let link = env.path("a-link.tar");
    std::os::unix::fs::symlink(&pointed_at, &link).unwrap();
    let dir = env.dir("a-dir.tar");

    for path in [&fifo, &link, &dir] {
        for transport in ["docker-archive", "oci-archive"] {
            let to = format!("{transport}:{}", path.display());
            let run = publish(&env, &env.cache, &p, &to);
            run.expect_error(&[&path.display().to_string(), "regular file"]);
            assert!(
                !env.cache.join("build").exists(),
                "{to} must be refused before anything is built:\n{}",
                run.context()
            );
        }
    }
    assert!(fs::symlink_metadata(&fifo).unwrap().file_type().is_fifo());
    assert!(
        fs::symlink_metadata(&link)
            .unwrap()
            .file_type()
            .is_symlink()
    );
    assert_eq!(fs::read_link(&link).unwrap(), pointed_at);
    assert_eq!(fs::read_to_string(&pointed_at).unwrap(), "not lade's");
    assert_eq!(fs::read_dir(&dir).unwrap().count(), 0);
    let names: Vec<String> = fs::read_dir(env.path(""))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains(".tmp-"))
        .collect();
    assert!(names.is_empty(), "temporary files left: {names:?}");
}

#[test]
fn a_corrupt_cache_blob_of_the_right_size_is_written_again() {
    let env = TestEnv::new();
    let p = env.copy_example("go-hello", "go-hello");
    let first = publish(
        &env,
        &env.cache,
        &p,
        &format!("oci:{}", env.path("a").display()),
    )
    .success()
    .json();
    let root = root_digest(&first);
    // The largest layer (the binary), damaged in place: same size, one byte flipped.
    let layer = first["layers"]
        .as_array()
        .unwrap()
        .iter()
        .max_by_key(|l| l["size"].as_u64().unwrap())
        .unwrap()
        .clone();
    let digest = layer["digest"].as_str().unwrap();
    let blob = env
        .cache
        .join("blobs/sha256")
        .join(&digest["sha256:".len()..]);
    let mut bytes = fs::read(&blob).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x40;
    fs::write(&blob, &bytes).unwrap();

    let out = env.path("b");
    let second = publish(&env, &env.cache, &p, &format!("oci:{}", out.display()))
        .success()
        .json();
    assert_eq!(root_digest(&second), root, "the same image as before");
    let again = second["layers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["digest"] == digest)
        .unwrap_or_else(|| panic!("layer {digest} not in the second publish: {second}"));
    assert_eq!(
        again["cached"], false,
        "the damaged blob is not reused: {again}"
    );
    Layout::open(&out).verify_blobs();
    assert_eq!(
        layout::sha256_digest(&fs::read(&blob).unwrap()),
        digest,
        "the cache blob is repaired"
    );
}

#[test]
fn stale_temporary_files_of_killed_runs_are_removed() {
    let env = TestEnv::new();
    let p = env.copy_example("go-hello", "go-hello");
    let out = env.path("out");
    let to = format!("oci:{}", out.display());
    publish(&env, &env.cache, &p, &to).success();

    // A process that has exited: its PID is not running.
    let mut child = std::process::Command::new("true").spawn().unwrap();
    let dead = child.id();
    child.wait().unwrap();
    let me = std::process::id();
    let two_hours_ago = std::time::SystemTime::now() - std::time::Duration::from_secs(2 * 3600);
    let plant = |path: &Path, old: bool| {
        fs::write(path, b"half written").unwrap();
        if old {
            let f = fs::File::options().write(true).open(path).unwrap();
            f.set_modified(two_hours_ago).unwrap();
        }
        path.to_path_buf()
    };
    let tmp = env.cache.join("tmp");
    let blobs = out.join("blobs/sha256");
    let stale = [
        plant(&tmp.join(format!("blob.tmp-{dead}-a1B2c3")), true),
        // Temporary files of older versions carry no PID: only their age tells.
        plant(&tmp.join(".tmpXy12Ab"), true),
        plant(&out.join(format!("index.json.tmp-{dead}-0")), true),
        plant(
            &blobs.join(format!("{}.tmp-{dead}-3", "ab".repeat(32))),
            true,
        ),
    ];
    // Files of a running writer (this test) are fresh: they stay.
    let live = [
        plant(&tmp.join(format!("blob.tmp-{me}-Zz9yX8")), false),
        plant(&out.join(format!("index.json.tmp-{me}-7")), false),
    ];

    publish(&env, &env.cache, &p, &format!("{to}:v2")).success();
    for f in &stale {
        assert!(!f.exists(), "stale {} was not removed", f.display());
    }
    for f in &live {
        assert!(
            f.exists(),
            "{} of a running writer was removed",
            f.display()
        );
        fs::remove_file(f).unwrap();
    }
    let layout = Layout::open(&out);
    layout.verify_blobs();
    let mut tags = layout.tags();
    tags.sort();
    assert_eq!(tags, ["latest", "v2"]);
}
