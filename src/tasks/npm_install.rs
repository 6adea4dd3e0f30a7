//! `lade npm-install`: a locked npm install for production, written by lade from npm's own
//! download cache when the lockfile allows it (`detect::node::npm_lock`), else the npm command
//! the step carries after `--`, run as is.
//!
//! npm ci spends most of its time deciding what it already knows from a lockfile; with every
//! tarball in its cache (`_cacache/content-v2/sha512/…`, named by the lockfile's integrity),
//! the tree is each tarball unpacked to the lockfile's path, as npm unpacks it (pacote and
//! node-tar: the first path component stripped, links and directories in the tarball skipped,
//! `.gitignore` renamed `.npmignore`, file modes `tarmode | 0666` under the umask), plus the
//! `.bin` links npm makes from each package's `bin` (targets made executable, a CRLF shebang
//! line fixed). Each tarball's SHA-512 is checked as it is read; a mismatch, a missing tarball
//! or a setting of npm's that could change the install sends the install to npm.

use super::TaskError;
use crate::detect::node::npm_lock::{self, LockedInstall, LockedPackage, NpmPlatform};
use sha2::{Digest as _, Sha512};
use std::io::Read;
use std::os::unix::fs::{OpenOptionsExt as _, PermissionsExt as _};
use std::path::{Path, PathBuf};

/// The step's request: the lockfile and platform, and the npm command that does the same.
pub struct Request<'a> {
    pub lockfile: &'a str,
    pub platform: NpmPlatform,
    /// `npm ci --omit=dev …` (program first): run when lade cannot install by itself.
    pub npm: &'a [String],
}

/// Installs into `dir/node_modules` (which the runner created empty); `say` gets what was
/// done, or why npm is run instead (before it runs, so the step's log shows it first).
pub fn install(dir: &Path, req: &Request, mut say: impl FnMut(&str)) -> Result<(), TaskError> {
    let why = match plan(dir, req) {
        Ok((install, cache)) => match write(dir, &install, &cache)? {
            None => {
                let bins: usize = install.packages.iter().map(|p| p.bins.len()).sum();
                say(&format!(
                    "installed {} packages ({bins} bins) from npm's cache {}",
                    install.packages.len(),
                    cache.display()
                ));
                return Ok(());
            }
            Some(why) => why,
        },
        Err(why) => why,
    };
    say(&format!("{why}; running {}", req.npm.join(" ")));
    run_npm(dir, req.npm)
}

/// What lade installs and where npm's cache is, or why npm must install.
fn plan(dir: &Path, req: &Request) -> Result<(LockedInstall, PathBuf), String> {
    let read = |name: &str| {
        std::fs::read_to_string(dir.join(name)).map_err(|e| format!("cannot read {name} ({e})"))
    };
    let install =
        npm_lock::locked_install(&read(req.lockfile)?, &read("package.json")?, &req.platform)
            .map_err(|why| format!("{}: {why}", req.lockfile))?;
    let config = NpmConfig::read(dir)?;
    let cache = config.cache;
    if let Some(p) = install
        .packages
        .iter()
        .find(|p| !cache.join(npm_lock::cache_path(&p.sha512)).is_file())
    {
        return Err(format!(
            "npm's cache {} has no tarball for {} ({})",
            cache.display(),
            p.path,
            p.resolved
        ));
    }
    Ok((install, cache))
}

/// npm's settings as lade needs them: where the cache is, and that nothing set changes what
/// npm installs.
struct NpmConfig {
    cache: PathBuf,
}

/// Settings that change nothing in node_modules (network, logging, credentials, output), or
/// that npm sets for the scripts it runs.
const HARMLESS: &[&str] = &[
    "registry",
    "cache",
    "fund",
    "audit",
    "audit-level",
    "update-notifier",
    "loglevel",
    "progress",
    "color",
    "unicode",
    "timing",
    "logs-dir",
    "logs-max",
    "prefer-offline",
    "prefer-online",
    "offline",
    "strict-ssl",
    "cafile",
    "ca",
    "cert",
    "key",
    "proxy",
    "https-proxy",
    "noproxy",
    "no-proxy",
    "fetch-retries",
    "fetch-retry-factor",
    "fetch-retry-mintimeout",
    "fetch-retry-maxtimeout",
    "fetch-timeout",
    "maxsockets",
    "user-agent",
    "always-auth",
    "email",
    "-auth",
    "-authtoken",
    "username",
    "-password",
    "save-exact",
    "save-prefix",
    "node-gyp",
    "global-prefix",
    "local-prefix",
    "prefix",
    "userconfig",
    "globalconfig",
    "init-module",
    "npm-version",
    "metrics-registry",
    "yes",
    "omit-lockfile-registry-resolved",
    "lockfile-version",
    "nodedir",
    "node-options",
    "script-shell",
    "shell",
    "editor",
    "browser",
    "viewer",
    "git",
    "sign-git-commit",
    "sign-git-tag",
    "tag-version-prefix",
    "message",
    "json",
    "parseable",
];

fn harmless(key: &str) -> bool {
    let key = key.trim().to_ascii_lowercase().replace('_', "-");
    // Per-registry credentials and scoped registries.
    key.starts_with("//")
        || (key.starts_with('@') && key.ends_with(":registry"))
        || key.starts_with("init-")
        || HARMLESS.contains(&key.as_str())
}

impl NpmConfig {
    /// From npm's environment variables, the project's .npmrc (staged in `dir`) and the
    /// user's; the cache as npm finds it (`~/.npm` by default).
    fn read(dir: &Path) -> Result<NpmConfig, String> {
        let mut cache = None;
        let mut userconfig = None;
        for (k, v) in crate::env::family(crate::env::NPM_CONFIG)
            .into_iter()
            .chain(crate::env::family(crate::env::NPM_CONFIG_UPPER))
        {
            let key = k[crate::env::NPM_CONFIG.prefix().len()..].to_ascii_lowercase();
            if !harmless(&key) {
                return Err(format!("npm's setting {k} is set"));
            }
            match key.as_str() {
                "cache" if !v.is_empty() => cache = Some(PathBuf::from(v)),
                "userconfig" if !v.is_empty() => userconfig = Some(PathBuf::from(v)),
                _ => {}
            }
        }
        let home = crate::env::non_empty(crate::env::HOME).map(PathBuf::from);
        let user = userconfig.or_else(|| home.as_ref().map(|h| h.join(".npmrc")));
        for rc in [Some(dir.join(".npmrc")), user].into_iter().flatten() {
            let Ok(text) = std::fs::read_to_string(&rc) else {
                continue;
            };
            for (key, value) in npmrc(&text) {
                if !harmless(&key) {
                    return Err(format!("{} sets {key}", rc.display()));
                }
                if key == "cache" && cache.is_none() {
                    cache = Some(expand_home(&value, home.as_deref()).ok_or_else(|| {
                        format!(
                            "{} sets cache to {value}, which lade does not expand",
                            rc.display()
                        )
                    })?);
                }
            }
        }
        let cache = match (cache, home) {
            (Some(c), _) => c,
            (None, Some(h)) => h.join(".npm"),
            (None, None) => return Err("neither npm's cache nor HOME is set".into()),
        };
        Ok(NpmConfig { cache })
    }
}

/// An .npmrc's `key = value` lines (comments and sections left out).
fn npmrc(text: &str) -> Vec<(String, String)> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with(';') && !l.starts_with('#'))
        .map(|l| {
            let (k, v) = l.split_once('=').unwrap_or((l, "true"));
            (k.trim().to_string(), v.trim().trim_matches('"').to_string())
        })
        .collect()
}

fn expand_home(value: &str, home: Option<&Path>) -> Option<PathBuf> {
    if value.contains('$') {
        return None;
    }
    match value.strip_prefix("~/") {
        Some(rest) => Some(home?.join(rest)),
        None if Path::new(value).is_absolute() => Some(PathBuf::from(value)),
        None => None,
    }
}

/// Writes every package and its bins. `Ok(Some(why))` when a tarball was not what the
/// lockfile says: node_modules is emptied again for npm.
fn write(dir: &Path, install: &LockedInstall, cache: &Path) -> Result<Option<String>, TaskError> {
    let modules = dir.join("node_modules");
    let results = crate::par::map_each(&install.packages, 4, |p| unpack(dir, p, cache));
    let mut mismatch = None;
    for r in results {
        if let Some(why) = r? {
            mismatch.get_or_insert(why);
        }
    }
    if let Some(why) = mismatch {
        std::fs::remove_dir_all(&modules).map_err(TaskError::io("emptying", &modules))?;
        std::fs::create_dir_all(&modules).map_err(TaskError::io("creating", &modules))?;
        return Ok(Some(why));
    }
    link_bins(dir, install)?;
    Ok(None)
}

/// Hashes what is read through it.
struct Hashing<R> {
    inner: R,
    hash: Sha512,
}

impl<R: Read> Read for Hashing<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hash.update(&buf[..n]);
        Ok(n)
    }
}

/// Unpacks one tarball; `Ok(Some(why))` when its digest is not the lockfile's.
fn unpack(dir: &Path, p: &LockedPackage, cache: &Path) -> Result<Option<String>, TaskError> {
    let tgz = cache.join(npm_lock::cache_path(&p.sha512));
    let file = std::fs::File::open(&tgz).map_err(TaskError::io("opening", &tgz))?;
    let reader = Hashing {
        inner: std::io::BufReader::with_capacity(64 << 10, file),
        hash: Sha512::new(),
    };
    let to = dir.join(&p.path);
    std::fs::create_dir_all(&to).map_err(TaskError::io("creating", &to))?;
    let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(reader));
    let unpacked = unpack_entries(&mut archive, &to);
    let mut reader = archive.into_inner().into_inner();
    // The rest of the file (after the tar's end) is part of the digest too.
    let rest = std::io::copy(&mut reader, &mut std::io::sink());
    let digest = reader.hash.finalize();
    if digest.as_slice() != p.sha512.as_slice() {
        return Ok(Some(format!(
            "{} in npm's cache is not the tarball the lockfile names for {}",
            tgz.display(),
            p.path
        )));
    }
    rest.map_err(TaskError::io("reading", &tgz))?;
    unpacked.map_err(TaskError::io("unpacking", &tgz))?;
    Ok(None)
}

fn unpack_entries<R: Read>(archive: &mut tar::Archive<R>, to: &Path) -> std::io::Result<()> {
    let mut ignores = std::collections::BTreeSet::new();
    // Directories already made, so each file costs no mkdir of its parents.
    let mut made = std::collections::BTreeSet::new();
    for entry in archive.entries()? {
        let mut entry = entry?;
        let kind = entry.header().entry_type();
        // node-tar's regular files; directories come from the files' paths, links are
        // skipped as npm skips them.
        if !matches!(kind, tar::EntryType::Regular | tar::EntryType::Continuous) {
            continue;
        }
        let raw = entry.path_bytes().into_owned();
        let Ok(raw) = String::from_utf8(raw) else {
            continue;
        };
        let mut parts: Vec<&str> = raw
            .split('/')
            .filter(|s| !s.is_empty() && *s != ".")
            .skip(1)
            .collect();
        if parts.is_empty() || parts.contains(&"..") {
            continue;
        }
        let last = parts.len() - 1;
        let joined = parts.join("/");
        if parts[last] == ".npmignore" {
            ignores.insert(joined.clone());
        } else if parts[last] == ".gitignore" {
            // npm treats a .gitignore as the package's .npmignore, unless it has one.
            let npmignore = format!("{}npmignore", &joined[..joined.len() - "gitignore".len()]);
            if ignores.contains(&npmignore) {
                continue;
            }
            parts[last] = ".npmignore";
        }
        let path = parts.iter().fold(to.to_path_buf(), |p, s| p.join(s));
        if let Some(parent) = path.parent()
            && !made.contains(parent)
        {
            std::fs::create_dir_all(parent)?;
            made.insert(parent.to_path_buf());
        }
        let mode = npm_lock::file_mode(entry.header().mode()?);
        let mut out = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(mode)
            .open(&path)?;
        std::io::copy(&mut entry, &mut out)?;
    }
    Ok(())
}

/// `.bin/<name>` → `../<package>/<file>` beside each package, as npm links them, the target
/// made executable (0777 under the umask) with a CRLF shebang line fixed.
fn link_bins(dir: &Path, install: &LockedInstall) -> Result<(), TaskError> {
    for p in &install.packages {
        if p.bins.is_empty() {
            continue;
        }
        let bin_dir = dir.join(p.modules_dir()).join(".bin");
        std::fs::create_dir_all(&bin_dir).map_err(TaskError::io("creating", &bin_dir))?;
        // A directory just made has 0777 under the process umask: the mode npm gives bins.
        let exec = std::fs::metadata(&bin_dir)
            .map_err(TaskError::io("reading", &bin_dir))?
            .permissions()
            .mode()
            & 0o777;
        for (name, file) in &p.bins {
            let link = bin_dir.join(name);
            let target = format!("../{}/{file}", p.dir_name());
            std::os::unix::fs::symlink(&target, &link).map_err(TaskError::io("linking", &link))?;
            let real = dir.join(&p.path).join(file);
            if !real.is_file() {
                continue;
            }
            fix_shebang(&real).map_err(TaskError::io("fixing the shebang of", &real))?;
            std::fs::set_permissions(&real, std::fs::Permissions::from_mode(exec))
                .map_err(TaskError::io("making executable", &real))?;
        }
    }
    Ok(())
}

/// A `#!…\r\n` first line loses its `\r`, as npm's bin-links does.
fn fix_shebang(path: &Path) -> std::io::Result<()> {
    let bytes = std::fs::read(path)?;
    if !bytes.starts_with(b"#!") {
        return Ok(());
    }
    let Some(nl) = bytes.iter().position(|&b| b == b'\n') else {
        return Ok(());
    };
    if nl == 0 || bytes[nl - 1] != b'\r' {
        return Ok(());
    }
    let mut fixed = bytes[..nl - 1].to_vec();
    fixed.extend_from_slice(&bytes[nl..]);
    std::fs::write(path, fixed)
}

/// Runs the npm command in `dir`, its output in the step's.
fn run_npm(dir: &Path, argv: &[String]) -> Result<(), TaskError> {
    let (program, args) = argv
        .split_first()
        .ok_or_else(|| TaskError::Refused("no npm command after --".into()))?;
    let status = std::process::Command::new(program)
        .args(args)
        .current_dir(dir)
        .status()
        .map_err(TaskError::io("running", program))?;
    if status.success() {
        Ok(())
    } else {
        Err(TaskError::Refused(format!(
            "{} failed ({status})",
            argv.join(" ")
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn npm_settings_that_change_the_install_are_not_harmless() {
        for k in [
            "registry",
            "//registry.example/:_authToken",
            "@s:registry",
            "update_notifier",
            "CACHE",
            "_authToken",
        ] {
            assert!(harmless(k), "{k}");
        }
        for k in [
            "omit",
            "include",
            "install-strategy",
            "bin-links",
            "ignore-scripts",
            "umask",
            "engine-strict",
            "legacy-peer-deps",
            "foreground-scripts",
            "install_links",
        ] {
            assert!(!harmless(k), "{k}");
        }
    }

    #[test]
    fn npmrc_lines() {
        let got = npmrc("; c\n# c\ncache = ~/x\nregistry=\"https://r\"\nflag\n");
        assert_eq!(
            got,
            [
                ("cache".to_string(), "~/x".to_string()),
                ("registry".into(), "https://r".into()),
                ("flag".into(), "true".into())
            ]
        );
        let home = Path::new("/h");
        assert_eq!(expand_home("~/x", Some(home)), Some(PathBuf::from("/h/x")));
        assert_eq!(expand_home("/c", Some(home)), Some(PathBuf::from("/c")));
        assert_eq!(expand_home("${HOME}/c", Some(home)), None);
        assert_eq!(expand_home("rel", Some(home)), None);
    }

    /// A gzipped tarball as npm publishes one: `package/` first, with the given entries.
    fn tarball(entries: &[(&str, tar::EntryType, u32, &[u8])]) -> Vec<u8> {
        let mut b = tar::Builder::new(flate2::write::GzEncoder::new(
            Vec::new(),
            flate2::Compression::default(),
        ));
        for (path, kind, mode, data) in entries {
            let mut h = tar::Header::new_ustar();
            h.set_entry_type(*kind);
            h.set_mode(*mode);
            h.set_size(data.len() as u64);
            if *kind == tar::EntryType::Symlink {
                h.set_link_name("package.json").unwrap();
            }
            b.append_data(&mut h, path, *data).unwrap();
        }
        b.into_inner().unwrap().finish().unwrap()
    }

    fn cached(cache: &Path, bytes: &[u8]) -> Vec<u8> {
        let digest = Sha512::digest(bytes).to_vec();
        let path = cache.join(npm_lock::cache_path(&digest));
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, bytes).unwrap();
        digest
    }

    fn mode(p: &Path) -> u32 {
        std::fs::symlink_metadata(p).unwrap().permissions().mode() & 0o7777
    }

    #[test]
    fn tarballs_unpack_as_npm_unpacks_them() {
        let d = tempfile::tempdir().unwrap();
        let (cache, dir) = (d.path().join("cache"), d.path().join("app"));
        let tgz = tarball(&[
            (
                "package/package.json",
                tar::EntryType::Regular,
                0o644,
                b"{}",
            ),
            ("package/lib/", tar::EntryType::Directory, 0o700, b""),
            ("package/lib/x.js", tar::EntryType::Regular, 0o400, b"x"),
            (
                "package/run.sh",
                tar::EntryType::Regular,
                0o744,
                b"#!/bin/sh\n",
            ),
            (
                "package/cli.js",
                tar::EntryType::Regular,
                0o644,
                b"#!/usr/bin/env node\r\n1\n",
            ),
            (
                "package/.gitignore",
                tar::EntryType::Regular,
                0o644,
                b"ignored",
            ),
            ("package/link", tar::EntryType::Symlink, 0o777, b""),
        ]);
        let p = LockedPackage {
            path: "node_modules/a/node_modules/@s/b".into(),
            resolved: "https://registry.example/b.tgz".into(),
            sha512: cached(&cache, &tgz),
            engines: None,
            bins: vec![("b".into(), "cli.js".into())],
        };
        let install = LockedInstall { packages: vec![p] };
        assert_eq!(write(&dir, &install, &cache).unwrap(), None);
        let pkg = dir.join("node_modules/a/node_modules/@s/b");
        // The process umask decides the final bits, as it does for npm.
        let umask = {
            let probe = d.path().join("probe");
            std::fs::create_dir(&probe).unwrap();
            0o777 & !mode(&probe)
        };
        assert_eq!(mode(&pkg.join("package.json")), 0o666 & !umask);
        assert_eq!(mode(&pkg.join("lib/x.js")), 0o666 & !umask);
        assert_eq!(mode(&pkg.join("lib")), 0o777 & !umask);
        assert_eq!(mode(&pkg.join("run.sh")), 0o766 & !umask);
        assert_eq!(mode(&pkg.join("cli.js")), 0o777 & !umask, "a bin target");
        assert_eq!(
            std::fs::read(pkg.join("cli.js")).unwrap(),
            b"#!/usr/bin/env node\n1\n"
        );
        assert_eq!(std::fs::read(pkg.join(".npmignore")).unwrap(), b"ignored");
        assert!(!pkg.join(".gitignore").exists() && !pkg.join("link").exists());
        let bin = dir.join("node_modules/a/node_modules/.bin/b");
        assert_eq!(
            std::fs::read_link(&bin).unwrap(),
            Path::new("../@s/b/cli.js")
        );
    }

    #[test]
    fn a_tarball_that_is_not_the_lockfiles_is_refused_and_undone() {
        let d = tempfile::tempdir().unwrap();
        let (cache, dir) = (d.path().join("cache"), d.path().join("app"));
        let good = tarball(&[("package/index.js", tar::EntryType::Regular, 0o644, b"1")]);
        let digest = cached(&cache, &good);
        // The cache file under that digest holds other bytes.
        let bad = tarball(&[("package/index.js", tar::EntryType::Regular, 0o644, b"2")]);
        std::fs::write(cache.join(npm_lock::cache_path(&digest)), bad).unwrap();
        let install = LockedInstall {
            packages: vec![LockedPackage {
                path: "node_modules/a".into(),
                resolved: "https://registry.example/a.tgz".into(),
                sha512: digest,
                engines: None,
                bins: vec![],
            }],
        };
        let why = write(&dir, &install, &cache).unwrap().expect("refused");
        assert!(
            why.contains("is not the tarball the lockfile names"),
            "{why}"
        );
        let left: Vec<_> = std::fs::read_dir(dir.join("node_modules"))
            .unwrap()
            .collect();
        assert!(left.is_empty(), "node_modules emptied for npm");
    }

    #[test]
    fn crlf_shebangs_are_fixed() {
        let d = tempfile::tempdir().unwrap();
        let f = d.path().join("cli.js");
        std::fs::write(&f, b"#!/usr/bin/env node\r\nx()\r\n").unwrap();
        fix_shebang(&f).unwrap();
        assert_eq!(std::fs::read(&f).unwrap(), b"#!/usr/bin/env node\nx()\r\n");
    }
}
