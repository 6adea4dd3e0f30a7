//! Rust projects: examples/rust-hello (crates.io dependencies, static musl builds for amd64 and
//! arm64), examples/rust-workspace (two binaries), glibc builds on a cc base, reproducibility
//! across checkouts, wrong input, and lade publishing itself. The musl targets are required:
//! a machine without them fails these tests with the reason (see `require_targets`).

use crate::support::TestEnv;
use crate::support::arm64::host_arch;
use crate::support::cc_base::build_cc_base;
use crate::support::env::{repo_root, write_file};
use crate::support::lade::{LadeRun, root_digest};
use crate::support::layout::{self, Layout};
use crate::support::runc::Container;
use crate::support::rust::{
    Checked, MUSL_AMD64, MUSL_ARM64, check_rust_hello, require_targets, run_to_end, unpack,
};
use serde_json::json;
use std::fs;
use std::path::Path;

/// The musl triple for the machine running the tests.
fn host_musl() -> &'static str {
    match host_arch() {
        "arm64" => MUSL_ARM64,
        _ => MUSL_AMD64,
    }
}

fn host_platform() -> String {
    format!("linux/{}", host_arch())
}

/// `lade publish -C dir --platform P --json --to oci:<root>/<out>:v1` plus `extra`.
fn publish(env: &TestEnv, dir: &Path, platforms: &str, out: &str, extra: &[&str]) -> LadeRun {
    env.lade()
        .arg("publish")
        .arg("-C")
        .arg(dir)
        .args(["--platform", platforms, "--json", "--to"])
        .arg(format!("oci:{}:v1", env.path(out).display()))
        .args(extra)
        .run()
}

#[test]
fn rust_hello_publishes_for_two_platforms_and_runs() {
    require_targets(&[MUSL_AMD64, MUSL_ARM64]);
    let env = TestEnv::new();
    let project = env.copy_example("rust-hello", "rust-hello");
    let run = publish(&env, &project, "linux/amd64,linux/arm64", "out", &[]).success();
    let j = run.json();
    let root = root_digest(&j);
    assert_eq!(j["platforms"], json!(["linux/amd64", "linux/arm64"]));
    assert_eq!(j["base"]["name"], "scratch");
    assert!(
        run.stderr
            .contains("cargo build for linux/arm64 (aarch64-unknown-linux-musl)"),
        "{}",
        run.context()
    );

    let l = Layout::open(&env.path("out"));
    l.verify_blobs();
    assert_eq!(l.tagged("v1")["digest"], root.as_str());
    let images = l.images("v1");
    let archs: Vec<&str> = images.iter().map(|i| i.architecture()).collect();
    assert_eq!(archs, ["amd64", "arm64"]);
    for img in &images {
        let arch = img.architecture();
        assert_eq!(
            img.cfg("User"),
            "65532",
            "{arch}: scratch base, nonroot user"
        );
        assert_eq!(img.cfg("Entrypoint"), &json!(["/app/rust-hello"]), "{arch}");
        assert_eq!(
            img.cfg("WorkingDir"),
            "/app",
            "{arch}: resources are relative to /app"
        );
        let layers = img.layer_digests();
        assert_eq!(layers.len(), 2, "{arch}: resources + binary");
        let resources: Vec<String> = l
            .layer_entries(&layers[0])
            .into_iter()
            .map(|e| e.path)
            .collect();
        assert!(
            resources.contains(&"app/assets/hello.txt".to_string()),
            "{arch}: {resources:?}"
        );
        let binary = l.layer_entries(&layers[1]);
        let bin = layout::find_entry(&binary, "app/rust-hello");
        assert_eq!(bin.mode & 0o777, 0o755);
        eprintln!(
            "{arch}: binary layer {} bytes compressed",
            l.blob(&layers[1]).len()
        );
    }
    let (amd64, _) = check_rust_hello(&env, &l, &images[0], 65532, "amd64");
    let (arm64, _) = check_rust_hello(&env, &l, &images[1], 65532, "arm64");
    let host = if host_arch() == "amd64" { amd64 } else { arm64 };
    assert_eq!(host, Checked::Ran, "the host platform's image must run");
    eprintln!("arm64 image check: {arm64:?}");
}

#[test]
fn two_checkouts_give_identical_digests() {
    require_targets(&[MUSL_AMD64, MUSL_ARM64]);
    let env = TestEnv::new();
    let a = env.copy_example("rust-hello", "a/rust-hello");
    let b = env.copy_example("rust-hello", "somewhere/else/rust-hello");
    let platforms = "linux/amd64,linux/arm64";
    let digest = |dir: &Path, cache: &str, out: &str| {
        let run = env
            .lade_with_cache(&env.path(cache))
            .arg("publish")
            .arg("-C")
            .arg(dir)
            .args(["--platform", platforms, "--json", "--to"])
            .arg(format!("oci:{}:v1", env.path(out).display()))
            .run()
            .success();
        (root_digest(&run.json()), run.elapsed)
    };
    let (da, cold) = digest(&a, "cache-a", "out-a");
    let (db, _) = digest(&b, "cache-b", "out-b");
    assert_eq!(da, db, "same sources in two places, two caches: same image");
    let (da2, warm) = digest(&a, "cache-a", "out-a2");
    assert_eq!(da, da2, "a warm rebuild gives the same image");
    eprintln!("rust-hello, two platforms: cold {cold:.1?}, warm {warm:.1?}");

    // Blob for blob, and the binaries hold neither checkout's path.
    let (la, lb) = (
        Layout::open(&env.path("out-a")),
        Layout::open(&env.path("out-b")),
    );
    for (ia, ib) in la.images("v1").iter().zip(lb.images("v1").iter()) {
        assert_eq!(ia.layer_digests(), ib.layer_digests());
        let bundle = unpack(&env, &la, ia, &format!("a-{}", ia.architecture()));
        let bytes = fs::read(bundle.join("rootfs/app/rust-hello")).unwrap();
        for leak in [a.to_str().unwrap(), env.path("").to_str().unwrap()] {
            assert!(
                !bytes.windows(leak.len()).any(|w| w == leak.as_bytes()),
                "{}: the binary contains {leak}",
                ia.architecture()
            );
        }
    }
}

#[test]
fn a_workspace_ships_both_binaries_with_the_configured_entrypoint() {
    require_targets(&[host_musl()]);
    let env = TestEnv::new();
    let project = env.copy_example("rust-workspace", "rust-workspace");

    // [workspace.metadata.lade] picks greeter; --main can pick the other.
    let plan = env
        .lade()
        .args(["plan", "--json", "-C"])
        .arg(&project)
        .args(["--main", "admin"])
        .run()
        .success()
        .json();
    assert_eq!(plan["config"]["entrypoint"], json!(["/app/admin"]));

    let run = publish(&env, &project, &host_platform(), "out", &[]).success();
    root_digest(&run.json());
    let l = Layout::open(&env.path("out"));
    let img = l.image("v1", host_arch());
    assert_eq!(img.cfg("Entrypoint"), &json!(["/app/greeter"]));
    assert_eq!(img.cfg("ExposedPorts"), &json!({"8080/tcp": {}}));
    let layers = img.layer_digests();
    assert_eq!(layers.len(), 1, "no resources: one binary layer");
    let paths: Vec<String> = l
        .layer_entries(&layers[0])
        .into_iter()
        .map(|e| e.path)
        .collect();
    assert_eq!(paths, ["app", "app/admin", "app/greeter"]);

    let bundle = unpack(&env, &l, &img, "ws");
    {
        let c = Container::start(&bundle);
        let r = c.get("/");
        assert_eq!(
            (r.status, r.body.as_str()),
            (200, "hello from greeter in rust-workspace uid=65532\n")
        );
    }
    let out = run_to_end(&bundle, &["/app/admin"]);
    assert!(out.status.success(), "admin: {out:?}");
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "hello from admin in rust-workspace\n"
    );
}

#[test]
fn a_glibc_binary_gets_a_cc_base_and_runs() {
    let env = TestEnv::new();
    let project = env.copy_example("rust-hello", "rust-hello");
    write_file(&project.join("lade.toml"), "[rust]\nlibc = \"gnu\"\n");
    let platform = host_platform();

    let plan = env
        .lade()
        .args(["plan", "--json", "-C"])
        .arg(&project)
        .args(["--platform", &platform])
        .run()
        .success()
        .json();
    assert_eq!(plan["base"], lade::detect::rust::CC_BASE);
    let args = plan["targets"][0]["steps"][0]["args"].to_string();
    assert!(args.contains("-unknown-linux-gnu"), "{args}");

    let cc = build_cc_base(&env.path("cc-base"), "v1", &[]);
    let reference = cc.reference();
    let run = publish(&env, &project, &platform, "out", &["--base", &reference]).success();
    assert_eq!(run.json()["base"]["name"], reference.as_str());
    let l = Layout::open(&env.path("out"));
    let img = l.image("v1", host_arch());
    assert_eq!(img.layer_digests().len(), 3, "cc base + resources + binary");
    let bundle = unpack(&env, &l, &img, "gnu");
    let info = lade::elf::inspect(&bundle.join("rootfs/app/rust-hello")).unwrap();
    assert!(!info.is_static(), "a gnu build is dynamic: {info}");
    assert!(info.needed.iter().any(|n| n == "libc.so.6"), "{info}");
    let c = Container::start(&bundle);
    let r = c.get("/");
    assert_eq!(
        (r.status, r.body.as_str()),
        (200, "hello from rust-hello uid=65532\n")
    );
    eprintln!("glibc rust-hello ran on the host-built cc base: {info}");
    drop(c);

    // The same binary on bases that lack what it needs: named, with the package to add.
    let line = publish(
        &env,
        &project,
        &platform,
        "out-scratch",
        &["--base", "scratch"],
    )
    .expect_error(&["dynamic", "libc.so.6", "scratch", "static"]);
    eprintln!("on scratch: {line}");
    let thin = build_cc_base(&env.path("thin-base"), "v1", &["libgcc_s.so.1"]);
    let line = publish(
        &env,
        &project,
        &platform,
        "out-thin",
        &["--base", &thin.reference()],
    )
    .expect_error(&["lacks libgcc_s.so.1", "packages = [\"libgcc-s1\"]"]);
    eprintln!("on a base without libgcc_s: {line}");
    assert!(!env.path("out-thin").exists(), "nothing written on failure");
}

#[test]
fn a_package_without_binaries_is_refused() {
    let env = TestEnv::new();
    let dir = env.dir("just-a-lib");
    write_file(
        &dir.join("Cargo.toml"),
        "[package]\nname = \"just-a-lib\"\nversion = \"0.1.0\"\nedition = \"2021\"\n",
    );
    write_file(&dir.join("src/lib.rs"), "pub fn answer() -> u32 { 42 }\n");
    publish(&env, &dir, "linux/amd64", "out", &[]).expect_error(&[
        "Cargo.toml",
        "just-a-lib",
        "no binary target",
    ]);
}

#[test]
fn a_compile_error_shows_cargo_output_then_one_error() {
    require_targets(&[host_musl()]);
    let env = TestEnv::new();
    let p = env.copy_example("rust-hello", "rust-hello");
    let main = p.join("src/main.rs");
    let src = fs::read_to_string(&main).unwrap();
    let broken = src.replacen("fn main() {", "fn main() {\n    no_such_function();", 1);
    assert_ne!(src, broken);
    fs::write(&main, broken).unwrap();
    let run = publish(&env, &p, &host_platform(), "out", &[]);
    assert!(!run.status.success(), "{}", run.context());
    // cargo's own summary starts with `error: ` too ("could not compile …"), so the contract
    // here is: lade adds exactly one `error: ` line, the last one, after cargo's output.
    let ours: Vec<&str> = run
        .error_lines()
        .into_iter()
        .filter(|l| l.starts_with("error: cargo build for "))
        .collect();
    assert_eq!(ours.len(), 1, "{}", run.context());
    let last = run.stderr.lines().last().unwrap_or("");
    assert_eq!(
        last,
        ours[0],
        "lade's error line comes last:\n{}",
        run.context()
    );
    assert!(last.contains(&host_platform()), "{last}");
    let compiler = run
        .stderr
        .find("cannot find function `no_such_function`")
        .unwrap_or_else(|| panic!("rustc's message is not shown:\n{}", run.context()));
    assert!(
        compiler < run.stderr.rfind(last).unwrap(),
        "compiler output must come before the error line"
    );
}

#[test]
fn a_missing_target_names_the_rustup_fix() {
    let env = TestEnv::new();
    let p = env.copy_example("rust-hello", "rust-hello");
    // s390x musl is a tier-3 target: rustup has no standard library for it to install.
    let run = publish(&env, &p, "linux/s390x", "out", &[]);
    run.expect_error(&[
        "s390x-unknown-linux-musl",
        "rustup target add s390x-unknown-linux-musl",
    ]);
    assert!(
        !run.stderr.contains("Compiling"),
        "the check comes before building:\n{}",
        run.context()
    );
}

#[test]
fn an_unknown_main_lists_the_binaries() {
    let env = TestEnv::new();
    let p = env.copy_example("rust-workspace", "rust-workspace");
    publish(&env, &p, "linux/amd64", "out", &["--main", "nope"])
        .expect_error(&["--main nope", "admin, greeter"]);
}

/// lade packages itself: a static musl build of this repository in an image whose
/// `lade --version` runs under runc. The slowest test (a release build of lade); its cache is
/// kept in cargo's target directory so later runs are warm.
#[test]
fn lade_publishes_itself() {
    require_targets(&[host_musl()]);
    let env = TestEnv::new();
    let cache = Path::new(env!("CARGO_TARGET_TMPDIR")).join("lade-self");
    let out = env.path("out");
    let run = env
        .lade_with_cache(&cache)
        .arg("publish")
        .arg("-C")
        .arg(repo_root())
        .args(["--platform", &host_platform(), "--json", "--to"])
        .arg(format!("oci:{}:self", out.display()))
        .run()
        .success();
    root_digest(&run.json());
    let l = Layout::open(&out);
    let img = l.image("self", host_arch());
    assert_eq!(img.cfg("Entrypoint"), &json!(["/app/lade"]));
    let bundle = unpack(&env, &l, &img, "self");
    let binary = bundle.join("rootfs/app/lade");
    let info = lade::elf::inspect(&binary).unwrap();
    assert!(info.is_static(), "{info}");
    let out = run_to_end(&bundle, &["/app/lade", "--version"]);
    assert!(out.status.success(), "lade --version in the image: {out:?}");
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        format!("lade {}\n", env!("CARGO_PKG_VERSION"))
    );
    eprintln!(
        "lade's own image: {} bytes binary ({info}), built in {:.1?}",
        fs::metadata(&binary).unwrap().len(),
        run.elapsed
    );
}
