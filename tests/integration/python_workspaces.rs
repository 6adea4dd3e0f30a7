//! Python projects that need packages from directories, end to end against a registry:
//! - a uv workspace (tests/fixtures/python/uv-workspace: apps web and api, packages shared and
//!   util; web → shared → six, api → shared + util → idna; uv.lock written by uv): each app,
//!   published from its own directory or as `-C ROOT --project apps/NAME`, runs under runc and
//!   prints where it loaded the shared library from; its image holds its workspace packages
//!   and their locked dependencies and nothing of the other app; a change in shared changes
//!   both images, a change in api leaves web's bit-identical.
//! - a poetry path dependency (tests/fixtures/python/poetry-path: app → ../lib → six).
//! - the shapes lade refuses, each with one error line and nothing pushed.

use crate::support::TestEnv;
use crate::support::env::{copy_tree, repo_root, write_file};
use crate::support::lade::Lade;
use crate::support::layout::{self, Layout};
use crate::support::python_base::python_base;
use crate::support::registry::{Registry, require_tool, skopeo_raw};
use crate::support::tools::{run_ok, tool};
use serde_json::{Value, json};
use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

fn fixture(env: &TestEnv, name: &str) -> PathBuf {
    let dest = env.path(name);
    copy_tree(&repo_root().join("tests/fixtures/python").join(name), &dest);
    dest
}

/// Publishes to `REG/REPO:TAG` and returns the image's digest (one platform: the manifest's).
fn publish(env: &TestEnv, args: &[&Path], reg: &Registry, repo_tag: &str) -> String {
    digest(&publish_with(env.lade(), args, reg, repo_tag))
}

fn digest(report: &Value) -> String {
    report["digest"].as_str().unwrap().to_string()
}

/// Publishes with `lade` and returns the `--json` report.
fn publish_with(lade: Lade, args: &[&Path], reg: &Registry, repo_tag: &str) -> Value {
    let mut lade = lade.arg("publish");
    for a in args {
        lade = lade.arg(a);
    }
    let report = lade
        .args(["--platform", "linux/amd64", "--json", "--base"])
        .arg(python_base())
        .arg("--to")
        .arg(format!("{}/{repo_tag}", reg.host))
        .run()
        .success()
        .json();
    // What the registry serves under the tag is that image, as skopeo reads it.
    assert_eq!(
        layout::sha256_digest(&skopeo_raw(
            &format!("{}/{repo_tag}", reg.host),
            &["--tls-verify=false"]
        )),
        digest(&report),
        "{repo_tag}"
    );
    report
}

/// The pip steps of a `--json` report: (description, reused).
fn pip_steps(report: &Value) -> Vec<(String, bool)> {
    report["steps"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["program"] == "python3")
        .map(|s| {
            (
                s["description"].as_str().unwrap_or_default().to_string(),
                s["reused"] == true,
            )
        })
        .collect()
}

/// Copies the image out of the registry with skopeo into a layout tagged `img`.
fn pull(env: &TestEnv, reg: &Registry, repo_tag: &str) -> Layout {
    let dir = env.path(&format!("pulled-{}", repo_tag.replace(['/', ':'], "-")));
    run_ok(
        Command::new(require_tool("skopeo"))
            .args(["copy", "-q", "--src-tls-verify=false"])
            .arg(format!("docker://{}/{repo_tag}", reg.host))
            .arg(format!("oci:{}:img", dir.display())),
    );
    Layout::open(&dir)
}

/// Every path in the image's layers above the base's two.
fn own_paths(l: &Layout) -> BTreeSet<String> {
    let img = l.image("img", "amd64");
    img.layer_digests()[2..]
        .iter()
        .flat_map(|d| l.layer_entries(d))
        .map(|e| e.path)
        .collect()
}

/// Runs the image's entrypoint once under runc and returns what it printed.
fn run_once(env: &TestEnv, l: &Layout, label: &str) -> String {
    let img = l.image("img", "amd64");
    let single = l.extract(&img, &env.path(&format!("single-{label}")), "one");
    layout::validate(&single.dir, "one");
    let bundle = env.path(&format!("bundle-{label}"));
    layout::unpack(&single.dir, "one", &bundle);
    let config = bundle.join("config.json");
    let mut v: serde_json::Value = serde_json::from_slice(&fs::read(&config).unwrap()).unwrap();
    v["process"]["terminal"] = json!(false);
    fs::write(&config, serde_json::to_vec(&v).unwrap()).unwrap();
    let id = format!("lade-it-pyws-{label}-{}", std::process::id());
    let run = run_ok(tool("runc").args(["run", "--bundle"]).arg(&bundle).arg(&id));
    let _ = tool("runc").args(["delete", "-f", &id]).output();
    String::from_utf8_lossy(&run.stdout).trim().to_string()
}

/// Top-level names under `dir/` among `paths` (`app/.workspace/shared/x.py` → `shared`).
fn names_under(paths: &BTreeSet<String>, dir: &str) -> BTreeSet<String> {
    paths
        .iter()
        .filter_map(|p| p.strip_prefix(dir))
        .filter_map(|p| p.split('/').next())
        .filter(|n| !n.is_empty() && !n.ends_with(".dist-info"))
        .map(str::to_string)
        .collect()
}

#[test]
fn uv_workspace_apps_hold_their_workspace_packages_only() {
    let env = TestEnv::new();
    let reg = Registry::start();
    let root = fixture(&env, "uv-workspace");
    let (web_dir, api_dir) = (root.join("apps/web"), root.join("apps/api"));
    let web1 = publish(&env, &[&web_dir], &reg, "ws/web:1");
    let api1 = publish(&env, &[&api_dir], &reg, "ws/api:1");

    let web = pull(&env, &reg, "ws/web:1");
    let api = pull(&env, &reg, "ws/api:1");
    let (web_paths, api_paths) = (own_paths(&web), own_paths(&api));
    assert_eq!(
        names_under(&web_paths, "app/.workspace/"),
        BTreeSet::from(["shared".to_string()]),
        "web: exactly its workspace package: {web_paths:?}"
    );
    assert_eq!(
        names_under(&api_paths, "app/.workspace/"),
        BTreeSet::from(["shared".to_string(), "util".to_string()]),
        "api: shared and util: {api_paths:?}"
    );
    assert_eq!(
        names_under(&web_paths, "app/.deps/"),
        BTreeSet::from(["six.py".to_string()]),
        "web: shared's locked dependency only"
    );
    assert_eq!(
        names_under(&api_paths, "app/.deps/"),
        BTreeSet::from(["idna".to_string(), "six.py".to_string()]),
        "api: shared's and util's, not its dev group's pytest"
    );
    for (name, paths, other) in [("web", &web_paths, "api"), ("api", &api_paths, "web")] {
        let app: Vec<&String> = paths
            .iter()
            .filter(|p| p.starts_with("app/") && !p.starts_with("app/."))
            .collect();
        assert_eq!(
            app,
            ["app/main.py", "app/pyproject.toml"],
            "{name}: its own files at /app"
        );
        let others: Vec<&String> = paths
            .iter()
            .filter(|p| p.contains(other) || p.starts_with("apps") || p.contains("uv.lock"))
            .collect();
        assert!(
            others.is_empty(),
            "{name}: nothing of {other} or the root: {others:?}"
        );
    }

    assert_eq!(
        run_once(&env, &web, "web"),
        "web: shared v1 (six 1.16.0) from /app/.workspace/shared/__init__.py"
    );
    assert_eq!(
        run_once(&env, &api, "api"),
        "api: shared v1 (six 1.16.0) from /app/.workspace/shared/__init__.py xn--bcher-kva.example"
    );

    // Named from the workspace root, with a cache of its own (every step runs again): the same
    // image, bit for bit.
    let again = publish_with(
        env.lade_with_cache(&env.dir("cache-again")),
        &[
            Path::new("-C"),
            &root,
            Path::new("--project"),
            Path::new("apps/web"),
        ],
        &reg,
        "ws/web:again",
    );
    assert_eq!(
        digest(&again),
        web1,
        "-C ROOT --project apps/web is apps/web"
    );

    // A change in api (its code and its dependencies) leaves web's image as it was.
    write_file(
        &api_dir.join("main.py"),
        "import shared\nimport util\n\nprint(shared.greet(\"api v2\"), util.host(\"b\u{fc}cher.example\"))\n",
    );
    let web2_report = publish_with(env.lade(), &[&web_dir], &reg, "ws/web:2");
    let web2 = digest(&web2_report);
    let api2 = publish(&env, &[&api_dir], &reg, "ws/api:2");
    assert_eq!(web2, web1, "web does not use api");
    let pip = pip_steps(&web2_report);
    assert!(
        pip.iter().any(|(d, _)| d.starts_with("pip wheel shared"))
            && pip.iter().all(|(_, reused)| *reused),
        "nothing web uses changed: pip ran for none of it: {pip:?}"
    );
    assert_ne!(api2, api1, "api changed");

    // A change in shared changes both.
    let init = root.join("packages/shared/shared/__init__.py");
    let text = fs::read_to_string(&init).unwrap();
    fs::write(&init, text.replace("shared v1", "shared v2")).unwrap();
    let web3_report = publish_with(env.lade(), &[&web_dir], &reg, "ws/web:3");
    let web3 = digest(&web3_report);
    let rebuilt: Vec<(String, bool)> = pip_steps(&web3_report)
        .into_iter()
        .filter(|(_, reused)| !reused)
        .collect();
    assert!(
        rebuilt
            .iter()
            .any(|(d, _)| d.starts_with("pip wheel shared"))
            && !rebuilt.iter().any(|(d, _)| d.contains("dependencies")),
        "shared is built again, the locked dependencies are kept: {rebuilt:?}"
    );
    let api3 = publish(&env, &[&api_dir], &reg, "ws/api:3");
    assert_ne!(web3, web2, "web uses shared");
    assert_ne!(api3, api2, "api uses shared");
    assert_eq!(
        run_once(&env, &pull(&env, &reg, "ws/web:3"), "web3"),
        "web: shared v2 (six 1.16.0) from /app/.workspace/shared/__init__.py"
    );
}

#[test]
fn poetry_path_dependency_is_built_into_the_image() {
    let env = TestEnv::new();
    let reg = Registry::start();
    let root = fixture(&env, "poetry-path");
    let app = root.join("app");
    let first = publish(&env, &[&app], &reg, "path/app:1");
    let l = pull(&env, &reg, "path/app:1");
    let paths = own_paths(&l);
    assert_eq!(
        names_under(&paths, "app/.workspace/"),
        BTreeSet::from(["greeting".to_string()])
    );
    assert_eq!(
        names_under(&paths, "app/.deps/"),
        BTreeSet::from(["six.py".to_string()])
    );
    assert_eq!(
        run_once(&env, &l, "path"),
        "path-app: greeting v1 (six 1.16.0) from /app/.workspace/greeting/__init__.py"
    );
    let again = publish_with(
        env.lade_with_cache(&env.dir("cache-again")),
        &[&app],
        &reg,
        "path/app:again",
    );
    assert_eq!(
        digest(&again),
        first,
        "the same sources, built again, the same image"
    );
    let init = root.join("lib/greeting/__init__.py");
    let text = fs::read_to_string(&init).unwrap();
    fs::write(&init, text.replace("greeting v1", "greeting v2")).unwrap();
    let changed = publish(&env, &[&app], &reg, "path/app:2");
    assert_ne!(changed, first, "the library's change is in the image");
}

/// Shapes lade cannot build: one error line naming the file and the fix, nothing pushed.
#[test]
fn unsupported_workspace_shapes_are_refused_before_anything_is_pushed() {
    let env = TestEnv::new();
    let reg = Registry::start();
    let root = fixture(&env, "uv-workspace");
    let refuse = |dir: &Path, words: &[&str]| {
        let run = env
            .lade()
            .arg("publish")
            .arg(dir)
            .args(["--platform", "linux/amd64", "--base"])
            .arg(python_base())
            .arg("--to")
            .arg(format!("{}/refused/x:1", reg.host))
            .run();
        run.expect_error(words);
    };
    // The workspace root has no project of its own: the members are named.
    refuse(&root, &["uv.lock", "no project of its own", "apps/web"]);
    // A member depending on a member uv does not install.
    let util = root.join("packages/util/pyproject.toml");
    let lock = root.join("uv.lock");
    let locked = fs::read_to_string(&lock).unwrap();
    fs::write(
        &lock,
        locked.replace(
            "source = { editable = \"packages/util\" }",
            "source = { virtual = \"packages/util\" }",
        ),
    )
    .unwrap();
    refuse(&root.join("apps/api"), &["uv.lock", "'util'", "virtual"]);
    // No uv.lock at all.
    fs::remove_file(&lock).unwrap();
    refuse(
        &root.join("apps/web"),
        &["pyproject.toml", "uv workspace member", "uv lock"],
    );
    assert!(util.is_file());
    // A poetry path dependency whose directory holds nothing to build.
    let path = fixture(&env, "poetry-path");
    fs::remove_file(path.join("lib/pyproject.toml")).unwrap();
    refuse(
        &path.join("app"),
        &["poetry.lock", "'greeting'", "../lib", "no pyproject.toml"],
    );
    let pushes: Vec<_> = reg
        .access_log()
        .into_iter()
        .filter(|a| a.method != "GET" && a.method != "HEAD")
        .collect();
    assert!(pushes.is_empty(), "nothing pushed: {pushes:?}");
}
