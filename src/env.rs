//! Every environment variable lade reads, and the one place that reads them.
//!
//! A variable is read through a [`Var`] (or, for a family such as `CC_<triple>`, a [`Family`])
//! declared here, so this file is the complete list; clippy's `disallowed-methods`
//! (`clippy.toml`) rejects `std::env::var` and its siblings anywhere else. Build steps that set
//! variables for the tools they run (`Command::env`) are not reads and are not listed.
//!
//! | variable | meaning | read by |
//! |---|---|---|
//! | `LADE_CACHE_DIR` | lade's cache (blob store, layer cache, build outputs); default `$XDG_CACHE_HOME/lade`, `$HOME/.cache/lade`, then `$TMPDIR/lade-cache` | `env::cache_dir` |
//! | `XDG_CACHE_HOME` | where the default cache goes | `env::cache_dir` |
//! | `HOME` | the default cache, cargo home (`~/.cargo`), Docker and containers auth files | `env::cache_dir`, `detect::rust`, `registry::credentials` |
//! | `TMPDIR` | the cache's last fallback ([`temp_dir`]) | `env::cache_dir` |
//! | `SOURCE_DATE_EPOCH` | the time written into images and bases; else the commit time (publish) or 0 (`base build`) | `git::Source::date_epoch`, `git::source_date_epoch_or_zero` |
//! | `LADE_REPO` | the repository `publish` pushes to without `--to` (`$LADE_REPO/<name>:latest`) | `ops::publish` |
//! | `LADE_REGISTRY_MIRRORS` | pull mirrors `FROM=TO,…`, after `--registry-mirror` | `registry::RegistryOptions::from_env` |
//! | `LADE_REGISTRY_TIMEOUT` | seconds a registry request may go without sending or receiving anything before it is tried again (default 30) | `registry::RegistryOptions::from_env` |
//! | `LADE_REGISTRY_USERNAME`, `LADE_REGISTRY_PASSWORD` | credentials for the registries lade pushes to | `registry::credentials` |
//! | `LADE_REGISTRY_HOST` | comma-separated registries the two above are for, instead of the push targets | `registry::credentials` |
//! | `LADE_REGISTRY_USERNAME_<HOST>`, `LADE_REGISTRY_PASSWORD_<HOST>` | credentials for one registry (`<HOST>`: upper case, non-alphanumerics as `_`) | `registry::credentials` |
//! | `REGISTRY_AUTH_FILE` | a containers `auth.json` to read first | `registry::credentials` |
//! | `DOCKER_CONFIG` | the directory of Docker's `config.json` (default `~/.docker`) | `registry::credentials` |
//! | `XDG_RUNTIME_DIR`, `XDG_CONFIG_HOME` | where containers keep `auth.json` | `registry::credentials` |
//! | `PATH` | whether the programs a plan's steps need are installed (no program is run to find out), and where zig (or python3 for `python3 -m ziglang`) is | `ops::checks`, `detect::node`, `toolchain::zig` |
//! | `RUSTC` | the rustc whose sysroot is checked for a target's standard library (as cargo uses it) | `ops::checks` |
//! | `CARGO_HOME` | cargo's home, for the cargo config a Rust build will see | `detect::rust` |
//! | `CARGO_PROFILE_<NAME>_<KEY>` | a profile setting cargo takes from the environment: a `STRIP` or `DEBUG` the user set keeps lade from stripping release binaries | `detect::rust` |
//! | `CC_<triple>`, `TARGET_CC` | a C compiler already chosen for a target, so lade does not pick one | `detect::rust` |
//! | `LADE_PLATFORMS` | `--platform` of `plan`, `publish` and `base build` | the command line (clap) |
//! | `LADE_SIGN_KEY` | `--sign-key` of `publish`: a PEM PKCS#8 private key that signs registry outputs | the command line (clap) |
//! | `LADE_INSECURE_REGISTRIES` | `--insecure-registry`, comma separated | the command line (clap) |
//! | `LADE_DEBIAN_MIRROR`, `LADE_DEBIAN_SECURITY_MIRROR` | `--debian-mirror`, `--debian-security-mirror` of `base build` | the command line (clap) |
//! | a build step's `Env` input (`GOFLAGS`) | a variable the step's tool reads from lade's environment: its value is part of the step's reuse key ([`step_input`]) | `build::key` |
//! | `NO_COLOR` | set (to anything but empty): no colour in progress output, even on a terminal | `main` (progress rendering) |
//! | `DOCKER_HOST` | the engine `--to docker-daemon:` loads into (`unix://PATH` or `tcp://HOST:PORT`); else the default Docker and Podman sockets | `sink::docker_daemon` |
//! | `npm_config_<key>`, `NPM_CONFIG_<KEY>` | npm's settings: `cache` is where `lade npm-install` reads npm's downloaded tarballs; any setting that could change what npm installs sends the install to npm | `tasks::npm_install` |
//! | `LADE_BENCH_DIR`, `LADE_BENCH_THREADS` | a tree to time the layer writer on, and its thread count (a test only) | `layer` tests |
//!
//! The values are read when needed, not once at start: lade is one command per process.

#![allow(clippy::disallowed_methods)]

use std::ffi::OsString;
use std::fmt;
use std::path::PathBuf;

/// An environment variable lade reads. Only this module declares them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Var(&'static str);

impl Var {
    pub const fn name(self) -> &'static str {
        self.0
    }
}

impl fmt::Display for Var {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0)
    }
}

/// Variables whose names start with a common prefix (`CC_<triple>`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Family(&'static str);

impl Family {
    pub const fn prefix(self) -> &'static str {
        self.0
    }
}

pub const LADE_CACHE_DIR: Var = Var("LADE_CACHE_DIR");
pub const XDG_CACHE_HOME: Var = Var("XDG_CACHE_HOME");
pub const HOME: Var = Var("HOME");
pub const SOURCE_DATE_EPOCH: Var = Var("SOURCE_DATE_EPOCH");
pub const LADE_REPO: Var = Var("LADE_REPO");
pub const LADE_SIGN_KEY: Var = Var("LADE_SIGN_KEY");
pub const LADE_REGISTRY_MIRRORS: Var = Var("LADE_REGISTRY_MIRRORS");
pub const LADE_REGISTRY_TIMEOUT: Var = Var("LADE_REGISTRY_TIMEOUT");
pub const LADE_REGISTRY_USERNAME: Var = Var("LADE_REGISTRY_USERNAME");
pub const LADE_REGISTRY_PASSWORD: Var = Var("LADE_REGISTRY_PASSWORD");
pub const LADE_REGISTRY_HOST: Var = Var("LADE_REGISTRY_HOST");
/// `LADE_REGISTRY_USERNAME_<HOST>`.
pub const LADE_REGISTRY_USERNAME_HOST: Family = Family("LADE_REGISTRY_USERNAME_");
/// `LADE_REGISTRY_PASSWORD_<HOST>`.
pub const LADE_REGISTRY_PASSWORD_HOST: Family = Family("LADE_REGISTRY_PASSWORD_");
pub const REGISTRY_AUTH_FILE: Var = Var("REGISTRY_AUTH_FILE");
pub const DOCKER_CONFIG: Var = Var("DOCKER_CONFIG");
pub const XDG_RUNTIME_DIR: Var = Var("XDG_RUNTIME_DIR");
pub const XDG_CONFIG_HOME: Var = Var("XDG_CONFIG_HOME");
pub const PATH: Var = Var("PATH");
pub const RUSTC: Var = Var("RUSTC");
pub const CARGO_HOME: Var = Var("CARGO_HOME");
/// `CC_<triple>`, in either spelling of the triple (dashes or underscores).
pub const CC_TRIPLE: Family = Family("CC_");
pub const TARGET_CC: Var = Var("TARGET_CC");
/// `CARGO_PROFILE_<NAME>_<KEY>`.
pub const CARGO_PROFILE: Family = Family("CARGO_PROFILE_");
pub const LADE_PLATFORMS: Var = Var("LADE_PLATFORMS");
pub const LADE_INSECURE_REGISTRIES: Var = Var("LADE_INSECURE_REGISTRIES");
pub const LADE_DEBIAN_MIRROR: Var = Var("LADE_DEBIAN_MIRROR");
pub const LADE_DEBIAN_SECURITY_MIRROR: Var = Var("LADE_DEBIAN_SECURITY_MIRROR");
pub const NO_COLOR: Var = Var("NO_COLOR");
pub const DOCKER_HOST: Var = Var("DOCKER_HOST");
/// `npm_config_<key>` (npm also reads the upper-case spelling).
pub const NPM_CONFIG: Family = Family("npm_config_");
pub const NPM_CONFIG_UPPER: Family = Family("NPM_CONFIG_");
pub const LADE_BENCH_DIR: Var = Var("LADE_BENCH_DIR");
pub const LADE_BENCH_THREADS: Var = Var("LADE_BENCH_THREADS");

/// The variable's value when it is set, as the OS gave it (possibly empty).
pub fn var_os(v: Var) -> Option<OsString> {
    std::env::var_os(v.0)
}

/// The variable's value when it is set and valid UTF-8 (possibly empty).
pub fn var(v: Var) -> Option<String> {
    std::env::var(v.0).ok()
}

/// The variable's value when it is set to something: an empty value counts as unset.
pub fn non_empty(v: Var) -> Option<String> {
    var(v).filter(|s| !s.is_empty())
}

/// The set variables of a family, as (full name, value). Names or values that are not UTF-8
/// are left out: no variable lade reads can be spelled that way.
pub fn family(f: Family) -> Vec<(String, String)> {
    std::env::vars_os()
        .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)))
        .filter(|(k, _)| k.starts_with(f.0))
        .collect()
}

/// A variable a build step declares as an input (the plan names it, so it cannot be a
/// [`Var`] here): its value, or empty when unset.
pub fn step_input(name: &str) -> String {
    std::env::var_os(name)
        .map(|v| v.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// The names of the set variables that hold registry credentials (`LADE_REGISTRY_USERNAME`,
/// `LADE_REGISTRY_PASSWORD` and their per-registry forms): removed from the environment of
/// every build step, where a dependency's install script could read them.
pub fn credential_names() -> Vec<OsString> {
    let prefixes = [LADE_REGISTRY_USERNAME.name(), LADE_REGISTRY_PASSWORD.name()];
    std::env::vars_os()
        .map(|(k, _)| k)
        .filter(|k| prefixes.iter().any(|p| k.to_string_lossy().starts_with(p)))
        .collect()
}

/// lade's cache: blob store, layer cache and build outputs. `LADE_CACHE_DIR` overrides the
/// XDG location so CI can keep it between runs (as a cache mount would).
pub fn cache_dir() -> PathBuf {
    if let Some(d) = var_os(LADE_CACHE_DIR).filter(|d| !d.is_empty()) {
        return PathBuf::from(d);
    }
    if let Some(d) = var_os(XDG_CACHE_HOME).filter(|d| !d.is_empty()) {
        return PathBuf::from(d).join("lade");
    }
    match var_os(HOME).filter(|d| !d.is_empty()) {
        Some(h) => PathBuf::from(h).join(".cache").join("lade"),
        None => temp_dir().join("lade-cache"),
    }
}

/// The directory for temporary files: `TMPDIR`, else `/tmp`.
pub fn temp_dir() -> PathBuf {
    std::env::temp_dir()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The table in this module's documentation lists every variable declared here.
    #[test]
    fn every_variable_is_documented() {
        let doc = include_str!("env.rs");
        let table: Vec<&str> = doc.lines().filter(|l| l.starts_with("//! | `")).collect();
        let vars = [
            LADE_CACHE_DIR,
            XDG_CACHE_HOME,
            HOME,
            SOURCE_DATE_EPOCH,
            LADE_REPO,
            LADE_SIGN_KEY,
            LADE_REGISTRY_MIRRORS,
            LADE_REGISTRY_TIMEOUT,
            LADE_REGISTRY_USERNAME,
            LADE_REGISTRY_PASSWORD,
            LADE_REGISTRY_HOST,
            REGISTRY_AUTH_FILE,
            DOCKER_CONFIG,
            XDG_RUNTIME_DIR,
            XDG_CONFIG_HOME,
            PATH,
            RUSTC,
            CARGO_HOME,
            TARGET_CC,
            LADE_PLATFORMS,
            LADE_INSECURE_REGISTRIES,
            LADE_DEBIAN_MIRROR,
            LADE_DEBIAN_SECURITY_MIRROR,
            NO_COLOR,
            DOCKER_HOST,
            LADE_BENCH_DIR,
            LADE_BENCH_THREADS,
        ];
        let names = vars.iter().map(|v| v.name().to_string()).chain(
            [
                CC_TRIPLE,
                CARGO_PROFILE,
                LADE_REGISTRY_USERNAME_HOST,
                LADE_REGISTRY_PASSWORD_HOST,
                NPM_CONFIG,
                NPM_CONFIG_UPPER,
            ]
            .iter()
            .map(|f| f.prefix().to_string()),
        );
        for name in names {
            assert!(
                table.iter().any(|l| l.contains(&format!("`{name}"))),
                "{name} is not in the table"
            );
        }
        let declared = doc
            .lines()
            .filter(|l| {
                l.starts_with("pub const ") && (l.contains(": Var") || l.contains(": Family"))
            })
            .count();
        assert_eq!(
            declared,
            vars.len() + 6,
            "a declared variable is missing above"
        );
    }
}
