//! Output targets other than an OCI layout, read back by skopeo: docker-archive, oci-archive,
//! and several targets in one publish.

use crate::support::TestEnv;
use crate::support::lade::root_digest;
use crate::support::layout::{Layout, sha256_digest};
use crate::support::tools::{run_ok, stdout_ok, tool};
use serde_json::{Value, json};

fn skopeo_json(args: &[&str], image: &str) -> Value {
    let text = stdout_ok(tool("skopeo").arg("inspect").args(args).arg(image));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("skopeo inspect {image}: {e}\n{text}"))
}

/// The image config fields every go-hello image must have, as skopeo reads them.
fn assert_go_hello_config(config: &Value, arch: &str) {
    assert_eq!(config["architecture"], arch);
    assert_eq!(config["os"], "linux");
    assert_eq!(
        config["config"]["Entrypoint"],
        json!(["/app/go-hello"]),
        "{config}"
    );
    assert_eq!(config["config"]["User"], "65532", "{config}");
}

#[test]
fn docker_archive_with_one_platform_reads_back() {
    let env = TestEnv::new();
    let p = env.copy_example("go-hello", "go-hello");
    let tar = env.path("image.tar");
    let run = env
        .lade()
        .arg("publish")
        .arg("-C")
        .arg(&p)
        .args(["--platform", "linux/amd64", "--json", "--to"])
        .arg(format!(
            "docker-archive:{}:lade.test/go-hello:v1",
            tar.display()
        ))
        .run()
        .success();
    let j = run.json();
    root_digest(&j);
    assert_eq!(j["platforms"], json!(["linux/amd64"]));

    let image = format!("docker-archive:{}", tar.display());
    let inspected = skopeo_json(&[], &image);
    assert_eq!(inspected["Architecture"], "amd64");
    assert_eq!(inspected["Os"], "linux");
    assert_eq!(
        inspected["Layers"].as_array().map(Vec::len),
        Some(2),
        "kodata + binary: {inspected}"
    );
    let config = skopeo_json(&["--config"], &image);
    assert_go_hello_config(&config, "amd64");
    assert_eq!(
        config["rootfs"]["diff_ids"].as_array().map(Vec::len),
        Some(2)
    );

    // The archive's own manifest.json names the image as asked, so `docker load` tags it.
    let listing = stdout_ok(tool("tar").arg("-xOf").arg(&tar).arg("manifest.json"));
    let manifest: Value = serde_json::from_str(&listing).expect("manifest.json");
    assert_eq!(manifest[0]["RepoTags"], json!(["lade.test/go-hello:v1"]));
}

#[test]
fn docker_archive_refuses_two_platforms() {
    let env = TestEnv::new();
    let p = env.copy_example("go-hello", "go-hello");
    let tar = env.path("image.tar");
    let run = env
        .lade()
        .arg("publish")
        .arg("-C")
        .arg(&p)
        .args(["--platform", "linux/amd64,linux/arm64", "--to"])
        .arg(format!("docker-archive:{}", tar.display()))
        .run();
    run.expect_error(&["docker-archive", "platform"]);
    assert!(
        !tar.exists(),
        "a refused docker-archive must not be left behind"
    );
}

#[test]
fn oci_archive_with_two_platforms_reads_back() {
    let env = TestEnv::new();
    let p = env.copy_example("go-hello", "go-hello");
    let tar = env.path("image.oci.tar");
    let run = env
        .lade()
        .arg("publish")
        .arg("-C")
        .arg(&p)
        .args(["--platform", "linux/amd64,linux/arm64", "--json", "--to"])
        .arg(format!("oci-archive:{}:v1", tar.display()))
        .run()
        .success();
    let root = root_digest(&run.json());
    let image = format!("oci-archive:{}:v1", tar.display());

    let raw = run_ok(tool("skopeo").args(["inspect", "--raw"]).arg(&image)).stdout;
    assert_eq!(
        sha256_digest(&raw),
        root,
        "the archive's tag points at the index"
    );
    for arch in ["amd64", "arm64"] {
        let inspected = skopeo_json(&["--override-arch", arch], &image);
        assert_eq!(inspected["Architecture"], arch);
        let config = skopeo_json(&["--config", "--override-arch", arch], &image);
        assert_go_hello_config(&config, arch);
    }
}

#[test]
fn several_targets_get_the_same_digest() {
    let env = TestEnv::new();
    let p = env.copy_example("go-hello", "go-hello");
    let (a, b, c) = (env.path("a"), env.path("b.tar"), env.path("c"));
    let run = env
        .lade()
        .arg("publish")
        .arg("-C")
        .arg(&p)
        .args(["--platform", "linux/amd64,linux/arm64", "--json"])
        .arg("--to")
        .arg(format!("oci:{}:v1", a.display()))
        .arg("--to")
        .arg(format!("oci-archive:{}:v2", b.display()))
        .arg("--to")
        .arg(format!("oci:{}", c.display()))
        .run()
        .success();
    let j = run.json();
    let root = root_digest(&j);
    let outputs = j["outputs"].as_array().expect("outputs");
    assert_eq!(outputs.len(), 3, "{j}");
    for o in outputs {
        assert_eq!(o["digest"], root.as_str(), "{o}");
        assert!(o["reference"].is_string() && o["target"].is_string(), "{o}");
    }

    // Each target really holds that digest.
    assert_eq!(Layout::open(&a).tagged("v1")["digest"], root.as_str());
    let raw = run_ok(
        tool("skopeo")
            .args(["inspect", "--raw"])
            .arg(format!("oci-archive:{}:v2", b.display())),
    )
    .stdout;
    assert_eq!(sha256_digest(&raw), root);
    // No tag given: `latest`, as skopeo and the contract default it.
    assert_eq!(Layout::open(&c).tagged("latest")["digest"], root.as_str());
}
