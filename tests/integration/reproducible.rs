//! Same inputs, same bytes: digests must not depend on where the project lives, file times,
//! or what the cache holds; a one-line change must touch only what depends on it.

use crate::support::TestEnv;
use crate::support::env::set_tree_mtime;
use crate::support::lade::root_digest;
use crate::support::layout::{CREATED, Layout};
use std::fs;
use std::path::Path;

const PLATFORMS: &str = "linux/amd64,linux/arm64";

/// Publishes `project` for both platforms into `<out>` with cache `cache`; returns the root
/// digest.
fn publish(env: &TestEnv, project: &Path, cache: &Path, out: &Path) -> String {
    let run = env
        .lade_with_cache(cache)
        .arg("publish")
        .arg("-C")
        .arg(project)
        .args(["--platform", PLATFORMS, "--json", "--to"])
        .arg(format!("oci:{}:v1", out.display()))
        .run()
        .success();
    root_digest(&run.json())
}

#[test]
fn digests_do_not_depend_on_location_mtimes_or_cache() {
    let env = TestEnv::new();
    // Same directory name (it may become the image name), different parents and depths.
    let a = env.copy_example("go-hello", "a/go-hello");
    let b = env.copy_example("go-hello", "elsewhere/deeper/go-hello");
    set_tree_mtime(&a, 1_000_000_000);
    set_tree_mtime(&b, 1_600_000_000);

    let da = publish(&env, &a, &env.path("cache-a"), &env.path("out-a"));
    let db = publish(&env, &b, &env.path("cache-b"), &env.path("out-b"));
    assert_eq!(da, db, "same project, different place/mtimes/cache");
    // A warm cache gives the same answer as a cold one.
    let da2 = publish(&env, &a, &env.path("cache-a"), &env.path("out-a2"));
    assert_eq!(da, da2, "second publish from a warm cache");

    // The layouts agree blob for blob, not only at the top.
    let (la, lb) = (
        Layout::open(&env.path("out-a")),
        Layout::open(&env.path("out-b")),
    );
    for (ia, ib) in la.images("v1").iter().zip(lb.images("v1").iter()) {
        assert_eq!(ia.manifest_digest, ib.manifest_digest);
        assert_eq!(ia.layer_digests(), ib.layer_digests());
    }
}

#[test]
fn a_source_change_only_changes_the_binary_layer_and_what_points_at_it() {
    let env = TestEnv::new();
    let p = env.copy_example("go-hello", "go-hello");
    let cache = env.path("cache");
    let before = publish(&env, &p, &cache, &env.path("before"));

    let main_go = p.join("main.go");
    let src = fs::read_to_string(&main_go).unwrap();
    let changed = src.replacen("hello from go-hello", "greetings from go-hello", 1);
    assert_ne!(
        src, changed,
        "main.go no longer has the greeting this test edits"
    );
    fs::write(&main_go, changed).unwrap();
    // Same cache: a changed source must not be served a stale binary.
    let after = publish(&env, &p, &cache, &env.path("after"));
    assert_ne!(before, after, "index digest must change");

    let (lb, la) = (
        Layout::open(&env.path("before")),
        Layout::open(&env.path("after")),
    );
    let (ib, ia) = (lb.images("v1"), la.images("v1"));
    assert_eq!(ib.len(), 2);
    assert_eq!(ia.len(), 2);
    for (b, a) in ib.iter().zip(ia.iter()) {
        let arch = b.architecture();
        assert_eq!(arch, a.architecture());
        let (lb_, la_) = (b.layer_digests(), a.layer_digests());
        assert_eq!(lb_.len(), 2, "{arch}: kodata + binary");
        assert_eq!(la_.len(), 2, "{arch}: kodata + binary");
        assert_eq!(lb_[0], la_[0], "{arch}: kodata layer must not change");
        assert_ne!(lb_[1], la_[1], "{arch}: binary layer must change");
        assert_ne!(
            b.config_digest, a.config_digest,
            "{arch}: config (diff_ids) must change"
        );
        assert_ne!(
            b.manifest_digest, a.manifest_digest,
            "{arch}: manifest must change"
        );
    }
}

#[test]
fn source_date_epoch_sets_the_created_times() {
    let env = TestEnv::new();
    let p = env.copy_example("go-hello", "go-hello");
    let out = env.path("out");
    let run = env
        .lade()
        .env("SOURCE_DATE_EPOCH", "1700000000")
        .arg("publish")
        .arg("-C")
        .arg(&p)
        .args(["--platform", "linux/amd64", "--json", "--to"])
        .arg(format!("oci:{}:v1", out.display()))
        .run()
        .success();
    let with_epoch = root_digest(&run.json());
    let img = Layout::open(&out).image("v1", "amd64");
    assert_eq!(img.manifest["annotations"][CREATED], "2023-11-14T22:13:20Z");
    assert_eq!(img.config["created"], "2023-11-14T22:13:20Z");

    // Without it the time is a fixed default, not "now": so the digest differs from the one
    // above, and stays the same on the next run.
    let default_a = publish_amd64(&env, &p, "out-default-a");
    // Past the next second, so a clock-based default could not pass by luck.
    std::thread::sleep(std::time::Duration::from_millis(1100));
    let default_b = publish_amd64(&env, &p, "out-default-b");
    assert_ne!(with_epoch, default_a);
    assert_eq!(default_a, default_b);
}

fn publish_amd64(env: &TestEnv, p: &Path, out: &str) -> String {
    let run = env
        .lade()
        .arg("publish")
        .arg("-C")
        .arg(p)
        .args(["--platform", "linux/amd64", "--json", "--to"])
        .arg(format!("oci:{}:v1", env.path(out).display()))
        .run()
        .success();
    root_digest(&run.json())
}
