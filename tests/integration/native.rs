//! Native code for every platform, cross-built with zig and no emulation: a Rust program with
//! C in it (`tests/fixtures/native/rust-c`: a C file built by `cc`, and zstd's C library) as
//! static musl images for amd64 and arm64 and as glibc images on a Debian 12 cc base, and a Go
//! program with cgo (`tests/fixtures/native/go-cgo`: a C function and the cgo resolver) on the
//! same base. The images run under runc, arm64 under qemu-user when binfmt_misc has it (the
//! test says which check it did). Two checkouts in two places give the same digests; without
//! zig, one line says how to install it and nothing is written.
//!
//! The cc base is built by `lade base build cc` from Debian packages (downloads cached in
//! `CARGO_TARGET_TMPDIR/lade-bases-cache`, as tests/bases.rs does). Checkouts and lade caches
//! live at fixed paths under `CARGO_TARGET_TMPDIR/native/`, so cargo's and go's caches make
//! the next run warm; each run copies the fixture afresh.

use crate::support::TestEnv;
use crate::support::arm64::{Arm64, arm64_support, can_run, elf_machine, machine_for};
use crate::support::env::{copy_tree, repo_root, write_file};
use crate::support::lade::{Lade, LadeRun, root_digest};
use crate::support::layout::Layout;
use crate::support::rust::{MUSL_AMD64, MUSL_ARM64, require_targets, run_to_end, unpack};
use crate::support::tools::run_ok;
use std::fs;
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;

const GNU_AMD64: &str = "x86_64-unknown-linux-gnu";
const GNU_ARM64: &str = "aarch64-unknown-linux-gnu";
const BOTH: &str = "linux/amd64,linux/arm64";

/// A directory kept between runs.
fn kept(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join("native")
        .join(rel)
}

/// A fresh copy of `tests/fixtures/native/<fixture>` at `dest` (kept between runs, so the
/// project path, and with it lade's build directory, stays the same).
fn checkout(fixture: &str, dest: &Path) -> PathBuf {
    let _ = fs::remove_dir_all(dest);
    copy_tree(
        &repo_root().join("tests/fixtures/native").join(fixture),
        dest,
    );
    dest.to_path_buf()
}

/// zig must be installed (scripts/install-deps.sh: pip install ziglang): as lade looks.
fn require_zig() {
    let on_path = std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default())
        .any(|d| d.join("zig").is_file());
    let from_pip = Command::new("python3")
        .args(["-m", "ziglang", "version"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    assert!(
        on_path || from_pip,
        "zig is not installed (neither on PATH nor `python3 -m ziglang`): run scripts/install-deps.sh (pip install ziglang)"
    );
}

/// The Debian 12 cc base for amd64 and arm64, built once per run by lade from packages.
fn cc_base() -> String {
    static BASE: OnceLock<String> = OnceLock::new();
    BASE.get_or_init(|| {
        let dir = kept("cc-base");
        let _ = fs::remove_dir_all(&dir);
        let cache = Path::new(env!("CARGO_TARGET_TMPDIR")).join("lade-bases-cache");
        fs::create_dir_all(&cache).unwrap();
        run_ok(
            Command::new(env!("CARGO_BIN_EXE_lade"))
                .stdin(Stdio::null())
                .env("LADE_CACHE_DIR", &cache)
                .env_remove("SOURCE_DATE_EPOCH")
                .env_remove("LADE_PLATFORMS")
                .args(["base", "build", "cc", "--quiet", "--platform", BOTH, "--to"])
                .arg(format!("oci:{}:cc", dir.display())),
        );
        format!("oci:{}:cc", dir.display())
    })
    .clone()
}

/// `lade` with a lade cache kept between runs.
fn lade(env: &TestEnv, cache: &str) -> Lade {
    env.lade_with_cache(&kept(cache))
}

fn publish(lade: Lade, dir: &Path, platforms: &str, out: &Path, extra: &[&str]) -> LadeRun {
    lade.arg("publish")
        .arg("-C")
        .arg(dir)
        .args(["--platform", platforms, "--json", "--to"])
        .arg(format!("oci:{}:v1", out.display()))
        .args(extra)
        .run()
}

fn plan(lade: Lade, dir: &Path, platforms: &str) -> serde_json::Value {
    lade.args(["plan", "--json", "-C"])
        .arg(dir)
        .args(["--platform", platforms])
        .run()
        .success()
        .json()
}

/// The environment of the target's step whose program is `program`.
fn step_env(plan: &serde_json::Value, target: usize, program: &str) -> serde_json::Value {
    plan["targets"][target]["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["program"] == program)
        .unwrap_or_else(|| panic!("no {program} step in {}", plan["targets"][target]))["env"]
        .clone()
}

/// How a binary is linked, as the tests expect it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Linked {
    Static,
    Glibc,
}

/// Checks each platform image's binary at `/app/<name>`: the ELF machine, static or glibc
/// (the loader and libc.so.6, nothing else from the system), and where the platform runs here
/// its output under runc as the image's user. Returns how many images ran.
fn check_images(
    env: &TestEnv,
    out: &Path,
    name: &str,
    linked: Linked,
    expect: impl Fn(&str) -> bool,
) -> usize {
    let l = Layout::open(out);
    l.verify_blobs();
    let images = l.images("v1");
    let archs: Vec<&str> = images.iter().map(|i| i.architecture()).collect();
    assert_eq!(archs, ["amd64", "arm64"]);
    let mut ran = 0;
    for img in &images {
        let arch = img.architecture().to_string();
        let label = format!(
            "{name}-{arch}-{}",
            out.file_name().unwrap().to_string_lossy()
        );
        let bundle = unpack(env, &l, img, &label);
        let binary = bundle.join("rootfs/app").join(name);
        let bytes = fs::read(&binary).unwrap_or_else(|e| panic!("{arch}: /app/{name}: {e}"));
        assert_eq!(
            elf_machine(&bytes),
            machine_for(&arch),
            "{arch}: ELF machine"
        );
        let info = lade::elf::parse(&bytes, &binary).unwrap();
        match linked {
            Linked::Static => assert!(info.is_static(), "{arch}: {info}"),
            Linked::Glibc => {
                assert!(info.interpreter.is_some(), "{arch}: {info}");
                // What Debian 12's cc base has: glibc and libgcc_s (unwinding, for the host
                // cc's Rust builds; zig links its own unwinder statically).
                assert!(
                    info.needed.iter().all(|n| n == "libc.so.6"
                        || n == "libm.so.6"
                        || n == "libgcc_s.so.1"
                        || n.starts_with("ld-linux")),
                    "{arch}: only what the cc base has is needed: {info}"
                );
                assert!(
                    info.needed.iter().any(|n| n == "libc.so.6"),
                    "{arch}: {info}"
                );
            }
        }
        if !can_run(&arch) {
            let why = match arm64_support() {
                Arm64::Unavailable(why) => why,
                other => format!("{other:?}"),
            };
            eprintln!("{arch}: {name} checked by its ELF header only ({info}): {why}");
            continue;
        }
        let run = run_to_end(&bundle, &[&format!("/app/{name}")]);
        let stdout = String::from_utf8_lossy(&run.stdout).into_owned();
        assert!(run.status.success(), "{arch}: {name} failed: {run:?}");
        assert!(
            expect(stdout.trim_end()),
            "{arch}: {name} printed {stdout:?}"
        );
        eprintln!(
            "{arch}: {name} ran under runc ({info}): {}",
            stdout.trim_end()
        );
        ran += 1;
    }
    ran
}

fn rust_c_output(s: &str) -> bool {
    s.starts_with("c says 193; zstd 39 -> ") && s.ends_with(" -> 39 bytes, round trip ok")
}

#[test]
fn rust_with_c_publishes_static_musl_images_for_two_platforms() {
    require_targets(&[MUSL_AMD64, MUSL_ARM64]);
    require_zig();
    let env = TestEnv::new();
    let project = checkout("rust-c", &kept("musl/rust-c"));

    let p = plan(lade(&env, "musl-cache"), &project, BOTH);
    assert_eq!(p["base"], "scratch");
    let host = crate::support::arm64::host_arch();
    for (i, (arch, triple, zig)) in [
        ("amd64", MUSL_AMD64, "x86_64-linux-musl"),
        ("arm64", MUSL_ARM64, "aarch64-linux-musl"),
    ]
    .into_iter()
    .enumerate()
    {
        let env_vars = step_env(&p, i, "cargo");
        let var = |k: &str| env_vars[k].as_str().unwrap_or("").to_string();
        let t = triple.replace('-', "_");
        if arch == host {
            // The host's own musl target keeps the host's compiler.
            assert_eq!(var(&format!("CC_{t}")), "musl-gcc", "{env_vars}");
        } else {
            assert!(
                var(&format!("CC_{t}")).ends_with(&format!("/zig/{zig}/cc")),
                "{triple}: {env_vars}"
            );
            assert!(var(&format!("AR_{t}")).ends_with(&format!("/zig/{zig}/ar")));
            let checks = p["targets"][i]["checks"].to_string();
            assert!(checks.contains("\"zig\""), "{checks}");
        }
        assert_eq!(
            var(&format!("CARGO_TARGET_{}_LINKER", t.to_uppercase())),
            "rust-lld",
            "musl binaries are linked by rust-lld"
        );
    }

    let out = kept("musl/out");
    let _ = fs::remove_dir_all(&out);
    let run = publish(lade(&env, "musl-cache"), &project, BOTH, &out, &[]).success();
    root_digest(&run.json());
    eprintln!("rust-c musl, two platforms: {:.1?}", run.elapsed);
    let ran = check_images(&env, &out, "rust-c", Linked::Static, rust_c_output);
    assert!(ran >= 1, "the host platform's image must run");
}

#[test]
fn rust_with_c_publishes_glibc_images_on_the_cc_base() {
    require_targets(&[GNU_AMD64, GNU_ARM64]);
    require_zig();
    let env = TestEnv::new();
    let project = checkout("rust-c", &kept("gnu/rust-c"));
    write_file(&project.join("lade.toml"), "[rust]\nlibc = \"gnu\"\n");

    let p = plan(lade(&env, "gnu-cache"), &project, BOTH);
    assert_eq!(p["base"], lade::detect::rust::CC_BASE);
    let host_index = usize::from(crate::support::arm64::host_arch() == "arm64");
    let (native, cross, cross_triple, cross_zig) = if host_index == 0 {
        (0, 1, GNU_ARM64, "aarch64-linux-gnu.2.36")
    } else {
        (1, 0, GNU_AMD64, "x86_64-linux-gnu.2.36")
    };
    let native_env = step_env(&p, native, "cargo").to_string();
    assert!(
        !native_env.contains("/zig/"),
        "the host's own glibc target keeps the host's cc: {native_env}"
    );
    let cross_env = step_env(&p, cross, "cargo");
    let linker = format!(
        "CARGO_TARGET_{}_LINKER",
        cross_triple.to_uppercase().replace('-', "_")
    );
    assert!(
        cross_env[&linker]
            .as_str()
            .unwrap_or("")
            .ends_with(&format!("/zig/{cross_zig}/cc")),
        "zig links the other architecture's glibc binary: {cross_env}"
    );

    let base = cc_base();
    let out = kept("gnu/out");
    let _ = fs::remove_dir_all(&out);
    let run = publish(
        lade(&env, "gnu-cache"),
        &project,
        BOTH,
        &out,
        &["--base", &base],
    )
    .success();
    assert_eq!(run.json()["base"]["name"], base.as_str());
    eprintln!("rust-c glibc, two platforms: {:.1?}", run.elapsed);
    let ran = check_images(&env, &out, "rust-c", Linked::Glibc, rust_c_output);
    assert!(ran >= 1, "the host platform's image must run");
}

fn go_output(s: &str) -> bool {
    s == "c says 193; https is port 443; uid=65532"
}

#[test]
fn go_with_cgo_publishes_for_two_platforms_on_the_cc_base() {
    require_zig();
    let env = TestEnv::new();
    let project = checkout("go-cgo", &kept("cgo/go-cgo"));

    let p = plan(lade(&env, "cgo-cache"), &project, BOTH);
    assert_eq!(
        p["base"],
        lade::detect::rust::CC_BASE,
        "cgo picks the cc base"
    );
    for (i, zig) in ["x86_64-linux-gnu.2.36", "aarch64-linux-gnu.2.36"]
        .into_iter()
        .enumerate()
    {
        let e = step_env(&p, i, "go");
        assert_eq!(e["CGO_ENABLED"], "1");
        assert!(
            e["CC"]
                .as_str()
                .unwrap()
                .ends_with(&format!("/zig/{zig}/cc")),
            "{e}"
        );
    }

    let base = cc_base();
    let out = kept("cgo/out");
    let _ = fs::remove_dir_all(&out);
    let run = publish(
        lade(&env, "cgo-cache"),
        &project,
        BOTH,
        &out,
        &["--base", &base],
    )
    .success();
    eprintln!("go-cgo, two platforms: {:.1?}", run.elapsed);
    let ran = check_images(&env, &out, "go-cgo", Linked::Glibc, go_output);
    assert!(ran >= 1, "the host platform's image must run");

    // The cgo binary on a base without the C library: named, with the package to add.
    let line = publish(
        lade(&env, "cgo-cache"),
        &project,
        "linux/amd64",
        &env.path("out-scratch"),
        &["--base", "scratch"],
    )
    .expect_error(&["/app/go-cgo", "libc.so.6", "scratch"]);
    eprintln!("on scratch: {line}");
    assert!(!env.path("out-scratch").exists(), "nothing written");

    // [go] cgo = false: the pure build, and the static base.
    write_file(&project.join("lade.toml"), "[go]\ncgo = false\n");
    let p = plan(lade(&env, "cgo-cache"), &project, "linux/arm64");
    assert_eq!(step_env(&p, 0, "go")["CGO_ENABLED"], "0");
    assert!(step_env(&p, 0, "go").get("CC").is_none());
    assert_eq!(p["base"], lade::detect::go::DEFAULT_BASE);
}

#[test]
fn native_builds_in_two_checkouts_give_identical_digests() {
    require_targets(&[MUSL_ARM64]);
    require_zig();
    let env = TestEnv::new();
    let base = cc_base();
    for (fixture, platforms, extra) in [
        ("go-cgo", BOTH, vec!["--base", base.as_str()]),
        ("rust-c", "linux/arm64", vec![]),
    ] {
        let mut digests = Vec::new();
        for place in ["a", "somewhere/else"] {
            let project = checkout(fixture, &kept(&format!("repro/{place}/{fixture}")));
            let out = env.path(&format!("out-{fixture}-{}", place.replace('/', "-")));
            let cache = format!("repro-cache-{}", place.replace('/', "-"));
            let run = publish(lade(&env, &cache), &project, platforms, &out, &extra).success();
            digests.push(root_digest(&run.json()));
            // The binaries hold neither checkout's path.
            let l = Layout::open(&out);
            for img in l.images("v1") {
                for layer in img.layer_digests() {
                    let blob = l.blob(&layer);
                    let tar = flate2::read::GzDecoder::new(&blob[..]);
                    let mut bytes = Vec::new();
                    std::io::Read::read_to_end(&mut { tar }, &mut bytes).unwrap();
                    let leak = project.to_str().unwrap();
                    assert!(
                        !bytes.windows(leak.len()).any(|w| w == leak.as_bytes()),
                        "{fixture} {}: a layer contains {leak}",
                        img.architecture()
                    );
                }
            }
        }
        assert_eq!(
            digests[0], digests[1],
            "{fixture}: two checkouts, two caches, one image"
        );
        eprintln!("{fixture}: both checkouts give {}", digests[0]);
    }
}

/// A PATH with only the given programs (symlinks to the real ones).
fn path_with(env: &TestEnv, programs: &[&str]) -> PathBuf {
    let dir = env.dir("bin-without-zig");
    for p in programs {
        let real = std::env::split_paths(&std::env::var_os("PATH").unwrap())
            .map(|d| d.join(p))
            .find(|c| c.is_file())
            .unwrap_or_else(|| panic!("{p} is not on PATH"));
        symlink(real, dir.join(p)).unwrap();
    }
    dir
}

#[test]
fn without_zig_one_line_says_how_to_install_it_and_nothing_is_written() {
    let env = TestEnv::new();
    let bin = path_with(&env, &["rustc", "cargo", "go"]);
    for (fixture, platform, extra) in [
        ("rust-c", "linux/arm64", vec![]),
        ("go-cgo", "linux/amd64", vec!["--base", "scratch"]),
    ] {
        let project = checkout(fixture, &env.path(fixture));
        let out = env.path(&format!("out-{fixture}"));
        let cache = env.path(&format!("cache-{fixture}"));
        let run = env
            .lade_with_cache(&cache)
            .env("PATH", &bin)
            .arg("publish")
            .arg("-C")
            .arg(&project)
            .args(["--platform", platform, "--to"])
            .arg(format!("oci:{}:v1", out.display()))
            .args(&extra)
            .run();
        let line = run.expect_error(&["zig was not found", "pip install ziglang", platform]);
        assert_eq!(run.error_lines().len(), 1, "{}", run.context());
        assert!(
            !out.exists(),
            "{fixture}: nothing written:\n{}",
            run.context()
        );
        let built = fs::read_dir(cache.join("build"))
            .into_iter()
            .flatten()
            .flatten()
            .any(|e| e.path().join("zig").exists());
        assert!(!built, "{fixture}: no build step ran:\n{}", run.context());
        eprintln!("{fixture}: {line}");
    }
}
