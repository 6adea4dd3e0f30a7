//! npm's package-lock.json (lockfileVersion 2 and 3) read as an install lade can do itself:
//! the lockfile's `packages` map already fixes every path under node_modules, so when nothing
//! in it needs npm's judgement (scripts, links, git or directory dependencies, bundles with
//! bins, platform filters npm would apply in ways lade cannot mirror), writing each tarball
//! from npm's own cache to its path gives the tree `npm ci --omit=dev` gives.
//!
//! Everything here depends only on the lockfile, package.json and the target platform, so the
//! planner decides with it (and `lade plan` says why) and `lade npm-install` decides again
//! with the staged copies of the same files; whether npm's cache holds every tarball is known
//! only when the step runs.

use serde::Deserialize;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};

/// The platform npm is told to install for (`--cpu`, `--os`, `--libc`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NpmPlatform {
    pub cpu: String,
    pub os: String,
    pub libc: String,
}

/// One package lade writes: the tarball with `sha512` goes to `path`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LockedPackage {
    /// `node_modules/a/node_modules/@s/b`, relative to the install directory.
    pub path: String,
    pub resolved: String,
    /// The tarball's SHA-512, as the lockfile's `integrity` gives it.
    pub sha512: Vec<u8>,
    /// An optional package's `engines.node` and `engines.npm`: npm leaves it out when the
    /// node or npm it runs on does not satisfy them, which only the step can know.
    pub engines: Option<Engines>,
    /// `(name, file)`: a `.bin/name` link next to the package to `file` inside it (a clean
    /// relative path).
    pub bins: Vec<(String, String)>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Engines {
    pub node: Option<String>,
    pub npm: Option<String>,
}

impl LockedPackage {
    /// The node_modules directory holding the package (`node_modules/a/node_modules`).
    pub fn modules_dir(&self) -> &str {
        let name_start = self.path.rfind("node_modules/").unwrap_or(0) + "node_modules/".len();
        self.path[..name_start].trim_end_matches('/')
    }

    /// The package's name as its directory under `modules_dir` (`@s/b`).
    pub fn dir_name(&self) -> &str {
        let name_start = self.path.rfind("node_modules/").unwrap_or(0) + "node_modules/".len();
        &self.path[name_start..]
    }
}

/// What lade installs for one platform: every package it writes, in lockfile order (parents
/// before the packages nested in them).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LockedInstall {
    pub packages: Vec<LockedPackage>,
}

#[derive(Deserialize)]
struct Lock {
    #[serde(rename = "lockfileVersion")]
    version: Option<u64>,
    #[serde(default)]
    packages: BTreeMap<String, Entry>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct Entry {
    version: Option<String>,
    resolved: Option<String>,
    integrity: Option<String>,
    #[serde(default)]
    dev: bool,
    #[serde(default)]
    optional: bool,
    #[serde(default)]
    link: bool,
    #[serde(default)]
    in_bundle: bool,
    #[serde(default)]
    has_install_script: bool,
    #[serde(default)]
    extraneous: bool,
    #[serde(default)]
    ideally_inert: bool,
    #[serde(default)]
    inert: bool,
    bin: Option<Value>,
    os: Option<Value>,
    cpu: Option<Value>,
    libc: Option<Value>,
    engines: Option<Value>,
    workspaces: Option<Value>,
    #[serde(default)]
    dependencies: BTreeMap<String, Value>,
    #[serde(default)]
    optional_dependencies: BTreeMap<String, Value>,
    #[serde(default)]
    dev_dependencies: BTreeMap<String, Value>,
    #[serde(default)]
    peer_dependencies: BTreeMap<String, Value>,
}

/// The root package's scripts npm ci runs itself: lade cannot.
const ROOT_SCRIPTS: &[&str] = &[
    "preinstall",
    "install",
    "postinstall",
    "prepublish",
    "preprepare",
    "prepare",
    "postprepare",
];

/// The install lade does itself for `platform`, or why npm must do it (one sentence, for
/// `lade plan` and the step's log).
pub fn locked_install(
    lockfile: &str,
    package_json: &str,
    platform: &NpmPlatform,
) -> Result<LockedInstall, String> {
    let lock: Lock =
        serde_json::from_str(lockfile).map_err(|e| format!("the lockfile does not parse ({e})"))?;
    let pkg: Value = serde_json::from_str(package_json)
        .map_err(|e| format!("package.json does not parse ({e})"))?;
    match lock.version {
        Some(v) if v >= 2 => {}
        v => {
            return Err(format!(
                "lockfileVersion {} has no `packages` map",
                v.map_or("(none)".into(), |v| v.to_string())
            ));
        }
    }
    let root = lock
        .packages
        .get("")
        .ok_or("the lockfile has no root entry (\"\")")?;
    if root.workspaces.is_some() || pkg.get("workspaces").is_some() {
        return Err("the project is an npm workspace".into());
    }
    if let Some(s) = ROOT_SCRIPTS
        .iter()
        .find(|s| pkg["scripts"].get(**s).is_some())
    {
        return Err(format!(
            "package.json has a `{s}` script, which npm ci runs"
        ));
    }
    in_sync(root, &pkg)?;
    let mut packages = Vec::new();
    let mut skipped = BTreeSet::new();
    for (path, entry) in &lock.packages {
        if path.is_empty() {
            continue;
        }
        if let Some(p) = select(path, entry, platform, &skipped)? {
            packages.push(p);
        } else if !entry.dev {
            skipped.insert(path.clone());
        }
    }
    bins_unique(&packages)?;
    Ok(LockedInstall { packages })
}

/// npm ci refuses a lockfile that does not match package.json; lade leaves that to npm.
fn in_sync(root: &Entry, pkg: &Value) -> Result<(), String> {
    let groups = [
        ("dependencies", &root.dependencies),
        ("optionalDependencies", &root.optional_dependencies),
        ("devDependencies", &root.dev_dependencies),
        ("peerDependencies", &root.peer_dependencies),
    ];
    for (key, locked) in groups {
        let declared: BTreeMap<String, Value> = pkg
            .get(key)
            .and_then(|v| serde_json::from_value(v.clone()).ok())
            .unwrap_or_default();
        if &declared != locked {
            return Err(format!(
                "package.json's {key} differ from the lockfile's root entry"
            ));
        }
    }
    Ok(())
}

/// The entry at `path` as a package to write, `None` when npm --omit=dev leaves it out (a dev
/// package, an optional one for another platform, a bundled one that comes inside its
/// parent's tarball), or why lade cannot install it.
fn select(
    path: &str,
    e: &Entry,
    platform: &NpmPlatform,
    skipped: &BTreeSet<String>,
) -> Result<Option<LockedPackage>, String> {
    // arborist omits a node for --omit=dev when it is `dev` only: `devOptional` and `peer`
    // packages stay.
    if e.dev {
        return Ok(None);
    }
    if !clean_path(path) {
        return Err(format!(
            "{path} is not a package under node_modules (a workspace or linked directory)"
        ));
    }
    if e.link {
        return Err(format!("{path} is a link"));
    }
    if e.has_install_script {
        return Err(format!("{path} has install scripts"));
    }
    // Entries npm may prune or keep out of the tree by rules of its own.
    if e.extraneous || e.ideally_inert || e.inert {
        return Err(format!("{path} is marked extraneous or inert"));
    }
    // Inside a package left out, a package is left out too.
    if skipped
        .iter()
        .any(|s| path.starts_with(&format!("{s}/node_modules/")))
    {
        return Ok(None);
    }
    if !platform_ok(e, platform) {
        if !e.optional {
            return Err(format!(
                "{path} is not for linux/{} ({}), and not optional",
                platform.cpu, platform.libc
            ));
        }
        // npm leaves out an optional package that cannot install together with what only
        // it needs; lade mirrors only the common case of a package needing nothing.
        if !e.dependencies.is_empty() || !e.optional_dependencies.is_empty() {
            return Err(format!(
                "{path} is optional, not for this platform, and has dependencies"
            ));
        }
        return Ok(None);
    }
    let engines = match (&e.engines, e.optional) {
        (Some(Value::Object(m)), true) if m.contains_key("node") || m.contains_key("npm") => {
            // npm leaves out what only this package needs with it; lade mirrors only a
            // package needing nothing.
            if !e.dependencies.is_empty() || !e.optional_dependencies.is_empty() {
                return Err(format!(
                    "{path} is optional, declares engines and has dependencies"
                ));
            }
            let range = |k: &str| match m.get(k) {
                None => Ok(None),
                Some(Value::String(r)) => Ok(Some(r.clone())),
                Some(_) => Err(format!("{path}: engines.{k} is not a range")),
            };
            Some(Engines {
                node: range("node")?,
                npm: range("npm")?,
            })
        }
        _ => None,
    };
    if e.in_bundle {
        if e.bin.is_some() {
            return Err(format!("{path} is bundled and has bins"));
        }
        return Ok(None);
    }
    // A lockfile written without `resolved` (npm's omit-lockfile-registry-resolved) names a
    // registry package by its version alone; git, file and directory dependencies always
    // have a `resolved` that is not https.
    let resolved = match (&e.resolved, &e.version) {
        (Some(r), _) if r.starts_with("https://") => r.clone(),
        (None, Some(v)) if v.starts_with(|c: char| c.is_ascii_digit()) => {
            format!("version {v} from the registry")
        }
        _ => {
            return Err(format!(
                "{path} is not resolved to an https tarball (git, file or directory dependency)"
            ));
        }
    };
    let sha512 = e
        .integrity
        .as_deref()
        .and_then(sha512_of)
        .ok_or_else(|| format!("{path} has no sha512 integrity"))?;
    let bins = bins(path, e.bin.as_ref())?;
    Ok(Some(LockedPackage {
        path: path.to_string(),
        resolved,
        sha512,
        engines,
        bins,
    }))
}

/// `node_modules/x(/node_modules/y)*` with scoped names, nothing else.
fn clean_path(path: &str) -> bool {
    let mut parts = path.split('/').peekable();
    let mut ok = false;
    while let Some(p) = parts.next() {
        if p != "node_modules" {
            return false;
        }
        let Some(name) = parts.next() else {
            return false;
        };
        let name_ok = |n: &str| !n.is_empty() && n != "." && n != ".." && !n.starts_with('.');
        if let Some(scope) = name.strip_prefix('@') {
            let Some(rest) = parts.next() else {
                return false;
            };
            if !name_ok(scope) || !name_ok(rest) {
                return false;
            }
        } else if !name_ok(name) {
            return false;
        }
        ok = true;
    }
    ok
}

/// The SHA-512 digest in an integrity string (`sha512-BASE64`, possibly among others).
pub fn sha512_of(integrity: &str) -> Option<Vec<u8>> {
    use base64::Engine;
    integrity
        .split_whitespace()
        .filter_map(|h| h.strip_prefix("sha512-"))
        .map(|b| b.split('?').next().unwrap_or(b))
        .find_map(|b| base64::engine::general_purpose::STANDARD.decode(b).ok())
        .filter(|d| d.len() == 64)
}

/// Where npm's cache (cacache) keeps the content with SHA-512 `digest`, relative to the
/// cache directory: `_cacache/content-v2/sha512/ab/cd/ef…`.
pub fn cache_path(digest: &[u8]) -> String {
    let hex = hex::encode(digest);
    format!(
        "_cacache/content-v2/sha512/{}/{}/{}",
        &hex[..2],
        &hex[2..4],
        &hex[4..]
    )
}

/// Whether `value` passes npm's list rule: a listed value passes, a `!value` fails, and a
/// list of only negations passes anything else.
fn list_allows(list: &Value, value: &str) -> bool {
    let items: Vec<&str> = match list {
        Value::String(s) => vec![s.as_str()],
        Value::Array(a) => a.iter().filter_map(Value::as_str).collect(),
        _ => return true,
    };
    if items == ["any"] {
        return true;
    }
    let mut negated = 0;
    let mut matched = false;
    for item in &items {
        match item.strip_prefix('!') {
            Some(not) => {
                negated += 1;
                if not == value {
                    return false;
                }
            }
            None => matched |= *item == value,
        }
    }
    matched || negated == items.len()
}

/// npm's platform check of a package against `--os/--cpu/--libc` (libc only on linux).
fn platform_ok(e: &Entry, p: &NpmPlatform) -> bool {
    e.os.as_ref().is_none_or(|l| list_allows(l, &p.os))
        && e.cpu.as_ref().is_none_or(|l| list_allows(l, &p.cpu))
        && (p.os != "linux" || e.libc.as_ref().is_none_or(|l| list_allows(l, &p.libc)))
}

/// The lockfile's `bin` map (npm stores it normalized) as clean relative files.
fn bins(path: &str, bin: Option<&Value>) -> Result<Vec<(String, String)>, String> {
    let Some(bin) = bin else {
        return Ok(Vec::new());
    };
    let map = bin
        .as_object()
        .ok_or_else(|| format!("{path}: `bin` is not a map"))?;
    let mut out = Vec::new();
    for (name, file) in map {
        let file = file
            .as_str()
            .ok_or_else(|| format!("{path}: bin {name} is not a path"))?;
        let clean: Vec<&str> = file
            .split('/')
            .filter(|s| !s.is_empty() && *s != ".")
            .collect();
        let bad_name = name.is_empty() || name.contains('/') || name.starts_with('.');
        if bad_name || clean.is_empty() || clean.contains(&"..") {
            return Err(format!("{path}: bin {name} → {file} is not one lade links"));
        }
        out.push((name.clone(), clean.join("/")));
    }
    Ok(out)
}

/// Two packages linking the same `.bin` name: npm decides which wins.
fn bins_unique(packages: &[LockedPackage]) -> Result<(), String> {
    let mut seen = BTreeSet::new();
    for p in packages {
        for (name, _) in &p.bins {
            if !seen.insert((p.modules_dir(), name.as_str())) {
                return Err(format!(
                    "two packages in {} provide the bin {name}",
                    p.modules_dir()
                ));
            }
        }
    }
    Ok(())
}

/// npm's file mode for a tarball entry before the process umask: pacote ORs in read and write
/// for everyone and owner read/write, executable bits from the tarball kept.
pub fn file_mode(tar_mode: u32) -> u32 {
    (tar_mode | 0o666 | 0o600) & 0o7777
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn x64() -> NpmPlatform {
        NpmPlatform {
            cpu: "x64".into(),
            os: "linux".into(),
            libc: "glibc".into(),
        }
    }

    const SHA: &str = "sha512-AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA==";

    fn pkg(extra: Value) -> Value {
        let mut e = json!({
            "version": "1.0.0",
            "resolved": "https://registry.example/a/-/a-1.0.0.tgz",
            "integrity": SHA,
        });
        e.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        e
    }

    fn install(packages: Value) -> Result<LockedInstall, String> {
        let mut map = json!({"": {"name": "app", "dependencies": {"a": "^1"}}});
        map.as_object_mut()
            .unwrap()
            .extend(packages.as_object().unwrap().clone());
        let lock = json!({"lockfileVersion": 3, "packages": map});
        let pkg = json!({"name": "app", "dependencies": {"a": "^1"}});
        locked_install(&lock.to_string(), &pkg.to_string(), &x64())
    }

    fn paths(i: &LockedInstall) -> Vec<&str> {
        i.packages.iter().map(|p| p.path.as_str()).collect()
    }

    #[test]
    fn dev_packages_are_omitted_dev_optional_and_peer_kept() {
        let i = install(json!({
            "node_modules/a": pkg(json!({})),
            "node_modules/d": pkg(json!({"dev": true})),
            "node_modules/o": pkg(json!({"devOptional": true})),
            "node_modules/p": pkg(json!({"peer": true})),
            // A dev package's nested dependency is dev too in npm's lockfile.
            "node_modules/d/node_modules/e": pkg(json!({"dev": true})),
        }))
        .unwrap();
        assert_eq!(
            paths(&i),
            ["node_modules/a", "node_modules/o", "node_modules/p"]
        );
    }

    #[test]
    fn optional_packages_for_other_platforms_are_left_out() {
        let i = install(json!({
            "node_modules/a": pkg(json!({})),
            "node_modules/gnu": pkg(json!({"optional": true, "os": ["linux"], "cpu": ["x64"], "libc": ["glibc"]})),
            "node_modules/musl": pkg(json!({"optional": true, "os": ["linux"], "cpu": ["x64"], "libc": ["musl"]})),
            "node_modules/arm": pkg(json!({"optional": true, "cpu": ["arm64"]})),
            "node_modules/mac": pkg(json!({"optional": true, "os": ["darwin"]})),
            "node_modules/notwin": pkg(json!({"optional": true, "os": ["!win32"]})),
            "node_modules/notlinux": pkg(json!({"optional": true, "os": "!linux"})),
        }))
        .unwrap();
        assert_eq!(
            paths(&i),
            ["node_modules/a", "node_modules/gnu", "node_modules/notwin"]
        );
    }

    #[test]
    fn a_required_package_for_another_platform_goes_to_npm() {
        let e = install(json!({"node_modules/a": pkg(json!({"cpu": ["arm64"]}))})).unwrap_err();
        assert!(e.contains("not optional"), "{e}");
    }

    #[test]
    fn what_only_npm_can_do_goes_to_npm() {
        let cases = [
            (json!({"hasInstallScript": true}), "install scripts"),
            (json!({"link": true}), "link"),
            (json!({"extraneous": true}), "extraneous"),
            (json!({"ideallyInert": true}), "inert"),
            (
                json!({"resolved": "git+ssh://git@example/a.git#abc"}),
                "https tarball",
            ),
            (json!({"resolved": "file:../a"}), "https tarball"),
            (
                json!({"resolved": null, "version": "file:../a"}),
                "https tarball",
            ),
            (
                json!({"integrity": "sha1-AAAAAAAAAAAAAAAAAAAAAAAAAAA="}),
                "sha512",
            ),
            (
                json!({"optional": true, "engines": {"node": ">=99"}, "dependencies": {"x": "1"}}),
                "engines and has dependencies",
            ),
            (json!({"inBundle": true, "bin": {"x": "x.js"}}), "bundled"),
        ];
        for (extra, want) in cases {
            let e = install(json!({"node_modules/a": pkg(extra.clone())})).unwrap_err();
            assert!(e.contains(want), "{extra}: {e}");
        }
        let e = install(json!({"packages/w": pkg(json!({}))})).unwrap_err();
        assert!(e.contains("not a package under node_modules"), "{e}");
    }

    #[test]
    fn the_project_itself_can_send_the_install_to_npm() {
        let lock = json!({"lockfileVersion": 3, "packages": {"": {"dependencies": {"a": "^1"}}}});
        let run =
            |pkg: Value, lock: &Value| locked_install(&lock.to_string(), &pkg.to_string(), &x64());
        let e = run(json!({"dependencies": {"a": "^2"}}), &lock).unwrap_err();
        assert!(e.contains("differ"), "{e}");
        let e = run(
            json!({"dependencies": {"a": "^1"}, "scripts": {"postinstall": "x"}}),
            &lock,
        )
        .unwrap_err();
        assert!(e.contains("postinstall"), "{e}");
        let e = run(
            json!({"dependencies": {"a": "^1"}}),
            &json!({"lockfileVersion": 1}),
        )
        .unwrap_err();
        assert!(e.contains("lockfileVersion 1"), "{e}");
        assert!(run(json!({"dependencies": {"a": "^1"}}), &lock).is_ok());
    }

    #[test]
    fn an_optional_packages_engines_are_left_to_the_step() {
        let i = install(json!({
            "node_modules/a": pkg(json!({"engines": {"node": ">=99"}})),
            "node_modules/o": pkg(json!({"optional": true, "engines": {"node": ">=18", "npm": ">=8"}})),
            "node_modules/p": pkg(json!({"optional": true, "engines": {"vscode": "^1"}})),
        }))
        .unwrap();
        assert_eq!(
            paths(&i),
            ["node_modules/a", "node_modules/o", "node_modules/p"]
        );
        // npm only warns about a required package's engines.
        assert_eq!(i.packages[0].engines, None);
        assert_eq!(
            i.packages[1].engines,
            Some(Engines {
                node: Some(">=18".into()),
                npm: Some(">=8".into())
            })
        );
        assert_eq!(i.packages[2].engines, None);
    }

    #[test]
    fn a_registry_package_may_have_no_resolved() {
        let i = install(json!({"node_modules/a": {"version": "1.2.3", "integrity": SHA}})).unwrap();
        assert_eq!(paths(&i), ["node_modules/a"]);
    }

    #[test]
    fn bundled_packages_come_with_their_parent() {
        let i = install(json!({
            "node_modules/a": pkg(json!({"bundleDependencies": ["b"]})),
            "node_modules/a/node_modules/b": pkg(json!({"inBundle": true})),
        }))
        .unwrap();
        assert_eq!(paths(&i), ["node_modules/a"]);
    }

    #[test]
    fn bins_are_linked_next_to_their_package() {
        let i = install(json!({
            "node_modules/a": pkg(json!({})),
            "node_modules/a/node_modules/@s/b": pkg(json!({"bin": {"b": "./bin//cli.js"}})),
        }))
        .unwrap();
        let b = &i.packages[1];
        assert_eq!(b.modules_dir(), "node_modules/a/node_modules");
        assert_eq!(b.dir_name(), "@s/b");
        assert_eq!(b.bins, [("b".to_string(), "bin/cli.js".to_string())]);
        let e = install(json!({
            "node_modules/a": pkg(json!({"bin": {"x": "../../etc/passwd"}})),
        }))
        .unwrap_err();
        assert!(e.contains("not one lade links"), "{e}");
        let e = install(json!({
            "node_modules/a": pkg(json!({"bin": {"x": "a.js"}})),
            "node_modules/b": pkg(json!({"bin": {"x": "b.js"}})),
        }))
        .unwrap_err();
        assert!(e.contains("provide the bin x"), "{e}");
    }

    #[test]
    fn integrity_names_the_cache_file() {
        // echo -n hello | sha512sum
        let hex = "9b71d224bd62f3785d96d46ad3ea3d73319bfbc2890caadae2dff72519673ca72323c3d99ba5c11d7c7acc6e14b8c5da0c4663475c2e5c3adef46f73bcdec043";
        let b64 = {
            use base64::Engine;
            base64::engine::general_purpose::STANDARD.encode(hex::decode(hex).unwrap())
        };
        let d = sha512_of(&format!("sha1-qUqP5cyxm6YcTAhz05Hph5gvu9M= sha512-{b64}")).unwrap();
        assert_eq!(
            cache_path(&d),
            format!("_cacache/content-v2/sha512/9b/71/{}", &hex[4..])
        );
        assert_eq!(sha512_of("sha1-qUqP5cyxm6YcTAhz05Hph5gvu9M="), None);
    }

    #[test]
    fn file_modes_are_npms() {
        assert_eq!(file_mode(0o644), 0o666);
        assert_eq!(file_mode(0o755), 0o777);
        assert_eq!(file_mode(0o400), 0o666);
        assert_eq!(file_mode(0o744), 0o766);
        // After the usual umask 022: 0644, 0755, 0644, 0744.
        assert_eq!(file_mode(0o744) & !0o022, 0o744);
    }
}
