//! Many images in one run: a monorepo of five Go services, published together two at a time,
//! gives the images five separate runs give; a broken service fails alone and is named; the run
//! resolves their common base once and talks to the registry through one client.

use crate::support::TestEnv;
use crate::support::base_image::build_base;
use crate::support::env::write_file;
use crate::support::layout::sha256_digest;
use crate::support::registry::{
    Access, Registry, RegistryConfig, TokenServer, require_tool, skopeo_raw,
};
use crate::support::tools::{run_ok, tool};
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

const SERVICES: [&str; 5] = ["svc-a", "svc-b", "svc-c", "svc-d", "svc-e"];

/// `ROOT/lade.toml` with `[workspace] members = ["services/*"]` and five copies of go-hello
/// under `services/`, each its own module (so its own name) answering with its own message.
fn monorepo(env: &TestEnv) -> PathBuf {
    let root = env.dir("work/mono");
    write_file(
        &root.join("lade.toml"),
        "[workspace]\nmembers = [\"services/*\"]\n",
    );
    for name in SERVICES {
        let dir = env.copy_example("go-hello", &format!("work/mono/services/{name}"));
        write_file(
            &dir.join("go.mod"),
            &format!("module example.com/{name}\n\ngo 1.19\n"),
        );
        let main = std::fs::read_to_string(dir.join("main.go")).unwrap();
        assert!(
            main.contains("hello from go-hello"),
            "the example's message"
        );
        write_file(
            &dir.join("main.go"),
            &main.replace("hello from go-hello", &format!("hello from {name}")),
        );
    }
    root
}

/// The manifest digest skopeo reads at `reference` (docker transport, plain HTTP).
fn registry_digest(reference: &str) -> String {
    sha256_digest(&skopeo_raw(reference, &["--tls-verify=false"]))
}

/// `projects[]` of `publish --json` by name: (status, digest or error).
fn by_name(j: &Value) -> BTreeMap<String, &Value> {
    j["projects"]
        .as_array()
        .unwrap_or_else(|| panic!("no projects in {j}"))
        .iter()
        .map(|p| (p["name"].as_str().unwrap().to_string(), p))
        .collect()
}

#[test]
fn five_projects_two_at_a_time_give_the_digests_of_five_separate_runs() {
    let env = TestEnv::new();
    let root = monorepo(&env);
    let reg = Registry::start();
    let together = env
        .lade()
        .arg("publish")
        .arg(&root)
        .args(["-j", "2", "--platform", "linux/amd64", "--json", "--to"])
        .arg(format!("{}/mono/{{name}}:v1", reg.host))
        .run()
        .success();
    let j = together.json();
    let projects = by_name(&j);
    assert_eq!(
        projects.keys().collect::<Vec<_>>(),
        SERVICES.iter().collect::<Vec<_>>(),
        "one entry per project: {j}"
    );

    let mut digests = Vec::new();
    for name in SERVICES {
        let p = projects[name];
        assert_eq!(p["status"], "ok", "{p}");
        let digest = p["digest"].as_str().unwrap().to_string();
        // What the registry holds under the project's own repository is that image.
        assert_eq!(
            registry_digest(&format!("{}/mono/{name}:v1", reg.host)),
            digest,
            "{name}"
        );
        // One project alone, with a cache of its own: the same image ({name} works alone too).
        let cache = env.dir(&format!("cache-{name}"));
        let alone = env
            .lade_with_cache(&cache)
            .arg("publish")
            .arg(root.join("services").join(name))
            .args(["--platform", "linux/amd64", "--json", "--to"])
            .arg(format!("{}/alone/{{name}}:v1", reg.host))
            .run()
            .success();
        assert_eq!(alone.json()["digest"], digest.as_str(), "{name}");
        assert_eq!(
            registry_digest(&format!("{}/alone/{name}:v1", reg.host)),
            digest,
            "{name} alone"
        );
        digests.push(digest);
    }
    let mut distinct = digests.clone();
    distinct.sort();
    distinct.dedup();
    assert_eq!(distinct.len(), 5, "five different programs: {digests:?}");

    // Without --json: one line per image, the project's name first, then the reference.
    let lines = env
        .lade()
        .arg("publish")
        .arg(&root)
        .args(["-j", "2", "--platform", "linux/amd64", "--to"])
        .arg(format!("{}/mono/{{name}}:v1", reg.host))
        .run()
        .success();
    let want: Vec<String> = SERVICES
        .iter()
        .zip(&digests)
        .map(|(name, d)| format!("{name}: {}/mono/{name}@{d}", reg.host))
        .collect();
    assert_eq!(lines.stdout.lines().collect::<Vec<_>>(), want);
}

#[test]
fn a_broken_project_fails_alone_and_is_named() {
    let env = TestEnv::new();
    let root = monorepo(&env);
    let broken = root.join("services/svc-c/main.go");
    let main = std::fs::read_to_string(&broken).unwrap();
    write_file(
        &broken,
        &main.replace("func main() {", "func main() { undefinedName()"),
    );
    let out = env.path("work/out");
    let refs = env.path("work/refs.txt");
    let run = env
        .lade()
        .arg("publish")
        .arg(&root)
        .args(["-j", "2", "--platform", "linux/amd64", "--json", "--to"])
        .arg(format!("oci:{}:{{name}}", out.display()))
        .arg("--image-refs")
        .arg(&refs)
        // A warning per project, to see it attributed.
        .arg("--no-verify")
        .run();
    let line = run.expect_error(&["svc-c", "1 of 5"]);
    assert!(
        !line.contains("svc-a") && !line.contains("svc-e"),
        "only the broken one is named: {line}"
    );
    // The failure is said with the project's name, and so is the compiler's own complaint.
    assert!(
        run.stderr
            .lines()
            .any(|l| l.starts_with("lade: svc-c: failed: go build")),
        "{}",
        run.context()
    );
    let output = run
        .stderr
        .split("lade: svc-c: go build . for linux/amd64 failed; its output:")
        .nth(1)
        .unwrap_or_else(|| panic!("no output block for svc-c:\n{}", run.context()));
    assert!(
        output.contains("undefined: undefinedName"),
        "{}",
        run.context()
    );
    let j = run.json();
    let projects = by_name(&j);
    assert_eq!(projects.len(), 5, "{j}");
    assert_eq!(projects["svc-c"]["status"], "failed");
    assert!(projects["svc-c"]["digest"].is_null());
    // The other four are in the layout, as skopeo reads them.
    let skopeo = require_tool("skopeo");
    for name in SERVICES.iter().filter(|n| **n != "svc-c") {
        let p = projects[*name];
        assert_eq!(p["status"], "ok", "{p}");
        let raw = std::process::Command::new(&skopeo)
            .args(["inspect", "--raw"])
            .arg(format!("oci:{}:{name}", out.display()))
            .output()
            .unwrap();
        assert!(raw.status.success(), "{name}: {raw:?}");
        assert_eq!(sha256_digest(&raw.stdout), p["digest"].as_str().unwrap());
    }
    // Each project's warning names the project, on stderr and in --json.
    for name in SERVICES.iter().filter(|n| **n != "svc-c") {
        let want = format!("{name}: --no-verify: the image's entrypoint is not checked");
        assert!(
            run.stderr
                .lines()
                .any(|l| l.starts_with(&format!("lade: warning: {want}"))),
            "{want}:\n{}",
            run.context()
        );
        assert!(
            j["warnings"]
                .as_array()
                .unwrap()
                .iter()
                .any(|w| w.as_str().unwrap().starts_with(&want)),
            "{want}: {j}"
        );
    }
    // --image-refs lists the four images published, and nothing of the broken one.
    let listed = std::fs::read_to_string(&refs).unwrap();
    for name in SERVICES.iter().filter(|n| **n != "svc-c") {
        let want = format!("oci:{}:{name}", out.display());
        assert!(listed.lines().any(|l| l == want), "{want} in:\n{listed}");
    }
    assert!(!listed.contains("svc-c"), "{listed}");
}

#[test]
fn outputs_that_do_not_tell_projects_apart_are_refused_before_building() {
    let env = TestEnv::new();
    let root = monorepo(&env);
    let out = env.path("work/out");
    let run = |args: &[&str]| {
        env.lade()
            .arg("publish")
            .arg(&root)
            .args(["--platform", "linux/amd64"])
            .args(args)
            .run()
    };
    let to = format!("oci:{}", out.display());
    run(&["--to", &to]).expect_error(&["--to", "{name}", "5 projects"]);
    // {name} only in the layout's tag, and --tag: every project would take tag v1.
    let tagged = format!("oci:{}:{{name}}", out.display());
    run(&["--to", &tagged, "--tag", "v1"]).expect_error(&["svc-a", "svc-b", "v1"]);
    // --project, repeated, names several packages inside one directory.
    env.lade()
        .arg("publish")
        .arg("-C")
        .arg(&root)
        .args(["--project", "services/svc-a", "--project", "services/svc-b"])
        .args(["--to", &to])
        .run()
        .expect_error(&["2 projects", "svc-a", "svc-b", "{name}"]);
    // Two members with one name.
    write_file(
        &root.join("services/svc-b/go.mod"),
        "module example.com/svc-a\n\ngo 1.19\n",
    );
    run(&["--to", &tagged]).expect_error(&["svc-a", "both named", "lade.toml"]);
    assert!(!out.exists(), "nothing is written");
    // plan takes one project, and says which ones the workspace holds.
    env.lade().arg("plan").arg(&root).run().expect_error(&[
        "plan",
        "one project",
        "svc-a",
        "svc-e",
    ]);
    // A member pattern that matches nothing.
    write_file(
        &root.join("lade.toml"),
        "[workspace]\nmembers = [\"apps/*\"]\n",
    );
    run(&[]).expect_error(&["lade.toml", "apps/*", "matches no directory"]);
    assert!(!Path::new(&env.work.join("lade-out")).exists());
}

/// Requests for the base's manifests (index, then the platform's) in `log`.
fn base_manifest_requests(log: &[Access]) -> usize {
    log.iter()
        .filter(|a| a.path.starts_with("/v2/bases/static/manifests/"))
        .count()
}

#[test]
fn projects_of_one_run_resolve_a_shared_base_once() {
    let env = TestEnv::new();
    let root = monorepo(&env);
    let reg = Registry::start();
    let base = build_base(&env.path("base"), "v1", &["amd64"], None);
    run_ok(
        tool("skopeo")
            .args(["copy", "--all", "-q", "--dest-tls-verify=false"])
            .arg(format!("oci:{}:v1", base.dir.display()))
            .arg(format!("docker://{}/bases/static:nonroot", reg.host)),
    );
    let base_ref = format!("{}/bases/static:nonroot", reg.host);
    let publish = |lade: crate::support::lade::Lade, dir: &Path, to: &str| {
        lade.arg("publish")
            .arg(dir)
            .args(["--platform", "linux/amd64", "--base", &base_ref, "--json"])
            .args(["-j", "2", "--to", to])
            .run()
            .success()
    };

    // One project alone: how many manifest requests resolving the base takes.
    let alone = env.dir("alone");
    crate::support::env::copy_tree(&root.join("services/svc-a"), &alone.join("svc-a"));
    let mark = reg.mark();
    publish(
        env.lade_with_cache(&env.dir("cache-alone")),
        &alone.join("svc-a"),
        &format!("{}/alone/{{name}}:v1", reg.host),
    );
    let one = base_manifest_requests(&reg.requests_since(mark));
    assert!(one > 0, "the base is read from the registry");

    // Five projects, two at a time: the base is resolved once for all of them.
    let mark = reg.mark();
    let together = publish(env.lade(), &root, &format!("{}/mono/{{name}}:v1", reg.host));
    let five = base_manifest_requests(&reg.requests_since(mark));
    let j = together.json();
    let projects = by_name(&j);
    assert_eq!(projects.len(), 5, "{j}");
    for (name, p) in &projects {
        assert_eq!(p["status"], "ok", "{name}: {p}");
        assert_eq!(
            registry_digest(&format!("{}/mono/{name}:v1", reg.host)),
            p["digest"].as_str().unwrap(),
            "{name}"
        );
    }
    eprintln!("base manifest requests: {one} for one project, {five} for five in one run");
    assert_eq!(
        five, one,
        "five projects on one base resolve it as one project does"
    );
}

/// With token authentication: five projects in one run ping the registry once and ask the
/// token server once per scope — the base's pull token is shared, each project's push token
/// is its own.
#[test]
fn projects_of_one_run_share_registry_connections_and_tokens() {
    let env = TestEnv::new();
    let root = monorepo(&env);
    let tokens = TokenServer::start(&[("bob", "token-pass-5")], &[], false);
    let reg = Registry::start_with(RegistryConfig {
        token: Some(&tokens),
        ..Default::default()
    });
    let base = build_base(&env.path("base"), "v1", &["amd64"], None);
    run_ok(
        tool("skopeo")
            .args(["copy", "--all", "-q", "--dest-tls-verify=false"])
            .args(["--dest-creds", "bob:token-pass-5"])
            .arg(format!("oci:{}:v1", base.dir.display()))
            .arg(format!("docker://{}/bases/static:nonroot", reg.host)),
    );
    let key: String = reg
        .host
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_uppercase()
            } else {
                '_'
            }
        })
        .collect();
    let asked_before = tokens.requests().len();
    let mark = reg.mark();
    let run = env
        .lade()
        .arg("publish")
        .arg(&root)
        .args(["-j", "2", "--platform", "linux/amd64", "--json"])
        .args(["--base", &format!("{}/bases/static:nonroot", reg.host)])
        .args(["--to", &format!("{}/team/{{name}}:1", reg.host)])
        .env(&format!("LADE_REGISTRY_USERNAME_{key}"), "bob")
        .env(&format!("LADE_REGISTRY_PASSWORD_{key}"), "token-pass-5")
        .run()
        .success();
    let j = run.json();
    let projects = by_name(&j);
    assert_eq!(projects.len(), 5, "{j}");
    assert!(projects.values().all(|p| p["status"] == "ok"), "{j}");

    let mut per_scope: BTreeMap<String, usize> = BTreeMap::new();
    for r in tokens.requests().split_off(asked_before) {
        *per_scope.entry(r["scopes"].to_string()).or_default() += 1;
    }
    let pings = reg
        .requests_since(mark)
        .iter()
        .filter(|a| a.method == "GET" && a.path == "/v2/")
        .count();
    eprintln!("registry pings: {pings}; token requests per scope: {per_scope:?}");
    assert_eq!(
        per_scope.get(r#"["repository:bases/static:pull"]"#),
        Some(&1),
        "the base's pull token is asked for once in the run: {per_scope:?}"
    );
    for name in SERVICES {
        assert!(
            per_scope
                .keys()
                .any(|s| s.contains(&format!("repository:team/{name}:pull,push"))),
            "{name} pushed with its own token: {per_scope:?}"
        );
    }
    assert!(
        per_scope.values().all(|n| *n == 1),
        "a token scope was asked for more than once: {per_scope:?}"
    );
    assert_eq!(pings, 1, "one client for the run, one endpoint check");
}
