//! Node projects end to end: npm (examples/node-express), a TypeScript build, yarn, pnpm and a
//! lone server.js published onto a base made from the host's node and run under runc; the
//! dependency layer reused when only application code changes; per-platform esbuild packages;
//! and the errors for bad inputs.

use crate::support::TestEnv;
use crate::support::arm64::{elf_machine, host_arch, machine_for};
use crate::support::base_image::build_base;
use crate::support::env::{copy_tree, repo_root};
use crate::support::lade::LadeRun;
use crate::support::layout::{self, Layout};
use crate::support::node_base::build_node_base;
use crate::support::runc::Container;
use serde_json::{Value, json};
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

/// Corepack (bundled with node) fetches yarn and pnpm. The tests point it at the npm registry
/// for every manager (by default it resolves yarn versions on yarn's own site, which test
/// machines may not reach), and turn off its signature check, which fails against registries
/// that serve no signatures; lade itself leaves both to the user's environment.
const COREPACK_ENV: &[(&str, &str)] = &[
    ("COREPACK_INTEGRITY_KEYS", "0"),
    ("COREPACK_NPM_REGISTRY", "https://registry.npmjs.org"),
];

fn fixture(env: &TestEnv, name: &str) -> PathBuf {
    let to = env.path(name);
    copy_tree(&repo_root().join("tests/fixtures/node").join(name), &to);
    to
}

fn publish(env: &TestEnv, project: &Path, base: &str, extra: &[&str], to: &str) -> LadeRun {
    let mut lade = env
        .lade()
        .arg("publish")
        .arg("-C")
        .arg(project)
        .args(["--base", base, "--json", "--to", to])
        .args(extra);
    for (k, v) in COREPACK_ENV {
        lade = lade.env(k, v);
    }
    lade.run()
}

/// The `layers` of a publish report named `name`, one per platform.
fn layers_named<'a>(report: &'a Value, name: &str) -> Vec<&'a Value> {
    report["layers"]
        .as_array()
        .expect("layers")
        .iter()
        .filter(|l| l["name"] == name)
        .collect()
}

/// Unpacks the host-platform image of `out:tag` and starts it under runc.
fn start(env: &TestEnv, out: &Path, tag: &str, label: &str) -> Container {
    let l = Layout::open(out);
    let img = l.image(tag, host_arch());
    let single_dir = env.path(&format!("single-{label}"));
    l.extract(&img, &single_dir, "img");
    layout::validate(&single_dir, "img");
    let bundle = env.path(&format!("bundle-{label}"));
    layout::unpack(&single_dir, "img", &bundle);
    Container::start(&bundle)
}

#[test]
fn express_runs_and_its_dependency_layer_is_reused() {
    let env = TestEnv::new();
    let base = build_node_base(&env.path("node-base"), "node");
    let project = env.copy_example("node-express", "node-express");
    let out = env.path("out");
    let to = |tag: &str| format!("oci:{}:{tag}", out.display());
    let first = publish(&env, &project, &base.reference(), &[], &to("v1")).success();
    let j1 = first.json();

    let l = Layout::open(&out);
    let img = l.image("v1", host_arch());
    assert_eq!(img.cfg("Entrypoint"), &json!(["node", "/app/server.js"]));
    assert_eq!(img.cfg("WorkingDir"), "/app");
    assert_eq!(
        img.env().get("NODE_ENV").map(String::as_str),
        Some("production")
    );
    let layers = img.layer_digests();
    assert_eq!(layers.len(), 3, "base, node_modules, app");
    let deps = l.layer_entries(&layers[1]);
    let paths: Vec<&str> = deps.iter().map(|e| e.path.as_str()).collect();
    assert!(paths.contains(&"app/node_modules/express/package.json"));
    assert!(
        !paths.iter().any(|p| p.ends_with(".package-lock.json")),
        "npm's hidden lockfile is left out"
    );
    let app = l.layer_entries(&layers[2]);
    let app_paths: Vec<&str> = app.iter().map(|e| e.path.as_str()).collect();
    assert!(app_paths.contains(&"app/server.js") && app_paths.contains(&"app/lib/greeting.js"));
    assert!(
        !project.join("node_modules").exists(),
        "the project is never written to"
    );

    let c = start(&env, &out, "v1", "v1");
    let r = c.get("/");
    assert_eq!(r.status, 200);
    assert_eq!(
        r.body, "hello from node-express uid=65532 env=production\n",
        "GET /"
    );
    // node is the container's process (no npm in between), so SIGTERM reaches the app, whose
    // handler closes the server and exits.
    let runc = crate::support::tools::require_tool("runc");
    crate::support::tools::run_ok(Command::new(&runc).args(["kill", &c.id, "TERM"]));
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let state = crate::support::tools::run(Command::new(&runc).args(["state", &c.id]));
        let stopped = !state.status.success()
            || String::from_utf8_lossy(&state.stdout).contains("\"stopped\"");
        if stopped {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the app did not stop on SIGTERM:\n{}",
            c.log()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    drop(c);

    // Only application code changes: the dependency layer is the same blob, from the cache.
    fs::write(
        project.join("lib/greeting.js"),
        "exports.greeting = () => \"hello again\";\n",
    )
    .unwrap();
    let second = publish(&env, &project, &base.reference(), &[], &to("v2")).success();
    let j2 = second.json();
    let (d1, d2) = (
        layers_named(&j1, "node_modules")[0],
        layers_named(&j2, "node_modules")[0],
    );
    assert_eq!(d1["digest"], d2["digest"], "node_modules layer digest");
    assert_eq!(d2["cached"], true, "node_modules layer reported cached");
    assert!(
        second
            .stderr
            .contains("inputs unchanged since its last run, reused"),
        "the lockfile did not change, so the install is reused:\n{}",
        second.context()
    );
    assert_ne!(
        layers_named(&j1, "app")[0]["digest"],
        layers_named(&j2, "app")[0]["digest"]
    );
    eprintln!(
        "first publish {:.1?}, republish after a source change {:.1?}",
        first.elapsed, second.elapsed
    );
    let c = start(&env, &out, "v2", "v2");
    assert!(c.get("/").body.starts_with("hello again"));
}

#[test]
fn typescript_is_built_in_a_copy_and_only_its_output_ships() {
    let env = TestEnv::new();
    let base = build_node_base(&env.path("node-base"), "node");
    let project = fixture(&env, "typescript");
    let out = env.path("out");
    let run = publish(
        &env,
        &project,
        &base.reference(),
        &[],
        &format!("oci:{}:ts", out.display()),
    )
    .success();
    assert!(
        !project.join("node_modules").exists() && !project.join("dist").exists(),
        "the build ran in lade's copy, not in the project"
    );
    let l = Layout::open(&out);
    let img = l.image("ts", host_arch());
    let layers = img.layer_digests();
    assert_eq!(layers.len(), 2, "base and app: no production dependencies");
    let app = l.layer_entries(&layers[1]);
    let paths: Vec<&str> = app.iter().map(|e| e.path.as_str()).collect();
    assert!(paths.contains(&"app/dist/server.js"), "{paths:?}");
    assert!(paths.contains(&"app/package.json"), "{paths:?}");
    assert!(
        !paths
            .iter()
            .any(|p| p.contains("typescript") || p.ends_with(".ts")),
        "neither the compiler nor the sources ship: {paths:?}"
    );
    let c = start(&env, &out, "ts", "ts");
    assert_eq!(c.get("/").body, "hello from typescript uid=65532\n");
    drop(run);
}

#[test]
fn yarn_pnpm_and_plain_scripts_run() {
    let env = TestEnv::new();
    let base = build_node_base(&env.path("node-base"), "node");
    for (name, want) in [
        ("plain", "hello from plain node production\n"),
        ("yarn", "hello from yarn 1m\n"),
        ("pnpm", "hello from pnpm 1m\n"),
    ] {
        let project = fixture(&env, name);
        let out = env.path(&format!("out-{name}"));
        let run = publish(
            &env,
            &project,
            &base.reference(),
            &[],
            &format!("oci:{}:{name}", out.display()),
        );
        if name != "plain" && !run.status.success() {
            panic!(
                "publishing the {name} project failed. If corepack could not fetch {name} from the npm registry, this machine cannot test {name} projects:\n{}",
                run.context()
            );
        }
        run.success();
        let c = start(&env, &out, name, name);
        assert_eq!(c.get("/").body, want, "{name}");
    }
}

#[test]
fn esbuild_gets_the_images_platform_package() {
    let env = TestEnv::new();
    let base = build_base(
        &env.path("base"),
        "static",
        &["amd64", "arm64"],
        Some("65532"),
    );
    let project = fixture(&env, "esbuild");
    let out = env.path("out");
    // The images are inspected, not run, on a static base for both platforms: it has no node,
    // so the runtime check is skipped (the host's node exists for one platform only).
    publish(
        &env,
        &project,
        &base.reference(),
        &["--platform", "linux/amd64,linux/arm64", "--no-verify"],
        &format!("oci:{}:esb", out.display()),
    )
    .success();
    let l = Layout::open(&out);
    for (arch, want, not) in [
        ("amd64", "linux-x64", "linux-arm64"),
        ("arm64", "linux-arm64", "linux-x64"),
    ] {
        let img = l.image("esb", arch);
        let deps = l.layer_entries(&img.layer_digests()[1]);
        let has = |pkg: &str| {
            deps.iter()
                .any(|e| e.path == format!("app/node_modules/@esbuild/{pkg}/package.json"))
        };
        assert!(has(want), "{arch}: @esbuild/{want} missing");
        assert!(!has(not), "{arch}: @esbuild/{not} should not be there");
        let bin = deps
            .iter()
            .find(|e| e.path == format!("app/node_modules/@esbuild/{want}/bin/esbuild"))
            .unwrap_or_else(|| panic!("{arch}: no esbuild binary"));
        assert_eq!(
            elf_machine(&bin.data),
            machine_for(arch),
            "{arch}: esbuild binary"
        );
    }

    // The dependency layers depend only on the lockfile and the platform: a publish with
    // another cache (another staging directory, a fresh install) gives the same blobs.
    let again = env
        .lade_with_cache(&env.path("cache-2"))
        .arg("publish")
        .arg("-C")
        .arg(&project)
        .args(["--base", &base.reference(), "--json", "--no-verify", "--to"])
        .arg(format!("oci:{}:esb", env.path("out-2").display()))
        .args(["--platform", "linux/amd64,linux/arm64"])
        .run()
        .success();
    let first = Layout::open(&out);
    let second = Layout::open(&env.path("out-2"));
    for arch in ["amd64", "arm64"] {
        assert_eq!(
            first.image("esb", arch).layer_digests()[1],
            second.image("esb", arch).layer_digests()[1],
            "{arch}: node_modules layer from a fresh cache"
        );
    }
    assert!(
        layers_named(&again.json(), "node_modules")
            .iter()
            .all(|l| l["cached"] == false)
    );
}

#[test]
fn bad_node_projects_fail_with_one_clear_error() {
    let env = TestEnv::new();
    let base = build_node_base(&env.path("node-base"), "node");
    let to = format!("oci:{}:bad", env.path("out").display());

    let invalid = env.dir("invalid");
    fs::write(
        invalid.join("package.json"),
        "{\n  \"name\": \"x\",\n  \"main\": \"a.js\"\n  \"scripts\": {}\n}\n",
    )
    .unwrap();
    publish(&env, &invalid, &base.reference(), &[], &to)
        .expect_error(&["package.json", "line 4, column 3"]);

    let no_start = env.dir("no-start");
    fs::write(
        no_start.join("package.json"),
        r#"{"name": "x", "scripts": {"start": "nodemon x.js"}}"#,
    )
    .unwrap();
    publish(&env, &no_start, &base.reference(), &[], &to).expect_error(&[
        "no start command",
        "scripts.start",
        "main",
        "Procfile",
        "entrypoint",
        "lade.toml",
    ]);

    // package.json wants a dependency the lockfile lacks: npm says so, then lade's one line.
    let stale = env.copy_example("node-express", "stale");
    let text = fs::read_to_string(stale.join("package.json")).unwrap();
    fs::write(
        stale.join("package.json"),
        text.replace(
            "\"express\": \"^4.21.2\"",
            "\"express\": \"^4.21.2\",\n    \"ms\": \"2.1.3\"",
        ),
    )
    .unwrap();
    let run = publish(&env, &stale, &base.reference(), &[], &to);
    run.expect_error(&["npm ci"]);
    assert!(
        run.stderr.contains("in sync"),
        "npm's own explanation is shown:\n{}",
        run.context()
    );
}

/// The post-install step lade runs after a production install (`lade node-finish`), run on a
/// hand-made node_modules: a package with binding.gyp fails a foreign platform with its name,
/// one with prebuilt binaries for the platform passes, and the managers' bookkeeping files are
/// removed either way.
#[test]
fn native_packages_cannot_be_cross_built() {
    let env = TestEnv::new();
    let stage = env.dir("stage");
    let write = |rel: &str, text: &str| {
        let p = stage.join(rel);
        fs::create_dir_all(p.parent().unwrap()).unwrap();
        fs::write(p, text).unwrap();
    };
    write("node_modules/.package-lock.json", "{}");
    write("node_modules/plain/package.json", r#"{"name": "plain"}"#);
    write(
        "node_modules/@scope/prebuilt/package.json",
        r#"{"name": "@scope/prebuilt", "gypfile": true}"#,
    );
    write(
        "node_modules/@scope/prebuilt/prebuilds/linux-arm64/x.node",
        "",
    );
    let run = |platform: &str, mode: &str| {
        let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_lade"));
        cmd.args([
            "node-finish",
            "--platform",
            platform,
            "--host",
            "linux/amd64",
        ])
        .current_dir(&stage);
        if mode == "native" {
            cmd.arg("--native");
        }
        crate::support::tools::run(&mut cmd)
    };
    let ok = run("linux/arm64", "cross");
    assert!(ok.status.success(), "{ok:?}");
    assert!(!stage.join("node_modules/.package-lock.json").exists());

    write(
        "node_modules/plain/node_modules/gyp-thing/package.json",
        r#"{"name": "gyp-thing"}"#,
    );
    write(
        "node_modules/plain/node_modules/gyp-thing/binding.gyp",
        "{}",
    );
    let bad = run("linux/arm64", "cross");
    let stderr = String::from_utf8_lossy(&bad.stderr);
    assert!(!bad.status.success());
    assert!(
        stderr.contains("gyp-thing")
            && stderr.contains("linux/arm64")
            && stderr.contains("node_modules/plain/node_modules/gyp-thing")
            && !stderr.contains("@scope/prebuilt"),
        "{stderr}"
    );
    // On the host's own platform the install script must have left a compiled addon; without
    // one (npm 11 skips unapproved scripts) the message says how to approve it.
    let unbuilt = run("linux/amd64", "native");
    let stderr = String::from_utf8_lossy(&unbuilt.stderr);
    assert!(
        !unbuilt.status.success()
            && stderr.contains("gyp-thing")
            && stderr.contains("npm install-scripts approve"),
        "{stderr}"
    );
    write(
        "node_modules/plain/node_modules/gyp-thing/build/Release/x.node",
        "",
    );
    let built = run("linux/amd64", "native");
    assert!(built.status.success(), "{built:?}");
}

/// Yarn berry (a yarn.lock with `__metadata`) installs with the node_modules linker and
/// `supportedArchitectures` in the staging copy.
#[test]
fn yarn_berry_runs() {
    let env = TestEnv::new();
    let path = crate::support::yarn::berry_path(&env);
    let base = build_node_base(&env.path("node-base"), "node");
    let project = fixture(&env, "yarn-berry");
    let out = env.path("out");
    let run = env
        .lade()
        .env("PATH", &path)
        .arg("publish")
        .arg("-C")
        .arg(&project)
        .args(["--base", &base.reference(), "--json", "--to"])
        .arg(format!("oci:{}:berry", out.display()))
        .run()
        .success();
    assert!(
        run.stderr.contains("yarn workspaces focus"),
        "{}",
        run.context()
    );
    assert!(
        !project.join(".yarn").exists() && !project.join(".pnp.cjs").exists(),
        "yarn ran in lade's staging copy, not in the project"
    );
    let c = start(&env, &out, "berry", "berry");
    assert_eq!(c.get("/").body, "hello from yarn berry 1m\n");
}

/// Registry credentials stay with lade: the project's build script (and so any dependency's
/// install script) sees neither the password nor the username variables, while the rest of
/// the environment reaches it.
#[test]
fn build_steps_do_not_see_registry_credentials() {
    let env = TestEnv::new();
    let project = env.dir("envcheck");
    fs::write(
        project.join("package.json"),
        r#"{"name": "envcheck", "version": "1.0.0", "main": "dist/server.js", "files": ["dist"],
  "scripts": {"build": "node build.js"}}"#,
    )
    .unwrap();
    fs::write(
        project.join("build.js"),
        r#"const fs = require("fs");
const seen = ["LADE_REGISTRY_PASSWORD", "LADE_REGISTRY_USERNAME",
  "LADE_REGISTRY_PASSWORD_LOCALHOST_5000", "LADE_TEST_VISIBLE"]
  .map((k) => `${k}=${process.env[k] ?? "(unset)"}`).join("\n");
fs.mkdirSync("dist", { recursive: true });
fs.writeFileSync("dist/server.js", `// ${seen.split("\n").join("\n// ")}\n`);
"#,
    )
    .unwrap();
    fs::write(project.join("package-lock.json"), r#"{"name": "envcheck", "lockfileVersion": 3, "requires": true, "packages": {"": {"name": "envcheck", "version": "1.0.0"}}}"#).unwrap();
    let base = build_node_base(&env.path("node-base"), "node");
    let out = env.path("out");
    env.lade()
        .arg("publish")
        .arg("-C")
        .arg(&project)
        .args(["--base", &base.reference(), "--platform"])
        .arg(format!("linux/{}", host_arch()))
        .arg("--to")
        .arg(format!("oci:{}:v1", out.display()))
        .env("LADE_REGISTRY_PASSWORD", "hunter2")
        .env("LADE_REGISTRY_USERNAME", "ci-bot")
        .env("LADE_REGISTRY_PASSWORD_LOCALHOST_5000", "hunter3")
        .env("LADE_TEST_VISIBLE", "yes")
        .run()
        .success();
    let l = Layout::open(&out);
    let img = l.image("v1", host_arch());
    let app = img.layer_digests().pop().unwrap();
    let bytes = l.blob(&app);
    let entries = layout::read_tar_gz(&bytes);
    let server = layout::find_entry(&entries, "app/dist/server.js");
    let text = String::from_utf8_lossy(&server.data).into_owned();
    assert!(text.contains("LADE_TEST_VISIBLE=yes"), "{text}");
    for k in [
        "LADE_REGISTRY_PASSWORD",
        "LADE_REGISTRY_USERNAME",
        "LADE_REGISTRY_PASSWORD_LOCALHOST_5000",
    ] {
        assert!(
            text.contains(&format!("{k}=(unset)")),
            "{k} reached the build: {text}"
        );
    }
}
