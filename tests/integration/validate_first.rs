//! Inputs are checked before anything is built or pushed; several outputs are each reported
//! and all attempted; lade.lock only records a publish that succeeded; day-one errors hint at
//! the fix.

use crate::support::TestEnv;
use crate::support::base_image::build_base;
use crate::support::env::write_file;
use crate::support::lade::LadeRun;
use crate::support::registry::{Registry, RegistryConfig, blob_puts, free_port};
use crate::support::tools::{run_ok, tool};
use std::path::Path;

/// `lade publish -C project --platform linux/amd64` plus `args`.
fn publish(env: &TestEnv, project: &Path, args: &[&str]) -> LadeRun {
    env.lade()
        .arg("publish")
        .arg("-C")
        .arg(project)
        .args(["--platform", "linux/amd64"])
        .args(args)
        .run()
}

/// Nothing was built: no build step created its directory in the cache.
fn assert_nothing_built(env: &TestEnv, run: &LadeRun) {
    assert!(
        !env.cache.join("build").exists(),
        "a build step ran before the input was refused:\n{}",
        run.context()
    );
    assert!(
        !run.stderr.contains("lade: building") && !run.stderr.contains("layer "),
        "progress shows a build:\n{}",
        run.context()
    );
}

#[test]
fn a_bad_tag_is_refused_before_building_for_a_layout() {
    let env = TestEnv::new();
    let p = env.copy_example("go-hello", "go-hello");
    let out = env.path("out");
    let to = format!("oci:{}", out.display());
    let run = publish(&env, &p, &["--to", &to, "--tag", "bad tag!"]);
    run.expect_error(&["--tag", "bad tag!"]);
    assert_nothing_built(&env, &run);
    assert!(!out.exists(), "nothing written");

    // The layout's own tag follows the same grammar.
    let to = format!("oci:{}:bad tag!", out.display());
    let run = publish(&env, &p, &["--to", &to]);
    run.expect_error(&["bad tag!"]);
    assert_nothing_built(&env, &run);
    assert!(!out.exists(), "nothing written");
}

#[test]
fn a_bad_tag_is_refused_before_building_for_a_registry() {
    let env = TestEnv::new();
    let p = env.copy_example("go-hello", "go-hello");
    let reg = Registry::start();
    let to = format!("{}/team/go-hello:1", reg.host);
    let run = publish(&env, &p, &["--to", &to, "--tag", "bad tag!"]);
    run.expect_error(&["--tag", "bad tag!"]);
    assert_nothing_built(&env, &run);
    assert_eq!(blob_puts(&reg.access_log()), 0, "nothing pushed");
}

#[test]
fn image_refs_to_a_missing_directory_fails_before_building_and_pushing() {
    let env = TestEnv::new();
    let p = env.copy_example("go-hello", "go-hello");
    let reg = Registry::start();
    let to = format!("{}/team/go-hello:1", reg.host);
    let run = publish(
        &env,
        &p,
        &["--to", &to, "--image-refs", "/nonexistent-dir/refs.txt"],
    );
    run.expect_error(&["--image-refs", "/nonexistent-dir"]);
    assert_nothing_built(&env, &run);
    let log = reg.access_log();
    assert_eq!(blob_puts(&log), 0, "nothing pushed: {log:?}");
    assert!(
        !log.iter().any(|a| a.path.contains("/manifests/")),
        "no manifest touched: {log:?}"
    );

    // A directory is not a file to write.
    let dir = env.dir("refs-dir");
    let run = publish(
        &env,
        &p,
        &["--to", &to, "--image-refs", dir.to_str().unwrap()],
    );
    run.expect_error(&["--image-refs", "directory"]);
    assert_nothing_built(&env, &run);
}

#[test]
fn sbom_and_source_date_epoch_are_checked_before_building() {
    let env = TestEnv::new();
    let p = env.copy_example("go-hello", "go-hello");
    let to = format!("oci:{}", env.path("out").display());
    write_file(&env.path("a-file"), "not a directory\n");
    let sbom = env.path("a-file").join("sboms");
    let run = publish(&env, &p, &["--to", &to, "--sbom", sbom.to_str().unwrap()]);
    run.expect_error(&["--sbom", "a-file"]);
    assert_nothing_built(&env, &run);

    let run = env
        .lade()
        .arg("publish")
        .arg("-C")
        .arg(&p)
        .args(["--platform", "linux/amd64", "--to", &to])
        .env("SOURCE_DATE_EPOCH", "yesterday")
        .run();
    run.expect_error(&["SOURCE_DATE_EPOCH"]);
    assert_nothing_built(&env, &run);
    assert!(!env.path("out").exists(), "nothing written");
}

#[test]
fn registry_outputs_are_probed_before_building() {
    let env = TestEnv::new();
    let p = env.copy_example("go-hello", "go-hello");

    // Nothing listens on this port.
    let closed = format!("127.0.0.1:{}/team/go-hello:1", free_port());
    let run = publish(&env, &p, &["--to", &closed]);
    run.expect_error(&["--to", "127.0.0.1"]);
    assert_nothing_built(&env, &run);

    // The registry answers but refuses a push without credentials.
    let reg = Registry::start_with(RegistryConfig {
        htpasswd: Some(("alice", "the-right-one")),
        ..Default::default()
    });
    let to = format!("{}/team/go-hello:1", reg.host);
    let run = env
        .lade()
        .arg("publish")
        .arg("-C")
        .arg(&p)
        .args(["--platform", "linux/amd64", "--to", &to])
        .env("DOCKER_CONFIG", env.dir("no-docker-config"))
        .run();
    run.expect_error(&["unauthorized", &reg.host]);
    assert_nothing_built(&env, &run);
    assert_eq!(blob_puts(&reg.access_log()), 0, "nothing pushed");
}

#[test]
fn with_two_outputs_one_failing_both_are_reported_and_the_exit_is_non_zero() {
    let env = TestEnv::new();
    let p = env.copy_example("go-hello", "go-hello");
    let good = env.path("good");
    // The layout cannot be created under a regular file: that output fails when written.
    write_file(&env.path("a-file"), "not a directory\n");
    let bad = env.path("a-file").join("out");
    let (good_to, bad_to) = (
        format!("oci:{}:v1", good.display()),
        format!("oci:{}:v1", bad.display()),
    );

    let run = publish(&env, &p, &["--json", "--to", &bad_to, "--to", &good_to]);
    run.expect_error(&["1 of 2 outputs failed", "a-file"]);
    let j = run.json();
    let outputs = j["outputs"].as_array().expect("outputs");
    assert_eq!(outputs.len(), 2, "{j}");
    assert_eq!(outputs[0]["status"], "failed", "{j}");
    assert!(
        outputs[0]["error"]
            .as_str()
            .is_some_and(|e| e.contains("Not a directory")),
        "{j}"
    );
    assert_eq!(outputs[1]["status"], "ok", "{j}");
    assert_eq!(outputs[1]["digest"], j["digest"], "{j}");
    assert!(
        good.join("index.json").is_file(),
        "the good output is written"
    );

    // Without --json: the written output's reference on stdout, the failure on its own line.
    let run = publish(&env, &p, &["--to", &bad_to, "--to", &good_to]);
    run.expect_error(&["1 of 2 outputs failed", "a-file"]);
    let root = j["digest"].as_str().unwrap();
    assert_eq!(
        run.stdout.trim(),
        format!("{good_to} {root}"),
        "{}",
        run.context()
    );
    assert!(
        run.stderr
            .lines()
            .any(|l| l.starts_with(&format!("lade: {bad_to}: failed:"))
                && l.contains("Not a directory")),
        "{}",
        run.context()
    );
}

#[test]
fn lade_lock_is_not_written_when_the_publish_fails_after_the_base_resolved() {
    let env = TestEnv::new();
    let p = env.copy_example("go-hello", "go-hello");
    let reg = Registry::start();
    let base = build_base(&env.path("base"), "v1", &["amd64"], None);
    run_ok(
        tool("skopeo")
            .args(["copy", "--all", "-q", "--dest-tls-verify=false"])
            .arg(format!("oci:{}:v1", base.dir.display()))
            .arg(format!("docker://{}/bases/static:nonroot", reg.host)),
    );
    let base_ref = format!("{}/bases/static:nonroot", reg.host);
    write_file(&env.path("a-file"), "not a directory\n");
    let bad = format!("oci:{}", env.path("a-file").join("out").display());

    let run = publish(&env, &p, &["--base", &base_ref, "--to", &bad]);
    run.expect_error(&["a-file"]);
    assert!(
        run.stderr.contains("resolved to"),
        "the base resolved before the failure:\n{}",
        run.context()
    );
    assert!(
        !p.join("lade.lock").exists(),
        "lade.lock written by a failed publish:\n{}",
        run.context()
    );

    // A publish that succeeds pins the base.
    let good = format!("oci:{}", env.path("good").display());
    publish(&env, &p, &["--base", &base_ref, "--to", &good]).success();
    let lock = std::fs::read_to_string(p.join("lade.lock")).expect("lade.lock");
    assert!(lock.contains(&base_ref), "{lock}");
}

#[test]
fn day_one_mistakes_get_a_hint() {
    let env = TestEnv::new();
    let p = env.copy_example("go-hello", "go-hello");

    // A path without a transport.
    let run = publish(&env, &p, &["--to", "./out"]);
    run.expect_error(&["--to", "did you mean oci:./out"]);
    assert_nothing_built(&env, &run);
    let run = publish(&env, &p, &["--to", "out/dir"]);
    run.expect_error(&[
        "--to out/dir",
        "docker.io/out/dir",
        "did you mean oci:./out/dir",
    ]);
    assert_nothing_built(&env, &run);

    // A distroless base that cannot be reached: the ways around it.
    let base = format!(
        "127.0.0.1:{}/distroless/static-debian12:nonroot",
        free_port()
    );
    let to = format!("oci:{}", env.path("out").display());
    let run = publish(&env, &p, &["--base", &base, "--to", &to]);
    run.expect_error(&[
        "cannot be reached",
        "--base",
        "--registry-mirror 127.0.0.1",
        "debian12/static",
    ]);
    assert_nothing_built(&env, &run);

    // A misspelt lade.toml key: the key it resembles.
    write_file(
        &p.join("lade.toml"),
        "base = \"scratch\"\nentrypont = [\"/app/go-hello\"]\n",
    );
    let run = publish(&env, &p, &["--to", &to]);
    run.expect_error(&["lade.toml:2", "entrypont", "did you mean `entrypoint`"]);
    assert!(!env.path("out").exists(), "nothing written");
}
