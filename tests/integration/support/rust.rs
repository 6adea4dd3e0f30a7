//! Helpers for the Rust image tests: making sure the musl targets are there (failing loudly
//! when they cannot be had), checking a rust-hello image, and running a command image to its
//! end under runc.

use super::TestEnv;
use super::arm64::{self, Arm64, arm64_support, can_run, elf_machine, machine_for};
use super::env::{example_dir, repo_root};
use super::layout::{self, Layout, PlatformImage};
use super::runc::Container;
use super::tools::{require_tool, run};
use serde_json::{Value, json};
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::Mutex;

pub const MUSL_AMD64: &str = "x86_64-unknown-linux-musl";
pub const MUSL_ARM64: &str = "aarch64-unknown-linux-musl";

/// rustc's sysroot as cargo would see it from the repository.
pub fn sysroot() -> PathBuf {
    let out = Command::new("rustc")
        .args(["--print", "sysroot"])
        .current_dir(repo_root())
        .output()
        .expect("run rustc --print sysroot");
    assert!(out.status.success(), "rustc --print sysroot failed");
    PathBuf::from(String::from_utf8(out.stdout).unwrap().trim())
}

pub fn has_target(triple: &str) -> bool {
    sysroot()
        .join("lib/rustlib")
        .join(triple)
        .join("lib")
        .is_dir()
}

/// Makes sure rustc has the standard library for each of `triples`, installing them with
/// rustup when missing. A test that needs them fails here, naming what is missing and what
/// rustup said, instead of passing without having built anything.
pub fn require_targets(triples: &[&str]) {
    // Tests run in parallel; one rustup at a time.
    static LOCK: Mutex<()> = Mutex::new(());
    let _guard = LOCK.lock().unwrap_or_else(|e| e.into_inner());
    let missing: Vec<&str> = triples.iter().copied().filter(|t| !has_target(t)).collect();
    if missing.is_empty() {
        return;
    }
    let out = Command::new("rustup")
        .arg("target")
        .arg("add")
        .args(&missing)
        .current_dir(repo_root())
        .stdin(Stdio::null())
        .output();
    let still: Vec<&str> = missing.iter().copied().filter(|t| !has_target(t)).collect();
    if still.is_empty() {
        eprintln!("installed Rust targets {}", missing.join(" "));
        return;
    }
    let said = match out {
        Ok(o) => format!(
            "{}; {}",
            o.status,
            String::from_utf8_lossy(&o.stderr).trim()
        ),
        Err(e) => format!("cannot run rustup: {e}"),
    };
    panic!(
        "RUST TARGETS MISSING: {} not installed in {} and `rustup target add {}` failed ({said}). \
         These tests need them; this is a failure, not a skip.",
        still.join(", "),
        sysroot().display(),
        still.join(" ")
    );
}

/// Which check proved the binary's platform.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Checked {
    Ran,
    ElfOnly,
}

/// Checks one platform image of rust-hello: valid, unpackable, the binary at
/// /app/rust-hello for the right machine and static, assets at /app/assets; and where the
/// platform runs here, the server answers under runc as `uid`. Returns the unpacked bundle.
pub fn check_rust_hello(
    env: &TestEnv,
    l: &Layout,
    img: &PlatformImage,
    uid: u32,
    label: &str,
) -> (Checked, PathBuf) {
    let arch = img.architecture().to_string();
    let bundle = unpack(env, l, img, label);
    let rootfs = bundle.join("rootfs");
    let binary = rootfs.join("app/rust-hello");
    let bytes = fs::read(&binary)
        .unwrap_or_else(|e| panic!("{arch}: no /app/rust-hello in the image: {e}"));
    assert!(
        fs::metadata(&binary).unwrap().permissions().mode() & 0o111 != 0,
        "{arch}: /app/rust-hello is not executable"
    );
    let machine = elf_machine(&bytes);
    assert_eq!(machine, machine_for(&arch), "{arch}: ELF machine");
    let info = lade::elf::parse(&bytes, &binary).unwrap();
    assert!(info.is_static(), "{arch}: a musl build is static: {info}");
    let hello = fs::read_to_string(example_dir("rust-hello").join("assets/hello.txt")).unwrap();
    assert_eq!(
        fs::read_to_string(rootfs.join("app/assets/hello.txt")).expect("assets at /app/assets"),
        hello
    );
    if !can_run(&arch) {
        let why = match arm64_support() {
            Arm64::Unavailable(why) => why,
            other => format!("{other:?}"),
        };
        eprintln!("{arch}: checked the ELF header only ({info}); cannot run: {why}");
        return (Checked::ElfOnly, bundle);
    }
    let c = Container::start(&bundle);
    let r = c.get("/");
    assert_eq!(
        (r.status, r.body.as_str()),
        (200, format!("hello from rust-hello uid={uid}\n").as_str()),
        "{arch}: GET /"
    );
    let r = c.get("/static/hello.txt");
    assert_eq!(
        (r.status, r.body),
        (200, hello),
        "{arch}: GET /static/hello.txt"
    );
    let how = if arch == arm64::host_arch() {
        "natively"
    } else {
        "under qemu binfmt"
    };
    eprintln!("{arch}: rust-hello ran under runc {how} ({info}), uid={uid}, assets served");
    (Checked::Ran, bundle)
}

/// Validates one platform image of a layout and unpacks it into a runtime bundle.
pub fn unpack(env: &TestEnv, l: &Layout, img: &PlatformImage, label: &str) -> PathBuf {
    let arch = img.architecture().to_string();
    let single = l.extract(img, &env.path(&format!("single-{label}")), &arch);
    layout::validate(&single.dir, &arch);
    let bundle = env.path(&format!("bundle-{label}"));
    layout::unpack(&single.dir, &arch, &bundle);
    bundle
}

/// Runs the bundle's image with `args` instead of its command line, to its end, without a
/// terminal; returns what it printed.
pub fn run_to_end(bundle: &Path, args: &[&str]) -> Output {
    let runc = require_tool("runc");
    let path = bundle.join("config.json");
    let mut v: Value = serde_json::from_str(&fs::read_to_string(&path).unwrap()).unwrap();
    v["process"]["terminal"] = json!(false);
    v["process"]["args"] = json!(args);
    fs::write(&path, serde_json::to_vec_pretty(&v).unwrap()).unwrap();
    // Tests run in parallel and two may unpack bundles of the same name: a counter keeps each
    // container's ID its own (runc refuses a second container under one ID, and the first
    // test's `delete -f` would kill the other's).
    static RUNS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let id = format!(
        "lade-it-run-{}-{}-{}",
        std::process::id(),
        RUNS.fetch_add(1, std::sync::atomic::Ordering::Relaxed),
        bundle.file_name().unwrap().to_string_lossy()
    );
    let out = run(Command::new(&runc)
        .arg("run")
        .arg("--bundle")
        .arg(bundle)
        .arg(&id)
        .stdin(Stdio::null()));
    let _ = run(Command::new(&runc).args(["delete", "-f", &id]));
    out
}
