//! `lade.toml`: the user's settings, merged over what detection found. CLI flags are merged
//! over both by `ops`, so the precedence is flags > lade.toml > detection. The same keys may
//! instead be in the manifest of the project's own tool (`sources`): Cargo.toml, pyproject.toml,
//! package.json, pom.xml or gradle.properties.

mod lift;
mod parse;
mod schema;
mod sources;

use crate::plan::Plan;
use crate::platform::Platform;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use toml::Spanned;

pub use schema::fields;

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
    /// `[workspace]`: the projects under this directory that `lade publish` of it publishes.
    /// Only read from a lade.toml; a lade.toml with only this table is not a project itself.
    pub workspace: Option<WorkspaceSettings>,
    /// Where the configuration was read from, for error messages.
    #[serde(skip)]
    pub path: Option<PathBuf>,
    /// The place as messages name it (`lade.toml`, `[tool.lade] in pyproject.toml`…).
    #[serde(skip)]
    pub place: Option<String>,
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

/// `[workspace]` of a root lade.toml.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WorkspaceSettings {
    /// Project directories relative to the root; `*` and `?` match within one path element
    /// (`services/*`); `.` is the root itself.
    pub members: Vec<String>,
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
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct BuildSettings {
    /// The zig executable that compiles and links C for other platforms (a path, relative to
    /// the project, or a name on PATH; default: `zig` on PATH, else `python3 -m ziglang`).
    pub zig: Option<String>,
    /// A registry repository (`registry.example.com/team/cache`) holding a build cache shared
    /// by every machine that publishes the project (`--cache-repo`).
    pub cache_repo: Option<String>,
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
    /// A bad value or syntax: `at` is `FILE:LINE:COLUMN`, with the setting's name where the
    /// file is not TOML (`pom.xml:12:9: lade.ports`, `package.json: lade.ports`).
    #[error("{at}: {message}")]
    Invalid { at: String, message: String },
}

impl LadeConfig {
    /// Reads `DIR/lade.toml`, or the lade settings in a manifest in `DIR` (`[tool.lade]` in
    /// pyproject.toml, …); none is an empty configuration. Settings in two places are an error
    /// rather than a merge, so no key is silently shadowed.
    pub fn load(dir: &Path) -> Result<LadeConfig, ConfigError> {
        sources::load(dir)
    }

    /// Parses and validates the text of a lade.toml named `path`.
    pub fn parse(text: &str, path: &Path) -> Result<LadeConfig, ConfigError> {
        let doc = parse::Document {
            path,
            text,
            table: &[],
            lifted: None,
            strict: true,
        };
        Ok(doc.parse()?.unwrap_or_default())
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

#[cfg(test)]
mod tests;
