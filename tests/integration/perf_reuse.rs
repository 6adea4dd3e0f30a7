//! Unchanged build steps are not run: a second publish of the same sources runs no build tool
//! (the `--json` report says each step was reused, and a logging wrapper around the tool saw no
//! new build) and writes the same image; a one-line change runs the tool again, a change to
//! files the build cannot read (Go's `kodata/`) does not, unless the program embeds them. Rust release
//! binaries come out without a symbol table unless the project's profile says otherwise.

use crate::support::TestEnv;
use crate::support::arm64::host_arch;
use crate::support::env::write_file;
use crate::support::lade::{LadeRun, root_digest};
use crate::support::layout::{Layout, find_entry};
use crate::support::rust::{MUSL_AMD64, MUSL_ARM64, require_targets};
use crate::support::tools::{require_tool, stdout_ok};
use serde_json::Value;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

/// A directory with `name`, a script that appends its arguments to `log` when they start with
/// `build`, then runs the real tool: the test's own witness of what the tool was asked to do.
fn logging_wrapper(env: &TestEnv, name: &str, log: &Path) -> PathBuf {
    let real = require_tool(name);
    let dir = env.dir(&format!("wrap-{name}"));
    let script = dir.join(name);
    write_file(
        &script,
        &format!(
            "#!/bin/sh\nif [ \"$1\" = build ]; then echo \"$*\" >> '{}'; fi\nexec '{}' \"$@\"\n",
            log.display(),
            real.display()
        ),
    );
    fs::set_permissions(&script, fs::Permissions::from_mode(0o755)).unwrap();
    dir
}

fn path_with(dir: &Path) -> String {
    format!(
        "{}:{}",
        dir.display(),
        std::env::var("PATH").unwrap_or_default()
    )
}

fn builds_logged(log: &Path) -> usize {
    fs::read_to_string(log).map_or(0, |t| t.lines().count())
}

/// The `reused` flags of the steps whose program is `program`, from a publish report.
fn reused(j: &Value, program: &str) -> Vec<bool> {
    j["steps"]
        .as_array()
        .expect("steps in the report")
        .iter()
        .filter(|s| s["program"] == program)
        .map(|s| s["reused"].as_bool().expect("reused is a bool"))
        .collect()
}

fn publish(env: &TestEnv, project: &Path, wrap: &Path, platforms: &str, tag: &str) -> LadeRun {
    env.lade()
        .env("PATH", path_with(wrap))
        .arg("publish")
        .arg("-C")
        .arg(project)
        .args(["--platform", platforms, "--json", "--to"])
        .arg(format!("oci:{}:{tag}", env.path("out").display()))
        .run()
        .success()
}

#[test]
fn go_publish_with_nothing_changed_runs_no_go_build() {
    let env = TestEnv::new();
    let project = env.copy_example("go-hello", "go-hello");
    let log = env.path("go-builds.log");
    let wrap = logging_wrapper(&env, "go", &log);
    let platforms = "linux/amd64,linux/arm64";

    let first = publish(&env, &project, &wrap, platforms, "v1").json();
    assert_eq!(reused(&first, "go"), [false, false], "{first}");
    assert_eq!(builds_logged(&log), 2, "one go build per platform");

    let second = publish(&env, &project, &wrap, platforms, "v2").json();
    assert_eq!(reused(&second, "go"), [true, true], "{second}");
    assert_eq!(builds_logged(&log), 2, "go build did not run again");
    assert_eq!(
        root_digest(&first),
        root_digest(&second),
        "the reused build gives the same image"
    );

    let main = project.join("main.go");
    let text = fs::read_to_string(&main).unwrap();
    let changed = text.replace("hello from go-hello", "hello again from go-hello");
    assert_ne!(
        text, changed,
        "the example still has the line this test edits"
    );
    fs::write(&main, changed).unwrap();
    let third = publish(&env, &project, &wrap, platforms, "v3").json();
    assert_eq!(reused(&third, "go"), [false, false], "{third}");
    assert_eq!(
        builds_logged(&log),
        4,
        "the change ran go build for each platform"
    );
    assert_ne!(root_digest(&third), root_digest(&first));

    // A flag in the environment that changes go's output is part of the key too.
    let fourth = env
        .lade()
        .env("PATH", path_with(&wrap))
        .env("GOFLAGS", "-tags=lade_test")
        .arg("publish")
        .arg("-C")
        .arg(&project)
        .args(["--platform", platforms, "--json", "--to"])
        .arg(format!("oci:{}:v4", env.path("out").display()))
        .run()
        .success()
        .json();
    assert_eq!(reused(&fourth, "go"), [false, false], "{fourth}");
    assert_eq!(builds_logged(&log), 6);
}

/// The bytes of `path` in the image tagged `tag` (one platform, the host's), from whichever
/// layer holds it last.
fn image_file(env: &TestEnv, tag: &str, path: &str) -> Vec<u8> {
    let l = Layout::open(&env.path("out"));
    let img = l.image(tag, host_arch());
    img.layer_digests()
        .iter()
        .rev()
        .find_map(|d| {
            l.layer_entries(d)
                .into_iter()
                .find(|e| e.path == path)
                .map(|e| e.data)
        })
        .unwrap_or_else(|| panic!("no {path} in the image tagged {tag}"))
}

#[test]
fn a_go_kodata_change_reuses_go_build_and_changes_the_image() {
    let env = TestEnv::new();
    let project = env.copy_example("go-hello", "go-hello");
    let log = env.path("go-builds.log");
    let wrap = logging_wrapper(&env, "go", &log);
    let platform = format!("linux/{}", host_arch());

    let first = publish(&env, &project, &wrap, &platform, "v1").json();
    assert_eq!(reused(&first, "go"), [false], "{first}");
    assert_eq!(builds_logged(&log), 1);

    // Static data and a file beside the sources: neither is read by go build.
    fs::write(project.join("kodata/hello.txt"), "kodata changed\n").unwrap();
    fs::write(project.join("NOTES.md"), "not a Go file\n").unwrap();
    let second = publish(&env, &project, &wrap, &platform, "v2").json();
    assert_eq!(reused(&second, "go"), [true], "{second}");
    assert_eq!(builds_logged(&log), 1, "go build did not run again");
    assert_ne!(
        root_digest(&first),
        root_digest(&second),
        "the image changed"
    );
    assert_eq!(
        image_file(&env, "v2", "var/run/ko/hello.txt"),
        b"kodata changed\n"
    );

    // A program that embeds a file: changing that file runs go build again.
    let main = project.join("main.go");
    let text = fs::read_to_string(&main).unwrap();
    let embedding = text.replacen("import (", "import (\n\t_ \"embed\"", 1)
        + "\n//go:embed NOTES.md\nvar notes string\n\nfunc init() { os.Setenv(\"NOTES\", notes) }\n";
    fs::write(&main, embedding).unwrap();
    let third = publish(&env, &project, &wrap, &platform, "v3").json();
    assert_eq!(reused(&third, "go"), [false], "{third}");
    assert_eq!(builds_logged(&log), 2);
    fs::write(project.join("NOTES.md"), "embedded, changed\n").unwrap();
    let fourth = publish(&env, &project, &wrap, &platform, "v4").json();
    assert_eq!(reused(&fourth, "go"), [false], "{fourth}");
    assert_eq!(
        builds_logged(&log),
        3,
        "the embedded file's change ran go build"
    );
    let bin = image_file(&env, "v4", "app/go-hello");
    assert!(
        bin.windows(b"embedded, changed".len())
            .any(|w| w == b"embedded, changed"),
        "the binary holds the embedded file's new text"
    );
}

fn host_musl() -> (&'static str, String) {
    let triple = match host_arch() {
        "arm64" => MUSL_ARM64,
        _ => MUSL_AMD64,
    };
    (triple, format!("linux/{}", host_arch()))
}

/// Whether the ELF file has a `.symtab` section, as readelf (binutils) reads it.
fn has_symtab(path: &Path) -> bool {
    stdout_ok(Command::new(require_tool("readelf")).arg("-S").arg(path)).contains(".symtab")
}

/// The rust-hello binary of the image tagged `tag` in the test's layout, written to a file.
fn image_binary(env: &TestEnv, tag: &str) -> PathBuf {
    let l = Layout::open(&env.path("out"));
    let img = l.image(tag, host_arch());
    let last = img.layer_digests().pop().expect("a binary layer");
    let entries = l.layer_entries(&last);
    let bin = find_entry(&entries, "app/rust-hello");
    let path = env.path(&format!("rust-hello-{tag}"));
    fs::write(&path, &bin.data).unwrap();
    path
}

#[test]
fn rust_publish_with_nothing_changed_runs_no_cargo_build_and_strips_symbols() {
    let (triple, platform) = host_musl();
    require_targets(&[triple]);
    let env = TestEnv::new();
    let project = env.copy_example("rust-hello", "rust-hello");
    let log = env.path("cargo-builds.log");
    let wrap = logging_wrapper(&env, "cargo", &log);

    let first = publish(&env, &project, &wrap, &platform, "v1").json();
    assert_eq!(reused(&first, "cargo"), [false], "{first}");
    assert_eq!(builds_logged(&log), 1);
    assert!(
        !has_symtab(&image_binary(&env, "v1")),
        "a release profile that says nothing of symbols gives a stripped binary"
    );

    let second = publish(&env, &project, &wrap, &platform, "v2").json();
    assert_eq!(reused(&second, "cargo"), [true], "{second}");
    assert_eq!(builds_logged(&log), 1, "cargo did not run again");
    assert_eq!(root_digest(&first), root_digest(&second));

    let main = project.join("src/main.rs");
    let text = fs::read_to_string(&main).unwrap();
    let changed = text.replace("rust-hello listening on", "rust-hello now listening on");
    assert_ne!(
        text, changed,
        "the example still has the line this test edits"
    );
    fs::write(&main, changed).unwrap();
    let third = publish(&env, &project, &wrap, &platform, "v3").json();
    assert_eq!(reused(&third, "cargo"), [false], "{third}");
    assert_eq!(builds_logged(&log), 2);
    assert_ne!(root_digest(&third), root_digest(&first));

    // The project's own profile has the last word on symbols.
    let manifest = project.join("Cargo.toml");
    let mut toml = fs::read_to_string(&manifest).unwrap();
    toml.push_str("\n[profile.release]\nstrip = false\n");
    fs::write(&manifest, toml).unwrap();
    let fourth = publish(&env, &project, &wrap, &platform, "v4").json();
    assert_eq!(reused(&fourth, "cargo"), [false], "{fourth}");
    assert!(
        has_symtab(&image_binary(&env, "v4")),
        "strip = false in the profile keeps the symbols"
    );
}
