//! lade's settings where each ecosystem keeps them — package.json's `"lade"`, pyproject.toml's
//! `[tool.lade]`, a pom.xml's `lade.*` properties — change what `lade plan --json` says, and a
//! key lade does not know there is a warning naming the file and the key (on stderr and in
//! `publish --json`'s `warnings`).

use crate::support::env::{TestEnv, copy_tree, repo_root, write_file};
use serde_json::Value;
use std::path::Path;

fn plan_json(env: &TestEnv, dir: &Path) -> (Value, String) {
    let run = env
        .lade()
        .args(["plan", "--json", "-C"])
        .arg(dir)
        .run()
        .success();
    (run.json(), run.stderr.clone())
}

/// The `lade: warning:` lines of stderr.
fn warnings(stderr: &str) -> Vec<&str> {
    stderr
        .lines()
        .filter(|l| l.starts_with("lade: warning: "))
        .collect()
}

#[test]
fn package_json_lade_object_changes_the_plan_and_warns_on_unknown_keys() {
    let env = TestEnv::new();
    let dir = env.copy_example("node-express", "node-express");
    let (before, _) = plan_json(&env, &dir);
    assert!(
        before["config"]["env"].get("GREETING").is_none(),
        "{before}"
    );

    let manifest = dir.join("package.json");
    let mut pkg: Value =
        serde_json::from_str(&std::fs::read_to_string(&manifest).unwrap()).unwrap();
    pkg["lade"] = serde_json::json!({
        "env": { "GREETING": "hello from package.json" },
        "ports": [3000],
        "labels": { "org.opencontainers.image.title": "Express demo" },
        "colour": "blue"
    });
    write_file(&manifest, &serde_json::to_string_pretty(&pkg).unwrap());
    let (after, stderr) = plan_json(&env, &dir);
    let config = &after["config"];
    assert_eq!(config["env"]["GREETING"], "hello from package.json");
    assert_eq!(
        config["env"]["NODE_ENV"],
        before["config"]["env"]["NODE_ENV"]
    );
    assert_eq!(config["exposed_ports"], serde_json::json!(["3000/tcp"]));
    assert_eq!(
        config["labels"]["org.opencontainers.image.title"],
        "Express demo"
    );
    let w = warnings(&stderr);
    assert_eq!(
        w.len(),
        1,
        "one warning, for the one unknown key:\n{stderr}"
    );
    // The key's line and column in package.json as written (pretty-printed, "lade" last).
    let written = std::fs::read_to_string(&manifest).unwrap();
    let line = written
        .lines()
        .position(|l| l.trim_start().starts_with("\"colour\""))
        .unwrap()
        + 1;
    assert!(
        w[0].contains(&format!(
            "package.json:{line}:5: lade.colour: not a lade setting, ignored"
        )),
        "{stderr}"
    );

    // A bad value is the one-line error lade.toml gives, naming the file and the setting.
    pkg["lade"] = serde_json::json!({ "ports": [70000] });
    write_file(&manifest, &serde_json::to_string_pretty(&pkg).unwrap());
    let run = env.lade().args(["plan", "-C"]).arg(&dir).run();
    run.expect_error(&["package.json:", ": lade.ports: invalid port '70000'"]);
}

#[test]
fn pyproject_tool_lade_changes_the_plan() {
    let env = TestEnv::new();
    let dir = env.path("uv-app");
    copy_tree(&repo_root().join("tests/fixtures/python/uv-app"), &dir);
    let (before, _) = plan_json(&env, &dir);

    let pyproject = dir.join("pyproject.toml");
    let text = std::fs::read_to_string(&pyproject).unwrap();
    write_file(
        &pyproject,
        &format!(
            "{text}\n[tool.lade]\nbase = \"debian12/python3+libpq5\"\nworkdir = \"/srv\"\nplatfroms = [\"linux/arm64\"]\n"
        ),
    );
    let (after, stderr) = plan_json(&env, &dir);
    assert_ne!(before["base"], after["base"]);
    assert_eq!(after["base"], "debian12/python3+libpq5");
    assert_eq!(after["config"]["workdir"], "/srv");
    // The misspelt key is ignored (the plan keeps the host's platform) and said.
    assert_eq!(after["targets"].as_array().unwrap().len(), 1);
    let w = warnings(&stderr);
    assert_eq!(w.len(), 1, "{stderr}");
    let line = text.lines().count() + 5;
    assert!(
        w[0].contains(&format!(
            "pyproject.toml:{line}:1: tool.lade.platfroms: not a lade setting, ignored; did you mean `platforms`?"
        )),
        "{stderr}"
    );
}

#[test]
fn pom_properties_give_the_plan_lade_toml_gives() {
    let env = TestEnv::new();
    let dir = env.copy_example("java-maven", "java-maven");
    // examples/java-maven keeps `[base] preset = "java"` in lade.toml: the same settings as
    // pom properties give the same plan.
    let (with_lade_toml, _) = plan_json(&env, &dir);
    std::fs::remove_file(dir.join("lade.toml")).unwrap();
    let (detected, _) = plan_json(&env, &dir);
    assert_ne!(detected["base"], with_lade_toml["base"]);

    let pom = dir.join("pom.xml");
    let text = std::fs::read_to_string(&pom).unwrap();
    let props = "<properties>\n    <lade.base.preset>java</lade.base.preset>\n    <lade.java.jvm_flags>[\"-Xss512k\"]</lade.java.jvm_flags>\n    <lade.java.mainclass>x</lade.java.mainclass>\n";
    assert!(
        text.contains("<properties>"),
        "the example pom has properties"
    );
    write_file(&pom, &text.replacen("<properties>", props, 1));
    let (after, stderr) = plan_json(&env, &dir);
    assert_eq!(after["base"], with_lade_toml["base"]);
    let entrypoint: Vec<&str> = after["config"]["entrypoint"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap())
        .collect();
    assert!(entrypoint.contains(&"-Xss512k"), "{entrypoint:?}");
    let w = warnings(&stderr);
    assert_eq!(w.len(), 1, "{stderr}");
    assert!(
        w[0].contains("pom.xml:")
            && w[0].contains(
                ": lade.java.mainclass: not a lade setting, ignored; did you mean `main_class`?"
            ),
        "{stderr}"
    );

    // Settings in two places are refused, naming both.
    write_file(&dir.join("lade.toml"), "name = \"x\"\n");
    let run = env.lade().args(["plan", "-C"]).arg(&dir).run();
    run.expect_error(&["lade.toml", "lade.* properties in pom.xml", "keep one"]);
}

#[test]
fn unknown_key_is_in_publish_json_warnings() {
    let env = TestEnv::new();
    let dir = env.copy_example("go-hello", "go-hello");
    // go-hello's settings move from lade.toml to gradle.properties (a file any project may
    // have), with a misspelt key beside them.
    std::fs::remove_file(dir.join("lade.toml")).unwrap();
    write_file(
        &dir.join("gradle.properties"),
        "org.gradle.caching=true\nlade.base=scratch\nlade.entrypoint.args=x\nlade.usr=1000\n",
    );
    let out = env.path("out");
    let run = env
        .lade()
        .args(["publish", "--json", "-C"])
        .arg(&dir)
        .arg("--to")
        .arg(format!("oci:{}:latest", out.display()))
        .run();
    // `lade.entrypoint.args` makes entrypoint a table: a bad value, refused with the line.
    run.expect_error(&["gradle.properties:3:1: lade.entrypoint"]);
    assert!(!out.exists(), "nothing written on a bad setting");

    write_file(
        &dir.join("gradle.properties"),
        "org.gradle.caching=true\nlade.base=scratch\nlade.usr=1000\n",
    );
    let run = env
        .lade()
        .args(["publish", "--json", "-C"])
        .arg(&dir)
        .arg("--to")
        .arg(format!("oci:{}:latest", out.display()))
        .run()
        .success();
    let report = run.json();
    let said: Vec<&str> = report["warnings"]
        .as_array()
        .unwrap_or_else(|| panic!("publish --json has warnings: {report}"))
        .iter()
        .map(|w| w.as_str().unwrap())
        .collect();
    assert!(
        said.iter().any(|w| w.contains(
            "gradle.properties:3:1: lade.usr: not a lade setting, ignored; did you mean `user`?"
        )),
        "{said:?}"
    );
    assert!(
        warnings(&run.stderr).iter().any(|w| w.contains("lade.usr")),
        "{}",
        run.stderr
    );
    // The known setting applied: scratch has no layers of its own, so every layer is lade's.
    let base = &report["base"];
    assert!(base.to_string().contains("scratch"), "{report}");
}
