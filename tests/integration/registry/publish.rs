//! `lade publish` to real registries, end to end: the `lade` binary pushes examples/go-hello
//! for amd64 and arm64; skopeo, umoci and runc (not lade) read it back and run it.

use crate::support::TestEnv;
use crate::support::base_image::{base_tar_with, build_base, build_base_from};
use crate::support::go_hello::{Checked, check_image};
use crate::support::lade::{LadeRun, root_digest};
use crate::support::layout::{Layout, OCI_INDEX, sha256_digest};
use crate::support::registry::{
    Access, FaultProxy, Registry, RegistryConfig, TestCa, TokenServer, blob_gets, blob_puts,
    credential_helper, free_port, skopeo_raw,
};
use crate::support::tools::{run_ok, tool};
use serde_json::Value;
use std::collections::BTreeSet;
use std::path::Path;

const PLATFORMS: &str = "linux/amd64,linux/arm64";

/// The suffix of the scoped credential variables for `host` (`127.0.0.1:5000` → `127_0_0_1_5000`).
fn env_key(host: &str) -> String {
    host.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_uppercase()
            } else {
                '_'
            }
        })
        .collect()
}

fn publish(env: &TestEnv, project: &Path, args: &[&str]) -> LadeRun {
    env.lade()
        .arg("publish")
        .arg("-C")
        .arg(project)
        .args(["--platform", PLATFORMS, "--json"])
        .args(args)
        .run()
}

fn stats(output: &Value) -> &Value {
    let s = &output["stats"];
    assert!(s.is_object(), "a registry output reports stats: {output}");
    s
}

fn n(v: &Value, key: &str) -> u64 {
    v[key].as_u64().unwrap_or_else(|| panic!("no {key} in {v}"))
}

/// The distinct layer blobs of `report`'s platforms.
fn layer_digests(report: &Value) -> BTreeSet<&str> {
    report["layers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["digest"].as_str().unwrap())
        .collect()
}

/// Distinct layer blobs plus one config per platform: what a first push uploads.
fn expected_blobs(report: &Value) -> u64 {
    layer_digests(report).len() as u64 + report["platforms"].as_array().unwrap().len() as u64
}

/// One line of go-hello's main.go changed: its binary changes, nothing else does.
fn change_one_line(project: &Path) {
    let main_go = project.join("main.go");
    let src = std::fs::read_to_string(&main_go).unwrap();
    std::fs::write(
        &main_go,
        src.replace("go-hello listening on", "go-hello (v2) listening on"),
    )
    .unwrap();
}

/// `skopeo copy --all` of `reference` into a new layout under the test's root.
fn pull(env: &TestEnv, reference: &str, extra: &[&str], name: &str) -> Layout {
    let dir = env.path(name);
    run_ok(
        tool("skopeo")
            .args(["copy", "--all", "-q"])
            .args(extra)
            .arg(format!("docker://{reference}"))
            .arg(format!("oci:{}:pulled", dir.display())),
    );
    Layout::open(&dir)
}

/// Unpacks and runs every platform of a pulled go-hello; amd64 must actually run here.
fn check_runs(env: &TestEnv, layout: &Layout, label: &str) {
    let images = layout.images("pulled");
    let archs: Vec<&str> = images.iter().map(|i| i.architecture()).collect();
    assert_eq!(archs, ["amd64", "arm64"]);
    for img in &images {
        let (checked, _) = check_image(
            env,
            layout,
            img,
            65532,
            &format!("{label}-{}", img.architecture()),
        );
        if img.architecture() == "amd64" {
            assert_eq!(checked, Checked::Ran);
        }
    }
}

fn assert_no_secret(run: &LadeRun, secret: &str) {
    assert!(
        !run.stdout.contains(secret) && !run.stderr.contains(secret),
        "a password appeared in lade's output:\n{}",
        run.context()
    );
}

#[test]
fn go_hello_to_three_registries_then_pulled_back_and_run() {
    let env = TestEnv::new();
    let project = env.copy_example("go-hello", "go-hello");

    let plain = Registry::start();
    let ca = TestCa::new();
    let basic = Registry::start_with(RegistryConfig {
        htpasswd: Some(("alice", "basic-pass-1")),
        tls: Some(&ca),
        ..Default::default()
    });
    let tokens = TokenServer::start(&[("bob", "token-pass-2")], &[], false);
    let bearer = Registry::start_with(RegistryConfig {
        token: Some(&tokens),
        ..Default::default()
    });

    // Basic registry: credentials from a docker-credential helper named in credHelpers.
    let bin = env.dir("bin");
    credential_helper(&bin, "ladetest", &basic.host, "alice", "basic-pass-1");
    let docker_config = env.dir("docker-config");
    std::fs::write(
        docker_config.join("config.json"),
        format!(r#"{{"credHelpers":{{"{}":"ladetest"}}}}"#, basic.host),
    )
    .unwrap();
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    // Token registry: CI-style variables scoped to its host.
    let key = env_key(&bearer.host);

    let targets: Vec<String> = [&plain, &basic, &bearer]
        .iter()
        .map(|r| format!("{}/team/go-hello:1.4.0", r.host))
        .collect();
    let run = env
        .lade()
        .arg("publish")
        .arg("-C")
        .arg(&project)
        .args(["--platform", PLATFORMS, "--tag", "latest", "--json"])
        .args([
            "--to",
            &targets[0],
            "--to",
            &targets[1],
            "--to",
            &targets[2],
        ])
        .arg("--registry-ca")
        .arg(&ca.ca_cert)
        .env("DOCKER_CONFIG", &docker_config)
        .env("PATH", &path)
        .env(&format!("LADE_REGISTRY_USERNAME_{key}"), "bob")
        .env(&format!("LADE_REGISTRY_PASSWORD_{key}"), "token-pass-2")
        .run()
        .success();
    assert_no_secret(&run, "basic-pass-1");
    assert_no_secret(&run, "token-pass-2");
    let report = run.json();
    let root = root_digest(&report);
    let outputs = report["outputs"].as_array().unwrap();
    assert_eq!(outputs.len(), 3);
    for (o, t) in outputs.iter().zip(&targets) {
        assert_eq!(o["target"], t.as_str());
        assert_eq!(o["digest"], root.as_str());
        let repo = t.rsplit_once(':').unwrap().0;
        assert_eq!(o["reference"], format!("{repo}@{root}").as_str());
        assert_eq!(
            n(stats(o), "blobs_uploaded"),
            expected_blobs(&report),
            "{o}"
        );
        assert_eq!(n(stats(o), "manifests_pushed"), 3, "{o}");
    }

    // Every registry serves lade's index under both tags, as skopeo reads it.
    let cert_dir = ca.cert_dir.to_str().unwrap();
    for (host, flags) in [
        (&plain.host, vec!["--tls-verify=false"]),
        (
            &basic.host,
            vec!["--cert-dir", cert_dir, "--creds", "alice:basic-pass-1"],
        ),
        (
            &bearer.host,
            vec!["--tls-verify=false", "--creds", "bob:token-pass-2"],
        ),
    ] {
        for tag in ["1.4.0", "latest"] {
            let raw = skopeo_raw(&format!("{host}/team/go-hello:{tag}"), &flags);
            assert_eq!(sha256_digest(&raw), root, "{host} :{tag}");
            let index: Value = serde_json::from_slice(&raw).unwrap();
            assert_eq!(index["mediaType"], OCI_INDEX);
            assert_eq!(index["manifests"].as_array().unwrap().len(), 2);
        }
    }
    // The token server was asked for push access to the repository.
    assert!(
        tokens.requests().iter().any(|r| r["user"] == "bob"
            && r["scopes"]
                .as_array()
                .unwrap()
                .iter()
                .any(|s| s == "repository:team/go-hello:pull,push")),
        "{:?}",
        tokens.requests()
    );

    // Pulled back by skopeo from the token-auth registry, unpacked by umoci, run by runc.
    let layout = pull(
        &env,
        &targets[2],
        &["--src-tls-verify=false", "--src-creds", "bob:token-pass-2"],
        "pulled-bearer",
    );
    check_runs(&env, &layout, "bearer");
    // And from the HTTPS registry with Basic auth.
    let layout = pull(
        &env,
        &targets[1],
        &[
            "--src-cert-dir",
            cert_dir,
            "--src-creds",
            "alice:basic-pass-1",
        ],
        "pulled-basic",
    );
    layout.verify_blobs();
}

#[test]
fn unchanged_source_uploads_nothing_and_a_one_line_change_one_layer_per_platform() {
    let env = TestEnv::new();
    let project = env.copy_example("go-hello", "go-hello");
    let reg = Registry::start();
    let to = format!("{}/team/go-hello:dev", reg.host);

    let mark = reg.mark();
    let first = publish(&env, &project, &["--to", &to]).success().json();
    let log = reg.requests_since(mark);
    let s = stats(&first["outputs"][0]).clone();
    assert_eq!(n(&s, "blobs_uploaded"), expected_blobs(&first));
    // Every layer went out as soon as it was written, once, and the push awaited those
    // uploads: no layer was sent twice, and every one was in before any manifest.
    let layers = layer_digests(&first);
    assert_eq!(n(&s, "blobs_sent_early"), layers.len() as u64, "{s}");
    let first_manifest = log
        .iter()
        .position(|a| a.method == "PUT" && a.path.contains("/manifests/"))
        .expect("a manifest was pushed");
    for layer in &layers {
        // The upload's PUT names the digest in its query, `:` escaped.
        let hex = layer.trim_start_matches("sha256:");
        let puts: Vec<usize> = (0..log.len())
            .filter(|&i| {
                let a = &log[i];
                a.method == "PUT" && a.status == 201 && a.path.contains(&format!("sha256%3A{hex}"))
            })
            .collect();
        assert_eq!(puts.len(), 1, "{layer} uploaded once: {log:?}");
        assert!(
            puts[0] < first_manifest,
            "{layer} before the manifests: {log:?}"
        );
    }

    let mark = reg.mark();
    let second = publish(&env, &project, &["--to", &to]).success().json();
    let log = reg.requests_since(mark);
    let s = stats(&second["outputs"][0]);
    assert_eq!(second["digest"], first["digest"], "same source, same image");
    // Checked early too, found present, and not sent.
    assert_eq!(n(s, "blobs_sent_early"), layers.len() as u64, "{s}");
    assert_eq!(n(s, "blobs_uploaded"), 0, "{s}");
    assert_eq!(n(s, "bytes_uploaded"), 0, "{s}");
    assert_eq!(n(s, "blobs_present"), expected_blobs(&first), "{s}");
    assert_eq!(
        blob_puts(&log),
        0,
        "the registry saw no blob upload: {log:?}"
    );
    assert!(
        !log.iter()
            .any(|a| a.method == "POST" || a.method == "PATCH"),
        "no upload was started: {log:?}"
    );

    // One line of Go changes the binary layer of each platform and nothing else.
    change_one_line(&project);
    let mark = reg.mark();
    // Without the attached SBOMs, whose new documents would be uploaded too
    // (tests/integration/attach.rs counts those).
    let third = publish(&env, &project, &["--to", &to, "--no-attach"])
        .success()
        .json();
    let log = reg.requests_since(mark);
    let s = stats(&third["outputs"][0]);
    assert_ne!(third["digest"], first["digest"]);
    assert_eq!(
        n(s, "blobs_uploaded"),
        4,
        "one binary layer and one config per platform: {s}"
    );
    assert_eq!(
        n(s, "manifests_pushed"),
        3,
        "two manifests and the index: {s}"
    );
    assert_eq!(blob_puts(&log), 4, "{log:?}");
    // The configs are new and small: this run made them, so they were sent without a HEAD.
    for image in third["images"].as_array().unwrap() {
        let config = image["config"].as_str().unwrap();
        assert!(
            !log.iter()
                .any(|a| a.method == "HEAD" && a.path.ends_with(config)),
            "{config} was asked about: {log:?}"
        );
    }
    let manifest_puts = log
        .iter()
        .filter(|a| a.method == "PUT" && a.path.contains("/manifests/"))
        .count();
    assert_eq!(manifest_puts, 3, "{log:?}");
}

/// The image the tag holds names blobs the repository has: a republish after a one-line
/// change asks about none of them, and sends its new small config without asking first.
#[test]
fn blobs_the_tagged_image_names_are_not_asked_about() {
    let env = TestEnv::new();
    let project = env.copy_example("go-hello", "go-hello");
    let reg = Registry::start();
    let to = format!("{}/team/one:dev", reg.host);
    let one = |extra: &[&str]| {
        env.lade()
            .arg("publish")
            .arg("-C")
            .arg(&project)
            .args([
                "--platform",
                "linux/amd64",
                "--json",
                "--no-attach",
                "--to",
                &to,
            ])
            .args(extra)
            .run()
            .success()
            .json()
    };
    let first = one(&[]);
    change_one_line(&project);
    let mark = reg.mark();
    let second = one(&[]);
    let log = reg.requests_since(mark);
    assert_ne!(second["digest"], first["digest"]);
    let layers = |r: &Value| -> BTreeSet<String> {
        r["layers"]
            .as_array()
            .unwrap()
            .iter()
            .map(|l| l["digest"].as_str().unwrap().to_string())
            .collect()
    };
    let (before, after) = (layers(&first), layers(&second));
    let kept: Vec<&String> = before.intersection(&after).collect();
    assert!(
        !kept.is_empty(),
        "kodata's layer is unchanged: {before:?} {after:?}"
    );
    let heads: Vec<&Access> = log
        .iter()
        .filter(|a| a.method == "HEAD" && a.path.contains("/blobs/"))
        .collect();
    for d in &kept {
        assert!(
            !heads.iter().any(|a| a.path.ends_with(d.as_str())),
            "{d} is named by the tagged image, yet was asked about: {log:?}"
        );
    }
    let config = second["images"][0]["config"].as_str().unwrap();
    assert!(
        !heads.iter().any(|a| a.path.ends_with(config)),
        "the new config was asked about: {log:?}"
    );
    let s = stats(&second["outputs"][0]);
    assert_eq!(n(s, "blobs_present"), kept.len() as u64, "{s}");
    assert_eq!(
        n(s, "blobs_uploaded"),
        2,
        "the binary layer and the config: {s}"
    );
    // What the tag now holds is whole: skopeo copies every blob it names.
    let layout = pull(&env, &to, &["--src-tls-verify=false"], "pulled-one");
    layout.verify_blobs();
}

/// A distroless-like two-platform base in the registry at `repo:tag`, copied there by skopeo
/// from a layout the test support builds byte by byte. Returns the pushed index digest.
fn push_base(
    env: &TestEnv,
    reg: &Registry,
    repo_tag: &str,
    name: &str,
    user: Option<&str>,
) -> String {
    let base = build_base(&env.path(name), "v1", &["amd64", "arm64"], user);
    run_ok(
        tool("skopeo")
            .args(["copy", "--all", "-q", "--dest-tls-verify=false"])
            .arg(format!("oci:{}:v1", base.dir.display()))
            .arg(format!("docker://{}/{repo_tag}", reg.host)),
    );
    sha256_digest(&skopeo_raw(
        &format!("{}/{repo_tag}", reg.host),
        &["--tls-verify=false"],
    ))
}

#[test]
fn registry_base_is_mounted_pinned_by_lade_lock_and_read_through_a_mirror() {
    let env = TestEnv::new();
    let project = env.copy_example("go-hello", "go-hello");
    let reg = Registry::start();
    let base_digest = push_base(&env, &reg, "bases/static:nonroot", "base-v1", None);
    let base_ref = format!("{}/bases/static:nonroot", reg.host);
    let base_layers: Vec<String> = {
        let index: Value =
            serde_json::from_slice(&skopeo_raw(&base_ref, &["--tls-verify=false"])).unwrap();
        index["manifests"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|m| {
                let d = m["digest"].as_str().unwrap();
                let manifest: Value = serde_json::from_slice(&skopeo_raw(
                    &format!("{}/bases/static@{d}", reg.host),
                    &["--tls-verify=false"],
                ))
                .unwrap();
                manifest["layers"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|l| l["digest"].as_str().unwrap().to_string())
                    .collect::<Vec<_>>()
            })
            .collect()
    };
    assert_eq!(base_layers.len(), 2);

    let to = format!("{}/team/app:1", reg.host);
    let mark = reg.mark();
    let report = publish(&env, &project, &["--base", &base_ref, "--to", &to])
        .success()
        .json();
    let log: Vec<Access> = reg.requests_since(mark);
    assert_eq!(report["base"]["digest"], base_digest.as_str());
    let s = stats(&report["outputs"][0]);
    assert_eq!(n(s, "blobs_mounted"), 2, "one base layer per platform: {s}");
    for layer in &base_layers {
        assert!(
            !log.iter().any(|a| a.path.contains(layer.as_str())
                && a.method != "HEAD"
                && a.method != "POST"),
            "base layer {layer} was downloaded or uploaded: {log:?}"
        );
        assert!(
            log.iter().any(|a| a.method == "POST"
                && a.path.contains("mount=")
                && a.path.contains(layer.trim_start_matches("sha256:"))
                && a.status == 201),
            "base layer {layer} was not mounted: {log:?}"
        );
    }
    assert_eq!(
        blob_gets(&log),
        2,
        "only the base's two configs were read: {log:?}"
    );
    let lock = std::fs::read_to_string(project.join("lade.lock")).expect("lade.lock written");
    assert!(
        lock.contains(&base_digest) && lock.contains(&base_ref),
        "{lock}"
    );
    let layout = pull(&env, &to, &["--src-tls-verify=false"], "pulled-app");
    check_runs(&env, &layout, "on-base");

    // The tag moves; lade.lock keeps the build on the digest it pinned, whose index,
    // manifests and configs lade's cache kept: the base costs no request to the registry.
    let moved = push_base(&env, &reg, "bases/static:nonroot", "base-v2", Some("65532"));
    assert_ne!(moved, base_digest);
    let mark = reg.mark();
    let again = publish(&env, &project, &["--base", &base_ref, "--to", &to])
        .success()
        .json();
    let log = reg.requests_since(mark);
    assert!(
        !log.iter()
            .any(|a| a.method == "GET" && a.path.starts_with("/v2/bases/static/")),
        "the pinned base was read from the registry again: {log:?}"
    );
    assert_eq!(again["base"]["digest"], base_digest.as_str());
    assert_eq!(again["base"]["locked"], true);
    assert_eq!(again["digest"], report["digest"], "pinned base, same image");
    assert_eq!(n(stats(&again["outputs"][0]), "blobs_uploaded"), 0);
    // …until --refresh-base.
    let refreshed = publish(
        &env,
        &project,
        &["--base", &base_ref, "--to", &to, "--refresh-base"],
    )
    .success()
    .json();
    assert_eq!(refreshed["base"]["digest"], moved.as_str());
    let lock = std::fs::read_to_string(project.join("lade.lock")).unwrap();
    assert!(
        lock.contains(&moved) && !lock.contains(&base_digest),
        "{lock}"
    );

    // A base named on a registry lade cannot reach, read through --registry-mirror, written
    // to an OCI layout: base layers are fetched (from the mirror) because a layout needs them.
    let out = env.path("layout-out");
    let mirrored = publish(
        &env,
        &project,
        &[
            "--base",
            "registry.invalid/bases/static:nonroot",
            "--registry-mirror",
            &format!("registry.invalid={}", reg.host),
            "--refresh-base",
            "--to",
            &format!("oci:{}:v1", out.display()),
        ],
    )
    .success()
    .json();
    assert_eq!(mirrored["base"]["digest"], moved.as_str());
    let l = Layout::open(&out);
    l.verify_blobs();
    for img in l.images("v1") {
        assert_eq!(img.layer_digests().len(), 3, "base + kodata + binary");
    }
}

#[test]
fn a_failing_mirror_is_one_warning_and_the_base_comes_from_the_registry() {
    let env = TestEnv::new();
    let project = env.copy_example("go-hello", "go-hello");
    let reg = Registry::start();
    let base_digest = push_base(&env, &reg, "bases/static:nonroot", "base", None);
    // Nothing listens there: every pull through the mirror is refused (and retried) before
    // lade falls back to the registry itself, for the index, the manifest and the config.
    let mirror = format!("127.0.0.1:{}", free_port());
    let run = env
        .lade()
        .arg("publish")
        .arg("-C")
        .arg(&project)
        .args(["-q", "--json", "--platform", "linux/amd64"])
        .args(["--base", &format!("{}/bases/static:nonroot", reg.host)])
        .args(["--registry-mirror", &format!("{}={mirror}", reg.host)])
        .args(["--to", &format!("{}/team/app:1", reg.host)])
        .run()
        .success();
    let report = run.json();
    assert_eq!(report["base"]["digest"], base_digest.as_str());

    // Said once on stderr, even with -q, naming the mirror…
    let warnings: Vec<&str> = run
        .stderr
        .lines()
        .filter_map(|l| l.strip_prefix("lade: warning: "))
        .collect();
    assert_eq!(warnings.len(), 1, "one warning:\n{}", run.context());
    assert!(warnings[0].contains(&mirror), "{}", run.context());
    assert_eq!(
        run.stderr.lines().filter(|l| l.contains(&mirror)).count(),
        1,
        "the mirror is named on the warning's line only:\n{}",
        run.context()
    );
    // …and listed in the report.
    assert_eq!(
        report["warnings"],
        serde_json::json!([warnings[0]]),
        "{}",
        run.context()
    );
}

#[test]
fn publish_succeeds_through_503_429_502_and_a_connection_reset() {
    let env = TestEnv::new();
    let project = env.copy_example("go-hello", "go-hello");
    let reg = Registry::start();
    let proxy = FaultProxy::start(
        &reg,
        &[
            "--upload-503",
            "--head-429",
            "--manifest-502",
            "--reset-put",
            "1000000",
        ],
    );
    let to = format!("{}/team/go-hello:1", proxy.host);
    let report = publish(&env, &project, &["--to", &to]).success().json();
    let root = root_digest(&report);
    let mut injected = proxy.injected();
    injected.sort();
    assert_eq!(
        injected,
        ["head-429", "manifest-502", "reset-put", "upload-503"],
        "every fault was hit"
    );
    assert!(n(stats(&report["outputs"][0]), "retries") >= 4);
    // Read from the registry directly: the right index, and every blob intact.
    let raw = skopeo_raw(
        &format!("{}/team/go-hello:1", reg.host),
        &["--tls-verify=false"],
    );
    assert_eq!(sha256_digest(&raw), root);
    let layout = pull(
        &env,
        &format!("{}/team/go-hello:1", reg.host),
        &["--src-tls-verify=false"],
        "pulled",
    );
    layout.verify_blobs();
}

#[test]
fn wrong_or_missing_credentials_fail_with_one_line_naming_the_registry() {
    let env = TestEnv::new();
    let project = env.copy_example("go-hello", "go-hello");
    let ca = TestCa::new();
    let reg = Registry::start_with(RegistryConfig {
        htpasswd: Some(("alice", "the-right-one")),
        tls: Some(&ca),
        ..Default::default()
    });
    let to = format!("{}/team/go-hello:1", reg.host);
    let empty_config = env.dir("no-docker-config");

    let run = env
        .lade()
        .args(["publish", "-C"])
        .arg(&project)
        .args(["--to", &to, "--registry-ca"])
        .arg(&ca.ca_cert)
        .env("DOCKER_CONFIG", &empty_config)
        .env("LADE_REGISTRY_USERNAME", "alice")
        .env("LADE_REGISTRY_PASSWORD", "Wr0ng-Pa55word")
        .run();
    let line = run.expect_error(&["unauthorized", &reg.host]);
    assert_no_secret(&run, "Wr0ng-Pa55word");
    assert!(line.contains("LADE_REGISTRY_USERNAME"), "{line}");

    let run = env
        .lade()
        .args(["publish", "-C"])
        .arg(&project)
        .args(["--to", &to, "--registry-ca"])
        .arg(&ca.ca_cert)
        .env("DOCKER_CONFIG", &empty_config)
        .run();
    run.expect_error(&["unauthorized", &reg.host, "no credentials"]);

    // An untrusted certificate is named as such (no silent fall back to plain HTTP).
    let run = env
        .lade()
        .args(["publish", "-C"])
        .arg(&project)
        .args(["--to", &to])
        .env("DOCKER_CONFIG", &empty_config)
        .run();
    run.expect_error(&["certificate", &reg.host]);
}

#[test]
fn lade_repo_names_the_default_target_and_image_refs_lists_it() {
    let env = TestEnv::new();
    let project = env.copy_example("go-hello", "go-hello");
    let reg = Registry::start();
    let refs = env.path("refs.txt");
    let run = env
        .lade()
        .args(["publish", "-C"])
        .arg(&project)
        .arg("--image-refs")
        .arg(&refs)
        .env("LADE_REPO", format!("{}/team", reg.host))
        .run()
        .success();
    let reference = run.stdout.trim().to_string();
    let written = std::fs::read_to_string(&refs).unwrap();
    let lines: Vec<&str> = written.lines().collect();
    // The image first, then what was attached to it (an SPDX, a CycloneDX and a provenance
    // document for the one platform), all in the same repository.
    assert_eq!(lines[0], reference, "{written}");
    assert_eq!(lines.len(), 4, "{written}");
    let (repo, digest) = reference.split_once('@').expect("REPO@DIGEST");
    assert!(
        lines[1..].iter().all(|l| l
            .split_once('@')
            .is_some_and(|(r, d)| r == repo && d != digest)),
        "{written}"
    );
    assert_eq!(repo, format!("{}/team/go-hello", reg.host));
    let raw = skopeo_raw(
        &format!("{}/team/go-hello:latest", reg.host),
        &["--tls-verify=false"],
    );
    assert_eq!(sha256_digest(&raw), digest);
}

/// go-hello with a 12 MiB file of incompressible bytes in kodata: its kodata layer is large
/// enough that its upload follows the compressor. Returns the file's bytes.
fn with_large_kodata(project: &Path) -> Vec<u8> {
    // xorshift64: the same bytes every run, which gzip cannot shrink.
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    let bytes: Vec<u8> = (0..(12 << 20) / 8)
        .flat_map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x.to_le_bytes()
        })
        .collect();
    std::fs::write(project.join("kodata/noise.bin"), &bytes).unwrap();
    bytes
}

/// The digest of the layer holding `/var/run/ko` in `report`'s first platform.
fn kodata_layer(report: &Value) -> String {
    let layer = report["layers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["name"] == "kodata")
        .unwrap_or_else(|| panic!("a kodata layer: {report}"));
    layer["digest"].as_str().unwrap().to_string()
}

/// The upload of a large layer follows its compressor: one PATCH streams it and one PUT
/// names its digest, and the image pulled back (by skopeo) is the one a layout gets, and
/// runs. With the layer cache emptied, the registry already has that layer: the upload that
/// followed it is dropped once its digest is known, and nothing is sent.
#[test]
fn a_large_layer_uploads_while_it_is_written_and_not_when_the_registry_has_it() {
    let env = TestEnv::new();
    let project = env.copy_example("go-hello", "go-hello");
    let noise = with_large_kodata(&project);
    let reg = Registry::start();
    let to = format!("{}/team/big:1", reg.host);

    let report = publish(&env, &project, &["--to", &to, "--no-attach"])
        .success()
        .json();
    let log = reg.access_log();
    let s = stats(&report["outputs"][0]);
    assert_eq!(n(s, "blobs_streamed"), 1, "the kodata layer, once: {s}");
    assert_eq!(n(s, "blobs_uploaded"), expected_blobs(&report), "{s}");
    let kodata = kodata_layer(&report);
    let hex = kodata.trim_start_matches("sha256:");
    let puts: Vec<&_> = log
        .iter()
        .filter(|a| a.method == "PUT" && a.path.contains(&format!("sha256%3A{hex}")))
        .collect();
    assert_eq!(puts.len(), 1, "{log:?}");
    assert_eq!(puts[0].status, 201, "{log:?}");
    let patches: Vec<&_> = log.iter().filter(|a| a.method == "PATCH").collect();
    assert_eq!(patches.len(), 1, "one streamed body: {log:?}");
    assert_eq!(patches[0].status, 202, "{log:?}");

    // The same project to a layout: the same image, byte for byte.
    let dir = env.path("layout");
    let local = publish(
        &env,
        &project,
        &["--to", &format!("oci:{}:1", dir.display()), "--no-attach"],
    )
    .success()
    .json();
    assert_eq!(root_digest(&local), root_digest(&report));
    let pulled = pull(&env, &to, &["--src-tls-verify=false"], "pulled");
    pulled.verify_blobs();
    let entries = pulled.layer_entries(&kodata);
    let file = crate::support::layout::find_entry(&entries, "var/run/ko/noise.bin");
    assert!(
        file.data == noise,
        "the streamed layer holds the file's bytes"
    );
    check_runs(&env, &pulled, "streamed");

    // A fresh cache: the layer is written again, and the registry has it.
    let mark = reg.mark();
    let again = env
        .lade_with_cache(&env.path("fresh-cache"))
        .arg("publish")
        .arg("-C")
        .arg(&project)
        .args([
            "--platform",
            PLATFORMS,
            "--json",
            "--no-attach",
            "--to",
            &to,
        ])
        .run()
        .success()
        .json();
    let log = reg.requests_since(mark);
    let s = stats(&again["outputs"][0]);
    assert_eq!(root_digest(&again), root_digest(&report));
    assert!(
        again["layers"]
            .as_array()
            .unwrap()
            .iter()
            .any(|l| l["digest"] == kodata.as_str() && l["cached"] == false),
        "the layer was written again: {again}"
    );
    assert_eq!(n(s, "blobs_streamed"), 0, "{s}");
    // Only the two configs went: small and made by this run, they are sent without asking.
    assert_eq!(n(s, "blobs_uploaded"), 2, "{s}");
    assert!(n(s, "bytes_uploaded") < 64 << 10, "{s}");
    assert!(
        !log.iter()
            .any(|a| a.method == "PUT" && a.path.contains(&format!("sha256%3A{hex}"))),
        "the layer was not finished again: {log:?}"
    );
}

/// A registry (or a proxy before it) that refuses bodies of unknown length: the upload that
/// followed the layer fails, the finished layer is sent the usual way, and the image is whole.
#[test]
fn a_registry_refusing_streamed_bodies_gets_the_layer_once_written() {
    let env = TestEnv::new();
    let project = env.copy_example("go-hello", "go-hello");
    with_large_kodata(&project);
    let reg = Registry::start();
    let proxy = FaultProxy::start(&reg, &["--refuse-chunked"]);
    let to = format!("{}/team/big:1", proxy.host);
    let report = publish(&env, &project, &["--to", &to, "--no-attach"])
        .success()
        .json();
    assert_eq!(
        proxy.injected(),
        ["refuse-chunked"],
        "one attempt, then none"
    );
    let s = stats(&report["outputs"][0]);
    assert_eq!(n(s, "blobs_streamed"), 0, "{s}");
    assert_eq!(n(s, "blobs_uploaded"), expected_blobs(&report), "{s}");
    let direct = format!("{}/team/big:1", reg.host);
    let raw = skopeo_raw(&direct, &["--tls-verify=false"]);
    assert_eq!(sha256_digest(&raw), root_digest(&report));
    pull(&env, &direct, &["--src-tls-verify=false"], "pulled").verify_blobs();
}

/// A platform refused after its build while another's layers were already written: nothing
/// reaches the registry. amd64's go build is reused (recorded by a first publish), so amd64 is
/// handed over at once and its layers written, the large kodata layer followed by an upload,
/// while arm64 still compiles; then arm64's start-up check fails (its base has no /bin/sh for
/// the entrypoint script). The registry must hold no blob and no manifest.
#[test]
fn a_platform_refused_after_its_build_leaves_nothing_in_the_registry() {
    let env = TestEnv::new();
    let project = env.copy_example("go-hello", "go-hello");
    with_large_kodata(&project);
    std::fs::write(
        project.join("kodata/start.sh"),
        "#!/bin/sh\nexec /ko-app/go-hello\n",
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(
        project.join("kodata/start.sh"),
        std::fs::Permissions::from_mode(0o755),
    )
    .unwrap();
    std::fs::write(
        project.join("lade.toml"),
        "entrypoint = [\"/var/run/ko/start.sh\"]\n",
    )
    .unwrap();
    let shell: &[u8] = b"#!placeholder: only its presence is checked\n";
    let base = build_base_from(
        &env.path("base"),
        "v1",
        &["amd64", "arm64"],
        Some("65532"),
        |arch| match arch {
            "amd64" => base_tar_with(arch, &[("bin/sh", shell, 0o755)]),
            _ => base_tar_with(arch, &[]),
        },
    );
    let first = env
        .lade()
        .arg("publish")
        .arg("-C")
        .arg(&project)
        .args(["--platform", "linux/amd64", "--json", "--no-attach"])
        .args(["--base", &base.reference()])
        .args(["--to", &format!("oci:{}:1", env.path("amd64").display())])
        .run()
        .success()
        .json();
    let kodata = kodata_layer(&first);
    // The layers are written again (and the kodata layer followed); amd64's build is not.
    std::fs::remove_dir_all(env.cache.join("blobs")).unwrap();

    let reg = Registry::start();
    let to = format!("{}/team/refused:1", reg.host);
    let out = publish(
        &env,
        &project,
        &["--base", &base.reference(), "--to", &to, "--no-attach"],
    );
    out.expect_error(&["linux/arm64", "/bin/sh"]);
    let hex = kodata.trim_start_matches("sha256:");
    assert!(
        env.cache.join("blobs/sha256").join(hex).is_file(),
        "amd64's kodata layer was written again before arm64 was refused:\n{}",
        out.context()
    );
    let log = reg.access_log();
    assert!(
        !log.iter().any(|a| a.method == "PUT"),
        "no blob finished, no manifest: {log:?}"
    );
    let blobs = reg.dir.path().join("data/docker/registry/v2/blobs");
    let stored = walk_files(&blobs);
    assert!(stored.is_empty(), "the registry holds blobs: {stored:?}");
    // The kodata layer's upload was started and its bytes sent: its session is deleted, not
    // left for the registry to expire.
    // By path: the query (the registry's state of the session) changes with each request.
    let session_of = |a: &Access| a.path.split('?').next().unwrap_or_default().to_string();
    let sessions: Vec<String> = log
        .iter()
        .filter(|a| a.method == "PATCH")
        .map(session_of)
        .collect();
    assert!(
        log.iter().any(|a| a.method == "DELETE" && a.status == 204),
        "the kodata layer was followed, its session deleted: {log:?}"
    );
    for session in &sessions {
        assert!(
            log.iter()
                .any(|a| a.method == "DELETE" && session_of(a) == *session && a.status == 204),
            "upload session {session} not deleted: {log:?}"
        );
    }
    // The registry's DELETE removes the session's bytes (`data`); it keeps a small hash state.
    let uploads = reg
        .dir
        .path()
        .join("data/docker/registry/v2/repositories/team/refused/_uploads");
    let left: Vec<_> = walk_files(&uploads)
        .into_iter()
        .filter(|f| f.ends_with("data"))
        .collect();
    assert!(
        left.is_empty(),
        "upload bytes left in the registry: {left:?}"
    );
}

/// Every file under `dir` (none when it does not exist).
fn walk_files(dir: &Path) -> Vec<std::path::PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    entries
        .flatten()
        .flat_map(|e| match e.file_type() {
            Ok(t) if t.is_dir() => walk_files(&e.path()),
            _ => vec![e.path()],
        })
        .collect()
}
