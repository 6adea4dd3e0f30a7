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
    pub base: Option<String>,
    /// Go: the main package to use as entrypoint (`./cmd/server`).
    pub main: Option<String>,
    /// Which detector to use when several match.
    pub language: Option<String>,
    #[serde(default)]
    pub go: GoSettings,
    #[serde(default)]
    pub node: NodeSettings,
    /// Where the configuration was read from, for error messages.
    #[serde(skip)]
    pub path: Option<PathBuf>,
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
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NodeSettings {
    /// The node executable in the base, as the entrypoint names it (default `node` from the
    /// base's PATH; `/nodejs/bin/node` on distroless, which keeps it off PATH).
    pub binary: Option<String>,
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
    #[error("reading {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}:{line}:{column}: {message}")]
    Invalid {
        path: PathBuf,
        line: usize,
        column: usize,
        message: String,
    },
}

impl LadeConfig {
    /// Reads `DIR/lade.toml`; a missing file is an empty configuration.
    pub fn load(dir: &Path) -> Result<LadeConfig, ConfigError> {
        let path = dir.join(FILE_NAME);
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(LadeConfig::default()),
            Err(source) => return Err(ConfigError::Read { path, source }),
        };
        let mut config = Self::parse(&text, &path)?;
        config.path = Some(path);
        Ok(config)
    }

    /// Parses and validates the text of a configuration file named `path`.
    pub fn parse(text: &str, path: &Path) -> Result<LadeConfig, ConfigError> {
        let invalid = |span: Option<std::ops::Range<usize>>, message: String| {
            let (line, column) = line_column(text, span.map(|s| s.start).unwrap_or(0));
            ConfigError::Invalid {
                path: path.to_path_buf(),
                line,
                column,
                message,
            }
        };
        let config: LadeConfig =
            toml::from_str(text).map_err(|e| invalid(e.span(), e.message().trim().to_string()))?;
        for p in &config.platforms {
            p.get_ref()
                .parse::<Platform>()
                .map_err(|e: PlatformError| invalid(Some(p.span()), e.to_string()))?;
        }
        for p in &config.ports {
            port_spec(p.get_ref()).map_err(|m| invalid(Some(p.span()), m))?;
        }
        if let Some(UserSetting::Name(u)) = &config.user
            && u.trim().is_empty()
        {
            return Err(invalid(None, "user must not be empty".into()));
        }
        Ok(config)
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
            plan.base = b.clone();
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

/// 1-based line and column of a byte offset.
fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, column)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(t: &str) -> Result<LadeConfig, ConfigError> {
        LadeConfig::parse(t, Path::new("lade.toml"))
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
    fn errors_name_line_and_column() {
        let e = parse("name = \"x\"\n\nentrypont = [\"a\"]\n")
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with("lade.toml:3:1: unknown field `entrypont`"),
            "{e}"
        );
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
}
