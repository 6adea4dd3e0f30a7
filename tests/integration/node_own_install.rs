//! lade's own npm install (`lade npm-install`): node_modules written from package-lock.json and
//! npm's download cache gives the tree `npm ci --omit=dev` gives (every path, kind, mode,
//! content and link), the same layer and image, and a running app; a lockfile lade cannot
//! follow (install scripts) or a cache without the tarballs takes npm's path.

use crate::support::TestEnv;
use crate::support::arm64::host_arch;
use crate::support::env::{copy_tree, repo_root};
use crate::support::lade::{LadeRun, root_digest};
use crate::support::layout::{self, Layout, sha256_digest};
use crate::support::node_base::build_node_base_for_addons;
use crate::support::runc::Container;
use crate::support::tools::{run_ok, tool};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};

/// What a tree holds at a path: kind, mode and content digest or link target.
type Tree = BTreeMap<String, String>;

fn tree(root: &Path) -> Tree {
    let mut out = Tree::new();
    for e in walkdir::WalkDir::new(root).min_depth(1).sort_by_file_name() {
        let e = e.unwrap();
        let rel = e.path().strip_prefix(root).unwrap().display().to_string();
        let meta = fs::symlink_metadata(e.path()).unwrap();
        let mode = meta.permissions().mode() & 0o7777;
        let what = if meta.file_type().is_symlink() {
            format!("link -> {}", fs::read_link(e.path()).unwrap().display())
        } else if meta.is_dir() {
            format!("dir {mode:o}")
        } else {
            format!(
                "file {mode:o} {}",
                sha256_digest(&fs::read(e.path()).unwrap())
            )
        };
        out.insert(rel, what);
    }
    out
}

fn assert_same_tree(npm: &Path, lade: &Path, what: &str) {
    let (a, b) = (tree(npm), tree(lade));
    assert!(
        a.len() > 10,
        "{what}: npm installed only {} entries",
        a.len()
    );
    let differ: Vec<String> = a
        .keys()
        .chain(b.keys())
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .filter(|k| a.get(*k) != b.get(*k))
        .map(|k| format!("{k}: npm {:?}, lade {:?}", a.get(k), b.get(k)))
        .collect();
    assert!(
        differ.is_empty(),
        "{what}: node_modules differs from npm ci's:\n{}",
        differ.join("\n")
    );
}

/// `npm ci --omit=dev` for the host as lade's plan runs it, then `lade node-finish`, in a copy
/// of the project's manifests; npm downloads into `npm_cache`.
fn npm_reference(env: &TestEnv, project: &Path, npm_cache: &Path, label: &str) -> PathBuf {
    let dir = env.dir(&format!("npm-{label}"));
    for f in ["package.json", "package-lock.json"] {
        fs::copy(project.join(f), dir.join(f)).unwrap();
    }
    let cpu = if host_arch() == "amd64" {
        "x64"
    } else {
        host_arch()
    };
    run_ok(
        tool("npm")
            .args(["ci", "--omit=dev", "--os=linux", "--libc=glibc"])
            .arg(format!("--cpu={cpu}"))
            .current_dir(&dir)
            .env("npm_config_cache", npm_cache),
    );
    let platform = format!("linux/{}", host_arch());
    run_ok(
        std::process::Command::new(env!("CARGO_BIN_EXE_lade"))
            .args(["node-finish", "--platform", &platform, "--host", &platform])
            .arg("--native")
            .current_dir(&dir),
    );
    dir.join("node_modules")
}

fn publish(
    env: &TestEnv,
    cache: &Path,
    project: &Path,
    base: &str,
    npm_cache: &Path,
    to: &str,
) -> LadeRun {
    env.lade_with_cache(cache)
        .env("npm_config_cache", npm_cache)
        .env("SOURCE_DATE_EPOCH", "1700000000")
        .arg("publish")
        .arg("-C")
        .arg(project)
        .args(["--base", base, "--json", "--to", to])
        .run()
        .success()
}

/// What the install steps of a publish with lade's cache `cache` wrote in their logs.
fn install_logs(cache: &Path) -> String {
    walkdir::WalkDir::new(cache.join("build"))
        .into_iter()
        .filter_map(Result::ok)
        .filter(|e| {
            let name = e.file_name().to_string_lossy();
            name.ends_with(".log") && name.contains("npm")
        })
        .map(|e| fs::read_to_string(e.path()).unwrap())
        .collect()
}

/// The staged node_modules of the host platform's install under lade's cache.
fn staged_modules(cache: &Path) -> PathBuf {
    let want = format!("linux-{}/node-deps/node_modules", host_arch());
    walkdir::WalkDir::new(cache.join("build"))
        .into_iter()
        .filter_map(Result::ok)
        .find(|e| e.path().ends_with(&want))
        .unwrap_or_else(|| panic!("no {want} under {}", cache.display()))
        .into_path()
}

fn node_modules_digest(report: &Value) -> String {
    report["layers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["name"] == "node_modules")
        .expect("a node_modules layer")["digest"]
        .as_str()
        .unwrap()
        .to_string()
}

/// The host platform's image of the layout at `out`, checked by oci-image-tool and unpacked
/// by umoci into a runc bundle.
fn bundle(env: &TestEnv, out: &Path, label: &str) -> std::path::PathBuf {
    let l = Layout::open(out);
    let single = l.extract(
        &l.image("v1", host_arch()),
        &env.path(&format!("single-{label}")),
        "img",
    );
    layout::validate(&single.dir, "img");
    let bundle = env.path(&format!("bundle-{label}"));
    layout::unpack(&single.dir, "img", &bundle);
    bundle
}

/// Runs the image's entrypoint once and returns what it printed.
fn run_once(env: &TestEnv, out: &Path, label: &str) -> String {
    let bundle = bundle(env, out, label);
    let config = bundle.join("config.json");
    let mut v: Value = serde_json::from_slice(&fs::read(&config).unwrap()).unwrap();
    v["process"]["terminal"] = json!(false);
    fs::write(&config, serde_json::to_vec(&v).unwrap()).unwrap();
    let id = format!("lade-it-npm-{label}-{}", std::process::id());
    let run = run_ok(tool("runc").args(["run", "--bundle"]).arg(&bundle).arg(&id));
    let _ = tool("runc").args(["delete", "-f", &id]).output();
    String::from_utf8_lossy(&run.stdout).into_owned()
}

fn start(env: &TestEnv, out: &Path, label: &str) -> Container {
    Container::start(&bundle(env, out, label))
}

/// node-express (a nested `send/node_modules/ms`, `mime`'s bin, a lockfile without
/// `resolved`) and a rollup app (its platform's native package picked among optional ones by
/// cpu and libc, fsevents left out, a bin, a dev dependency left out, `resolved` URLs).
#[test]
fn lade_writes_the_tree_npm_ci_writes() {
    let env = TestEnv::new();
    let express = env.copy_example("node-express", "node-express");
    let rollup = env.path("npm-optional");
    copy_tree(
        &repo_root().join("tests/fixtures/node/npm-optional"),
        &rollup,
    );
    let mut base = None;
    for (label, project) in [("rollup", &rollup), ("express", &express)] {
        let npm_cache = env.dir(&format!("npm-cache-{label}"));
        let reference = npm_reference(&env, project, &npm_cache, label);
        // rollup's addon needs librt, which node alone does not.
        let base = base.get_or_insert_with(|| {
            let addons: Vec<PathBuf> = walkdir::WalkDir::new(&reference)
                .into_iter()
                .filter_map(Result::ok)
                .filter(|e| e.file_name().to_string_lossy().ends_with(".node"))
                .map(|e| e.into_path())
                .collect();
            assert!(!addons.is_empty(), "npm installed rollup's native package");
            build_node_base_for_addons(&env.path("node-base"), "node", &addons).reference()
        });
        let base = base.as_str();

        // npm's cache is warm: lade installs by itself.
        let cache1 = env.path(&format!("lade-{label}-1"));
        let out1 = env.path(&format!("out-{label}-1"));
        let first = publish(
            &env,
            &cache1,
            project,
            base,
            &npm_cache,
            &format!("oci:{}:v1", out1.display()),
        );
        let logs = install_logs(&cache1);
        assert!(
            logs.contains("from npm's cache") && !logs.contains("running npm ci"),
            "{label}: lade's own install ran:\n{logs}"
        );
        assert_same_tree(&reference, &staged_modules(&cache1), label);

        // Again from an empty lade cache: the same image.
        let cache2 = env.path(&format!("lade-{label}-2"));
        let second = publish(
            &env,
            &cache2,
            project,
            base,
            &npm_cache,
            &format!("oci:{}:v1", env.path(&format!("out-{label}-2")).display()),
        );
        assert_eq!(
            root_digest(&first.json()),
            root_digest(&second.json()),
            "{label}: two publishes, one image"
        );

        // An npm cache without the tarballs: npm ci installs, and the image is the same.
        let cache3 = env.path(&format!("lade-{label}-3"));
        let third = publish(
            &env,
            &cache3,
            project,
            base,
            &env.dir(&format!("npm-cache-{label}-empty")),
            &format!("oci:{}:v1", env.path(&format!("out-{label}-3")).display()),
        );
        let logs = install_logs(&cache3);
        assert!(
            logs.contains("has no tarball for") && logs.contains("running npm ci"),
            "{label}: npm's install ran:\n{logs}"
        );
        assert_eq!(
            node_modules_digest(&first.json()),
            node_modules_digest(&third.json()),
            "{label}: node_modules layer from lade's install and from npm's"
        );
        assert_eq!(
            root_digest(&first.json()),
            root_digest(&third.json()),
            "{label}: the image from lade's install and from npm's"
        );
    }

    let c = start(&env, &env.path("out-express-1"), "express");
    let r = c.get("/");
    assert_eq!(r.status, 200);
    assert_eq!(r.body, "hello from node-express uid=65532 env=production\n");
    drop(c);
    assert_eq!(
        run_once(&env, &env.path("out-rollup-1"), "rollup"),
        "rollup 4.28.1 parsed a VariableDeclaration\n"
    );
}

/// The plan says which install runs and why.
#[test]
fn the_plan_names_the_install_and_why() {
    let env = TestEnv::new();
    let install_step = |project: &Path| -> (Value, Vec<String>) {
        let plan = env
            .lade()
            .arg("plan")
            .arg(project)
            .args(["--json", "--platform", "linux/amd64"])
            .run()
            .success()
            .json();
        let step = plan["targets"][0]["steps"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["description"].as_str().unwrap().starts_with("npm ci"))
            .expect("an npm install step")
            .clone();
        let reasons = plan["reasons"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["why"].as_str().unwrap().to_string())
            .collect();
        (step, reasons)
    };
    let express = env.copy_example("node-express", "node-express");
    let (step, reasons) = install_step(&express);
    assert_eq!(step["program"], "lade");
    assert_eq!(step["args"][0], "npm-install");
    let args: Vec<&str> = step["args"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap())
        .collect();
    let npm = args.iter().position(|a| *a == "--").unwrap();
    let fallback = &args[npm + 1..];
    assert_eq!(
        fallback[..3],
        ["npm", "ci", "--omit=dev"],
        "the npm command it falls back to"
    );
    for flag in ["--cpu=x64", "--os=linux", "--libc=glibc"] {
        assert!(fallback.contains(&flag), "{flag} in {fallback:?}");
    }
    assert!(
        reasons
            .iter()
            .any(|r| r.contains("lade writes node_modules itself")),
        "{reasons:?}"
    );

    // A dependency with an install script: npm installs.
    let scripted = env.dir("scripted");
    let deps = json!({"native-thing": "1.0.0"});
    fs::write(
        scripted.join("package.json"),
        json!({"name": "scripted", "version": "1.0.0", "main": "index.js", "dependencies": deps})
            .to_string(),
    )
    .unwrap();
    let lock = json!({
        "name": "scripted",
        "lockfileVersion": 3,
        "packages": {
            "": {"name": "scripted", "version": "1.0.0", "dependencies": deps},
            "node_modules/native-thing": {
                "version": "1.0.0",
                "resolved": "https://registry.npmjs.org/native-thing/-/native-thing-1.0.0.tgz",
                "integrity": format!("sha512-{}==", "A".repeat(86)),
                "hasInstallScript": true
            }
        }
    });
    fs::write(scripted.join("package-lock.json"), lock.to_string()).unwrap();
    fs::write(scripted.join("index.js"), "").unwrap();
    let (step, reasons) = install_step(&scripted);
    assert_eq!(step["program"], "npm", "{step}");
    assert_eq!(step["args"][0], "ci", "{step}");
    assert!(
        reasons
            .iter()
            .any(|r| r
                == "linux/amd64: npm ci installs (node_modules/native-thing has install scripts)"),
        "{reasons:?}"
    );
}
