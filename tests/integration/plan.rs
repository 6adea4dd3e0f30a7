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

/// `lade plan`'s whole output (text, or `--json` when `extra` asks), with what differs per
/// run or machine replaced by placeholders: the project's copy, the cache and the cache's
/// per-project hash, and reuse keys (they hash the host's tool executables; the unit tests of
/// `build::key` check what goes into them).
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
    redact_keys(&text)
}

/// `sha256:<64 hex>` after `key` (text) or in `"key"` (JSON) becomes `[KEY]`.
fn redact_keys(text: &str) -> String {
    let mut out = String::new();
    for line in text.lines() {
        let is_key = line
            .trim_start()
            .starts_with("reuse   when unchanged, key sha256:")
            || line.trim_start().starts_with("\"key\": \"sha256:");
        match line.find("sha256:") {
            Some(at) if is_key => {
                let end = at + "sha256:".len() + 64;
                assert!(line.len() >= end, "a whole key in {line}");
                out.push_str(&line[..at]);
                out.push_str("[KEY]");
                out.push_str(&line[end..]);
            }
            _ => out.push_str(line),
        }
        out.push('\n');
    }
    out
}

/// The seven examples and the platforms their snapshots are taken for.
const EXAMPLES: [(&str, &str); 7] = [
    ("go-hello", "linux/amd64,linux/arm64"),
    ("java-maven", "linux/amd64,linux/arm64"),
    ("java-gradle", "linux/amd64"),
    ("node-express", "linux/amd64,linux/arm64"),
    ("python-flask", "linux/amd64,linux/arm64"),
    ("rust-hello", "linux/amd64,linux/arm64"),
    ("rust-workspace", "linux/amd64"),
];

/// The whole plan of each example, as people read it and as JSON: a change to what lade
/// would run, write or start shows up here as a diff to review.
#[test]
fn plan_text_of_the_examples() {
    let env = TestEnv::new();
    for (example, platforms) in EXAMPLES {
        let p = env.copy_example(example, example);
        let extra = ["--platform", platforms];
        insta::assert_snapshot!(format!("plan_{example}"), plan_text(&env, &p, &extra));
        let json = plan_text(&env, &p, &["--json", "--platform", platforms]);
        insta::assert_snapshot!(format!("plan_json_{example}"), json);
    }
}

/// No build step carries a program: no interpreter given code inline (`sh -c`, `node -e`,
/// `python3 -c`), no argument that is a script or a file's text. Every example and every
/// fixture project is planned for two platforms.
#[test]
fn no_step_carries_a_program() {
    let env = TestEnv::new();
    let mut projects: Vec<std::path::PathBuf> = EXAMPLES
        .iter()
        .map(|(e, _)| env.copy_example(e, e))
        .collect();
    for kind in ["node", "python", "java"] {
        let root = crate::support::env::repo_root()
            .join("tests/fixtures")
            .join(kind);
        for entry in std::fs::read_dir(&root).unwrap() {
            let from = entry.unwrap().path();
            let name = format!("{kind}-{}", from.file_name().unwrap().to_string_lossy());
            let to = env.path(&name);
            crate::support::env::copy_tree(&from, &to);
            projects.push(to);
        }
    }
    let mut steps_seen = 0;
    for p in &projects {
        let out = env
            .lade()
            .args([
                "plan",
                "--json",
                "--platform",
                "linux/amd64,linux/arm64",
                "-C",
            ])
            .arg(p)
            .run();
        if !out.status.success() {
            // A fixture that needs settings to plan (a module to pick) is not what this is about.
            continue;
        }
        let plan = out.json();
        for t in plan["targets"].as_array().unwrap() {
            for step in t["steps"].as_array().unwrap() {
                steps_seen += 1;
                let program = step["program"].as_str().unwrap();
                let name = Path::new(program).file_name().unwrap().to_string_lossy();
                let args: Vec<&str> = step["args"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|a| a.as_str().unwrap())
                    .collect();
                let interpreter =
                    ["sh", "bash", "node", "python3", "python", "perl"].contains(&name.as_ref());
                assert!(
                    !(interpreter && args.iter().any(|a| ["-c", "-e", "--eval"].contains(a))),
                    "{}: inline code in {step}",
                    p.display()
                );
                for a in &args {
                    assert!(
                        a.len() <= 300 && !a.contains('\n'),
                        "{}: an argument that is a text, not a value: {step}",
                        p.display()
                    );
                }
            }
        }
    }
    assert!(steps_seen > 40, "only {steps_seen} steps planned");
}

/// A FIFO in the project cannot go into a layer: it is left out with a warning naming it, not
/// silently, and the plan still lists it as excluded.
#[test]
fn a_fifo_in_the_tree_is_left_out_with_a_warning() {
    let env = TestEnv::new();
    let p = env.copy_example("node-express", "fifo");
    crate::support::tools::run_ok(crate::support::tools::tool("mkfifo").arg(p.join("events.pipe")));
    let run = env.lade().args(["plan", "-C"]).arg(&p).run().success();
    let warnings: Vec<&str> = run
        .stderr
        .lines()
        .filter(|l| l.starts_with("lade: warning:"))
        .collect();
    assert_eq!(warnings.len(), 1, "{}", run.context());
    assert!(
        warnings[0].contains("events.pipe") && warnings[0].contains("not a regular file"),
        "{warnings:?}"
    );
    assert!(
        run.stdout.contains("excluded  events.pipe"),
        "{}",
        run.stdout
    );
}
