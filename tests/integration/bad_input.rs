//! Wrong input fails clearly: non-zero exit, exactly one `error: ` line naming the file, flag
//! or reference at fault, and tool output (the compiler's) shown above it.

use crate::support::TestEnv;
use crate::support::base_image::build_base;
use crate::support::env::write_file;
use crate::support::lade::LadeRun;
use std::fs;
use std::path::Path;

/// `lade publish -C dir --to oci:<tmp>/out` plus `extra`.
fn publish(env: &TestEnv, dir: &Path, extra: &[&str]) -> LadeRun {
    env.lade()
        .arg("publish")
        .arg("-C")
        .arg(dir)
        .arg("--to")
        .arg(format!("oci:{}", env.path("out").display()))
        .args(extra)
        .run()
}

#[test]
fn an_empty_directory_is_no_project() {
    let env = TestEnv::new();
    // A distinctive name: the error line must name the directory (relative or absolute).
    let dir = env.dir("no-project-here");
    publish(&env, &dir, &[]).expect_error(&["no-project-here"]);
    assert!(!env.path("out").exists(), "nothing written on failure");
}

#[test]
fn a_module_without_a_main_package_is_refused() {
    let env = TestEnv::new();
    let dir = env.dir("lib");
    write_file(&dir.join("go.mod"), "module example.com/lib\n\ngo 1.19\n");
    write_file(
        &dir.join("lib.go"),
        "package lib\n\n// Answer is not a program.\nfunc Answer() int { return 42 }\n",
    );
    publish(&env, &dir, &["--platform", "linux/amd64"]).expect_error(&["main"]);
}

#[test]
fn a_compile_error_shows_the_compiler_output_then_one_error() {
    let env = TestEnv::new();
    let p = env.copy_example("go-hello", "go-hello");
    let main_go = p.join("main.go");
    let src = fs::read_to_string(&main_go).unwrap();
    let broken = src.replacen("func main() {", "func main() {\n\tnoSuchFunction()", 1);
    assert_ne!(src, broken);
    fs::write(&main_go, broken).unwrap();

    let run = publish(&env, &p, &["--platform", "linux/amd64"]);
    let line = run.expect_error(&["build"]);
    let compiler = run
        .stderr
        .find("undefined: noSuchFunction")
        .unwrap_or_else(|| panic!("the Go compiler's message is not shown:\n{}", run.context()));
    let error_at = run.stderr.find(&line).unwrap();
    assert!(
        compiler < error_at,
        "compiler output must come before the error line"
    );
}

#[test]
fn an_unknown_platform_is_named() {
    let env = TestEnv::new();
    let p = env.copy_example("go-hello", "go-hello");
    publish(&env, &p, &["--platform", "linux/sparc"]).expect_error(&["linux/sparc"]);
}

#[test]
fn a_base_lacking_the_platform_is_named() {
    let env = TestEnv::new();
    let base = build_base(&env.path("base"), "v1", &["amd64"], None);
    let p = env.copy_example("go-hello", "go-hello");
    let reference = base.reference();
    publish(
        &env,
        &p,
        &["--platform", "linux/arm64", "--base", reference.as_str()],
    )
    .expect_error(&["linux/arm64"]);
}

#[test]
fn an_unknown_transport_is_named() {
    let env = TestEnv::new();
    let p = env.copy_example("go-hello", "go-hello");
    let run = env
        .lade()
        .arg("publish")
        .arg("-C")
        .arg(&p)
        .args(["--platform", "linux/amd64", "--to", "ftp:./x"])
        .run();
    run.expect_error(&["ftp"]);
    assert!(
        !env.work.join("x").exists(),
        "nothing written for an unknown transport"
    );
}

#[test]
fn a_broken_lade_toml_is_named_with_its_line() {
    let env = TestEnv::new();
    let p = env.copy_example("go-hello", "go-hello");
    // The syntax error is on line 3.
    write_file(
        &p.join("lade.toml"),
        "# settings for go-hello\nentrypoint = [\"/app/go-hello\"]\nuser = = \"1000\"\n",
    );
    let line = publish(&env, &p, &["--platform", "linux/amd64"]).expect_error(&["lade.toml"]);
    assert!(
        line.contains("lade.toml:3") || line.contains("line 3"),
        "the error should give line 3: {line}"
    );
}

#[test]
fn an_output_under_a_regular_file_names_the_os_error_once() {
    let env = TestEnv::new();
    let p = env.copy_example("go-hello", "go-hello");
    // The layout's parent is a file, so creating the layout fails with ENOTDIR.
    write_file(&env.path("not-a-dir"), "a file, not a directory\n");
    let out = env.path("not-a-dir").join("out");
    let run = env
        .lade()
        .arg("publish")
        .arg("-C")
        .arg(&p)
        .args(["--platform", "linux/amd64", "--to"])
        .arg(format!("oci:{}", out.display()))
        .run();
    let line = run.expect_error(&["not-a-dir", "Not a directory (os error 20)"]);
    assert_eq!(
        run.stderr.matches("Not a directory (os error 20)").count(),
        1,
        "the OS error must be said once, in the error line ({line}):\n{}",
        run.context()
    );
}
