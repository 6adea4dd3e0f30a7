//! A Go workspace (`go.work`): a module published from its own directory builds against the
//! workspace's other module (no `replace`, no module proxy), and the image runs under runc. An
//! edit in the other module reruns the build and changes the image; an unchanged workspace
//! reuses it.

use crate::support::TestEnv;
use crate::support::arm64::host_arch;
use crate::support::layout::{self, Layout};
use crate::support::tools::{run_ok, tool};
use serde_json::json;
use std::fs;
use std::path::Path;

fn write(root: &Path, files: &[(&str, &str)]) {
    for (path, text) in files {
        let p = root.join(path);
        fs::create_dir_all(p.parent().unwrap()).unwrap();
        fs::write(p, text).unwrap();
    }
}

fn greet_go(word: &str) -> String {
    format!("package greet\n\nfunc Hello() string {{ return \"{word} from the workspace\" }}\n")
}

/// Runs the image's entrypoint once and returns what it printed.
fn run_once(env: &TestEnv, out: &Path, label: &str) -> String {
    let l = Layout::open(out);
    let single = l.extract(
        &l.image("v1", host_arch()),
        &env.path(&format!("single-{label}")),
        "img",
    );
    let bundle = env.path(&format!("bundle-{label}"));
    layout::unpack(&single.dir, "img", &bundle);
    let config = bundle.join("config.json");
    let mut v: serde_json::Value = serde_json::from_slice(&fs::read(&config).unwrap()).unwrap();
    v["process"]["terminal"] = json!(false);
    fs::write(&config, serde_json::to_vec(&v).unwrap()).unwrap();
    let id = format!("lade-it-gowork-{label}-{}", std::process::id());
    let run = run_ok(tool("runc").args(["run", "--bundle"]).arg(&bundle).arg(&id));
    let _ = tool("runc").args(["delete", "-f", &id]).output();
    String::from_utf8_lossy(&run.stdout).into_owned()
}

#[test]
fn a_module_of_a_go_workspace_builds_against_its_sibling_and_runs() {
    let env = TestEnv::new();
    let root = env.path("repo");
    write(
        &root,
        &[
            ("go.work", "go 1.19\n\nuse (\n\t./app\n\t./greet\n)\n"),
            ("greet/go.mod", "module example.com/greet\n\ngo 1.19\n"),
            ("greet/greet.go", &greet_go("hello")),
            (
                "app/go.mod",
                "module example.com/app\n\ngo 1.19\n\nrequire example.com/greet v0.0.0\n",
            ),
            (
                "app/main.go",
                "package main\n\nimport (\n\t\"fmt\"\n\n\t\"example.com/greet\"\n)\n\nfunc main() { fmt.Println(greet.Hello()) }\n",
            ),
        ],
    );
    let platform = format!("linux/{}", host_arch());
    let publish = |out: &Path| {
        env.lade()
            .arg("publish")
            .arg(root.join("app"))
            .args([
                "--platform",
                &platform,
                "--base",
                "scratch",
                "--json",
                "--to",
            ])
            .arg(format!("oci:{}:v1", out.display()))
            .env("GOPROXY", "off")
            .run()
            .success()
    };
    let first = publish(&env.path("out1"));
    assert_eq!(
        run_once(&env, &env.path("out1"), "1").trim(),
        "hello from the workspace"
    );

    let again = publish(&env.path("out2"));
    assert_eq!(
        again.json()["digest"],
        first.json()["digest"],
        "the same workspace, the same image"
    );
    let steps = again.json()["steps"].clone();
    let go: Vec<&serde_json::Value> = steps
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["program"] == "go")
        .collect();
    assert!(
        !go.is_empty() && go.iter().all(|s| s["reused"] == true),
        "nothing changed, go build did not run: {steps}"
    );

    write(&root, &[("greet/greet.go", &greet_go("changed"))]);
    let changed = publish(&env.path("out3"));
    assert_ne!(
        changed.json()["digest"],
        first.json()["digest"],
        "the sibling's edit is in the image"
    );
    assert_eq!(
        run_once(&env, &env.path("out3"), "3").trim(),
        "changed from the workspace"
    );
}
