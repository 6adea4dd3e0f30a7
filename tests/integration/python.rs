//! Python projects (issue 7) published on a Python 3.11 base built from the host's Debian
//! python (support/python_base.rs), then run under runc: the Flask example with gunicorn from
//! the dependency layer, a poetry package and a uv project installed from their locks (no
//! poetry or uv on the machine), a lone main.py, native wheels per architecture,
//! reproducibility and the errors for bad inputs.

use crate::support::TestEnv;
use crate::support::arm64::{self, elf_machine, machine_for};
use crate::support::env::{copy_tree, repo_root, write_file};
use crate::support::lade::{LadeRun, root_digest};
use crate::support::layout::{self, Layout, PlatformImage};
use crate::support::python_base::{has_arm64_python, python_base};
use crate::support::runc::Container;
use std::fs;
use std::path::{Path, PathBuf};

fn fixture(env: &TestEnv, name: &str) -> PathBuf {
    let dest = env.path(name);
    copy_tree(&repo_root().join("tests/fixtures/python").join(name), &dest);
    dest
}

fn publish(env: &TestEnv, project: &Path, platforms: &str, out: &Path) -> LadeRun {
    env.lade()
        .arg("publish")
        .arg("-C")
        .arg(project)
        .args(["--platform", platforms, "--json", "--base"])
        .arg(python_base())
        .arg("--to")
        .arg(format!("oci:{}:v1", out.display()))
        .run()
}

/// Validates and unpacks one platform image; returns the rootfs's bundle.
fn unpack(env: &TestEnv, l: &Layout, img: &PlatformImage, label: &str) -> PathBuf {
    let arch = img.architecture().to_string();
    let single = l.extract(img, &env.path(&format!("single-{label}")), &arch);
    layout::validate(&single.dir, &arch);
    let bundle = env.path(&format!("bundle-{label}"));
    layout::unpack(&single.dir, &arch, &bundle);
    bundle
}

/// Runs the bundle under runc and returns the body of `GET path`.
fn serve(bundle: &Path, path: &str) -> String {
    let c = Container::start(bundle);
    let r = c.get(path);
    assert_eq!(r.status, 200, "GET {path}: {}\n{}", r.body, c.log());
    r.body
}

#[test]
fn flask_example_serves_with_gunicorn_from_the_dependency_layer() {
    let env = TestEnv::new();
    let p = env.copy_example("python-flask", "python-flask");
    let out = env.path("out");
    publish(&env, &p, "linux/amd64", &out).success();
    let l = Layout::open(&out);
    l.verify_blobs();
    let img = l.image("v1", "amd64");
    assert_eq!(
        img.cfg("Entrypoint"),
        &serde_json::json!(["gunicorn", "--workers", "2", "app:app"])
    );
    let e = img.env();
    assert_eq!(e["PYTHONPATH"], "/app:/app/.deps");
    assert!(e["PATH"].starts_with("/app/.deps/bin:"), "{}", e["PATH"]);
    // base layers (2), then dependencies, then the application.
    let layers = img.layer_digests();
    assert_eq!(layers.len(), 4);
    let deps = l.layer_entries(&layers[2]);
    let gunicorn = layout::find_entry(&deps, "app/.deps/bin/gunicorn");
    assert!(
        gunicorn.data.starts_with(b"#!/usr/bin/python3\n"),
        "console script shebang: {:?}",
        String::from_utf8_lossy(&gunicorn.data[..40.min(gunicorn.data.len())])
    );
    assert!(
        !deps
            .iter()
            .any(|e| e.path.contains("__pycache__") || e.path.ends_with("direct_url.json")),
        "no bytecode or direct_url.json in the dependency layer"
    );
    let app = l.layer_entries(&layers[3]);
    layout::find_entry(&app, "app/app.py");
    let bundle = unpack(&env, &l, &img, "flask");
    assert_eq!(serve(&bundle, "/"), "hello from flask\n");
}

#[test]
fn poetry_package_runs_its_console_script_from_the_lock() {
    let env = TestEnv::new();
    let p = fixture(&env, "poetry-app");
    let out = env.path("out");
    publish(&env, &p, "linux/amd64", &out).success();
    let l = Layout::open(&out);
    let img = l.image("v1", "amd64");
    assert_eq!(img.cfg("Entrypoint"), &serde_json::json!(["poetry-app"]));
    let layers = img.layer_digests();
    let deps = l.layer_entries(&layers[2]);
    assert!(deps.iter().any(|e| e.path == "app/.deps/six.py"));
    assert!(
        !deps.iter().any(|e| e.path.contains("pytest")),
        "dev group left out"
    );
    let bundle = unpack(&env, &l, &img, "poetry");
    assert_eq!(serve(&bundle, "/"), "poetry six 1.16.0 uid=65532\n");
}

#[test]
fn uv_project_runs_from_the_lock() {
    let env = TestEnv::new();
    let p = fixture(&env, "uv-app");
    let out = env.path("out");
    publish(&env, &p, "linux/amd64", &out).success();
    let l = Layout::open(&out);
    let img = l.image("v1", "amd64");
    let bundle = unpack(&env, &l, &img, "uv");
    assert_eq!(serve(&bundle, "/"), "uv idna 3.6 xn--bcher-kva.example\n");
}

#[test]
fn a_lone_main_py_runs() {
    let env = TestEnv::new();
    let p = fixture(&env, "main-only");
    let out = env.path("out");
    publish(&env, &p, "linux/amd64", &out).success();
    let l = Layout::open(&out);
    let img = l.image("v1", "amd64");
    assert_eq!(
        img.cfg("Entrypoint"),
        &serde_json::json!(["/usr/bin/python3", "/app/main.py"])
    );
    assert_eq!(img.layer_digests().len(), 3, "no dependency layer");
    let bundle = unpack(&env, &l, &img, "main");
    assert_eq!(serve(&bundle, "/"), "main.py on python 3.11 uid=65532\n");
}

#[test]
fn native_wheels_match_each_architecture() {
    let env = TestEnv::new();
    let p = fixture(&env, "native-yaml");
    let out = env.path("out");
    publish(&env, &p, "linux/amd64,linux/arm64", &out).success();
    let l = Layout::open(&out);
    for arch in ["amd64", "arm64"] {
        let img = l.image("v1", arch);
        let layers = img.layer_digests();
        let deps = l.layer_entries(&layers[layers.len() - 2]);
        let sos: Vec<_> = deps.iter().filter(|e| e.path.ends_with(".so")).collect();
        assert!(!sos.is_empty(), "{arch}: no .so in the dependency layer");
        for so in &sos {
            assert_eq!(
                elf_machine(&so.data),
                machine_for(arch),
                "{arch}: {} is for another machine",
                so.path
            );
        }
        eprintln!(
            "{arch}: {} native extension(s) with ELF machine {}",
            sos.len(),
            machine_for(arch)
        );
        let runnable = arch == "amd64" || (arm64::can_run(arch) && has_arm64_python());
        if runnable {
            let bundle = unpack(&env, &l, &img, arch);
            assert_eq!(serve(&bundle, "/"), "libyaml=True dump=a: 1\n", "{arch}");
            eprintln!("{arch}: the C extension imported under runc");
        } else {
            // Without binfmt, or without the arm64 packages for the test base (see
            // support/python_base.rs), only the ELF headers can be checked.
            eprintln!(
                "{arch}: ELF check only (binfmt: {:?}, arm64 python in the test base: {})",
                arm64::arm64_support(),
                has_arm64_python()
            );
        }
    }
}

#[test]
fn builds_are_reproducible_and_a_source_change_keeps_the_dependency_layer() {
    let env = TestEnv::new();
    let p = env.copy_example("python-flask", "python-flask");
    let digests: Vec<(String, Vec<String>)> = ["a", "b"]
        .iter()
        .map(|c| {
            let out = env.path(&format!("out-{c}"));
            // Separate caches: pip really runs twice, nothing is reused.
            let run = env
                .lade_with_cache(&env.path(&format!("cache-{c}")))
                .arg("publish")
                .arg("-C")
                .arg(&p)
                .args(["--platform", "linux/amd64", "--json", "--base"])
                .arg(python_base())
                .arg("--to")
                .arg(format!("oci:{}:v1", out.display()))
                .run()
                .success();
            let img = Layout::open(&out).image("v1", "amd64");
            (root_digest(&run.json()), img.layer_digests())
        })
        .collect();
    assert_eq!(digests[0], digests[1], "two builds, two caches, one digest");

    let app = p.join("app.py");
    let text = fs::read_to_string(&app).unwrap();
    write_file(&app, &text.replace("hello from flask", "hello again"));
    let out = env.path("out-c");
    let run = publish(&env, &p, "linux/amd64", &out).success();
    let img = Layout::open(&out).image("v1", "amd64");
    let layers = img.layer_digests();
    assert_eq!(layers[2], digests[0].1[2], "dependency layer unchanged");
    assert_ne!(layers[3], digests[0].1[3], "application layer changed");
    assert_ne!(root_digest(&run.json()), digests[0].0);

    // Same requirements, same cache: pip does not run again and the layer is the same.
    const REUSED: &str = "inputs unchanged since its last run, reused";
    write_file(&app, &text.replace("hello from flask", "hello once more"));
    let out = env.path("out-d");
    let again = publish(&env, &p, "linux/amd64", &out).success();
    assert!(again.stderr.contains(REUSED), "{}", again.context());
    assert!(
        !again.stderr.contains("Collecting"),
        "pip ran: {}",
        again.context()
    );
    assert_eq!(
        Layout::open(&out).image("v1", "amd64").layer_digests()[2],
        digests[0].1[2]
    );

    // A changed requirements file installs again, to the same layer for the same packages.
    let req = p.join("requirements.txt");
    let reqs = fs::read_to_string(&req).unwrap();
    write_file(&req, &format!("{reqs}# reviewed\n"));
    let out = env.path("out-e");
    let changed = publish(&env, &p, "linux/amd64", &out).success();
    assert!(!changed.stderr.contains(REUSED), "{}", changed.context());
    assert_eq!(
        Layout::open(&out).image("v1", "amd64").layer_digests()[2],
        digests[0].1[2]
    );
}

#[test]
fn bad_inputs_fail_with_one_clear_error() {
    let env = TestEnv::new();
    let out = env.path("out");
    let project = |name: &str, files: &[(&str, &str)]| {
        let dir = env.path(name);
        for (f, text) in files {
            write_file(&dir.join(f), text);
        }
        dir
    };

    let p = project(
        "unsatisfiable",
        &[
            ("requirements.txt", "six==999.0\n"),
            ("main.py", "print(1)\n"),
        ],
    );
    let run = publish(&env, &p, "linux/amd64", &out);
    run.expect_error(&["pip install dependencies"]);
    assert!(
        run.stderr.contains("six==999.0"),
        "pip's own error is shown:\n{}",
        run.stderr
    );

    let p = project(
        "mismatch",
        &[
            (
                "pyproject.toml",
                "[project]\nname = \"m\"\nversion = \"1\"\nrequires-python = \">=3.12\"\n",
            ),
            ("main.py", "print(1)\n"),
        ],
    );
    publish(&env, &p, "linux/amd64", &out).expect_error(&["pyproject.toml", ">=3.12", "3.11"]);

    let p = project(
        "broken",
        &[("pyproject.toml", "[project]\nname = \"b\"\nversion = \n")],
    );
    publish(&env, &p, "linux/amd64", &out).expect_error(&["pyproject.toml", "line 3, column"]);

    let p = project(
        "no-web",
        &[
            ("requirements.txt", "\n"),
            ("Procfile", "worker: python worker.py\n"),
        ],
    );
    publish(&env, &p, "linux/amd64", &out).expect_error(&["Procfile has no `web:`"]);
}

fn pipfile_project(
    env: &TestEnv,
    name: &str,
    package: &str,
    version: &str,
    sdist_hash: &str,
) -> PathBuf {
    let dir = env.path(name);
    write_file(
        &dir.join("Pipfile"),
        &format!(
            "[packages]\n{package} = \"=={version}\"\n\n[requires]\npython_version = \"3.11\"\n"
        ),
    );
    // Only the source distribution's hash: pip must build it on this machine.
    write_file(
        &dir.join("Pipfile.lock"),
        &format!(
            r#"{{"_meta": {{"requires": {{"python_version": "3.11"}}}}, "default": {{"{package}": {{"hashes": ["sha256:{sdist_hash}"], "version": "=={version}"}}}}, "develop": {{}}}}"#
        ),
    );
    write_file(&dir.join("main.py"), "print('hi')\n");
    dir
}

/// A locked source-only dependency for a foreign platform: built on the host, which is right
/// for pure Python and wrong for native code, which lade catches and names.
#[test]
fn foreign_platform_source_builds_pure_python_and_refuses_native_code() {
    let env = TestEnv::new();
    let pure = pipfile_project(
        &env,
        "pure",
        "six",
        "1.16.0",
        "1e61c37477a1626458e36f7b1d82aa5c9b094fa4802892072e49de9c60c4c926",
    );
    let out = env.path("out");
    publish(&env, &pure, "linux/arm64", &out).success();
    let img = Layout::open(&out).image("v1", "arm64");
    let layers = img.layer_digests();
    let deps = Layout::open(&out).layer_entries(&layers[layers.len() - 2]);
    layout::find_entry(&deps, "app/.deps/six.py");

    let native = pipfile_project(
        &env,
        "native",
        "markupsafe",
        "2.1.3",
        "af598ed32d6ae86f1b747b82783958b1a4ab8f617b06fe68795c7f026abbdcad",
    );
    let run = publish(&env, &native, "linux/arm64", &env.path("out-native"));
    run.expect_error(&["check that native code", "linux/arm64"]);
    assert!(
        run.stderr
            .to_lowercase()
            .contains("markupsafe 2.1.3 has no wheel for linux/arm64"),
        "the dependency is named:\n{}",
        run.stderr
    );
}
