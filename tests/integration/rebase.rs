//! `lade rebase` and `lade base outdated` against a real registry (Debian's docker-registry):
//! bases built by `lade base build` from Debian packages (v2 = v1 plus a package), go-hello
//! published on v1, then moved to v2. The registry's access log proves no layer was
//! downloaded; skopeo reads what was written; umoci and runc run the rebased image.
//!
//! Debian downloads are cached in `CARGO_TARGET_TMPDIR/lade-bases-cache`, shared with
//! bases.rs, so only the first run fetches packages.

use crate::support::TestEnv;
use crate::support::go_hello::check_image;
use crate::support::layout::Layout;
use crate::support::registry::{Access, Registry, blob_puts, skopeo_raw};
use crate::support::tools::require_tool;
use serde_json::Value;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

const BOTH: &str = "linux/amd64,linux/arm64";

pub(crate) fn shared_cache() -> PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR")).join("lade-bases-cache")
}

/// `lade base build ARGS… --to TO`; returns the digest written.
pub(crate) fn base_build(env: &TestEnv, to: &str, args: &[&str]) -> String {
    let run = env
        .lade_with_cache(&shared_cache())
        .args(["base", "build"])
        .args(args)
        .args(["--to", to])
        .run()
        .success();
    run.stdout.trim().rsplit_once('@').unwrap().1.to_string()
}

pub(crate) fn raw(reference: &str) -> Value {
    serde_json::from_slice(&skopeo_raw(reference, &["--tls-verify=false"])).unwrap()
}

/// Per architecture, the manifest of `repo@digest` (an index or one manifest).
pub(crate) fn manifests(reg: &Registry, repo: &str, digest: &str) -> Vec<(String, Value)> {
    let root = raw(&format!("{}/{repo}@{digest}", reg.host));
    match root["manifests"].as_array() {
        Some(list) => list
            .iter()
            .map(|d| {
                let m = raw(&format!(
                    "{}/{repo}@{}",
                    reg.host,
                    d["digest"].as_str().unwrap()
                ));
                (
                    d["platform"]["architecture"].as_str().unwrap().to_string(),
                    m,
                )
            })
            .collect(),
        None => vec![(String::new(), root)],
    }
}

pub(crate) fn layer_digests(manifest: &Value) -> Vec<String> {
    manifest["layers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["digest"].as_str().unwrap().to_string())
        .collect()
}

fn publish(env: &TestEnv, app: &Path, base: &str, to: &str, platforms: &str) -> String {
    let run = env
        .lade()
        .arg("publish")
        .arg("-C")
        .arg(app)
        .args(["--base", base, "--platform", platforms, "--to", to])
        .args(["--no-attach", "--json"])
        .run()
        .success();
    run.json()["digest"].as_str().unwrap().to_string()
}

fn outdated(env: &TestEnv, app: &Path) -> crate::support::lade::LadeRun {
    env.lade().args(["base", "outdated", "-C"]).arg(app).run()
}

/// Copies `reference` (every platform) out of the registry into a layout tagged `img`.
fn pull(env: &TestEnv, reference: &str, label: &str) -> Layout {
    let dir = env.path(label);
    let out = Command::new(require_tool("skopeo"))
        .args(["copy", "--all", "-q", "--src-tls-verify=false"])
        .arg(format!("docker://{reference}"))
        .arg(format!("oci:{}:img", dir.display()))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    Layout::open(&dir)
}

pub(crate) fn blob_gets(log: &[Access]) -> Vec<String> {
    log.iter()
        .filter(|a| a.method == "GET" && a.path.contains("/blobs/sha256:"))
        .map(|a| a.path.rsplit('/').next().unwrap().to_string())
        .collect()
}

#[test]
fn rebase_moves_a_two_platform_image_to_v2_without_downloading_a_layer() {
    let env = TestEnv::new();
    let reg = Registry::start();
    let base_tag = format!("{}/bases/static:stable", reg.host);
    let v1 = base_build(&env, &base_tag, &["static", "--platform", BOTH]);
    let app = env.copy_example("go-hello", "app");
    let image = format!("{}/apps/hello:1", reg.host);
    let before = publish(&env, &app, &base_tag, &image, BOTH);
    let lock = std::fs::read_to_string(app.join("lade.lock")).unwrap();
    assert!(lock.contains(&v1), "lade.lock pins v1: {lock}");
    outdated(&env, &app).success();

    // v2: the same preset with one more package, under the same tag.
    let v2 = base_build(
        &env,
        &base_tag,
        &["static", "--package", "zlib1g", "--platform", BOTH],
    );
    assert_ne!(v1, v2);
    let o = outdated(&env, &app);
    assert!(!o.status.success(), "outdated must fail: {}", o.context());
    assert!(
        o.stdout.contains(&format!("outdated: {v1} → {v2}"))
            && o.stdout.contains("zlib1g (none) → "),
        "{}",
        o.stdout
    );

    let old = manifests(&reg, "apps/hello", &before);
    let v1_manifests = manifests(&reg, "bases/static", &v1);
    let v2_manifests = manifests(&reg, "bases/static", &v2);
    let mark = reg.mark();
    let run = env
        .lade()
        .arg("rebase")
        .arg(&image)
        .arg("-C")
        .arg(&app)
        .arg("--json")
        .run()
        .success();
    let log = reg.requests_since(mark);
    let report = run.json();
    let after = report["digest"].as_str().unwrap().to_string();
    assert_ne!(after, before);
    assert_eq!(report["new_base"]["digest"], v2.as_str());
    assert!(
        report["packages"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p["name"] == "zlib1g" && p["new"].is_string() && p["old"].is_null()),
        "{report}"
    );

    // No layer was read: every blob GET during the rebase is a config.
    let layers: BTreeSet<String> = old
        .iter()
        .chain(&v2_manifests)
        .flat_map(|(_, m)| layer_digests(m))
        .collect();
    let gets = blob_gets(&log);
    assert!(!gets.is_empty(), "configs are read: {log:?}");
    for g in &gets {
        assert!(
            !layers.contains(g),
            "layer {g} was downloaded during the rebase"
        );
    }
    // Only the two new configs were uploaded: layers were mounted or present.
    assert_eq!(blob_puts(&log), 2, "{log:?}");

    let new = manifests(&reg, "apps/hello", &after);
    assert_eq!(new.len(), 2, "both platforms rebased");
    for (arch, m) in &new {
        let (_, o) = old.iter().find(|(a, _)| a == arch).unwrap();
        let (_, b1) = v1_manifests.iter().find(|(a, _)| a == arch).unwrap();
        let (_, b2) = v2_manifests.iter().find(|(a, _)| a == arch).unwrap();
        let (old_layers, new_layers) = (layer_digests(o), layer_digests(m));
        let base1 = layer_digests(b1);
        let base2 = layer_digests(b2);
        assert_eq!(
            &old_layers[..base1.len()],
            base1.as_slice(),
            "{arch}: published on v1"
        );
        assert_eq!(
            &new_layers[..base2.len()],
            base2.as_slice(),
            "{arch}: v2's layers at the bottom"
        );
        assert_eq!(
            &new_layers[base2.len()..],
            &old_layers[base1.len()..],
            "{arch}: lade's layers unchanged"
        );
        let a = &m["annotations"];
        assert_eq!(
            a["org.opencontainers.image.base.digest"],
            v2.as_str(),
            "{arch}"
        );
        assert_eq!(
            a["org.opencontainers.image.base.name"],
            base_tag.as_str(),
            "{arch}"
        );
        assert_eq!(
            a["org.opencontainers.image.created"],
            o["annotations"]["org.opencontainers.image.created"],
            "{arch}: created kept"
        );
    }
    let index = raw(&format!("{}/apps/hello@{after}", reg.host));
    assert_eq!(
        index["annotations"]["org.opencontainers.image.base.digest"],
        v2.as_str()
    );

    // The rebased image runs (each platform that can run here), from what skopeo pulled.
    let layout = pull(&env, &image, "pulled");
    for img in layout.images("img") {
        let arch = img.architecture().to_string();
        assert!(
            img.cfg("Labels")["dev.lade.base"] == "debian12/static+zlib1g",
            "{arch}: the new base's labels"
        );
        check_image(&env, &layout, &img, 65532, &arch);
    }

    // The lock moved with the image: nothing is outdated any more.
    let lock = std::fs::read_to_string(app.join("lade.lock")).unwrap();
    assert!(lock.contains(&v2), "lade.lock pins v2: {lock}");
    outdated(&env, &app).success();

    // Rebasing again is a no-op: the image is on v2 already, and the bytes say so.
    let again = env
        .lade()
        .arg("rebase")
        .arg(&image)
        .arg("--json")
        .run()
        .success();
    assert_eq!(again.json()["unchanged"], true);
    assert_eq!(again.json()["digest"], after.as_str());
}

#[test]
fn another_preset_or_an_unrelated_base_is_refused_unless_forced() {
    let env = TestEnv::new();
    let reg = Registry::start();
    let host = crate::support::arm64::host_arch();
    let platform = format!("linux/{host}");
    let static_tag = format!("{}/bases/static:1", reg.host);
    base_build(&env, &static_tag, &["static", "--platform", &platform]);
    let cc_tag = format!("{}/bases/cc:1", reg.host);
    let cc = base_build(&env, &cc_tag, &["cc", "--platform", &platform]);
    let other = crate::support::base_image::build_base(&env.path("other"), "1", &[host], None);
    let app = env.copy_example("go-hello", "app");
    let image = format!("{}/apps/hello:1", reg.host);
    publish(&env, &app, &static_tag, &image, &platform);

    let mark = reg.mark();
    let run = env
        .lade()
        .arg("rebase")
        .arg(&image)
        .args(["--base", &cc_tag])
        .run();
    run.expect_error(&["refused", "preset static → cc", "--force"]);
    let run = env
        .lade()
        .arg("rebase")
        .arg(&image)
        .args(["--base", &other.reference()])
        .run();
    run.expect_error(&["refused", "another lineage", "repository oci:", "--force"]);
    // A new base without the image's platform, and an image that records no base.
    let other_arch = if host == "amd64" { "arm64" } else { "amd64" };
    let foreign =
        crate::support::base_image::build_base(&env.path("foreign"), "1", &[other_arch], None);
    let run = env
        .lade()
        .arg("rebase")
        .arg(&image)
        .args(["--base", &foreign.reference()])
        .run();
    run.expect_error(&["new base", &format!("no image for linux/{host}")]);
    assert_eq!(
        blob_puts(&reg.requests_since(mark)),
        0,
        "nothing pushed when refused"
    );
    let bare = format!("{}/apps/bare:1", reg.host);
    publish(&env, &app, "scratch", &bare, &platform);
    let mark = reg.mark();
    let run = env
        .lade()
        .arg("rebase")
        .arg(&bare)
        .args(["--base", &cc_tag])
        .run();
    run.expect_error(&[
        "no org.opencontainers.image.base.digest annotation",
        "apps/bare:1",
    ]);
    assert_eq!(
        blob_puts(&reg.requests_since(mark)),
        0,
        "nothing pushed when refused"
    );
    assert_eq!(
        raw(&image)["annotations"]["org.opencontainers.image.base.name"],
        static_tag.as_str()
    );

    // --force does it, and says what it overrode.
    let out = env.path("forced");
    let run = env
        .lade()
        .arg("rebase")
        .arg(&image)
        .args(["--base", &cc_tag, "--force", "--json", "--to"])
        .arg(format!("oci:{}:img", out.display()))
        .run()
        .success();
    assert!(
        run.stderr.contains("lade: warning: --force"),
        "{}",
        run.stderr
    );
    assert_eq!(run.json()["new_base"]["digest"], cc.as_str());
    let layout = Layout::open(&out);
    let img = layout.image("img", host);
    assert_eq!(img.cfg("Labels")["dev.lade.base"], "debian12/cc");
    check_image(&env, &layout, &img, 65532, "forced");
}

#[test]
fn outdated_resolves_a_lade_base_lock_against_the_archive_again() {
    let env = TestEnv::new();
    let project = env.dir("project");
    let lock = project.join("lade-base.lock");
    env.lade_with_cache(&shared_cache())
        .args(["base", "build", "static", "--lock"])
        .arg(&lock)
        .arg("--to")
        .arg(format!("oci:{}:b", env.path("base").display()))
        .run()
        .success();
    let fresh = env
        .lade_with_cache(&shared_cache())
        .args(["base", "outdated", "-C"])
        .arg(&project)
        .run()
        .success();
    assert!(
        fresh.stdout.contains("debian12/static: up to date"),
        "{}",
        fresh.stdout
    );

    // The lock pins an older tzdata than the archive has now.
    let text = std::fs::read_to_string(&lock).unwrap();
    let at = text
        .find("name = \"tzdata\"\nversion = \"")
        .expect("tzdata pinned");
    let start = at + "name = \"tzdata\"\nversion = \"".len();
    let end = start + text[start..].find('"').unwrap();
    let current = text[start..end].to_string();
    std::fs::write(&lock, format!("{}2020a-0{}", &text[..start], &text[end..])).unwrap();
    let stale = env
        .lade_with_cache(&shared_cache())
        .args(["base", "outdated", "--json", "-C"])
        .arg(&project)
        .run();
    assert!(!stale.status.success(), "{}", stale.context());
    let report = stale.json();
    let base = &report["bases"][0];
    assert_eq!(base["outdated"], true);
    assert_eq!(base["packages"][0]["name"], "tzdata");
    assert_eq!(base["packages"][0]["old"], "2020a-0");
    assert_eq!(base["packages"][0]["new"], current.as_str());
}
