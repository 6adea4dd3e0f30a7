//! Node: a package.json project (npm, yarn or pnpm, chosen by the lockfile), or a plain
//! `server.js`/`index.js`/`app.js` with no package.json.
//!
//! The image is the base's node plus two layers: `node_modules` (production dependencies,
//! installed per platform in a staging copy of the manifests under lade's build directory, with
//! npm's `--cpu/--os/--libc` or the yarn/pnpm equivalents so per-platform optional packages
//! match the image) below the application files at /app. A `build` script runs in a full
//! copy of the project with every dependency installed (the multi-stage pattern, without a
//! Dockerfile); the image then takes the built copy's files and the production-only
//! node_modules. node runs the app directly (not `npm start`), so signals reach it.

mod package;
mod steps;

use super::{DetectError, Detector, Project, image_name, tree_entries};
use crate::plan::{EntryKind, FileEntry, ImageConfigPatch, LayerSpec, Plan, Reason, TargetPlan};
use crate::platform::Platform;
use package::{Manager, PackageJson, StartSource};
use std::path::Path;
use steps::{Dirs, Runner};

pub struct NodeDetector;

/// The base unless lade.toml or `--base` names another. The lead may change it; the node
/// binary's default follows it (see [`default_node_binary`]).
pub const DEFAULT_BASE: &str = "gcr.io/distroless/nodejs22-debian12:nonroot";

/// Files run as the app when there is no package.json, or nothing in it says how to start.
const DEFAULT_FILES: &[&str] = &["server.js", "index.js", "app.js"];

/// Files the package managers read when installing (besides the lockfile); copied to the
/// staging directories when present. `.npmrc` may hold registry credentials: it is used on the
/// host and never reaches a layer.
const INSTALL_FILES: &[&str] = &[
    "package.json",
    ".npmrc",
    ".yarnrc",
    ".yarnrc.yml",
    "pnpm-workspace.yaml",
    ".pnpmfile.cjs",
    "patches",
    ".yarn/releases",
    ".yarn/plugins",
    ".yarn/patches",
];

impl Detector for NodeDetector {
    fn name(&self) -> &'static str {
        "node"
    }

    fn looks_for(&self) -> &'static str {
        "package.json, or server.js/index.js/app.js (Node)"
    }

    fn detect(&self, project: &Project) -> Result<Option<Plan>, DetectError> {
        let dir = project.dir;
        let pkg_path = dir.join("package.json");
        let mut reasons = Vec::new();
        let has_pkg = pkg_path.is_file();
        let pkg = if has_pkg {
            PackageJson::parse(&read(&pkg_path)?, &pkg_path)?
        } else {
            match DEFAULT_FILES.iter().find(|f| dir.join(f).is_file()) {
                Some(f) => {
                    reasons.push(Reason {
                        file: f.to_string(),
                        why: "a Node script with no package.json: run as it is, nothing to install"
                            .into(),
                    });
                    PackageJson::default()
                }
                None => return Ok(None),
            }
        };

        let lockfiles: Vec<&str> = package::LOCKFILES
            .iter()
            .copied()
            .filter(|l| dir.join(l).is_file())
            .collect();
        let yarn_lock_head = if lockfiles.contains(&"yarn.lock") {
            let text = read(&dir.join("yarn.lock"))?;
            text.chars().take(2048).collect()
        } else {
            String::new()
        };
        let (manager, lockfile, notes) = package::choose_manager(
            &lockfiles,
            pkg.package_manager.as_deref(),
            &yarn_lock_head,
            dir.join(".yarnrc.yml").is_file(),
        );
        let needs_install = pkg.has_dependencies() || pkg.scripts.contains_key("build");
        if has_pkg {
            reasons.push(Reason {
                file: "package.json".into(),
                why: match &pkg.name {
                    Some(n) => format!("Node package {n}"),
                    None => "Node package".into(),
                },
            });
            let why = match (&manager, needs_install) {
                (_, false) => "no dependencies: nothing to install".to_string(),
                (Manager::Npm { locked: false }, true) => {
                    "WARNING: no lockfile, so the build is not pinned: `npm install` resolves versions anew each time (commit a package-lock.json)".to_string()
                }
                (_, true) if !pkg.has_dependencies() => {
                    "no production dependencies: no node_modules in the image".to_string()
                }
                (Manager::Npm { .. }, true) => "npm ci --omit=dev".to_string(),
                (Manager::Yarn { berry }, true) => format!(
                    "yarn {} install, production dependencies",
                    if *berry { "berry" } else { "classic" }
                ),
                (Manager::Pnpm, true) => "pnpm install --prod".to_string(),
            };
            reasons.push(Reason {
                file: lockfile.clone().unwrap_or_else(|| "package.json".into()),
                why,
            });
        }
        for n in notes {
            reasons.push(Reason {
                file: "package.json".into(),
                why: n,
            });
        }

        let procfile = match dir.join("Procfile") {
            p if p.is_file() => Some(read(&p)?),
            _ => None,
        };
        let (start, notes) = package::choose_start(procfile.as_deref(), &pkg, DEFAULT_FILES, |f| {
            dir.join(f).is_file()
        });
        for n in notes {
            reasons.push(Reason {
                file: "package.json".into(),
                why: n,
            });
        }
        let base = project
            .config
            .base
            .as_ref()
            .map_or_else(|| DEFAULT_BASE.to_string(), |b| b.reference());
        let node = project
            .config
            .node
            .binary
            .clone()
            .unwrap_or_else(|| default_node_binary(&base).to_string());
        let entrypoint = match &start {
            Some(s) => {
                reasons.push(Reason {
                    file: match &s.source {
                        StartSource::Procfile => "Procfile".into(),
                        StartSource::StartScript | StartSource::Main => "package.json".into(),
                        StartSource::DefaultFile(f) => f.clone(),
                    },
                    why: format!(
                        "starts with node /app/{} ({})",
                        s.file,
                        match &s.source {
                            StartSource::Procfile => "Procfile web:",
                            StartSource::StartScript => "scripts.start",
                            StartSource::Main => "main",
                            StartSource::DefaultFile(_) => "default file",
                        }
                    ),
                });
                let mut e = vec![node.clone(), format!("/app/{}", s.file)];
                e.extend(s.args.iter().cloned());
                Some(e)
            }
            // lade.toml's entrypoint is applied over the plan later.
            None if project.config.entrypoint.is_some() => None,
            None => {
                return Err(DetectError::Unsupported(format!(
                    "{}: no start command: set `scripts.start` to `node FILE`, `main` in package.json, a Procfile `web: node FILE` line, or `entrypoint` in lade.toml",
                    if has_pkg {
                        pkg_path.display().to_string()
                    } else {
                        dir.display().to_string()
                    }
                )));
            }
        };
        if let (Some(range), Some(major)) = (pkg.engines_node(), package::base_node_major(&base))
            && !package::range_allows_major(range, major)
        {
            reasons.push(Reason {
                file: "package.json".into(),
                why: format!(
                    "WARNING: engines.node is `{range}` but the base {base} has node {major}"
                ),
            });
        }

        // The application files, through .dockerignore, `files` and without the developer's
        // own node_modules (the image gets the installed one).
        let (mut app, excluded) = tree_entries(dir, Path::new(""), "/app", project.filter)?;
        app.retain(|e| {
            let rel = rel_of(&e.target);
            rel != "node_modules" && !rel.starts_with("node_modules/")
        });
        let mut always = vec!["package.json"];
        if let Some(s) = &start {
            always.push(s.file.as_str());
        }
        if pkg.files.is_some() {
            reasons.push(Reason {
                file: "package.json".into(),
                why: "`files` limits the application files".into(),
            });
        }
        let host = Platform::host().unwrap_or_else(|| Platform::linux("amd64", None));
        let runner = Runner {
            via_corepack: !matches!(manager, Manager::Npm { .. }) && !on_path(manager.name()),
            manager: manager.clone(),
            declared: pkg
                .package_manager
                .clone()
                .filter(|d| d.split('@').next() == Some(manager.name()) && d.contains('@')),
        };
        let foreign: Vec<String> = project
            .platforms
            .iter()
            .filter(|p| !p.matches(&host))
            .map(|p| p.to_string())
            .collect();
        if pkg.has_dependencies() && !foreign.is_empty() {
            reasons.push(Reason {
                file: lockfile.clone().unwrap_or_else(|| "package.json".into()),
                why: format!(
                    "dependencies' install scripts do not run for {} (no emulation); packages that compile native code are refused for it",
                    foreign.join(", ")
                ),
            });
        }
        if matches!(manager, Manager::Yarn { berry: false })
            && project.platforms.iter().any(|p| !p.matches(&host))
        {
            reasons.push(Reason {
                file: "yarn.lock".into(),
                why: "classic yarn cannot choose optional packages for another platform: for those it installs every platform's (--ignore-platform)".into(),
            });
        }
        if runner.via_corepack {
            reasons.push(Reason {
                file: lockfile.clone().unwrap_or_default(),
                why: format!("{} is not on PATH: run through corepack", manager.name()),
            });
        }

        let dirs = Dirs::new(project.out_dir);
        let mut build_steps = Vec::new();
        let app_layer = if pkg.scripts.contains_key("build") {
            reasons.push(Reason {
                file: "package.json".into(),
                why: format!(
                    "scripts.build: built in a copy with every dependency ({}), the image gets production dependencies only",
                    dirs.build.display()
                ),
            });
            let mut copy: Vec<String> = app
                .iter()
                .filter(|e| !matches!(e.kind, EntryKind::Dir))
                .map(|e| rel_of(&e.target).to_string())
                .collect();
            // The build needs the install files even when `files` or the deny list keeps
            // them out of the image; they are left out of the layer again below.
            let mut private = Vec::new();
            for f in install_files(dir, lockfile.as_deref()) {
                if !copy.contains(&f) {
                    copy.push(f.clone());
                    private.push(f);
                }
            }
            build_steps.push(super::staging::copy_step(
                "copy the project to the build directory".into(),
                dir,
                &copy,
                &dirs.build,
            ));
            build_steps.extend(steps::build_script(&runner, &dirs.build));
            built_app_entries(&pkg, &always, &dirs.build, private)?
        } else {
            if let Some(files) = &pkg.files {
                app.retain(|e| package::in_files(files, rel_of(&e.target), &always));
            }
            app
        };

        let mut targets = Vec::new();
        for (i, platform) in project.platforms.iter().enumerate() {
            let mut steps = if i == 0 {
                build_steps.clone()
            } else {
                Vec::new()
            };
            let mut layers = Vec::new();
            if pkg.has_dependencies() {
                let deps = Dirs::deps(&project.out_dir_for(platform));
                steps.extend(steps::production_install(
                    &runner,
                    platform,
                    &host,
                    dir,
                    &install_files(dir, lockfile.as_deref()),
                    &deps,
                ));
                layers.push(LayerSpec {
                    name: "node_modules".into(),
                    entries: vec![FileEntry {
                        target: "/app/node_modules".into(),
                        mode: 0o755,
                        kind: EntryKind::Tree {
                            source: deps.join("node_modules"),
                            exclude: vec![],
                        },
                    }],
                });
            }
            layers.push(LayerSpec {
                name: "app".into(),
                entries: app_layer.clone(),
            });
            targets.push(TargetPlan {
                platform: platform.clone(),
                steps,
                layers,
                checks: Vec::new(),
            });
        }

        let mut config = ImageConfigPatch {
            entrypoint,
            workdir: Some("/app".into()),
            ..Default::default()
        };
        config.env.insert("NODE_ENV".into(), "production".into());
        let name = project
            .config
            .name
            .clone()
            .or_else(|| pkg.name.as_deref().map(image_name))
            .unwrap_or_else(|| image_name(&dir.file_name().unwrap_or_default().to_string_lossy()));
        Ok(Some(Plan {
            detector: self.name().into(),
            reasons,
            name,
            project_dir: dir.to_path_buf(),
            targets,
            config,
            base,
            excluded,
        }))
    }
}

/// The node the entrypoint runs: distroless keeps it at /nodejs/bin/node, off PATH; other
/// Node bases (Debian's nodejs, the official images) have `node` on PATH.
pub fn default_node_binary(base: &str) -> &'static str {
    if base.contains("distroless/nodejs") {
        "/nodejs/bin/node"
    } else {
        "node"
    }
}

/// Application entries of a project with a build script: the built copy (minus its
/// node_modules and the install-only files), or with `files`, the listed paths of it.
fn built_app_entries(
    pkg: &PackageJson,
    always: &[&str],
    build: &Path,
    private: Vec<String>,
) -> Result<Vec<FileEntry>, DetectError> {
    let tree = |rel: &str, exclude: Vec<String>| FileEntry {
        target: if rel.is_empty() {
            "/app".into()
        } else {
            format!("/app/{rel}")
        },
        mode: 0o755,
        kind: EntryKind::Tree {
            source: if rel.is_empty() {
                build.to_path_buf()
            } else {
                build.join(rel)
            },
            exclude,
        },
    };
    let Some(files) = &pkg.files else {
        let mut exclude = vec!["node_modules".to_string()];
        exclude.extend(private);
        return Ok(vec![tree("", exclude)]);
    };
    let mut entries: Vec<FileEntry> = Vec::new();
    let mut paths: Vec<String> = always.iter().map(|s| s.to_string()).collect();
    for f in files {
        if f.contains(['*', '?', '!', '[']) {
            return Err(DetectError::Unsupported(format!(
                "package.json: `files` entry `{f}` is a pattern; with a build script lade copies `files` entries that name files or directories (list the directories instead)"
            )));
        }
        paths.push(f.trim_start_matches("./").trim_end_matches('/').to_string());
    }
    paths.sort();
    paths.dedup();
    // A path inside a listed directory comes with it (and two entries would collide).
    let inside = |p: &str| {
        paths.iter().any(|q| {
            p.strip_prefix(q.as_str())
                .is_some_and(|r| r.starts_with('/'))
        })
    };
    let paths: Vec<String> = paths.iter().filter(|p| !inside(p)).cloned().collect();
    for p in paths {
        entries.push(tree(&p, vec![]));
    }
    Ok(entries)
}

/// The install files of the project that exist, with the lockfile.
fn install_files(dir: &Path, lockfile: Option<&str>) -> Vec<String> {
    INSTALL_FILES
        .iter()
        .copied()
        .chain(lockfile)
        .filter(|f| dir.join(f).exists())
        .map(str::to_string)
        .collect()
}

/// `/app/lib/a.js` → `lib/a.js`.
fn rel_of(target: &str) -> &str {
    target.strip_prefix("/app/").unwrap_or(target)
}

/// Whether `program` is an executable file in a PATH directory (a lookup, not a run).
fn on_path(program: &str) -> bool {
    use std::os::unix::fs::PermissionsExt;
    crate::env::var_os(crate::env::PATH).is_some_and(|path| {
        std::env::split_paths(&path).any(|d| {
            std::fs::metadata(d.join(program))
                .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        })
    })
}

fn read(path: &Path) -> Result<String, DetectError> {
    std::fs::read_to_string(path).map_err(|source| DetectError::Read {
        path: path.to_path_buf(),
        source,
    })
}

#[cfg(test)]
mod tests;
