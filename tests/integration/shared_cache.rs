//! A build cache shared through the registry (`--cache-repo`). Machine A publishes a commit
//! and records its layers; machine B — another checkout path, its own empty lade and Go
//! caches, and no Go toolchain on PATH — publishes the same commit and gets the same index
//! without running a build tool or downloading a layer; a one-line change on B (with Go back)
//! reruns only the builds it affects; an entry whose document fails its digest check is
//! ignored with a warning.

use crate::support::TestEnv;
use crate::support::go_hello::check_image;
use crate::support::layout::Layout;
use crate::support::node_base::build_node_base;
use crate::support::registry::{Access, Registry, require_tool};
use crate::support::tools::run_ok;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;

fn git(dir: &Path, args: &[&str]) {
    run_ok(
        Command::new(require_tool("git"))
            .current_dir(dir)
            .args(["-c", "user.name=t", "-c", "user.email=t@example.com"])
            .args(args)
            .env("GIT_COMMITTER_DATE", "2026-01-02T03:04:05Z")
            .env("GIT_AUTHOR_DATE", "2026-01-02T03:04:05Z"),
    );
}

/// A PATH with only git on it: what lade needs besides the toolchain it must not run.
fn path_with_git_only(env: &TestEnv) -> PathBuf {
    let bin = env.dir("bin-git-only");
    std::os::unix::fs::symlink(require_tool("git"), bin.join("git")).unwrap();
    bin
}

/// The layer digests of every platform manifest of `json`'s first output.
fn layer_digests(json: &Value) -> Vec<String> {
    json["layers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["digest"].as_str().unwrap().to_string())
        .collect()
}

fn blob_gets(log: &[Access]) -> Vec<String> {
    log.iter()
        .filter(|a| a.method == "GET" && a.path.contains("/blobs/sha256:"))
        .map(|a| a.path.rsplit('/').next().unwrap().to_string())
        .collect()
}

/// The example committed in A's checkout, and a clone of it at another path for B.
fn two_checkouts(env: &TestEnv, example: &str) -> (PathBuf, PathBuf) {
    let a_src = env.copy_example(example, &format!("a/{example}"));
    git(&a_src, &["init", "-q"]);
    git(&a_src, &["add", "-A"]);
    git(&a_src, &["commit", "-q", "-m", "one"]);
    let b_dir = env.dir("b/checkout");
    git(&b_dir, &["clone", "-q", a_src.to_str().unwrap(), example]);
    (a_src, b_dir.join(example))
}

/// The attached artifacts of `kind` (spdx, cyclonedx, in-toto) in a publish's `--json`.
fn artifacts(j: &Value, kind: &str) -> Vec<String> {
    j["attachments"][0]["artifacts"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|x| x["artifact_type"].as_str().unwrap().contains(kind))
        .map(|x| x["digest"].as_str().unwrap().to_string())
        .collect()
}

/// What machine B must show after publishing A's commit from the cache: A's digest, no step
/// run, none of the image's layers downloaded (registry log since `mark`), A's SBOMs.
fn assert_served_like_a(a: &Value, b: &Value, reg: &Registry, mark: usize) {
    assert_eq!(b["digest"], a["digest"], "the same image as machine A");
    let ran: Vec<_> = steps(b)
        .into_iter()
        .filter(|(_, _, shared)| !shared)
        .collect();
    assert!(ran.is_empty(), "a step ran on B: {ran:?}");
    // The only blobs read are the entries' documents, none of the image's layers.
    let layers = layer_digests(a);
    let got = blob_gets(&reg.requests_since(mark));
    assert!(
        got.iter().all(|d| !layers.contains(d)),
        "B downloaded a layer: {got:?}"
    );
    // The layers' SBOM parts came with their entries: the documents are A's.
    assert_eq!(artifacts(b, "spdx"), artifacts(a, "spdx"));
    assert_eq!(artifacts(b, "cyclonedx"), artifacts(a, "cyclonedx"));
}

fn steps(json: &Value) -> Vec<(String, bool, bool)> {
    json["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["description"].as_str().unwrap().to_string(),
                s["reused"].as_bool().unwrap(),
                s["shared"].as_bool().unwrap_or(false),
            )
        })
        .collect()
}

#[test]
fn a_second_machine_publishes_from_the_shared_cache_without_the_toolchain() {
    let env = TestEnv::new();
    let reg = Registry::start();
    let cache_repo = format!("{}/lade-cache", reg.host);
    let a_src = env.copy_example("go-hello", "a/go-hello");
    git(&a_src, &["init", "-q"]);
    git(&a_src, &["add", "-A"]);
    git(&a_src, &["commit", "-q", "-m", "one"]);
    let b_src = env.path("b/checkout/go-hello");
    std::fs::create_dir_all(b_src.parent().unwrap()).unwrap();
    git(
        env.path("b/checkout").as_path(),
        &["clone", "-q", a_src.to_str().unwrap(), "go-hello"],
    );

    // `gocache`: whose Go build cache the run uses (B's first run has its own, empty one).
    let publish = |src: &Path, machine: &str, gocache: &str, tag: &str| {
        env.lade_with_cache(&env.path(&format!("{machine}/lade-cache")))
            .arg("publish")
            .arg(src)
            .args([
                "--platform",
                "linux/amd64,linux/arm64",
                "--json",
                "--cache-repo",
            ])
            .arg(&cache_repo)
            .arg("--to")
            .arg(format!("{}/app:{tag}", reg.host))
            .env("GOCACHE", env.path(&format!("{gocache}/go-build")))
    };

    // Machine A: builds, records every layer.
    let a = publish(&a_src, "a", "a", "a").run().success().json();
    let shared_a = &a["shared_cache"];
    assert_eq!(shared_a["found"], 0, "{shared_a}");
    assert_eq!(
        shared_a["stored"], 4,
        "kodata and binary, two platforms: {shared_a}"
    );
    assert!(
        steps(&a).iter().all(|(_, reused, _)| !reused),
        "{:?}",
        steps(&a)
    );

    // Machine B: fresh caches, another checkout, no go on PATH.
    let mark = reg.mark();
    let b = publish(&b_src, "b", "b", "b")
        .env("PATH", path_with_git_only(&env))
        .run()
        .success()
        .json();
    assert_served_like_a(&a, &b, &reg, mark);
    assert_eq!(b["shared_cache"]["found"], 4, "{}", b["shared_cache"]);
    assert_eq!(b["shared_cache"]["stored"], 0);
    assert!(
        b["layers"]
            .as_array()
            .unwrap()
            .iter()
            .all(|l| l["shared"] == true),
        "{}",
        b["layers"]
    );
    assert_eq!(artifacts(&b, "spdx").len(), 2);

    // B's image runs.
    let out = env.path("b-layout");
    run_ok(Command::new(require_tool("skopeo")).args([
        "copy",
        "-q",
        "--all",
        "--src-tls-verify=false",
        &format!("docker://{}/app:b", reg.host),
        &format!("oci:{}:b", out.display()),
    ]));
    let l = Layout::open(&out);
    let img = l.image("b", crate::support::arm64::host_arch());
    check_image(&env, &l, &img, 65532, "shared-b");

    // A one-line change on B, with Go (and, to save time, A's Go build cache): only the go
    // builds run; kodata comes from the cache.
    let main = b_src.join("main.go");
    let text = std::fs::read_to_string(&main).unwrap();
    std::fs::write(
        &main,
        text.replacen("package main", "package main\n\n// changed", 1),
    )
    .unwrap();
    let b2 = publish(&b_src, "b", "a", "b2").run().success().json();
    let ran: Vec<String> = steps(&b2)
        .into_iter()
        .filter(|(_, reused, _)| !reused)
        .map(|(d, _, _)| d)
        .collect();
    assert_eq!(
        ran,
        ["go build . for linux/amd64", "go build . for linux/arm64"],
        "{:?}",
        steps(&b2)
    );
    let shared: Vec<String> = b2["layers"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|l| l["shared"] == true)
        .map(|l| l["name"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(shared, ["kodata", "kodata"]);
    assert_eq!(
        b2["shared_cache"]["stored"], 2,
        "the new binaries are recorded"
    );
    assert_ne!(b2["digest"], a["digest"]);

    // An entry whose document is not what its manifest names: ignored with a warning, and
    // the layer is built (machine C, with Go); the result is still A's image.
    let tampered = tamper_entry_documents(&reg);
    assert!(tampered > 0);
    // Machine C names the cache in lade.toml rather than with the flag.
    let toml = a_src.join("lade.toml");
    let text = std::fs::read_to_string(&toml).unwrap();
    std::fs::write(
        &toml,
        format!("{text}\n[build]\ncache-repo = \"{cache_repo}\"\n"),
    )
    .unwrap();
    let c = env
        .lade_with_cache(&env.path("c/lade-cache"))
        .arg("publish")
        .arg(&a_src)
        .args(["--platform", "linux/amd64,linux/arm64", "--json", "--to"])
        .arg(format!("{}/app:c", reg.host))
        .env("GOCACHE", env.path("a/go-build"))
        .run()
        .success();
    assert!(
        c.stderr.contains("lade: warning: cache entry ignored"),
        "{}",
        c.stderr
    );
    let cj = c.json();
    assert_eq!(cj["digest"], a["digest"]);
    assert_eq!(cj["shared_cache"]["repository"], cache_repo.as_str());
    assert!(
        cj["shared_cache"]["found"].as_u64().unwrap() >= 1,
        "{}",
        cj["shared_cache"]
    );
    assert!(
        cj["warnings"]
            .as_array()
            .unwrap()
            .iter()
            .any(|w| w.as_str().unwrap().contains("cache entry ignored")),
        "{}",
        cj["warnings"]
    );
}

#[test]
fn a_node_app_is_published_from_the_shared_cache_without_npm() {
    let env = TestEnv::new();
    let reg = Registry::start();
    let cache_repo = format!("{}/lade-cache", reg.host);
    let base = build_node_base(&env.path("node-base"), "node");
    let (a_src, b_src) = two_checkouts(&env, "node-express");
    let platform = format!("linux/{}", crate::support::arm64::host_arch());
    let publish = |src: &Path, machine: &str, tag: &str| {
        env.lade_with_cache(&env.path(&format!("{machine}/lade-cache")))
            .arg("publish")
            .arg(src)
            .args(["--platform", &platform, "--base", &base.reference()])
            .args(["--json", "--cache-repo", &cache_repo, "--to"])
            .arg(format!("{}/web:{tag}", reg.host))
            .env("npm_config_cache", env.path(&format!("{machine}/npm")))
    };
    let a = publish(&a_src, "a", "a").run().success().json();
    assert_eq!(
        a["shared_cache"]["stored"], 2,
        "node_modules and app: {}",
        a["shared_cache"]
    );

    let mark = reg.mark();
    let b = publish(&b_src, "b", "b")
        .env("PATH", path_with_git_only(&env))
        .run()
        .success()
        .json();
    assert_served_like_a(&a, &b, &reg, mark);
}

/// Rewrites the bytes of every entry document the registry stores (their blobs keep their
/// digest names): what a corrupted or tampered store serves. Returns how many.
fn tamper_entry_documents(reg: &Registry) -> usize {
    let blobs = reg.dir.path().join("data/docker/registry/v2/blobs");
    let mut n = 0;
    for e in walk(&blobs) {
        if e.file_name().is_some_and(|f| f == "data") {
            let bytes = std::fs::read(&e).unwrap();
            if bytes.len() < 1 << 20
                && String::from_utf8_lossy(&bytes).contains("\"platform\":\"linux/amd64\"")
                && String::from_utf8_lossy(&bytes).contains("\"diffId\"")
            {
                let text = String::from_utf8(bytes)
                    .unwrap()
                    .replacen("binary", "binarY", 1);
                std::fs::write(&e, text).unwrap();
                n += 1;
            }
        }
    }
    n
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}
