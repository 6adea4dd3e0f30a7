//! A table of bad inputs run through the real `lade` binary. Every row must fail the same way:
//! non-zero exit, exactly one `error: ` line naming what is wrong (and the fix where lade knows
//! one), no panic, nothing written, and, where the input can be checked up front, no build step.
//!
//! The rows share one environment and a few small projects so the whole table stays cheap;
//! each row gets its own cache directory so "no build step ran" is checked per row.

use crate::support::TestEnv;
use crate::support::base_image::build_base;
use crate::support::env::write_file;
use crate::support::registry::{Registry, RegistryConfig, free_port};
use std::ffi::OsString;
use std::fs;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

struct Row<'a> {
    name: &'static str,
    args: Vec<OsString>,
    envs: Vec<(&'static str, OsString)>,
    /// Words the single error line must contain (case-insensitive).
    words: Vec<String>,
    /// Paths that must not exist after the run.
    absent: Vec<PathBuf>,
    /// Paths that existed before the run and must be left exactly as they were.
    untouched: Vec<PathBuf>,
    /// A registry that must not have received any PUT.
    registry: Option<&'a Registry>,
    /// The input can be checked before anything is built.
    before_build: bool,
}

impl<'a> Row<'a> {
    fn new(name: &'static str) -> Row<'a> {
        Row {
            name,
            args: Vec::new(),
            envs: Vec::new(),
            words: Vec::new(),
            absent: Vec::new(),
            untouched: Vec::new(),
            registry: None,
            before_build: true,
        }
    }

    fn args<I, S>(mut self, args: I) -> Row<'a>
    where
        I: IntoIterator<Item = S>,
        S: Into<OsString>,
    {
        self.args.extend(args.into_iter().map(Into::into));
        self
    }

    fn env(mut self, k: &'static str, v: impl Into<OsString>) -> Row<'a> {
        self.envs.push((k, v.into()));
        self
    }

    fn words(mut self, words: &[&str]) -> Row<'a> {
        self.words.extend(words.iter().map(|w| w.to_string()));
        self
    }

    fn absent(mut self, p: impl Into<PathBuf>) -> Row<'a> {
        self.absent.push(p.into());
        self
    }

    fn untouched(mut self, p: impl Into<PathBuf>) -> Row<'a> {
        self.untouched.push(p.into());
        self
    }

    fn registry(mut self, r: &'a Registry) -> Row<'a> {
        self.registry = Some(r);
        self
    }

    /// The fault only shows once the image exists (writing the output).
    fn after_build(mut self) -> Row<'a> {
        self.before_build = false;
        self
    }
}

/// `publish -C project --platform linux/amd64 --to oci:out` plus `extra`: most rows vary one
/// thing from a publish that would otherwise work.
/// (`--platform linux/amd64` unless `extra` names the platform).
fn publish(name: &'static str, project: &Path, out: &Path, extra: &[&str]) -> Row<'static> {
    let mut row = Row::new(name).args(["publish", "-C"]).args([project]);
    if !extra.contains(&"--platform") {
        row = row.args(["--platform", "linux/amd64"]);
    }
    row.args(["--to"])
        .args([format!("oci:{}", out.display())])
        .args(extra.iter().copied())
        .absent(out)
}

/// `publish -C project --platform linux/amd64` plus `extra` (which names the output).
fn publish_to(name: &'static str, project: &Path, extra: &[&str]) -> Row<'static> {
    Row::new(name)
        .args(["publish", "-C"])
        .args([project])
        .args(["--platform", "linux/amd64"])
        .args(extra.iter().copied())
}

/// What a path is, for "left as it was": its type and, for a directory, its entries.
fn snapshot(p: &Path) -> String {
    use std::os::unix::fs::FileTypeExt;
    match fs::symlink_metadata(p) {
        Err(e) => format!("missing ({e})"),
        Ok(m) if m.is_dir() => {
            let mut names: Vec<_> = fs::read_dir(p)
                .unwrap()
                .map(|e| e.unwrap().file_name())
                .collect();
            names.sort();
            format!("dir {names:?}")
        }
        Ok(m) if m.file_type().is_fifo() => "fifo".into(),
        Ok(m) => format!("file of {} bytes", m.len()),
    }
}

fn check(env: &TestEnv, i: usize, row: &Row) {
    let cache = env.path(&format!("cache-{i}"));
    let before: Vec<String> = row.untouched.iter().map(|p| snapshot(p)).collect();
    let puts_before = row.registry.map(|r| r.mark());
    let mut lade = env.lade_with_cache(&cache).args(&row.args);
    for (k, v) in &row.envs {
        lade = lade.env(k, v);
    }
    let run = lade.run();
    let words: Vec<&str> = row.words.iter().map(String::as_str).collect();
    let line = run.expect_error(&words);
    eprintln!("{line}");
    assert!(
        !run.stderr.contains("panicked"),
        "lade panicked:\n{}",
        run.context()
    );
    for p in &row.absent {
        assert!(
            fs::symlink_metadata(p).is_err(),
            "{} was written:\n{}",
            p.display(),
            run.context()
        );
    }
    for (p, was) in row.untouched.iter().zip(before) {
        assert_eq!(
            snapshot(p),
            was,
            "{} was changed:\n{}",
            p.display(),
            run.context()
        );
    }
    if let (Some(reg), Some(mark)) = (row.registry, puts_before) {
        let log = reg.requests_since(mark);
        assert!(
            !log.iter().any(|a| a.method == "PUT"),
            "the registry received a PUT: {log:?}\n{}",
            run.context()
        );
    }
    if row.before_build {
        assert!(
            !cache.join("build").exists(),
            "a build step ran before the input was refused:\n{}",
            run.context()
        );
    }
}

/// A copy of go-hello (base = "scratch") whose lade.toml is `toml`.
fn go_with_toml(env: &TestEnv, dest: &str, toml: &str) -> PathBuf {
    let p = env.copy_example("go-hello", dest);
    write_file(&p.join("lade.toml"), toml);
    p
}

#[test]
fn every_bad_input_fails_with_one_clear_error_and_writes_nothing() {
    let start = Instant::now();
    let env = TestEnv::new();
    let o = |n: &str| env.path(&format!("out/{n}"));
    fs::create_dir_all(env.path("out")).unwrap();

    // Shared inputs.
    let go = env.copy_example("go-hello", "go");
    let a_file = env.path("a-file");
    write_file(&a_file, "a file, not a directory\n");
    let a_dir = env.dir("a-dir");
    let not_a_key = env.path("not-a-key.pem");
    write_file(&not_a_key, "this is not a PEM key\n");
    let fifo = env.path("a-fifo");
    let made = Command::new("mkfifo").arg(&fifo).status().expect("mkfifo");
    assert!(made.success(), "mkfifo failed");
    let base = build_base(&env.path("base"), "v1", &["amd64"], None);
    let closed = free_port();
    let registry = Registry::start();
    let locked = Registry::start_with(RegistryConfig {
        htpasswd: Some(("alice", "the-right-one")),
        ..Default::default()
    });

    // Projects with one bad file each.
    let toml_syntax = go_with_toml(
        &env,
        "toml-syntax",
        "# settings\nbase = \"scratch\"\nuser = = \"1000\"\n",
    );
    let toml_unknown = go_with_toml(
        &env,
        "toml-unknown",
        "base = \"scratch\"\nentrypont = [\"/app/go-hello\"]\n",
    );
    let toml_empty_entrypoint = go_with_toml(
        &env,
        "toml-entrypoint",
        "base = \"scratch\"\nentrypoint = []\n",
    );
    let toml_env_key = go_with_toml(
        &env,
        "toml-env",
        "base = \"scratch\"\n[env]\n\"A=B\" = \"c\"\n",
    );
    let toml_cache_repo = go_with_toml(
        &env,
        "toml-cache-repo",
        "base = \"scratch\"\n[build]\ncache-repo = \"localhost:5000/cache:v1\"\n",
    );
    let toml_workdir = go_with_toml(
        &env,
        "toml-workdir",
        "base = \"scratch\"\nworkdir = \"relative/dir\"\n",
    );
    let toml_user = go_with_toml(
        &env,
        "toml-user",
        "base = \"scratch\"\nuser = \"1000:x:y\"\n",
    );
    let toml_port = go_with_toml(&env, "toml-port", "base = \"scratch\"\nports = [70000]\n");
    let toml_platform = go_with_toml(
        &env,
        "toml-platform",
        "base = \"scratch\"\nplatforms = [\"linux/sparc\"]\n",
    );
    let toml_language = go_with_toml(
        &env,
        "toml-language",
        "base = \"scratch\"\nlanguage = \"cobol\"\n",
    );
    let toml_preset = go_with_toml(&env, "toml-preset", "[base]\npreset = \"alpine\"\n");
    let toml_mirror = go_with_toml(
        &env,
        "toml-mirror",
        "base = \"scratch\"\n[registry]\nmirrors = [\"no-equals-sign\"]\n",
    );
    let both = env.dir("both");
    write_file(
        &both.join("Cargo.toml"),
        "[package]\nname = \"both\"\nversion = \"0.1.0\"\nedition = \"2021\"\n\n[package.metadata.lade]\nports = [8080]\n",
    );
    write_file(&both.join("src/main.rs"), "fn main() {}\n");
    write_file(&both.join("lade.toml"), "ports = [9090]\n");

    let node_broken = env.dir("node-broken");
    write_file(
        &node_broken.join("package.json"),
        "{ \"name\": \"x\",\n  oops\n}\n",
    );
    let py_broken = env.dir("py-broken");
    write_file(
        &py_broken.join("pyproject.toml"),
        "[project\nname = \"x\"\n",
    );
    let cargo_lib = env.dir("cargo-lib");
    write_file(
        &cargo_lib.join("Cargo.toml"),
        "[package]\nname = \"only-a-lib\"\nversion = \"0.1.0\"\nedition = \"2021\"\n",
    );
    write_file(&cargo_lib.join("src/lib.rs"), "pub fn f() {}\n");
    let go_lib = env.dir("go-lib");
    write_file(
        &go_lib.join("go.mod"),
        "module example.com/lib\n\ngo 1.19\n",
    );
    write_file(
        &go_lib.join("lib.go"),
        "package lib\n\nfunc Answer() int { return 42 }\n",
    );
    let poetry = env.dir("poetry-nolock");
    write_file(
        &poetry.join("pyproject.toml"),
        "[tool.poetry]\nname = \"app\"\nversion = \"0.1.0\"\ndescription = \"\"\nauthors = []\n\n[tool.poetry.dependencies]\npython = \"^3.11\"\nflask = \"^3.0\"\n",
    );
    write_file(&poetry.join("app.py"), "print('hi')\n");
    let go_mod_broken = env.dir("go-mod-broken");
    write_file(&go_mod_broken.join("go.mod"), "modul example.com/x\n");
    write_file(
        &go_mod_broken.join("main.go"),
        "package main\n\nfunc main() {}\n",
    );
    let empty = env.dir("no-project-here");
    let node = env.copy_example("node-express", "node");

    let a_file_s = a_file.display().to_string();
    let a_dir_s = a_dir.display().to_string();
    let fifo_s = fifo.display().to_string();
    let key_s = not_a_key.display().to_string();
    let layout = base.dir.display().to_string();

    let rows: Vec<Row> = vec![
        // --- flags
        publish(
            "unknown_platform",
            &go,
            &o("p1"),
            &["--platform", "linux/sparc"],
        )
        .words(&["linux/sparc"]),
        publish("empty_platform", &go, &o("p2"), &["--platform", ""]).words(&["--platform"]),
        publish(
            "zstd_level_out_of_range",
            &go,
            &o("cl1"),
            &["--compression", "zstd", "--compression-level", "20"],
        )
        .words(&["--compression-level 20", "zstd", "1 to 19"]),
        publish("gzip_level_zero", &go, &o("cl2"), &["--compression-level", "0"])
            .words(&["--compression-level 0", "gzip", "1 to 9"]),
        publish(
            "platform_without_os",
            &go,
            &o("p3"),
            &["--platform", "amd64"],
        )
        .words(&["amd64"]),
        publish_to("ftp_transport", &go, &["--to", "ftp:./x"])
            .words(&["ftp"])
            .absent(env.work.join("x")),
        publish_to("to_a_bare_path", &go, &["--to", "./out"])
            .words(&["--to", "did you mean oci:./out"])
            .absent(env.work.join("out")),
        publish_to("to_empty", &go, &["--to", ""]).words(&["--to"]),
        publish_to("to_oci_without_a_path", &go, &["--to", "oci:"]).words(&["oci:"]),
        publish_to(
            "to_uppercase_repository",
            &go,
            &["--to", "127.0.0.1:5000/Team/App:1"],
        )
        .words(&["--to", "Team/App", "lowercase"]),
        publish_to(
            "to_bad_layout_tag",
            &go,
            &["--to", &format!("oci:{}:bad tag!", o("t1").display())],
        )
        .words(&["bad tag!"])
        .absent(o("t1")),
        publish("bad_extra_tag", &go, &o("t2"), &["--tag", "bad tag!"])
            .words(&["--tag", "bad tag!"]),
        publish(
            "image_refs_a_directory",
            &go,
            &o("r1"),
            &["--image-refs", &a_dir_s],
        )
        .words(&["--image-refs", "directory"])
        .untouched(&a_dir),
        publish(
            "image_refs_in_a_missing_directory",
            &go,
            &o("r2"),
            &["--image-refs", "/nonexistent-dir/refs.txt"],
        )
        .words(&["--image-refs", "/nonexistent-dir"]),
        publish(
            "sbom_under_a_file",
            &go,
            &o("s1"),
            &["--sbom", &format!("{a_file_s}/sboms")],
        )
        .words(&["--sbom", "a-file"])
        .untouched(&a_file),
        publish_to(
            "sign_key_missing",
            &go,
            &[
                "--to",
                &format!("{}/team/app:1", registry.host),
                "--sign-key",
                "/nonexistent/missing-key.pem",
            ],
        )
        .words(&["--sign-key", "missing-key.pem", "No such file"])
        .registry(&registry),
        publish_to(
            "sign_key_not_a_key",
            &go,
            &[
                "--to",
                &format!("{}/team/app:1", registry.host),
                "--sign-key",
                &key_s,
            ],
        )
        .words(&["--sign-key", "not-a-key.pem"])
        .registry(&registry),
        publish(
            "registry_mirror_without_equals",
            &go,
            &o("m1"),
            &["--registry-mirror", "mirror.internal:5000"],
        )
        .words(&["--registry-mirror", "FROM=TO"]),
        publish(
            "registry_ca_missing",
            &go,
            &o("c1"),
            &["--registry-ca", "/nonexistent/missing-ca.pem"],
        )
        .words(&["--registry-ca", "missing-ca.pem", "No such file"]),
        publish(
            "registry_ca_not_pem",
            &go,
            &o("c2"),
            &["--registry-ca", &key_s],
        )
        .words(&["--registry-ca", "not-a-key.pem", "no certificate"]),
        publish("main_unknown", &go, &o("n1"), &["--main", "./cmd/nope"]).words(&["nope"]),
        Row::new("dir_missing")
            .args(["publish", "-C", "/nonexistent/no-such-project", "--to"])
            .args([format!("oci:{}", o("d1").display())])
            .words(&["no-such-project"])
            .absent(o("d1")),
        Row::new("dir_is_a_file")
            .args(["publish", "-C", &a_file_s, "--to"])
            .args([format!("oci:{}", o("d2").display())])
            .words(&["a-file", "not a directory", "-C"])
            .absent(o("d2")),
        publish("source_date_epoch_not_a_number", &go, &o("e1"), &[])
            .env("SOURCE_DATE_EPOCH", "yesterday")
            .words(&["SOURCE_DATE_EPOCH"]),
        publish(
            "registry_concurrency_zero",
            &go,
            &o("k1"),
            &["--registry-concurrency", "0"],
        )
        .words(&["--registry-concurrency", "at least 1"]),
        Row::new("base_build_unknown_preset")
            .args(["base", "build", "cobol", "--to"])
            .args([format!("oci:{}", o("k2").display())])
            .words(&["cobol", "static"])
            .absent(o("k2")),
        Row::new("plan_unknown_platform")
            .args(["plan", "-C"])
            .args([&go])
            .args(["--platform", "linux/sparc"])
            .words(&["linux/sparc"]),
        // --- lade.toml
        publish("toml_syntax_error", &toml_syntax, &o("l1"), &[]).words(&["lade.toml:3"]),
        publish("toml_unknown_key", &toml_unknown, &o("l2"), &[]).words(&[
            "lade.toml:2",
            "entrypont",
            "did you mean `entrypoint`",
        ]),
        publish(
            "toml_empty_entrypoint",
            &toml_empty_entrypoint,
            &o("l3"),
            &[],
        )
        .words(&["lade.toml", "entrypoint"]),
        publish("toml_env_key_with_equals", &toml_env_key, &o("l4"), &[])
            .words(&["lade.toml", "A=B"]),
        publish(
            "toml_cache_repo_with_a_tag",
            &toml_cache_repo,
            &o("cr1"),
            &[],
        )
        .words(&[
            "[build] cache-repo in lade.toml",
            "localhost:5000/cache:v1",
            "no tag",
        ]),
        publish(
            "cache_repo_flag_with_a_digest",
            &go,
            &o("cr2"),
            &["--cache-repo", "localhost:5000/cache@sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a"],
        )
        .words(&["--cache-repo", "no tag or digest"]),
        publish("toml_relative_workdir", &toml_workdir, &o("l5"), &[]).words(&[
            "lade.toml",
            "workdir",
            "relative/dir",
        ]),
        publish("toml_bad_user", &toml_user, &o("l6"), &[]).words(&["lade.toml", "user"]),
        publish("toml_port_out_of_range", &toml_port, &o("l7"), &[]).words(&["lade.toml", "70000"]),
        Row::new("toml_unknown_platform")
            .args(["publish", "-C"])
            .args([&toml_platform])
            .args(["--to"])
            .args([format!("oci:{}", o("l8").display())])
            .words(&["lade.toml", "linux/sparc"])
            .absent(o("l8")),
        publish("toml_language_cobol", &toml_language, &o("l9"), &[])
            .words(&["lade.toml", "cobol"]),
        publish("toml_unknown_base_preset", &toml_preset, &o("l10"), &[])
            .words(&["lade.toml", "alpine"]),
        publish("toml_mirror_without_equals", &toml_mirror, &o("l11"), &[])
            .words(&["lade.toml", "no-equals-sign"]),
        publish("toml_and_cargo_metadata_both", &both, &o("l12"), &[]).words(&[
            "lade.toml",
            "[package.metadata.lade]",
            "keep one",
        ]),
        // --- project files
        publish("broken_package_json", &node_broken, &o("f1"), &[]).words(&["package.json"]),
        publish("broken_pyproject_toml", &py_broken, &o("f2"), &[]).words(&["pyproject.toml"]),
        publish("cargo_without_binaries", &cargo_lib, &o("f3"), &[]).words(&["Cargo.toml", "bin"]),
        publish("go_mod_without_main", &go_lib, &o("f4"), &[]).words(&["main"]),
        publish("poetry_without_lock", &poetry, &o("f5"), &[]).words(&["poetry.lock"]),
        publish("broken_go_mod", &go_mod_broken, &o("f6"), &[]).words(&["go.mod"]),
        publish("no_project", &empty, &o("f7"), &[]).words(&["no-project-here"]),
        // --- bases
        publish(
            "base_layout_missing",
            &go,
            &o("b1"),
            &["--base", "oci:/nonexistent/missing-layout"],
        )
        .words(&["missing-layout"]),
        publish(
            "base_layout_without_the_tag",
            &go,
            &o("b2"),
            &["--base", &format!("oci:{layout}:v2")],
        )
        .words(&["'v2'", "tags there: v1"]),
        publish(
            "base_layout_lacking_the_platform",
            &go,
            &o("b3"),
            &["--platform", "linux/arm64", "--base", &base.reference()],
        )
        .words(&["linux/arm64"]),
        publish(
            "scratch_base_for_node",
            &node,
            &o("b4"),
            &["--base", "scratch"],
        )
        .words(&["scratch", "node"]),
        publish(
            "registry_base_on_a_closed_port",
            &go,
            &o("b5"),
            &[
                "--base",
                &format!("127.0.0.1:{closed}/bases/static:nonroot"),
            ],
        )
        .words(&[&format!("127.0.0.1:{closed}"), "--base"]),
        publish(
            "base_layout_without_a_path",
            &go,
            &o("b6"),
            &["--base", "oci:"],
        )
        .words(&["'oci:'", "write oci:DIR"]),
        // --- registries
        publish_to(
            "to_a_closed_port",
            &go,
            &["--to", &format!("127.0.0.1:{closed}/team/app:1")],
        )
        .words(&["--to", &format!("127.0.0.1:{closed}")]),
        publish_to(
            "to_a_registry_without_credentials",
            &go,
            &["--to", &format!("{}/team/app:1", locked.host)],
        )
        .env("DOCKER_CONFIG", env.dir("no-docker-config"))
        .words(&["unauthorized", &locked.host])
        .registry(&locked),
        // --- outputs
        publish_to(
            "oci_layout_under_a_file",
            &go,
            &["--to", &format!("oci:{a_file_s}/x")],
        )
        .words(&["a-file", "Not a directory"])
        .untouched(&a_file)
        .after_build(),
        publish_to(
            "docker_archive_on_a_directory",
            &go,
            &["--to", &format!("docker-archive:{a_dir_s}")],
        )
        .words(&["a-dir", "directory"])
        .untouched(&a_dir),
        publish_to(
            "docker_archive_on_a_fifo",
            &go,
            &["--to", &format!("docker-archive:{fifo_s}")],
        )
        .words(&["a-fifo"])
        .untouched(&fifo),
        publish_to(
            "oci_archive_on_a_directory",
            &go,
            &["--to", &format!("oci-archive:{a_dir_s}")],
        )
        .words(&["a-dir", "directory"])
        .untouched(&a_dir),
    ];
    assert!(rows.len() >= 40, "the table has {} rows", rows.len());

    let mut failures = Vec::new();
    for (i, row) in rows.iter().enumerate() {
        eprintln!("--- row {i}: {}", row.name);
        if let Err(e) = catch_unwind(AssertUnwindSafe(|| check(&env, i, row))) {
            let msg = e
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| e.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_default();
            failures.push(format!("{}: {msg}", row.name));
        }
    }
    eprintln!("{} rows in {:.1?}", rows.len(), start.elapsed());
    assert!(
        failures.is_empty(),
        "{} of {} rows failed:\n\n{}",
        failures.len(),
        rows.len(),
        failures.join("\n\n")
    );
}
