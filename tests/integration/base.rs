//! Publishing on top of a base image given as an OCI layout (built by the test support, not by
//! lade): its layers come first, its config is kept under lade's, and the result still runs.

use crate::support::TestEnv;
use crate::support::base_image::{BASE_PATH, build_base};
use crate::support::go_hello::{Checked, check_image};
use crate::support::lade::root_digest;
use crate::support::layout::Layout;
use std::fs;

#[test]
fn base_layers_come_first_and_the_image_runs() {
    let env = TestEnv::new();
    let base = build_base(&env.path("base"), "v1", &["amd64", "arm64"], None);
    let p = env.copy_example("go-hello", "go-hello");
    let out = env.path("out");
    let run = env
        .lade()
        .arg("publish")
        .arg("-C")
        .arg(&p)
        .args(["--platform", "linux/amd64,linux/arm64", "--json", "--base"])
        .arg(base.reference())
        .arg("--to")
        .arg(format!("oci:{}:v1", out.display()))
        .run()
        .success();
    let root = root_digest(&run.json());
    let l = Layout::open(&out);
    l.verify_blobs();
    assert_eq!(l.tagged("v1")["digest"], root.as_str());

    for arch in ["amd64", "arm64"] {
        let img = l.image("v1", arch);
        let (base_layer, base_diff_id) = &base.layers[arch];
        let layers = img.layer_digests();
        assert_eq!(layers.len(), 3, "{arch}: base + kodata + binary");
        assert_eq!(
            &layers[0], base_layer,
            "{arch}: the base layer of the same platform comes first"
        );
        assert_eq!(&img.config["rootfs"]["diff_ids"][0], base_diff_id);
        // The base's history entry is kept, and lade adds one per layer it wrote.
        let history = img.config["history"].as_array().expect("history");
        assert_eq!(history.len(), 3, "{arch}: {history:?}");
        assert_eq!(history[0]["created_by"], "lade tests: static base files");
        // lade's settings are merged over the base's environment, not instead of it.
        let env_map = img.env();
        assert_eq!(
            env_map.get("PATH").map(String::as_str),
            Some(BASE_PATH),
            "{arch}"
        );
        assert_eq!(
            env_map.get("KO_DATA_PATH").map(String::as_str),
            Some("/var/run/ko")
        );
        assert_eq!(img.cfg("User"), "65532", "{arch}: base sets no user");

        let (checked, bundle) = check_image(&env, &l, &img, 65532, &format!("base-{arch}"));
        if arch == "amd64" {
            assert_eq!(checked, Checked::Ran);
        }
        let rootfs = bundle.join("rootfs");
        assert_eq!(
            fs::read_to_string(rootfs.join("etc/lade-test-base")).unwrap(),
            format!("linux/{arch}\n"),
            "{arch}: the base's files are this platform's"
        );
        assert!(rootfs.join("etc/ssl/certs/ca-certificates.crt").is_file());
    }
}

/// "65532 unless the base says otherwise": a base whose config has User 65534 keeps it.
#[test]
fn the_base_user_is_kept() {
    let env = TestEnv::new();
    let base = build_base(&env.path("base"), "nobody", &["amd64"], Some("65534"));
    let p = env.copy_example("go-hello", "go-hello");
    let out = env.path("out");
    env.lade()
        .arg("publish")
        .arg("-C")
        .arg(&p)
        .args(["--platform", "linux/amd64", "--base"])
        .arg(base.reference())
        .arg("--to")
        .arg(format!("oci:{}:v1", out.display()))
        .run()
        .success();
    let l = Layout::open(&out);
    let img = l.image("v1", "amd64");
    assert_eq!(img.cfg("User"), "65534");
    assert_eq!(img.layer_digests()[0], base.layers["amd64"].0);
    let (checked, _) = check_image(&env, &l, &img, 65534, "nobody");
    assert_eq!(checked, Checked::Ran);
}

#[test]
fn a_base_without_a_requested_platform_is_refused() {
    let env = TestEnv::new();
    let base = build_base(&env.path("base"), "v1", &["amd64"], None);
    let p = env.copy_example("go-hello", "go-hello");
    let out = env.path("out");
    let run = env
        .lade()
        .arg("publish")
        .arg("-C")
        .arg(&p)
        .args(["--platform", "linux/amd64,linux/arm64", "--base"])
        .arg(base.reference())
        .arg("--to")
        .arg(format!("oci:{}:v1", out.display()))
        .run();
    run.expect_error(&["linux/arm64"]);
    // Nothing half-done: no image for the platform that worked.
    assert!(
        !out.join("index.json").exists() || Layout::open(&out).tags().is_empty(),
        "a failed publish must not tag anything"
    );
}

/// `[base] preset = "static"` in lade.toml: lade builds the distroless-equivalent base from
/// Debian packages as part of publish, pins it in lade-base.lock, and the app runs on it.
#[test]
fn a_debian_preset_base_is_built_during_publish_and_the_image_runs() {
    let env = TestEnv::new();
    let p = env.copy_example("go-hello", "go-hello");
    fs::write(p.join("lade.toml"), "[base]\npreset = \"static\"\n").unwrap();
    let out = env.path("out");
    env.lade()
        .arg("publish")
        .arg("-C")
        .arg(&p)
        .args(["--platform", "linux/amd64", "--to"])
        .arg(format!("oci:{}:v1", out.display()))
        .run()
        .success();
    assert!(
        p.join("lade-base.lock").is_file(),
        "the package set is pinned"
    );
    let l = Layout::open(&out);
    let img = l.image("v1", "amd64");
    assert_eq!(
        img.layer_digests().len(),
        3,
        "static tier + kodata + binary"
    );
    assert_eq!(
        img.config["config"]["Labels"]["dev.lade.base"],
        "debian12/static"
    );
    assert_eq!(img.cfg("User"), "65532");
    let (checked, bundle) = check_image(&env, &l, &img, 65532, "debian-static");
    assert_eq!(checked, Checked::Ran);
    let passwd = fs::read_to_string(bundle.join("rootfs/etc/passwd")).unwrap();
    assert!(passwd.contains("nonroot:x:65532:65532"), "{passwd}");
    assert!(
        bundle
            .join("rootfs/etc/ssl/certs/ca-certificates.crt")
            .is_file()
    );
}
