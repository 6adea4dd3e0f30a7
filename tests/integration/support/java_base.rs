//! A Java 17 runtime base for the Java tests, built by lade itself: `lade base build java`
//! (Debian's openjdk-17-jre-headless on the static and cc layers, like distroless java17).
//! Built once per test run into a temp directory and shared by every test; the downloaded
//! packages are cached in `CARGO_TARGET_TMPDIR/lade-bases-cache`, the cache tests/bases.rs
//! uses, so a machine fetches them once. amd64 and arm64: Java images are multi-arch with
//! the same application layers on both.

use super::tools::run_ok;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;

pub const TAG: &str = "java17";
/// The Java release of the base, as lade names it in its bytecode check.
pub const JAVA_RELEASE: u32 = 17;

/// The `--base` reference (`oci:DIR:java17`) of the shared Java base, built on first use.
pub fn java_base() -> String {
    static BASE: OnceLock<PathBuf> = OnceLock::new();
    let dir = BASE.get_or_init(|| {
        remove_stale_bases();
        let dir = std::env::temp_dir().join(format!("lade-java-base-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        build(&dir);
        dir
    });
    format!("oci:{}:{TAG}", dir.display())
}

/// The package cache shared with tests/bases.rs, kept between runs.
fn shared_cache() -> PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR")).join("lade-bases-cache")
}

fn build(dir: &Path) {
    let cache = shared_cache();
    fs::create_dir_all(&cache).unwrap();
    let out = run_ok(
        Command::new(env!("CARGO_BIN_EXE_lade"))
            .stdin(Stdio::null())
            .env("LADE_CACHE_DIR", &cache)
            .env_remove("SOURCE_DATE_EPOCH")
            .env_remove("LADE_PLATFORMS")
            .args([
                "base",
                "build",
                "java",
                "--quiet",
                "--platform",
                "linux/amd64,linux/arm64",
            ])
            .arg("--to")
            .arg(format!("oci:{}:{TAG}", dir.display())),
    );
    eprintln!(
        "java base: {}",
        String::from_utf8_lossy(&out.stdout).trim_end()
    );
}

/// Bases of test runs that have ended (their process is gone): nothing removes them when a
/// run ends, since the base is shared by all its tests.
fn remove_stale_bases() {
    let Ok(rd) = fs::read_dir(std::env::temp_dir()) else {
        return;
    };
    for e in rd.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        if let Some(pid) = name.strip_prefix("lade-java-base-")
            && !Path::new("/proc").join(pid).exists()
        {
            let _ = fs::remove_dir_all(e.path());
        }
    }
}
