//! The CI templates in `templates/`: they parse as YAML (read by python3's yaml, not by lade),
//! they give lade what it reads (a cache directory that is cached, registry credentials), and
//! the `lade` command they run is run here as written — its variables pointed at a real
//! registry with password authentication — and publishes a two-platform image.

use crate::support::env::{TestEnv, repo_root};
use crate::support::layout::sha256_digest;
use crate::support::registry::{Registry, RegistryConfig, skopeo_raw};
use crate::support::tools::{fallback_gocache, require_tool, run_ok};
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

const USER: &str = "ci-bot";
const PASSWORD: &str = "ci-registry-pass";

/// The template parsed by a YAML library lade does not use.
fn yaml(file: &str) -> Value {
    let python = require_tool("python3");
    let out = run_ok(
        Command::new(python)
            .args([
                "-c",
                "import json, sys, yaml; json.dump(yaml.safe_load(open(sys.argv[1])), sys.stdout)",
            ])
            .arg(repo_root().join(file)),
    );
    serde_json::from_slice(&out.stdout).expect("python3 printed JSON")
}

/// Every line of `scripts` that runs lade.
fn lade_lines<'a>(scripts: impl Iterator<Item = &'a str>) -> Vec<String> {
    scripts
        .flat_map(str::lines)
        .map(str::trim)
        .filter(|l| l.starts_with("lade "))
        .map(String::from)
        .collect()
}

fn strings(v: &Value) -> Vec<&str> {
    v.as_array()
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default()
}

/// The template's value for `var`, with the CI expressions it may use replaced by what this
/// test gives them; anything else left in it fails the test.
fn resolve(value: &str, ci: &BTreeMap<&str, String>) -> String {
    let mut v = value.to_string();
    for (expr, with) in ci {
        v = v.replace(expr, with);
    }
    assert!(
        !v.contains("${{") && !v.contains('$'),
        "{value}: an expression this test does not know"
    );
    v
}

/// Runs the template's publish line in a copy of examples/go-hello with `vars` (the job's
/// variables, resolved, and what the CI system sets) and checks what reached the registry.
fn run_publish_line(line: &str, vars: &BTreeMap<String, String>, project: &Path, image: &str) {
    let lade = Path::new(env!("CARGO_BIN_EXE_lade"));
    let path = format!(
        "{}:{}",
        lade.parent().unwrap().display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let mut cmd = Command::new(require_tool("bash"));
    cmd.args(["-e", "-c", line])
        .current_dir(project)
        .env("PATH", path)
        .env("GOPROXY", "off")
        .env("NO_COLOR", "1")
        .env_remove("SOURCE_DATE_EPOCH")
        .env_remove("GOFLAGS")
        .envs(vars);
    if let Some(gocache) = fallback_gocache() {
        cmd.env("GOCACHE", gocache);
    }
    run_ok(&mut cmd);

    // skopeo, with the same credentials, reads one index of two platforms under both tags.
    let creds = format!("{USER}:{PASSWORD}");
    let extra = ["--creds", creds.as_str(), "--tls-verify=false"];
    let latest = skopeo_raw(&format!("{image}:latest"), &extra);
    let index: Value = serde_json::from_slice(&latest).unwrap();
    assert_eq!(
        index["mediaType"],
        "application/vnd.oci.image.index.v1+json"
    );
    let mut archs: Vec<&str> = index["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|m| m["platform"]["architecture"].as_str())
        .collect();
    archs.sort();
    assert_eq!(archs, ["amd64", "arm64"]);
    let digest = sha256_digest(&latest);
    let refs = std::fs::read_to_string(project.join("image-refs.txt")).unwrap();
    assert_eq!(
        refs.lines().next(),
        Some(format!("{image}@{digest}").as_str()),
        "--image-refs names the pushed index"
    );
    let cache = Path::new(&vars["LADE_CACHE_DIR"]);
    assert!(
        std::fs::read_dir(cache).is_ok_and(|mut d| d.next().is_some()),
        "lade used the cached directory {}",
        cache.display()
    );
}

fn registry() -> Registry {
    Registry::start_with(RegistryConfig {
        htpasswd: Some((USER, PASSWORD)),
        ..Default::default()
    })
}

/// The lade variables a template sets (cache directory, registry login), with the CI
/// system's own variables in them replaced as its runner would.
fn lade_vars(
    block: &serde_json::Map<String, serde_json::Value>,
    ci: &BTreeMap<&str, String>,
    who: &str,
) -> BTreeMap<String, String> {
    [
        "LADE_CACHE_DIR",
        "LADE_REGISTRY_USERNAME",
        "LADE_REGISTRY_PASSWORD",
    ]
    .iter()
    .map(|k| {
        let v = block[*k]
            .as_str()
            .unwrap_or_else(|| panic!("{who} sets {k}"));
        (k.to_string(), resolve(v, ci))
    })
    .collect()
}

#[test]
fn github_actions_workflow_publishes_with_its_own_command_line() {
    let wf = yaml("templates/github-actions/lade-publish.yml");
    let env_block = wf["env"].as_object().expect("a workflow-level env");
    let steps = wf["jobs"]["publish"]["steps"].as_array().expect("steps");
    let runs: Vec<&str> = steps.iter().filter_map(|s| s["run"].as_str()).collect();
    let lines = lade_lines(runs.iter().copied());
    assert_eq!(lines.len(), 1, "one lade line: {lines:?}");
    assert!(lines[0].starts_with("lade publish "), "{lines:?}");
    assert!(
        runs.iter()
            .any(|r| r.contains("cargo install --locked --git \"$LADE_GIT\" lade")),
        "the workflow installs lade: {runs:?}"
    );
    // The cache step keeps LADE_CACHE_DIR.
    let cache = steps
        .iter()
        .find(|s| {
            s["uses"]
                .as_str()
                .is_some_and(|u| u.starts_with("actions/cache@"))
        })
        .expect("an actions/cache step");
    assert!(
        cache["with"]["path"]
            .as_str()
            .unwrap()
            .contains("${{ env.LADE_CACHE_DIR }}"),
        "{cache}"
    );

    let env = TestEnv::new();
    let project = env.copy_example("go-hello", "workspace");
    let registry = registry();
    let image = format!("{}/acme/go-hello", registry.host);
    let ci: BTreeMap<&str, String> = [
        ("${{ github.workspace }}", project.display().to_string()),
        ("${{ github.actor }}", USER.to_string()),
        ("${{ secrets.GITHUB_TOKEN }}", PASSWORD.to_string()),
    ]
    .into();
    let mut vars = lade_vars(env_block, &ci, "the workflow");
    // What the runner and the "Image name" step set.
    vars.insert("IMAGE".into(), image.clone());
    vars.insert(
        "GITHUB_SHA".into(),
        "0123456789abcdef0123456789abcdef01234567".into(),
    );
    run_publish_line(&lines[0], &vars, &project, &image);
    skopeo_raw(
        &format!("{image}:0123456789abcdef0123456789abcdef01234567"),
        &[
            "--creds",
            &format!("{USER}:{PASSWORD}"),
            "--tls-verify=false",
        ],
    );
}

#[test]
fn gitlab_ci_job_publishes_with_its_own_command_line() {
    let doc = yaml("templates/gitlab-ci/lade-publish.gitlab-ci.yml");
    let job = &doc["lade-publish"];
    let scripts: Vec<&str> = strings(&job["before_script"])
        .into_iter()
        .chain(strings(&job["script"]))
        .collect();
    let lines = lade_lines(scripts.iter().copied());
    assert_eq!(lines.len(), 1, "one lade line: {lines:?}");
    assert!(lines[0].starts_with("lade publish "), "{lines:?}");
    assert!(
        scripts
            .iter()
            .any(|s| s.contains("cargo install --locked") && s.ends_with(" lade")),
        "the job installs lade: {scripts:?}"
    );
    let variables = job["variables"].as_object().expect("job variables");
    let cache_dir = variables["LADE_CACHE_DIR"].as_str().unwrap();
    let cached: Vec<&str> = job["cache"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|c| strings(&c["paths"]))
        .collect();
    assert!(
        cached
            .iter()
            .any(|p| cache_dir.ends_with(p.trim_end_matches('/'))),
        "{cache_dir} is cached: {cached:?}"
    );

    let env = TestEnv::new();
    let project = env.copy_example("go-hello", "project");
    let registry = registry();
    let image = format!("{}/group/go-hello", registry.host);
    let ci: BTreeMap<&str, String> = [
        ("$CI_PROJECT_DIR", project.display().to_string()),
        ("$CI_REGISTRY_USER", USER.to_string()),
        ("$CI_REGISTRY_PASSWORD", PASSWORD.to_string()),
    ]
    .into();
    let mut vars = lade_vars(variables, &ci, "the job");
    // What GitLab sets for every job.
    vars.insert("CI_REGISTRY_IMAGE".into(), image.clone());
    vars.insert("CI_COMMIT_SHORT_SHA".into(), "0123abcd".into());
    run_publish_line(&lines[0], &vars, &project, &image);
    skopeo_raw(
        &format!("{image}:0123abcd"),
        &[
            "--creds",
            &format!("{USER}:{PASSWORD}"),
            "--tls-verify=false",
        ],
    );
}
