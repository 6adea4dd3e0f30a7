//! The runtime check: lade refuses to write an image whose entrypoint cannot start, before any
//! build step runs, naming what is missing; and it finds an interpreter the base keeps off its
//! PATH from the base's own config, not its name.

use crate::support::TestEnv;
use crate::support::arm64::host_arch;
use crate::support::base_image::build_base;
use crate::support::layout::{self, Layout};
use crate::support::node_base::build_distroless_node_base;
use crate::support::runc::Container;
use serde_json::json;

/// Node, Python and Java examples on scratch and on a static base (files, users, no
/// interpreter): non-zero exit, one error line naming the missing interpreter and the base,
/// and nothing built or written.
#[test]
fn interpreted_projects_on_bases_without_their_runtime_fail_before_building() {
    let env = TestEnv::new();
    let static_base = build_base(&env.path("static-base"), "static", &[host_arch()], None);
    let platform = format!("linux/{}", host_arch());
    for (example, missing) in [
        ("node-express", "`node`"),
        ("python-flask", "/usr/bin/python3"),
        ("java-maven", "`java`"),
    ] {
        let project = env.copy_example(example, example);
        for base in ["scratch".to_string(), static_base.reference()] {
            let out = env.path(&format!("out-{example}-{}", base.len()));
            let run = env
                .lade()
                .arg("publish")
                .arg("-C")
                .arg(&project)
                .args(["--base", &base, "--platform", &platform, "--to"])
                .arg(format!("oci:{}:v1", out.display()))
                .run();
            let line = run.expect_error(&["cannot start", missing, &base]);
            assert!(line.contains("--base"), "the fix is named: {line}");
            assert!(!out.exists(), "{example} on {base}: an output was written");
            assert!(
                !env.cache.join("build").exists() && !env.cache.join("steps").exists(),
                "{example} on {base}: a build step ran:\n{}",
                run.context()
            );
        }
    }
}

/// distroless Node keeps node only at /nodejs/bin/node, off PATH, as its Entrypoint. Mirrored
/// under a name that says nothing of distroless, the image still starts that node.
#[test]
fn distroless_node_under_an_unrelated_name_runs() {
    let env = TestEnv::new();
    let base = build_distroless_node_base(&env.path("mirror/acme/runtime-base"), "prod");
    let project = env.copy_example("node-express", "node-express");
    let out = env.path("out");
    env.lade()
        .arg("publish")
        .arg("-C")
        .arg(&project)
        .args(["--base", &base.reference(), "--platform"])
        .arg(format!("linux/{}", host_arch()))
        .arg("--to")
        .arg(format!("oci:{}:v1", out.display()))
        .run()
        .success();
    let l = Layout::open(&out);
    let img = l.image("v1", host_arch());
    assert_eq!(
        img.cfg("Entrypoint"),
        &json!(["/nodejs/bin/node", "/app/server.js"])
    );
    let single = env.path("single");
    l.extract(&img, &single, "img");
    layout::validate(&single, "img");
    let bundle = env.path("bundle");
    layout::unpack(&single, "img", &bundle);
    let c = Container::start(&bundle);
    let r = c.get("/");
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(r.body.starts_with("hello from node-express"), "{}", r.body);

    // With the check skipped, the same publish says so in a warning.
    let run = env
        .lade()
        .arg("publish")
        .arg("-C")
        .arg(&project)
        .args(["--base", "scratch", "--no-verify", "--platform"])
        .arg(format!("linux/{}", host_arch()))
        .arg("--to")
        .arg(format!("oci:{}:v2", env.path("out-unchecked").display()))
        .run()
        .success();
    assert!(
        run.stderr
            .lines()
            .any(|l| l.starts_with("lade: warning:") && l.contains("--no-verify")),
        "{}",
        run.context()
    );
}

/// A base holding Python 3.12 (by its files: /usr/bin/python3 → python3.12, as Debian lays it
/// out), whatever its name; `from` fills the tar.
fn python312_base(dir: &std::path::Path, arch: &str) -> crate::support::base_image::BaseImage {
    use crate::support::base_image::{BASE_PATH, single_layer_layout_with};
    let mut b = tar::Builder::new(Vec::new());
    let mut entry = |path: &str, kind: tar::EntryType, mode: u32, link: Option<&str>| {
        let mut h = tar::Header::new_ustar();
        h.set_entry_type(kind);
        h.set_mode(mode);
        h.set_mtime(0);
        h.set_size(0);
        match link {
            Some(l) => b.append_link(&mut h, path, l).unwrap(),
            None => b.append_data(&mut h, path, std::io::empty()).unwrap(),
        }
    };
    entry("usr/", tar::EntryType::Directory, 0o755, None);
    entry("usr/bin/", tar::EntryType::Directory, 0o755, None);
    entry("usr/bin/python3.12", tar::EntryType::Regular, 0o755, None);
    entry(
        "usr/bin/python3",
        tar::EntryType::Symlink,
        0o777,
        Some("python3.12"),
    );
    entry("usr/lib/", tar::EntryType::Directory, 0o755, None);
    entry(
        "usr/lib/python3.12/",
        tar::EntryType::Directory,
        0o755,
        None,
    );
    let tar = b.into_inner().unwrap();
    single_layer_layout_with(
        dir,
        "py312",
        arch,
        &tar,
        "python 3.12 stand-in",
        json!({"Env": [format!("PATH={BASE_PATH}")], "User": "65532", "Entrypoint": ["/usr/bin/python3.12"]}),
    )
}

/// The Python version a project asks for is checked against the Python the base really has,
/// read from its files, not against a constant: `>=3.12` passes on a 3.12 base, `<3.12` fails
/// naming 3.12 and the file before anything is built, and wheels fetched for another
/// platform's Python 3.11 are refused on it. `lade plan` claims nothing about a base it has not
/// read.
#[test]
fn python_requirements_are_checked_against_the_base_python() {
    let env = TestEnv::new();
    let arch = host_arch();
    let base = python312_base(&env.path("py312"), arch);
    let project = |name: &str, requires: &str, extra: &[(&str, &str)]| {
        let dir = env.path(name);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(
            dir.join("pyproject.toml"),
            format!(
                "[project]\nname = \"{name}\"\nversion = \"1\"\nrequires-python = \"{requires}\"\n"
            ),
        )
        .unwrap();
        std::fs::write(dir.join("main.py"), "print('hi')\n").unwrap();
        for (f, text) in extra {
            std::fs::write(dir.join(f), text).unwrap();
        }
        dir
    };
    let publish = |dir: &std::path::Path, platform: &str, out: &std::path::Path| {
        env.lade()
            .arg("publish")
            .arg("-C")
            .arg(dir)
            .args(["--base", &base.reference(), "--platform", platform, "--to"])
            .arg(format!("oci:{}:v1", out.display()))
            .run()
    };
    let platform = format!("linux/{arch}");

    let plan = env
        .lade()
        .arg("plan")
        .arg("-C")
        .arg(project("planned", ">=3.12", &[]))
        .args(["--base", "scratch"])
        .run()
        .success();
    assert!(
        !plan.stdout.contains("the base has 3."),
        "plan claims a Python for a base it has not read:\n{}",
        plan.stdout
    );
    assert!(
        plan.stdout
            .contains("the base's Python is >=3.12 (pyproject.toml)"),
        "the check is in the plan:\n{}",
        plan.stdout
    );

    let ok_out = env.path("out-ok");
    publish(&project("new-enough", ">=3.12", &[]), &platform, &ok_out).success();
    assert!(ok_out.join("index.json").exists());

    let old_out = env.path("out-old");
    let run = publish(&project("too-new", "<3.12", &[]), &platform, &old_out);
    run.expect_error(&[
        "pyproject.toml",
        "<3.12",
        "3.12",
        "/usr/bin/python3.12",
        "--base",
    ]);
    assert!(
        !old_out.exists(),
        "an output was written:\n{}",
        run.context()
    );
    assert!(
        !env.cache.join("steps").exists(),
        "a build step ran:\n{}",
        run.context()
    );

    // Dependencies for another platform are wheels for the default base's Python 3.11.
    let foreign = if arch == "amd64" { "arm64" } else { "amd64" };
    let foreign_base = python312_base(&env.path("py312-foreign"), foreign);
    let wheels_out = env.path("out-wheels");
    let run = env
        .lade()
        .arg("publish")
        .arg("-C")
        .arg(project(
            "wheels",
            ">=3.8",
            &[("requirements.txt", "six==1.16.0\n")],
        ))
        .args(["--base", &foreign_base.reference(), "--platform"])
        .arg(format!("linux/{foreign}"))
        .arg("--to")
        .arg(format!("oci:{}:v1", wheels_out.display()))
        .run();
    run.expect_error(&["wheels for Python 3.11", "3.12"]);
    assert!(
        !wheels_out.exists(),
        "an output was written:\n{}",
        run.context()
    );
}
