//! `lade plan`: what would be built, as JSON and for people, without building.

use crate::support::TestEnv;
use crate::support::env::write_file;
use crate::support::lade::root_digest;
use crate::support::layout::Layout;
use serde_json::{Value, json};
use std::path::Path;

fn plan_json(env: &TestEnv, dir: &Path, extra: &[&str]) -> Value {
    env.lade()
        .args(["plan", "--json", "-C"])
        .arg(dir)
        .args(extra)
        .run()
        .success()
        .json()
}

/// Targets (`/app/x`) of the entries of the layer called `name`.
fn layer_targets(target: &Value, name: &str) -> Vec<String> {
    let layer = target["layers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["name"] == name)
        .unwrap_or_else(|| panic!("no {name} layer in {target}"));
    layer["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["target"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn plan_json_describes_the_go_build() {
    let env = TestEnv::new();
    let p = env.copy_example("go-hello", "go-hello");
    let plan = plan_json(&env, &p, &["--platform", "linux/amd64,linux/arm64"]);

    assert_eq!(plan["detector"], "go");
    assert_eq!(plan["name"], "go-hello");
    assert_eq!(plan["base"], "scratch");
    let reasons = plan["reasons"].as_array().expect("reasons");
    assert!(reasons.iter().any(|r| r["file"] == "go.mod"), "{reasons:?}");
    assert!(
        reasons
            .iter()
            .all(|r| r["why"].as_str().is_some_and(|w| !w.is_empty()))
    );
    let project_dir = Path::new(plan["project_dir"].as_str().unwrap());
    assert_eq!(
        project_dir.canonicalize().unwrap(),
        p.canonicalize().unwrap()
    );

    assert_eq!(plan["config"]["entrypoint"], json!(["/app/go-hello"]));
    assert_eq!(plan["config"]["env"]["KO_DATA_PATH"], "/var/run/ko");

    let targets = plan["targets"].as_array().expect("targets");
    assert_eq!(targets.len(), 2);
    for (t, arch) in targets.iter().zip(["amd64", "arm64"]) {
        assert_eq!(t["platform"]["os"], "linux");
        assert_eq!(t["platform"]["architecture"], arch);
        let steps = t["steps"].as_array().unwrap();
        let go = steps
            .iter()
            .find(|s| {
                Path::new(s["program"].as_str().unwrap_or("")).file_name() == Some("go".as_ref())
            })
            .unwrap_or_else(|| panic!("{arch}: no go step in {steps:?}"));
        assert_eq!(go["env"]["GOOS"], "linux", "{arch}: {go}");
        assert_eq!(go["env"]["GOARCH"], arch, "{arch}: {go}");
        let args: Vec<&str> = go["args"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a.as_str().unwrap())
            .collect();
        assert!(args.contains(&"build"), "{arch}: {args:?}");
        assert!(args.contains(&"-trimpath"), "{arch}: {args:?}");
        assert!(go["description"].as_str().is_some_and(|d| !d.is_empty()));

        let names: Vec<&str> = t["layers"]
            .as_array()
            .unwrap()
            .iter()
            .map(|l| l["name"].as_str().unwrap())
            .collect();
        assert_eq!(names, ["kodata", "binary"], "{arch}");
        assert!(layer_targets(t, "kodata").contains(&"/var/run/ko/hello.txt".to_string()));
        let binary = &t["layers"][1]["entries"];
        let app = binary
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["target"] == "/app/go-hello")
            .unwrap_or_else(|| panic!("{arch}: no /app/go-hello in {binary}"));
        assert_eq!(app["mode"], 0o755, "{arch}");
    }
}

#[test]
fn plan_text_names_the_detector_and_entrypoint() {
    let env = TestEnv::new();
    let p = env.copy_example("go-hello", "go-hello");
    let run = env.lade().args(["plan", "-C"]).arg(&p).run().success();
    // The detector as a word of its own (not the "go" in go-hello or go.mod).
    let has_go_word = run
        .stdout
        .split_whitespace()
        .any(|w| w.trim_matches(|c: char| !c.is_alphanumeric() && c != '.' && c != '-') == "go");
    assert!(has_go_word, "the detector: {}", run.context());
    assert!(
        run.stdout.contains("go.mod"),
        "the reason: {}",
        run.context()
    );
    assert!(
        run.stdout.contains("/app/go-hello"),
        "the entrypoint: {}",
        run.context()
    );
    assert!(
        serde_json::from_str::<Value>(&run.stdout).is_err(),
        "without --json the plan is text"
    );
}

/// Two programs under cmd/: `--main ./cmd/b` picks the entrypoint, both binaries ship.
#[test]
fn main_flag_picks_the_entrypoint_among_several() {
    let env = TestEnv::new();
    let dir = env.dir("multi");
    write_file(&dir.join("go.mod"), "module example.com/multi\n\ngo 1.19\n");
    for name in ["a", "b"] {
        write_file(
            &dir.join(format!("cmd/{name}/main.go")),
            &format!(
                "package main\n\nimport \"fmt\"\n\nfunc main() {{ fmt.Println(\"{name}\") }}\n"
            ),
        );
    }
    let plan = plan_json(
        &env,
        &dir,
        &["--platform", "linux/amd64", "--main", "./cmd/b"],
    );
    assert_eq!(plan["config"]["entrypoint"], json!(["/app/b"]));
    // Without lade.toml or --base, a Go image goes on distroless static.
    assert_eq!(plan["base"], "gcr.io/distroless/static-debian12:nonroot");
    let t = &plan["targets"][0];
    let bins = layer_targets(t, "binary");
    assert!(bins.contains(&"/app/a".to_string()), "{bins:?}");
    assert!(bins.contains(&"/app/b".to_string()), "{bins:?}");

    // And the published image agrees with the plan.
    let out = env.path("out");
    let run = env
        .lade()
        .args(["publish", "--json", "-C"])
        .arg(&dir)
        // No registry is reachable from the tests: an empty base instead of the default.
        .args([
            "--platform",
            "linux/amd64",
            "--main",
            "./cmd/b",
            "--base",
            "scratch",
            "--to",
        ])
        .arg(format!("oci:{}:v1", out.display()))
        .run()
        .success();
    root_digest(&run.json());
    let l = Layout::open(&out);
    let img = l.image("v1", "amd64");
    assert_eq!(img.cfg("Entrypoint"), &json!(["/app/b"]));
    let last = img.layer_digests().pop().unwrap();
    let paths: Vec<String> = l.layer_entries(&last).into_iter().map(|e| e.path).collect();
    assert!(paths.contains(&"app/a".to_string()), "{paths:?}");
    assert!(paths.contains(&"app/b".to_string()), "{paths:?}");
}

/// `lade plan`'s whole text, with the paths that differ per run (the project's copy, the cache
/// and the cache's per-project hash) replaced by placeholders.
fn plan_text(env: &TestEnv, dir: &Path, extra: &[&str]) -> String {
    let out = env
        .lade()
        .args(["plan", "-C"])
        .arg(dir)
        .args(extra)
        .run()
        .success()
        .stdout;
    let mut text = out
        .replace(&env.cache.display().to_string(), "[CACHE]")
        .replace(&dir.display().to_string(), "[PROJECT]");
    // build/<16 hex digits of the project path's hash>/
    while let Some(at) = text.find("[CACHE]/build/") {
        let start = at + "[CACHE]/build/".len();
        let hash: String = text[start..]
            .chars()
            .take_while(|c| c.is_ascii_hexdigit())
            .collect();
        assert_eq!(hash.len(), 16, "a build directory hash in:\n{text}");
        text.replace_range(at..start + hash.len(), "[BUILD]");
    }
    text
}

/// The whole plan of each example, as people read it: a change to what lade would run, write
/// or start shows up here as a diff to review.
#[test]
fn plan_text_of_the_examples() {
    let env = TestEnv::new();
    for (example, extra) in [
        ("go-hello", &["--platform", "linux/amd64,linux/arm64"][..]),
        ("java-maven", &["--platform", "linux/amd64,linux/arm64"][..]),
        ("java-gradle", &["--platform", "linux/amd64"][..]),
    ] {
        let p = env.copy_example(example, example);
        insta::assert_snapshot!(format!("plan_{example}"), plan_text(&env, &p, extra));
    }
}
