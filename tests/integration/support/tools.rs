//! Finding and running the host tools the tests depend on.

use std::ffi::OsStr;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

/// The path of `name`, or a panic telling how to get it. Tests never skip for a missing tool:
/// a skipped check looks exactly like a passing one in CI.
pub fn require_tool(name: &str) -> PathBuf {
    find_tool(name)
        .unwrap_or_else(|| panic!("required tool {name} not found: run scripts/install-deps.sh"))
}

/// Looks in PATH, then in the sbin directories a non-login root shell may lack (runc lives in
/// /usr/sbin on Debian).
pub fn find_tool(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/local/sbin", "/usr/sbin", "/sbin"].map(PathBuf::from))
        .map(|dir| dir.join(name))
        .find(|p| is_executable(p))
}

fn is_executable(p: &Path) -> bool {
    p.metadata()
        .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        .unwrap_or(false)
}

/// A command for a required tool.
pub fn tool(name: &str) -> Command {
    let mut c = Command::new(require_tool(name));
    c.stdin(Stdio::null());
    c
}

/// Runs `cmd`, panicking with its command line and both streams when it fails.
pub fn run_ok(cmd: &mut Command) -> Output {
    let out = run(cmd);
    if !out.status.success() {
        panic!(
            "{} failed ({}):\n--- stdout\n{}\n--- stderr\n{}",
            describe(cmd),
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    out
}

/// Runs `cmd` and returns its stdout as text; panics when it fails.
pub fn stdout_ok(cmd: &mut Command) -> String {
    String::from_utf8(run_ok(cmd).stdout).expect("tool output is UTF-8")
}

/// Runs `cmd` to completion, whatever its exit status.
pub fn run(cmd: &mut Command) -> Output {
    cmd.output()
        .unwrap_or_else(|e| panic!("cannot start {}: {e}", describe(cmd)))
}

/// `program arg arg…` for messages.
pub fn describe(cmd: &Command) -> String {
    std::iter::once(cmd.get_program())
        .chain(cmd.get_args())
        .map(OsStr::to_string_lossy)
        .collect::<Vec<_>>()
        .join(" ")
}

/// `GOCACHE` for a run that would otherwise have none: Go refuses to build without HOME or
/// XDG_CACHE_HOME, which a bare CI environment may lack. A directory under cargo's target
/// dir is shared by all tests and never inside the repository's sources.
pub fn fallback_gocache() -> Option<PathBuf> {
    let has = |k: &str| std::env::var_os(k).is_some_and(|v| !v.is_empty());
    if has("GOCACHE") || has("XDG_CACHE_HOME") || has("HOME") {
        None
    } else {
        Some(PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("go-build"))
    }
}
