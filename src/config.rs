//! `lade.toml`: the user's settings, merged over what detection found. CLI flags are merged
//! over both by `ops`, so the precedence is flags > lade.toml > detection.

use crate::plan::Plan;
use crate::platform::{Platform, PlatformError};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use toml::Spanned;

pub const FILE_NAME: &str = "lade.toml";

/// The parsed `lade.toml`. Unknown keys are errors, so a typo never passes silently.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LadeConfig {
    /// Image and binary name (default: the detector's, e.g. the Go module's last element).
    pub name: Option<String>,
    pub entrypoint: Option<Vec<String>>,
    pub cmd: Option<Vec<String>>,
    #[serde(default)]
    pub env: BTreeMap<String, String>,
    pub workdir: Option<String>,
    pub user: Option<UserSetting>,
    #[serde(default)]
    pub ports: Vec<Spanned<PortSetting>>,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    #[serde(default)]
    pub annotations: BTreeMap<String, String>,
    #[serde(default)]
    pub platforms: Vec<Spanned<String>>,
    pub base: Option<BaseSetting>,
    /// Go: the main package to use as entrypoint (`./cmd/server`).
    pub main: Option<String>,
    /// Which detector to use when several match.
    pub language: Option<String>,
    #[serde(default)]
    pub go: GoSettings,
    #[serde(default)]
    pub rust: RustSettings,
    #[serde(default)]
    pub registry: RegistrySettings,
    #[serde(default)]
    pub node: NodeSettings,
    #[serde(default)]
    pub java: JavaSettings,
    #[serde(default)]
    pub build: BuildSettings,
    /// Where the configuration was read from, for error messages.
    #[serde(skip)]
    pub path: Option<PathBuf>,
}

/// `[registry]`: pull mirrors and transport settings shared by everyone building the project.
/// Flags and environment variables come first; `ops` adds these after them (configuration is
/// data here: it does not know the registry client).
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegistrySettings {
    /// `FROM=TO` pull mirrors (`gcr.io=mirror.internal:5000`).
    #[serde(default)]
    pub mirrors: Vec<Spanned<String>>,
    /// Registries (`HOST[:PORT]`) that may use plain HTTP or an unverified certificate.
    #[serde(default)]
    pub insecure: Vec<String>,
    /// Extra CA certificates (PEM files, relative to the project).
    #[serde(default)]
    pub ca: Vec<PathBuf>,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GoSettings {
    /// Extra `-ldflags` (joined after lade's `-buildid=`).
    #[serde(default)]
    pub ldflags: Vec<String>,
    /// Extra `go build` flags (`-tags=netgo`).
    #[serde(default)]
    pub flags: Vec<String>,
    /// `false` builds with CGO_ENABLED=0 even when a main package imports "C" (default: cgo
    /// when the sources use it, with zig as the C compiler).
    pub cgo: Option<bool>,
}

/// `[build]`: tools the build uses whatever the language.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BuildSettings {
    /// The zig executable that compiles and links C for other platforms (a path, relative to
    /// the project, or a name on PATH; default: `zig` on PATH, else `python3 -m ziglang`).
    pub zig: Option<String>,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct RustSettings {
    /// The binary to use as entrypoint when there are several (what `--main` names).
    pub bin: Option<String>,
    /// Only these binaries go into the image (default: every binary target).
    pub bins: Option<Vec<String>>,
    /// Cargo features to enable (`--features`), `pkg/feature` in a workspace.
    #[serde(default)]
    pub features: Vec<String>,
    #[serde(default)]
    pub no_default_features: bool,
    /// Cargo profile (default `release`).
    pub profile: Option<String>,
    /// `musl` (default: static binaries on a scratch base) or `gnu` (glibc: a cc base).
    pub libc: Option<RustLibc>,
    /// Target triple per platform, over the one `libc` picks: `{ "linux/arm64" = "…" }`.
    #[serde(default)]
    pub target: BTreeMap<String, String>,
    /// Linker for every target (default: rust-lld for musl, the host's cc for its own gnu
    /// target, zig for another architecture's).
    pub linker: Option<String>,
    /// Extra rustc flags, after the project's `.cargo/config.toml` ones.
    #[serde(default)]
    pub rustflags: Vec<String>,
    /// Directories copied into the image at /app/DIR (default: `assets/` when it exists).
    pub resources: Option<Vec<String>>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RustLibc {
    Musl,
    Gnu,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NodeSettings {
    /// The node executable in the base, as the entrypoint names it (default `node`: from the
    /// base's PATH, or the base's own Entrypoint when that is node by path, as distroless's
    /// `/nodejs/bin/node`).
    pub binary: Option<String>,
}

/// `[java]`: what the build file and the jar cannot say.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JavaSettings {
    /// The class the entrypoint starts (default: from the build file, the jar's manifest, or
    /// the one source file with a `main` method).
    pub main_class: Option<String>,
    /// A prebuilt jar or exploded jar directory (relative to the project) instead of building.
    pub jar: Option<PathBuf>,
    /// Arguments for the build tool, replacing lade's defaults (`-DskipTests` for Maven,
    /// `-x test` for Gradle).
    pub build_args: Option<Vec<String>>,
    /// JVM flags, after lade's container-aware memory default.
    #[serde(default)]
    pub jvm_flags: Vec<String>,
    /// Which module to package: a Maven module directory (`app`) or a Gradle project path
    /// (`:app`); default the root project.
    pub module: Option<String>,
    /// The java executable in the base, as the entrypoint names it (default `java`).
    pub binary: Option<String>,
}

/// `base = "REF"`, or `[base] preset = "python3"`, `packages = ["libpq5"]`, `root = false`: a
/// base lade builds from Debian packages (the same as `base = "debian12/python3+libpq5"`).
#[derive(Clone, Debug, Deserialize)]
#[serde(untagged)]
pub enum BaseSetting {
    Reference(String),
    Debian(DebianBaseSetting),
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DebianBaseSetting {
    pub preset: String,
    #[serde(default)]
    pub packages: Vec<String>,
    #[serde(default)]
    pub root: bool,
}

impl BaseSetting {
    /// The base as a reference string, the form plans and `--base` use.
    pub fn reference(&self) -> String {
        match self {
            BaseSetting::Reference(r) => r.clone(),
            BaseSetting::Debian(d) => {
                let mut r = format!("debian12/{}", d.preset);
                for p in &d.packages {
                    r.push('+');
                    r.push_str(p);
                }
                if d.root {
                    r.push_str(":root");
                }
                r
            }
        }
    }
}

#[derive(Clone, Debug, Deserialize)]
#[serde(untagged)]
pub enum UserSetting {
    Id(u32),
    Name(String),
}

#[derive(Clone, Debug, Deserialize)]
#[serde(untagged)]
pub enum PortSetting {
    Number(u32),
    Text(String),
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("reading {path}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("lade settings in both {first} and {second}: keep one")]
    Conflict { first: String, second: String },
    #[error("{path}:{line}:{column}: {message}")]
    Invalid {
        path: PathBuf,
        line: usize,
        column: usize,
        message: String,
    },
}

/// Other tools' manifests that may carry lade's settings, and the table that holds them; the
/// table takes the same keys as lade.toml.
const EMBEDDED: &[(&str, &[&str])] = &[
    ("Cargo.toml", &["package", "metadata", "lade"]),
    ("Cargo.toml", &["workspace", "metadata", "lade"]),
];

impl LadeConfig {
    /// Reads `DIR/lade.toml`, or the lade table of a manifest in `DIR` (`[package.metadata.lade]`
    /// in Cargo.toml); none is an empty configuration. Settings in two places are an error
    /// rather than a merge, so no key is silently shadowed.
    pub fn load(dir: &Path) -> Result<LadeConfig, ConfigError> {
        let mut found: Option<(LadeConfig, String)> = None;
        let path = dir.join(FILE_NAME);
        if let Some(text) = read_if_exists(&path)? {
            found = Some((Self::parse(&text, &path)?, FILE_NAME.to_string()));
        }
        for (file, table) in EMBEDDED {
            let path = dir.join(file);
            let Some(text) = read_if_exists(&path)? else {
                continue;
            };
            if let Some(config) = Self::parse_table(&text, &path, table)? {
                let place = format!("[{}] in {file}", table.join("."));
                if let Some((_, first)) = &found {
                    return Err(ConfigError::Conflict {
                        first: first.clone(),
                        second: place,
                    });
                }
                found = Some((config, place));
            }
        }
        Ok(found.map(|(c, _)| c).unwrap_or_default())
    }

    /// Parses and validates the text of a configuration file named `path`.
    pub fn parse(text: &str, path: &Path) -> Result<LadeConfig, ConfigError> {
        Ok(Self::parse_table(text, path, &[])?.unwrap_or_default())
    }

    /// Parses the table at `keys` of the TOML document `text` (the whole document when `keys`
    /// is empty) as lade settings; `None` when there is no such table. Errors give the line and
    /// column in `text`.
    fn parse_table(
        text: &str,
        path: &Path,
        keys: &[&str],
    ) -> Result<Option<LadeConfig>, ConfigError> {
        use serde::Deserialize as _;
        let invalid = |span: Option<std::ops::Range<usize>>, message: String| {
            let (line, column) = line_column(text, span.map(|s| s.start).unwrap_or(0));
            ConfigError::Invalid {
                path: path.to_path_buf(),
                line,
                column,
                message,
            }
        };
        let de_err = |e: toml::de::Error| invalid(e.span(), with_suggestion(e.message().trim()));
        let root = toml::de::DeTable::parse(text).map_err(de_err)?;
        let mut value = Spanned::new(root.span(), toml::de::DeValue::Table(root.into_inner()));
        for key in keys {
            let toml::de::DeValue::Table(table) = value.into_inner() else {
                return Ok(None);
            };
            match table.into_iter().find(|(k, _)| k.get_ref() == key) {
                Some((_, v)) => value = v,
                None => return Ok(None),
            }
        }
        // Spans survive into the value deserializer, so `Spanned` fields and errors point into
        // `text`, also for a table nested in another tool's manifest.
        let mut config =
            LadeConfig::deserialize(toml::de::ValueDeserializer::from(value)).map_err(de_err)?;
        config.path = Some(path.to_path_buf());
        for p in &config.platforms {
            p.get_ref()
                .parse::<Platform>()
                .map_err(|e: PlatformError| invalid(Some(p.span()), e.to_string()))?;
        }
        if let Some(b) = &config.base
            && let Some(Err(e)) = crate::base_spec::BaseSpec::parse_reference(&b.reference())
        {
            return Err(invalid(None, format!("base: {e}")));
        }
        for m in &config.registry.mirrors {
            m.get_ref()
                .parse::<crate::oci::Mirror>()
                .map_err(|e| invalid(Some(m.span()), format!("registry mirror: {e}")))?;
        }
        for p in &config.ports {
            port_spec(p.get_ref()).map_err(|m| invalid(Some(p.span()), m))?;
        }
        config.check_values().map_err(|m| invalid(None, m))?;
        Ok(Some(config))
    }

    /// Values the image config would carry but no runtime accepts: refused here, with the
    /// file, rather than written into an image that cannot start.
    fn check_values(&self) -> Result<(), String> {
        if let Some(e) = &self.entrypoint
            && e.first().is_none_or(|p| p.trim().is_empty())
        {
            return Err(
                "entrypoint must name a program: `entrypoint = [\"/app/server\", \"--flag\"]`"
                    .into(),
            );
        }
        for k in self.env.keys() {
            if k.is_empty() || k.contains('=') || k.contains('\0') {
                return Err(format!(
                    "env key `{k}` is not a variable name: a name has no `=` (write `{}= \"…\"`)",
                    k.split('=').next().unwrap_or_default()
                ));
            }
        }
        if let Some(w) = &self.workdir
            && !w.starts_with('/')
        {
            return Err(format!(
                "workdir `{w}` must be an absolute path in the image (`/{}`)",
                w.trim_start_matches("./")
            ));
        }
        if let Some(UserSetting::Name(u)) = &self.user {
            user_spec(u)?;
        }
        Ok(())
    }

    pub fn platforms(&self) -> Vec<Platform> {
        self.platforms
            .iter()
            .filter_map(|p| p.get_ref().parse().ok())
            .collect()
    }

    /// Sets everything the configuration names over the detected plan.
    pub fn apply(&self, plan: &mut Plan) {
        let c = &mut plan.config;
        if let Some(e) = &self.entrypoint {
            c.entrypoint = Some(e.clone());
        }
        if let Some(cmd) = &self.cmd {
            c.cmd = Some(cmd.clone());
        }
        c.env.extend(self.env.clone());
        if let Some(w) = &self.workdir {
            c.workdir = Some(w.clone());
        }
        match &self.user {
            Some(UserSetting::Id(id)) => c.user = Some(id.to_string()),
            Some(UserSetting::Name(n)) => c.user = Some(n.clone()),
            None => {}
        }
        for p in &self.ports {
            if let Ok(spec) = port_spec(p.get_ref())
                && !c.exposed_ports.contains(&spec)
            {
                c.exposed_ports.push(spec);
            }
        }
        c.labels.extend(self.labels.clone());
        c.annotations.extend(self.annotations.clone());
        if let Some(b) = &self.base {
            plan.base = b.reference();
        }
    }
}

/// `user` as runtimes take it: `UID`, `UID:GID`, `NAME` or `NAME:GROUP`, where a name is
/// a POSIX user name (letters, digits, `_`, `.`, `-`, not starting with `-`).
fn user_spec(u: &str) -> Result<(), String> {
    let ok = |part: &str| {
        !part.is_empty()
            && !part.starts_with('-')
            && part
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c))
    };
    let mut parts = u.splitn(2, ':');
    let user = parts.next().unwrap_or_default();
    let group = parts.next();
    if ok(user) && group.is_none_or(ok) {
        Ok(())
    } else {
        Err(format!(
            "user `{u}` is not a user: use a uid (`user = 65532`), `UID:GID`, or a name in the base's /etc/passwd"
        ))
    }
}

fn read_if_exists(path: &Path) -> Result<Option<String>, ConfigError> {
    match std::fs::read_to_string(path) {
        Ok(t) => Ok(Some(t)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(ConfigError::Read {
            path: path.to_path_buf(),
            source,
        }),
    }
}

/// `8080`, `"8080"`, `"8080/tcp"`, `"53/udp"` → `8080/tcp` style.
fn port_spec(p: &PortSetting) -> Result<String, String> {
    let text = match p {
        PortSetting::Number(n) => n.to_string(),
        PortSetting::Text(t) => t.clone(),
    };
    let (num, proto) = text.split_once('/').unwrap_or((&text, "tcp"));
    match num.parse::<u16>() {
        Ok(n) if n > 0 && matches!(proto, "tcp" | "udp" | "sctp") => Ok(format!("{n}/{proto}")),
        _ => Err(format!(
            "invalid port '{text}': use a number 1-65535, optionally /tcp, /udp or /sctp"
        )),
    }
}

/// 1-based line and column of a byte offset.
fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, column)
}

/// serde's "unknown field `entrypont`, expected one of `name`, `entrypoint`, …" with the
/// closest known key named when one is close (a typo), so the fix is in the message.
fn with_suggestion(message: &str) -> String {
    let Some(rest) = message.strip_prefix("unknown field `") else {
        return message.to_string();
    };
    let Some((field, expected)) = rest.split_once('`') else {
        return message.to_string();
    };
    let closest = expected
        .split('`')
        .skip(1)
        .step_by(2)
        .map(|known| (edit_distance(field, known), known))
        .filter(|(d, known)| *d <= 2.max(known.len() / 3))
        .min_by_key(|(d, _)| *d);
    match closest {
        Some((_, known)) => format!("{message}; did you mean `{known}`?"),
        None => message.to_string(),
    }
}

/// Levenshtein distance, over bytes (keys are ASCII).
fn edit_distance(a: &str, b: &str) -> usize {
    let b = b.as_bytes();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.bytes().enumerate() {
        let mut prev = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let cur = row[j + 1];
            row[j + 1] = (prev + usize::from(ca != *cb)).min(row[j] + 1).min(cur + 1);
            prev = cur;
        }
    }
    row[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(t: &str) -> Result<LadeConfig, ConfigError> {
        LadeConfig::parse(t, Path::new("lade.toml"))
    }

    #[test]
    fn values_no_runtime_accepts_are_refused_with_the_file() {
        for (text, words) in [
            ("entrypoint = []\n", &["entrypoint must name a program"][..]),
            (
                "entrypoint = [\"\"]\n",
                &["entrypoint must name a program"][..],
            ),
            ("[env]\n\"A=B\" = \"c\"\n", &["env key `A=B`"][..]),
            ("workdir = \"app\"\n", &["workdir `app`", "/app"][..]),
            (
                "user = \"root; rm -rf /\"\n",
                &["user `root; rm -rf /`"][..],
            ),
            ("user = \":65532\"\n", &["user `:65532`"][..]),
        ] {
            let err = parse(text).unwrap_err().to_string();
            assert!(err.contains("lade.toml"), "{text}: {err}");
            for w in words {
                assert!(err.contains(w), "{text}: {err}");
            }
        }
        for text in [
            "user = \"nonroot\"\n",
            "user = \"1000:1000\"\n",
            "user = 0\n",
        ] {
            parse(text).unwrap_or_else(|e| panic!("{text}: {e}"));
        }
    }

    #[test]
    fn reads_every_key() {
        let c = parse(
            r#"
name = "svc"
entrypoint = ["/app/svc", "--flag"]
cmd = ["serve"]
env = { A = "1" }
workdir = "/app"
user = 1000
ports = [8080, "53/udp"]
labels = { team = "x" }
annotations = { "org.example/a" = "b" }
platforms = ["linux/amd64", "linux/arm64"]
base = "scratch"
main = "./cmd/svc"
[go]
ldflags = ["-s", "-w"]
"#,
        )
        .unwrap();
        assert_eq!(c.platforms().len(), 2);
        let mut plan = crate::plan::Plan {
            detector: "go".into(),
            reasons: vec![],
            name: "svc".into(),
            project_dir: "/p".into(),
            targets: vec![],
            config: Default::default(),
            base: "other".into(),
            excluded: vec![],
        };
        c.apply(&mut plan);
        assert_eq!(plan.config.user.as_deref(), Some("1000"));
        assert_eq!(plan.config.exposed_ports, vec!["8080/tcp", "53/udp"]);
        assert_eq!(plan.base, "scratch");
        assert_eq!(c.go.ldflags, vec!["-s", "-w"]);
    }

    #[test]
    fn registry_settings() {
        let c = parse(
            "[registry]\nmirrors = [\"gcr.io=mirror.internal:5000\"]\ninsecure = [\"r.local:5000\"]\nca = [\"certs/ca.crt\"]\n",
        )
        .unwrap();
        assert_eq!(c.registry.mirrors.len(), 1);
        assert_eq!(c.registry.insecure, vec!["r.local:5000"]);
        assert_eq!(c.registry.ca, vec![PathBuf::from("certs/ca.crt")]);
        let e = parse("[registry]\nmirrors = [\"no-equals-sign\"]\n")
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("lade.toml:2:12: registry mirror:"), "{e}");
    }

    #[test]
    fn errors_name_line_and_column() {
        let e = parse("name = \"x\"\n\nentrypont = [\"a\"]\n")
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with("lade.toml:3:1: unknown field `entrypont`"),
            "{e}"
        );
        assert!(e.ends_with("did you mean `entrypoint`?"), "{e}");
        let e = parse("zzzzzzzzzz = 1\n").unwrap_err().to_string();
        assert!(!e.contains("did you mean"), "nothing close: {e}");
        let e = parse("platforms = [\"linux/amd64\", \"linux/sparc\"]\n")
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with("lade.toml:1:29: unknown platform 'linux/sparc'"),
            "{e}"
        );
        let e = parse("ports = [70000]").unwrap_err().to_string();
        assert!(e.contains("invalid port '70000'"), "{e}");
        let e = parse("env = [1, 2]").unwrap_err().to_string();
        assert!(e.starts_with("lade.toml:1:7: invalid type"), "{e}");
        let e = parse("name = ").unwrap_err().to_string();
        assert!(e.starts_with("lade.toml:1:"), "{e}");
    }

    #[test]
    fn settings_in_cargo_toml() {
        let t = tempfile::tempdir().unwrap();
        let cargo = "[package]\nname = \"svc\"\n\n[package.metadata.lade]\nports = [8080]\n[package.metadata.lade.rust]\nbin = \"svc\"\nlibc = \"gnu\"\n";
        std::fs::write(t.path().join("Cargo.toml"), cargo).unwrap();
        let c = LadeConfig::load(t.path()).unwrap();
        assert_eq!(c.rust.bin.as_deref(), Some("svc"));
        assert_eq!(c.rust.libc, Some(RustLibc::Gnu));
        assert_eq!(c.path, Some(t.path().join("Cargo.toml")));

        // Errors point into Cargo.toml.
        let bad = "[package]\nname = \"svc\"\n\n[workspace.metadata.lade]\nplatforms = [\"linux/sparc\"]\n";
        std::fs::write(t.path().join("Cargo.toml"), bad).unwrap();
        let e = LadeConfig::load(t.path()).unwrap_err().to_string();
        assert!(
            e.contains("Cargo.toml:5:14: unknown platform 'linux/sparc'"),
            "{e}"
        );
        let bad = "[package.metadata.lade.rust]\nlibc = \"uclibc\"\n";
        std::fs::write(t.path().join("Cargo.toml"), bad).unwrap();
        let e = LadeConfig::load(t.path()).unwrap_err().to_string();
        assert!(
            e.contains("Cargo.toml:2:8: unknown variant `uclibc`"),
            "{e}"
        );

        // Two places are refused rather than merged.
        std::fs::write(t.path().join("Cargo.toml"), cargo).unwrap();
        std::fs::write(t.path().join("lade.toml"), "name = \"x\"\n").unwrap();
        let e = LadeConfig::load(t.path()).unwrap_err().to_string();
        assert_eq!(
            e,
            "lade settings in both lade.toml and [package.metadata.lade] in Cargo.toml: keep one"
        );

        // A Cargo.toml without a lade table leaves lade.toml alone.
        std::fs::write(t.path().join("Cargo.toml"), "[package]\nname = \"svc\"\n").unwrap();
        assert_eq!(
            LadeConfig::load(t.path()).unwrap().name.as_deref(),
            Some("x")
        );
    }
}
