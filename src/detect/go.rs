//! Go: `go.mod` modules (stdlib-only or vendored), or loose `*.go` files with no go.mod.
//! Builds every main package it finds (the root and `cmd/*`) with CGO disabled, trimmed paths
//! and no build id, so the binary depends only on the source; the chosen main is the
//! entrypoint. A `kodata/` directory beside the entrypoint's package (or at the root) goes into
//! its own layer at /var/run/ko with KO_DATA_PATH pointing at it, as ko does, so programs
//! written for ko work unchanged.

use super::{DetectError, Detector, Project, dir_names, tree_entries};
use crate::plan::{
    BuildStep, EntryKind, FileEntry, ImageConfigPatch, LayerSpec, Plan, Reason, StepInput,
    StepOutput, TargetPlan,
};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

pub struct GoDetector;

pub const KODATA_PATH: &str = "/var/run/ko";

/// The base for Go images unless lade.toml or --base names another: static binaries need no
/// libc, and distroless static brings CA certificates, tzdata, /etc/passwd and a nonroot user.
pub const DEFAULT_BASE: &str = "gcr.io/distroless/static-debian12:nonroot";

/// A main package: its directory relative to the project (`.` or `cmd/x`) and binary name.
#[derive(Clone, Debug, PartialEq)]
struct MainPackage {
    rel: String,
    binary: String,
}

impl Detector for GoDetector {
    fn name(&self) -> &'static str {
        "go"
    }

    fn looks_for(&self) -> &'static str {
        "go.mod or *.go (Go)"
    }

    fn detect(&self, project: &Project) -> Result<Option<Plan>, DetectError> {
        let dir = project.dir;
        let go_mod = dir.join("go.mod");
        let mut reasons = Vec::new();
        let module = if go_mod.is_file() {
            let text = read(&go_mod)?;
            let module = module_path(&text).ok_or_else(|| DetectError::Invalid {
                file: go_mod.clone(),
                detail: "no `module` line; run `go mod init NAME`".into(),
            })?;
            reasons.push(Reason {
                file: "go.mod".into(),
                why: format!("Go module {module}"),
            });
            Some(module)
        } else {
            None
        };
        let root_files = go_files(dir)?;
        if module.is_none() {
            if root_files.is_empty() {
                return Ok(None);
            }
            reasons.push(Reason {
                file: root_files[0].clone(),
                why: "Go files with no go.mod: built as a module of their own".into(),
            });
        }

        let default_name = project
            .config
            .name
            .clone()
            .unwrap_or_else(|| match &module {
                Some(m) => module_binary_name(m),
                None => dir_name(dir),
            });
        let mut mains = Vec::new();
        if package_name(dir, &root_files)?.as_deref() == Some("main") {
            mains.push(MainPackage {
                rel: ".".into(),
                binary: default_name.clone(),
            });
        }
        if module.is_some() {
            for sub in subdirs(&dir.join("cmd"))? {
                let rel = format!("cmd/{sub}");
                let files = go_files(&dir.join(&rel))?;
                if package_name(&dir.join(&rel), &files)?.as_deref() == Some("main") {
                    mains.push(MainPackage { rel, binary: sub });
                }
            }
        }
        let wanted = project
            .main
            .map(str::to_string)
            .or_else(|| project.config.main.clone());
        if let Some(w) = &wanted {
            let rel = clean_rel(w);
            if !mains.iter().any(|m| m.rel == rel) {
                if module.is_none() {
                    return Err(DetectError::Unsupported(format!(
                        "--main {w}: without a go.mod only the root directory's files can be built"
                    )));
                }
                let files = go_files(&dir.join(&rel))?;
                if package_name(&dir.join(&rel), &files)?.as_deref() != Some("main") {
                    return Err(DetectError::Unsupported(format!(
                        "--main {w}: {} is not a main package (main packages found: {})",
                        dir.join(&rel).display(),
                        list_mains(&mains)
                    )));
                }
                let binary = if rel == "." {
                    default_name.clone()
                } else {
                    last_element(&rel)
                };
                mains.push(MainPackage { rel, binary });
            }
        }
        if mains.is_empty() {
            return Err(DetectError::Unsupported(format!(
                "{}: no main package in the module root or cmd/*; add `package main` with a `func main()`, or name one with --main ./path",
                go_mod.display()
            )));
        }
        let entry = match &wanted {
            Some(w) => mains
                .iter()
                .find(|m| m.rel == clean_rel(w))
                .expect("added above")
                .clone(),
            None => match mains.iter().find(|m| m.rel == ".") {
                Some(m) => m.clone(),
                None if mains.len() == 1 => mains[0].clone(),
                None => {
                    return Err(DetectError::Unsupported(format!(
                        "several main packages ({}): pick the entrypoint with --main or `main = \"./cmd/NAME\"` in lade.toml",
                        list_mains(&mains)
                    )));
                }
            },
        };
        for m in &mains {
            check_no_cgo(&dir.join(&m.rel))?;
            reasons.push(Reason {
                file: if m.rel == "." {
                    "*.go".into()
                } else {
                    format!("{}/", m.rel)
                },
                why: format!("main package → /app/{}", m.binary),
            });
        }
        let vendored = module.is_some() && dir.join("vendor/modules.txt").is_file();
        if vendored {
            reasons.push(Reason {
                file: "vendor/".into(),
                why: "vendored modules: -mod=vendor".into(),
            });
        }

        let kodata_dir = [
            Path::new(&entry.rel).join("kodata"),
            PathBuf::from("kodata"),
        ]
        .into_iter()
        .map(|p| p.strip_prefix(".").map(Path::to_path_buf).unwrap_or(p))
        .into_iter()
        .find(|p| dir.join(p).is_dir());
        let mut excluded_files = Vec::new();
        let kodata = match &kodata_dir {
            Some(k) => {
                reasons.push(Reason {
                    file: format!("{}/", k.display()),
                    why: format!("static data → {KODATA_PATH}"),
                });
                let (entries, excluded) = tree_entries(dir, k, KODATA_PATH, project.filter)?;
                excluded_files = excluded;
                Some(entries)
            }
            None => None,
        };

        let ldflags = std::iter::once("-buildid=".to_string())
            .chain(project.config.go.ldflags.iter().cloned())
            .collect::<Vec<_>>()
            .join(" ");
        let mut targets = Vec::new();
        for platform in project.platforms {
            let out = project.out_dir_for(platform);
            let mut env = BTreeMap::new();
            env.insert("CGO_ENABLED".into(), "0".into());
            env.insert("GOOS".into(), platform.os.clone());
            env.insert("GOARCH".into(), platform.goarch().to_string());
            if let Some(arm) = platform.goarm() {
                env.insert("GOARM".into(), arm.to_string());
            }
            let mut steps = Vec::new();
            let mut binaries = Vec::new();
            for m in &mains {
                let bin = out.join(&m.binary);
                let mut args = vec![
                    "build".to_string(),
                    "-trimpath".into(),
                    "-buildvcs=false".into(),
                    format!("-ldflags={ldflags}"),
                ];
                if vendored {
                    args.push("-mod=vendor".into());
                }
                args.extend(project.config.go.flags.iter().cloned());
                args.push("-o".into());
                args.push(bin.to_string_lossy().into_owned());
                if module.is_some() {
                    args.push(if m.rel == "." {
                        ".".into()
                    } else {
                        format!("./{}", m.rel)
                    });
                } else {
                    args.extend(root_files.iter().cloned());
                }
                let what = if m.rel == "." { "." } else { &m.rel };
                // Not reused by lade: go's own build cache makes an unchanged build cheap.
                steps.push(
                    BuildStep::new(format!("go build {what} for {platform}"), "go", args, dir)
                        .with_env(env.clone())
                        .with_input(StepInput::Tree {
                            path: dir.to_path_buf(),
                            exclude: vec![],
                        })
                        .with_input(StepInput::Env {
                            name: "GOFLAGS".into(),
                        })
                        .with_tool_input()
                        .with_output(StepOutput::File { path: bin.clone() }),
                );
                binaries.push(FileEntry {
                    target: format!("/app/{}", m.binary),
                    mode: 0o755,
                    kind: EntryKind::File { source: bin },
                });
            }
            let mut layers = Vec::new();
            if let Some(entries) = &kodata {
                layers.push(LayerSpec {
                    name: "kodata".into(),
                    entries: entries.clone(),
                });
            }
            layers.push(LayerSpec {
                name: "binary".into(),
                entries: binaries,
            });
            targets.push(TargetPlan {
                platform: platform.clone(),
                steps,
                layers,
                checks: Vec::new(),
            });
        }

        let mut config = ImageConfigPatch {
            entrypoint: Some(vec![format!("/app/{}", entry.binary)]),
            ..Default::default()
        };
        if kodata.is_some() {
            config.env.insert("KO_DATA_PATH".into(), KODATA_PATH.into());
        }
        Ok(Some(Plan {
            detector: self.name().into(),
            reasons,
            name: default_name,
            project_dir: dir.to_path_buf(),
            targets,
            config,
            base: DEFAULT_BASE.into(),
            excluded: excluded_files,
        }))
    }
}

fn read(path: &Path) -> Result<String, DetectError> {
    std::fs::read_to_string(path).map_err(|source| DetectError::Read {
        path: path.to_path_buf(),
        source,
    })
}

/// The `module` directive of a go.mod.
fn module_path(go_mod: &str) -> Option<String> {
    go_mod.lines().find_map(|l| {
        let rest = l.trim().strip_prefix("module")?;
        if !rest.starts_with([' ', '\t']) {
            return None;
        }
        let m = rest.split("//").next()?.trim().trim_matches('"');
        (!m.is_empty()).then(|| m.to_string())
    })
}

/// `example.com/svc/v2` → `svc`, as `go install` names binaries.
fn module_binary_name(module: &str) -> String {
    let mut parts: Vec<&str> = module.split('/').collect();
    if parts.len() > 1
        && let Some(last) = parts.last()
        && last.len() > 1
        && last.starts_with('v')
        && last[1..].bytes().all(|b| b.is_ascii_digit())
    {
        parts.pop();
    }
    parts.last().copied().unwrap_or("app").to_string()
}

fn dir_name(dir: &Path) -> String {
    dir.file_name()
        .map_or_else(|| "app".into(), |n| n.to_string_lossy().into_owned())
}

fn last_element(rel: &str) -> String {
    rel.rsplit('/').next().unwrap_or(rel).to_string()
}

fn clean_rel(p: &str) -> String {
    let t = p.trim_start_matches("./").trim_end_matches('/');
    if t.is_empty() || t == "." {
        ".".into()
    } else {
        t.to_string()
    }
}

fn list_mains(mains: &[MainPackage]) -> String {
    if mains.is_empty() {
        return "none".into();
    }
    mains
        .iter()
        .map(|m| {
            if m.rel == "." {
                ".".to_string()
            } else {
                format!("./{}", m.rel)
            }
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// Non-test `.go` files directly in `dir`, sorted by name.
fn go_files(dir: &Path) -> Result<Vec<String>, DetectError> {
    dir_names(dir, |name, path| {
        name.ends_with(".go") && !name.ends_with("_test.go") && path.is_file()
    })
}

fn subdirs(dir: &Path) -> Result<Vec<String>, DetectError> {
    dir_names(dir, |_, path| path.is_dir())
}

/// The package clause shared by `files` in `dir` (the first file's, as the compiler would
/// complain about a mismatch itself).
fn package_name(dir: &Path, files: &[String]) -> Result<Option<String>, DetectError> {
    for f in files {
        let text = read(&dir.join(f))?;
        if let Some(p) = package_clause(&text) {
            return Ok(Some(p));
        }
    }
    Ok(None)
}

fn package_clause(src: &str) -> Option<String> {
    let mut in_block_comment = false;
    for line in src.lines() {
        let mut l = line.trim();
        if in_block_comment {
            match l.find("*/") {
                Some(i) => {
                    in_block_comment = false;
                    l = l[i + 2..].trim();
                }
                None => continue,
            }
        }
        if l.starts_with("/*") && !l.contains("*/") {
            in_block_comment = true;
            continue;
        }
        if let Some(rest) = l.strip_prefix("package ") {
            return rest
                .split_whitespace()
                .next()
                .map(|s| s.trim_end_matches(';').to_string());
        }
    }
    None
}

/// lade builds Go with CGO_ENABLED=0 so binaries run on a static base; code importing "C"
/// cannot build that way, so say so before the compiler gives a confusing error.
fn check_no_cgo(dir: &Path) -> Result<(), DetectError> {
    for f in go_files(dir)? {
        let path = dir.join(&f);
        if imports_c(&read(&path)?) {
            return Err(DetectError::Unsupported(format!(
                "{}: imports \"C\" (cgo), but lade builds Go with CGO_ENABLED=0 for static images; remove the cgo dependency, or build the binary yourself and package it on a cc base (gcr.io/distroless/cc-debian12)",
                path.display()
            )));
        }
    }
    Ok(())
}

fn imports_c(src: &str) -> bool {
    let mut in_import_block = false;
    for line in src.lines() {
        let l = line.trim();
        if in_import_block {
            if l.starts_with(')') {
                in_import_block = false;
            } else if l == "\"C\"" || l.starts_with("\"C\" ") {
                return true;
            }
        } else if l == "import \"C\"" || l.starts_with("import \"C\" ") {
            return true;
        } else if l.starts_with("import (") {
            in_import_block = true;
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn module_names() {
        assert_eq!(
            module_path("// c\nmodule example.com/a/svc // x\n\ngo 1.19\n").as_deref(),
            Some("example.com/a/svc")
        );
        assert_eq!(module_path("modulex foo"), None);
        assert_eq!(module_binary_name("example.com/a/svc/v2"), "svc");
        assert_eq!(module_binary_name("hello"), "hello");
    }

    #[test]
    fn package_clauses() {
        assert_eq!(
            package_clause("// Copyright\n/* a\n package fake */\npackage main\n").as_deref(),
            Some("main")
        );
        assert_eq!(
            package_clause("package lib // comment\n").as_deref(),
            Some("lib")
        );
    }

    #[test]
    fn cgo_imports() {
        assert!(imports_c(
            "package main\n// #include <stdio.h>\nimport \"C\"\n"
        ));
        assert!(imports_c("package main\nimport (\n\t\"fmt\"\n\t\"C\"\n)\n"));
        assert!(!imports_c(
            "package main\nimport (\n\t\"fmt\"\n)\n// \"C\"\n"
        ));
    }

    fn write(dir: &Path, files: &[(&str, &str)]) {
        for (name, text) in files {
            let p = dir.join(name);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, text).unwrap();
        }
    }

    fn detect_in(dir: &Path, main: Option<&str>) -> Result<Option<Plan>, DetectError> {
        let config = crate::config::LadeConfig::default();
        let platforms = vec![
            "linux/amd64".parse().unwrap(),
            "linux/arm/v7".parse().unwrap(),
        ];
        let out = dir.join("out");
        let filter = crate::ignore::Filter::default();
        let project = Project {
            dir,
            config: &config,
            platforms: &platforms,
            main,
            out_dir: &out,
            filter: &filter,
        };
        GoDetector.detect(&project)
    }

    const MAIN: &str = "package main\nfunc main() {}\n";

    #[test]
    fn module_with_several_mains() {
        let t = tempfile::tempdir().unwrap();
        write(
            t.path(),
            &[
                ("go.mod", "module example.com/multi\n\ngo 1.19\n"),
                ("cmd/a/main.go", MAIN),
                ("cmd/b/main.go", MAIN),
                ("cmd/b/kodata/x.txt", "x"),
                ("lib/lib.go", "package lib\n"),
            ],
        );
        let err = detect_in(t.path(), None).unwrap_err().to_string();
        assert!(
            err.contains("several main packages (./cmd/a, ./cmd/b)"),
            "{err}"
        );
        let plan = detect_in(t.path(), Some("./cmd/b")).unwrap().unwrap();
        assert_eq!(plan.config.entrypoint, Some(vec!["/app/b".to_string()]));
        let arm = &plan.targets[1];
        assert_eq!(arm.steps.len(), 2, "every main is built");
        assert_eq!(arm.steps[0].env.get("GOARM").map(String::as_str), Some("7"));
        let names: Vec<&str> = arm.layers.iter().map(|l| l.name.as_str()).collect();
        assert_eq!(names, ["kodata", "binary"]);
        let targets: Vec<&str> = arm.layers[1]
            .entries
            .iter()
            .map(|e| e.target.as_str())
            .collect();
        assert_eq!(targets, ["/app/a", "/app/b"]);
        assert_eq!(arm.layers[0].entries[0].target, "/var/run/ko/x.txt");
        let err = detect_in(t.path(), Some("./lib")).unwrap_err().to_string();
        assert!(err.contains("is not a main package"), "{err}");
    }

    #[test]
    fn module_without_main_vendor_and_loose_files() {
        let t = tempfile::tempdir().unwrap();
        write(
            t.path(),
            &[
                ("go.mod", "module example.com/lib\n"),
                ("lib.go", "package lib\n"),
            ],
        );
        let err = detect_in(t.path(), None).unwrap_err().to_string();
        assert!(err.contains("no main package"), "{err}");

        write(t.path(), &[("lib.go", MAIN), ("vendor/modules.txt", "")]);
        let plan = detect_in(t.path(), None).unwrap().unwrap();
        assert!(
            plan.targets[0].steps[0]
                .args
                .contains(&"-mod=vendor".to_string())
        );
        assert_eq!(plan.name, "lib");

        let loose = tempfile::tempdir().unwrap();
        write(
            loose.path(),
            &[
                ("b.go", MAIN),
                ("a.go", "package main\n"),
                ("a_test.go", "package main\n"),
            ],
        );
        let plan = detect_in(loose.path(), None).unwrap().unwrap();
        let args = &plan.targets[0].steps[0].args;
        assert_eq!(
            &args[args.len() - 2..],
            ["a.go", "b.go"],
            "builds the files, not the tree"
        );

        let empty = tempfile::tempdir().unwrap();
        assert!(detect_in(empty.path(), None).unwrap().is_none());
    }

    #[test]
    fn cgo_is_refused_with_a_pointer_to_cc() {
        let t = tempfile::tempdir().unwrap();
        write(
            t.path(),
            &[
                ("go.mod", "module m\n"),
                ("main.go", "package main\nimport \"C\"\nfunc main() {}\n"),
            ],
        );
        let err = detect_in(t.path(), None).unwrap_err().to_string();
        assert!(err.contains("imports \"C\"") && err.contains("cc"), "{err}");
    }
}
