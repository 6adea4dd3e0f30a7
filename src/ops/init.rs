//! `lade init [DIR]`: writes a lade.toml that says what detection found, as settings to edit.
//!
//! Only settings whose value is already the detected one are written as values (`name`);
//! everything else — base, entrypoint, platforms, user… — is a commented line showing what lade
//! uses without it, so the file changes nothing until someone edits it, and a later lade with
//! better defaults is not pinned to today's.

use super::plan::{PlanOptions, plan_and_config};
use crate::config::{FILE_NAME, LadeConfig};
use crate::plan::Plan;
use anyhow::Context;
use std::fmt::Write as _;
use std::io::Write as _;
use std::path::PathBuf;

/// What `lade init` wrote.
#[derive(Debug)]
pub struct Initialized {
    pub path: PathBuf,
    pub plan: Plan,
}

/// Detects the project in `dir` (the current directory when `None`) and writes its lade.toml.
/// Refuses, writing nothing, when there is a lade.toml already or the project's settings are
/// in another file (a lade.toml beside them would make every later command fail).
pub fn init(dir: Option<PathBuf>) -> anyhow::Result<Initialized> {
    let cwd = std::env::current_dir().context("reading the current directory")?;
    let path = dir
        .as_ref()
        .map_or(cwd.clone(), |d| cwd.join(d))
        .join(FILE_NAME);
    if path.exists() {
        anyhow::bail!(
            "{} already exists: lade init does not overwrite it (edit it, or move it away to write a new one)",
            path.display()
        );
    }
    let (plan, config) = plan_and_config(&PlanOptions {
        dir,
        ..Default::default()
    })?;
    if let Some(place) = &config.place {
        anyhow::bail!(
            "lade settings are already in {place}: lade init writes no lade.toml beside them (settings in two places are refused); edit them there"
        );
    }
    let text = render(&plan);
    // What init writes must be what lade reads: a file that fails here would fail every
    // later command instead.
    LadeConfig::parse(&text, &path)
        .with_context(|| format!("the {FILE_NAME} lade init made does not parse"))?;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&path)
        .with_context(|| format!("creating {}", path.display()))?;
    file.write_all(text.as_bytes())
        .with_context(|| format!("writing {}", path.display()))?;
    Ok(Initialized { path, plan })
}

/// The commented lade.toml for `plan`.
pub fn render(plan: &Plan) -> String {
    let c = &plan.config;
    let mut s = String::new();
    let _ = writeln!(
        s,
        "# lade settings for {}, written by `lade init` from what lade detected.",
        plan.name
    );
    s.push_str(
        "# A commented line shows what lade uses without it: uncomment and edit to change it.\n\
         # Command-line flags beat this file, and this file beats detection.\n#\n",
    );
    let _ = writeln!(s, "# Detected: a {} project", plan.detector);
    for r in &plan.reasons {
        let _ = writeln!(s, "#   {}: {}", r.file, r.why);
    }
    s.push('\n');
    s.push_str("# The image name (and the repository name with LADE_REPO).\n");
    let _ = writeln!(s, "name = {}", string(&plan.name));
    let _ = writeln!(
        s,
        "\n# Which detector, when a project looks like several.\n# language = {}",
        string(&plan.detector)
    );
    let _ = writeln!(
        s,
        "\n# The base image: a registry reference, scratch, oci:DIR[:TAG], or a Debian 12 base\n# lade builds (debian12/PRESET[+PACKAGE…], or a [base] table with preset and packages).\n# base = {}",
        string(&plan.base)
    );
    let platforms: Vec<String> = plan
        .targets
        .iter()
        .map(|t| t.platform.to_string())
        .collect();
    let _ = writeln!(
        s,
        "\n# Platforms to build (default: this machine's, {}).\n# platforms = [\"linux/amd64\", \"linux/arm64\"]",
        platforms.join(", ")
    );
    s.push_str("\n# The image's configuration, as detected.\n");
    let commented = |key: &str, value: Option<String>, without: &str| match value {
        Some(v) => format!("# {key} = {v}\n"),
        None => format!("# {key} = {without}\n"),
    };
    s += &commented("entrypoint", c.entrypoint.as_deref().map(array), "[]");
    s += &commented("cmd", c.cmd.as_deref().map(array), "[]");
    s += &commented("workdir", c.workdir.as_deref().map(string), "\"/app\"");
    s += &commented(
        "user",
        c.user.as_deref().map(string),
        "65532                      # default: the base's user, else 65532",
    );
    s += &commented(
        "env",
        (!c.env.is_empty()).then(|| table(&c.env)),
        "{ LOG_LEVEL = \"info\" }",
    );
    let ports: Vec<String> = c.exposed_ports.clone();
    s += &commented(
        "ports",
        (!ports.is_empty()).then(|| array(&ports)),
        "[8080]",
    );
    s += &commented(
        "labels",
        (!c.labels.is_empty()).then(|| table(&c.labels)),
        "{ team = \"…\" }",
    );
    s += &commented(
        "annotations",
        (!c.annotations.is_empty()).then(|| table(&c.annotations)),
        "{ \"org.opencontainers.image.vendor\" = \"…\" }",
    );
    if let Some(section) = language_section(&plan.detector) {
        s.push('\n');
        s.push_str(section);
    }
    s
}

/// Commented settings of the detector's own table, the ones most projects reach for.
fn language_section(detector: &str) -> Option<&'static str> {
    Some(match detector {
        "go" => {
            "# [go]\n# ldflags = [\"-s\", \"-w\"]          # after lade's -buildid=\n# flags = [\"-tags=netgo\"]\n"
        }
        "rust" => {
            "# [rust]\n# bin = \"server\"                    # the entrypoint among several binaries\n# features = [\"metrics\"]\n# libc = \"gnu\"                      # glibc binaries on a cc base (default musl, static)\n"
        }
        "node" => {
            "# [node]\n# binary = \"node\"                   # the node executable in the base\n"
        }
        "java" => {
            "# [java]\n# main_class = \"com.example.Main\"\n# jvm_flags = [\"-Xss512k\"]\n# build_args = [\"-DskipTests\"]      # replaces lade's build flags\n"
        }
        _ => return None,
    })
}

fn string(s: &str) -> String {
    toml::Value::String(s.to_string()).to_string()
}

fn array(items: &[String]) -> String {
    let items: Vec<String> = items.iter().map(|i| string(i)).collect();
    format!("[{}]", items.join(", "))
}

fn table(map: &std::collections::BTreeMap<String, String>) -> String {
    let entries: Vec<String> = map
        .iter()
        .map(|(k, v)| format!("{} = {}", string(k), string(v)))
        .collect();
    format!("{{ {} }}", entries.join(", "))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every commented setting init writes is one lade reads, once uncommented.
    #[test]
    fn commented_settings_parse_when_uncommented() {
        for detector in ["go", "rust", "node", "java", "python"] {
            let plan = Plan {
                detector: detector.into(),
                reasons: vec![crate::plan::Reason {
                    file: "x".into(),
                    why: "y".into(),
                }],
                name: "svc".into(),
                project_dir: "/p".into(),
                targets: vec![],
                config: crate::plan::ImageConfigPatch {
                    entrypoint: Some(vec!["/app/svc".into()]),
                    env: [("A".to_string(), "b \"c\"".to_string())].into(),
                    exposed_ports: vec!["8080/tcp".into()],
                    ..Default::default()
                },
                base: "gcr.io/distroless/static-debian12:nonroot".into(),
                excluded: vec![],
            };
            let text = render(&plan);
            let as_written = LadeConfig::parse(&text, "lade.toml".as_ref()).unwrap();
            assert_eq!(as_written.name.as_deref(), Some("svc"));
            assert!(as_written.base.is_none(), "only name is set: {text}");
            // Uncommenting every `# key = value` line gives settings lade accepts.
            let uncommented: String = text
                .lines()
                .filter_map(|l| l.strip_prefix("# "))
                .filter(|l| l.contains(" = ") || l.starts_with('['))
                .filter(|l| !l.starts_with("The ") && !l.starts_with("Which "))
                .map(|l| format!("{l}\n"))
                .collect();
            let text = format!("name = \"svc\"\n{uncommented}");
            let c = LadeConfig::parse(&text, "lade.toml".as_ref())
                .unwrap_or_else(|e| panic!("{detector}: {e}\n{text}"));
            assert_eq!(c.env["A"], "b \"c\"");
            assert_eq!(c.language.as_deref(), Some(detector));
        }
    }
}
