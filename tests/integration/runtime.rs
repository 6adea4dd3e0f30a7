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
