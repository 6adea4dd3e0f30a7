//! `lade init [DIR]`: a commented lade.toml with what detection found, that lade reads back
//! to the same plan; never over an existing lade.toml or beside settings kept elsewhere.

use crate::support::env::{TestEnv, write_file};
use crate::support::lade::Lade;
use serde_json::Value;
use std::path::Path;

fn plan_json(env: &TestEnv, dir: &Path) -> Value {
    env.lade()
        .args(["plan", "--json", "-C"])
        .arg(dir)
        .run()
        .success()
        .json()
}

/// The plan without what the file lade.toml itself adds as a project file: its entry among
/// the files copied into the image, and the reuse keys that hash every project file.
fn without_the_file(v: &Value) -> Value {
    match v {
        Value::Object(map) => Value::Object(
            map.iter()
                .filter(|(k, _)| k.as_str() != "key")
                .map(|(k, v)| (k.clone(), without_the_file(v)))
                .collect(),
        ),
        Value::Array(items) => Value::Array(
            items
                .iter()
                .filter(|i| !names_lade_toml(i))
                .map(without_the_file)
                .collect(),
        ),
        other => other.clone(),
    }
}

/// The file in a list of project files (`"lade.toml"`), or a layer entry that copies it
/// (`"target": "/app/lade.toml"`). Reasons that name lade.toml are kept: they are the plan's.
fn names_lade_toml(v: &Value) -> bool {
    match v {
        Value::String(s) => s == "lade.toml",
        Value::Object(map) => map
            .get("target")
            .and_then(Value::as_str)
            .is_some_and(|t| t.ends_with("/lade.toml")),
        _ => false,
    }
}

#[test]
fn init_writes_a_lade_toml_that_gives_the_same_plan() {
    let env = TestEnv::new();
    for example in [
        "go-hello",
        "node-express",
        "python-flask",
        "java-maven",
        "rust-hello",
    ] {
        let dir = env.copy_example(example, example);
        let _ = std::fs::remove_file(dir.join("lade.toml"));
        let before = plan_json(&env, &dir);

        let run = env.lade().arg("init").arg(&dir).run().success();
        let written = dir.join("lade.toml");
        assert!(
            run.stdout.contains(&format!("wrote {}", written.display())),
            "{}",
            run.context()
        );
        let text = std::fs::read_to_string(&written).unwrap();
        // What detection found is in the file, as a value or a commented line to edit.
        let detector = before["detector"].as_str().unwrap();
        let name = before["name"].as_str().unwrap();
        let base = before["base"].as_str().unwrap();
        assert!(
            text.contains(&format!("name = \"{name}\"\n")),
            "{example}:\n{text}"
        );
        assert!(
            text.contains(&format!("# language = \"{detector}\"\n")),
            "{example}:\n{text}"
        );
        assert!(
            text.contains(&format!("# base = \"{base}\"\n")),
            "{example}:\n{text}"
        );
        let entrypoint: Vec<String> = before["config"]["entrypoint"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| format!("{a}"))
            .collect();
        assert!(
            text.contains(&format!("# entrypoint = [{}]\n", entrypoint.join(", "))),
            "{example}:\n{text}"
        );
        for reason in before["reasons"].as_array().unwrap() {
            let why = reason["why"].as_str().unwrap();
            assert!(
                text.contains(why),
                "{example}: the reason {why:?} is in\n{text}"
            );
        }

        let after = plan_json(&env, &dir);
        assert_eq!(
            without_the_file(&before),
            without_the_file(&after),
            "{example}: lade.toml as lade init wrote it changes the plan:\n{text}"
        );
    }
}

#[test]
fn init_never_overwrites_and_never_writes_beside_other_settings() {
    let env = TestEnv::new();
    let dir = env.copy_example("go-hello", "go-hello");
    let existing = std::fs::read(dir.join("lade.toml")).unwrap();
    // With no DIR, the current directory.
    let py = env.copy_example("python-flask", "python-flask");
    Lade::new(&env.cache, &py).arg("init").run().success();
    assert!(
        std::fs::read_to_string(py.join("lade.toml"))
            .unwrap()
            .contains("name = \"python-flask\"")
    );
    let run = env.lade().arg("init").arg(&dir).run();
    run.expect_error(&["lade.toml already exists", "does not overwrite"]);
    assert_eq!(
        std::fs::read(dir.join("lade.toml")).unwrap(),
        existing,
        "untouched"
    );

    // Settings in package.json: a lade.toml beside them would be refused by every command.
    let node = env.copy_example("node-express", "node-express");
    let manifest = node.join("package.json");
    let mut pkg: Value =
        serde_json::from_str(&std::fs::read_to_string(&manifest).unwrap()).unwrap();
    pkg["lade"] = serde_json::json!({ "workdir": "/srv" });
    write_file(&manifest, &serde_json::to_string_pretty(&pkg).unwrap());
    let run = env.lade().arg("init").arg(&node).run();
    run.expect_error(&["already in \"lade\" in package.json"]);
    assert!(!node.join("lade.toml").exists(), "nothing written");
}
