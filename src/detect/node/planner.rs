//! A Node project's plan: production dependencies installed per platform below the
//! application files at /app, a build script run once in a full copy, node itself as the
//! entrypoint.

use super::DEFAULT_BASE;
use super::app;
use super::facts::NodeProject;
use super::npm_lock;
use super::package::{self, Manager, PackageJson, StartSource};
use super::steps::{self, Dirs, Runner};
use super::workspace::{self, Workspace};
use super::workspace_layers;
use crate::detect::builder::{DirName, PlanBuilder, Target};
use crate::detect::{DetectError, Project, image_name};
use crate::plan::{EntryKind, FileEntry, LayerSpec, Plan};
use crate::platform::Platform;

pub fn plan(node: &NodeProject, project: &Project) -> Result<Plan, DetectError> {
    let mut b = PlanBuilder::new("node", project);
    let pkg = &node.package;
    install_reasons(&mut b, node);
    let base = b.base(DEFAULT_BASE);
    let entrypoint = entrypoint(&mut b, node)?;
    if let (Some(range), Some(major)) = (pkg.engines_node(), package::base_node_major(&base))
        && !package::range_allows_major(range, major)
    {
        b.reason(
            "package.json",
            format!("WARNING: engines.node is `{range}` but the base {base} has node {major}"),
        );
    }
    let app = app::files(&mut b, node)?;
    let members = match &node.workspace {
        Some(ws) => Some(
            workspace_checks(&mut b, node, ws)
                .and_then(|()| workspace_layers::members(&mut b, ws, &node.manager))?,
        ),
        None => None,
    };
    let host = Platform::host().unwrap_or_else(|| Platform::linux("amd64", None));
    let runner = runner(&mut b, node, &host);
    let own_install = own_install(&mut b, node, &runner);
    let dirs = Dirs::new(project.out_dir);
    let (build_steps, app) = if pkg.scripts.contains_key("build") {
        b.reason(
            "package.json",
            format!(
                "scripts.build: built in a copy with every dependency ({}), the image gets production dependencies only",
                dirs.build.display()
            ),
        );
        app::build(b.dir(), node, &runner, &app, &dirs.build)?
    } else {
        (Vec::new(), app::limited(node, app))
    };
    b.per_platform(|platform, out| {
        let mut t = Target::default();
        if pkg.has_dependencies() {
            let deps = Dirs::deps(&out);
            t.steps = steps::production_install(
                &runner,
                platform,
                &host,
                (node.install_root(project.dir), &node.install_files),
                own_install
                    .get(&platform.to_string())
                    .and_then(|ok| ok.then_some(node.lockfile.as_deref()).flatten()),
                &deps,
            );
            if let Some(ws) = &node.workspace {
                t.layers.push(workspace_layers::node_modules(
                    ws,
                    &node.manager,
                    pkg.name.as_deref(),
                    &deps,
                ));
            } else {
                t.layers.push(LayerSpec {
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
        }
        // A package that needs no workspace package gets no empty layer.
        t.layers
            .extend(members.clone().filter(|l| !l.entries.is_empty()));
        t.layers.push(LayerSpec {
            name: "app".into(),
            entries: app.clone(),
        });
        Ok(t)
    })?;
    b.once(build_steps, Vec::new());
    let config = b.config();
    config.entrypoint = entrypoint;
    config.workdir = Some("/app".into());
    config.env.insert("NODE_ENV".into(), "production".into());
    let name = b.name(pkg.name.as_deref().map(image_name), DirName::ImageName);
    Ok(b.finish(name, DEFAULT_BASE))
}

/// A package in a workspace: what lade supports of it, and what the image gets.
fn workspace_checks(
    b: &mut PlanBuilder,
    node: &NodeProject,
    ws: &Workspace,
) -> Result<(), DetectError> {
    let root = ws.root.join("package.json");
    match node.manager {
        Manager::Npm { locked: true } | Manager::Pnpm => {}
        Manager::Yarn { berry: true } => yarn_checks(node, ws)?,
        Manager::Yarn { berry: false } => {
            // Measured with yarn 1.22: in a workspace, `--frozen-lockfile` installs a range
            // the lockfile does not pin without failing, so the install would not be locked.
            return Err(DetectError::Unsupported(format!(
                "{}: {} is a package of a yarn classic (v1) workspace, which lade does not build because yarn 1 does not hold a workspace install to yarn.lock: move the workspace to yarn 4 (`yarn set version stable`, `nodeLinker: node-modules` in .yarnrc.yml, then `yarn install`), or to npm or pnpm workspaces",
                root.display(),
                ws.member
            )));
        }
        Manager::Npm { locked: false } => {
            return Err(DetectError::Unsupported(format!(
                "{}: {} is a workspace package, but the workspace root has no lockfile (package-lock.json, pnpm-lock.yaml or yarn.lock; run `npm install` in {} to create one)",
                root.display(),
                ws.member,
                ws.root.display()
            )));
        }
    }
    if node.package.scripts.contains_key("build") {
        return Err(DetectError::Unsupported(format!(
            "{}: scripts.build in a workspace package is not supported yet: build it before publishing and remove the script, or publish a package without one",
            b.dir().join("package.json").display()
        )));
    }
    let names: Vec<&str> = ws.deps.iter().map(|m| m.name.as_str()).collect();
    b.reason(
        root.display().to_string(),
        format!(
            "{} workspace package {}: only its production dependencies and those of the workspace packages it depends on are installed, from the root's lockfile; workspace packages it depends on: {}",
            node.manager.name(),
            ws.member,
            if names.is_empty() { "none".to_string() } else { names.join(", ") }
        ),
    );
    Ok(())
}

/// A yarn berry workspace: installed into node_modules (Plug'n'Play has no node_modules to
/// place in the image) by `workspaces focus`, which yarn 2 and 3 have only as a plugin.
fn yarn_checks(node: &NodeProject, ws: &Workspace) -> Result<(), DetectError> {
    let yarnrc = ws.root.join(".yarnrc.yml");
    let (linker, has_tools) = workspace::yarnrc(&ws.root)?;
    if linker != "node-modules" {
        return Err(DetectError::Unsupported(format!(
            "{}: {} is a package of a yarn workspace that uses Plug'n'Play (nodeLinker `{linker}`), which lade does not build: set `nodeLinker: node-modules` in {} and run `yarn install`",
            yarnrc.display(),
            ws.member,
            yarnrc.display()
        )));
    }
    let major = node
        .declared_manager()
        .and_then(|d| d.strip_prefix("yarn@"))
        .and_then(|v| v.split('.').next()?.parse::<u32>().ok());
    let lock_path = ws.root.join("yarn.lock");
    let lock = std::fs::read_to_string(&lock_path).map_err(|source| DetectError::Read {
        path: lock_path.clone(),
        source,
    })?;
    let members = ws
        .deps
        .iter()
        .map(|m| {
            let path = ws.root.join(&m.rel).join("package.json");
            let text = std::fs::read_to_string(&path).map_err(|source| DetectError::Read {
                path: path.clone(),
                source,
            })?;
            PackageJson::parse(&text, &path)
        })
        .collect::<Result<Vec<_>, _>>()?;
    let manifests: Vec<&PackageJson> = std::iter::once(&node.package).chain(&members).collect();
    let unpinned = workspace::yarn_unpinned(&lock, &manifests);
    if !unpinned.is_empty() {
        return Err(DetectError::Unsupported(format!(
            "{}: no entry for {}, which the workspace's package.json files ask for: yarn.lock is out of date; run `yarn install` in {} and commit yarn.lock",
            lock_path.display(),
            unpinned.join(", "),
            ws.root.display()
        )));
    }
    if let Some(m @ 2..=3) = major
        && !has_tools
    {
        return Err(DetectError::Unsupported(format!(
            "{}: packageManager is yarn {m}, which installs one workspace package only with the workspace-tools plugin: run `yarn plugin import workspace-tools` in {} (or move to yarn 4, which has it built in)",
            ws.root.join("package.json").display(),
            ws.root.display()
        )));
    }
    Ok(())
}

/// What makes it a Node project and how its dependencies are installed.
fn install_reasons(b: &mut PlanBuilder, node: &NodeProject) {
    let pkg = &node.package;
    if let Some(f) = &node.script {
        b.reason(
            f.clone(),
            "a Node script with no package.json: run as it is, nothing to install",
        );
    }
    if node.has_package_json {
        b.reason(
            "package.json",
            match &pkg.name {
                Some(n) => format!("Node package {n}"),
                None => "Node package".into(),
            },
        );
        let needs_install = pkg.has_dependencies() || pkg.scripts.contains_key("build");
        let why = match (&node.manager, needs_install) {
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
        let file = node
            .lockfile
            .clone()
            .unwrap_or_else(|| "package.json".into());
        b.reason(file, why);
    }
    for n in node.manager_notes.iter().chain(&node.start_notes) {
        b.reason("package.json", n.clone());
    }
}

/// `[node, /app/FILE, ARGS…]`; `None` when lade.toml sets the entrypoint (applied over the
/// plan later) and nothing in the project says how to start.
fn entrypoint(b: &mut PlanBuilder, node: &NodeProject) -> Result<Option<Vec<String>>, DetectError> {
    let config = &b.project().config;
    let Some(s) = &node.start else {
        if config.entrypoint.is_some() {
            return Ok(None);
        }
        let dir = b.dir();
        return Err(DetectError::Unsupported(format!(
            "{}: no start command: set `scripts.start` to `node FILE`, `main` in package.json, a Procfile `web: node FILE` line, or `entrypoint` in lade.toml",
            if node.has_package_json {
                dir.join("package.json").display().to_string()
            } else {
                dir.display().to_string()
            }
        )));
    };
    let (file, from) = match &s.source {
        StartSource::Procfile => ("Procfile".to_string(), "Procfile web:"),
        StartSource::StartScript => ("package.json".into(), "scripts.start"),
        StartSource::Main => ("package.json".into(), "main"),
        StartSource::DefaultFile(f) => (f.clone(), "default file"),
    };
    b.reason(file, format!("starts with node /app/{} ({from})", s.file));
    // `node` from the base's PATH, or the base's own Entrypoint when that is node by path
    // (distroless keeps it at /nodejs/bin/node, off PATH): decided at publish from the
    // base's config, never from its name.
    let binary = config.node.binary.clone().unwrap_or_else(|| "node".into());
    let mut e = vec![binary, format!("/app/{}", s.file)];
    e.extend(s.args.iter().cloned());
    Ok(Some(e))
}

/// How the package manager runs, with what that means for foreign platforms.
/// Per platform, whether lade writes node_modules from the npm lockfile itself (`lade
/// npm-install`, see `npm_lock`) rather than running `npm ci`; the reason either way.
fn own_install(
    b: &mut PlanBuilder,
    node: &NodeProject,
    runner: &Runner,
) -> std::collections::BTreeMap<String, bool> {
    let mut choice = std::collections::BTreeMap::new();
    let (Some(text), Some(lockfile), false) = (&node.npm_lock, &node.lockfile, runner.via_corepack)
    else {
        return choice;
    };
    if !node.package.has_dependencies() {
        return choice;
    }
    for platform in b.project().platforms {
        let target = npm_lock::NpmPlatform {
            cpu: steps::node_arch(platform).to_string(),
            os: "linux".into(),
            libc: "glibc".into(),
        };
        let why = match npm_lock::locked_install(&text.lockfile, &text.package_json, &target) {
            Ok(install) => {
                choice.insert(platform.to_string(), true);
                format!(
                    "{platform}: lade writes node_modules itself from npm's cache ({} packages, as npm ci --omit=dev lays them out); npm ci runs instead when the cache lacks a tarball or npm's settings change the install",
                    install.packages.len()
                )
            }
            Err(why) => {
                choice.insert(platform.to_string(), false);
                format!("{platform}: npm ci installs ({why})")
            }
        };
        b.reason(lockfile.clone(), why);
    }
    choice
}

fn runner(b: &mut PlanBuilder, node: &NodeProject, host: &Platform) -> Runner {
    let manager = &node.manager;
    let runner = Runner {
        via_corepack: !matches!(manager, Manager::Npm { .. }) && !on_path(manager.name()),
        manager: manager.clone(),
        declared: node
            .declared_manager()
            .map(str::to_string)
            .filter(|d| d.split('@').next() == Some(manager.name()) && d.contains('@')),
        workspace: node.workspace.as_ref().map(|w| w.member.clone()),
    };
    let foreign: Vec<String> = b
        .project()
        .platforms
        .iter()
        .filter(|p| !p.matches(host))
        .map(|p| p.to_string())
        .collect();
    let lockfile = || node.lockfile.clone();
    if node.package.has_dependencies() && !foreign.is_empty() {
        b.reason(
            lockfile().unwrap_or_else(|| "package.json".into()),
            format!(
                "dependencies' install scripts do not run for {} (no emulation); packages that compile native code are refused for it",
                foreign.join(", ")
            ),
        );
    }
    if matches!(manager, Manager::Yarn { berry: false }) && !foreign.is_empty() {
        b.reason(
            "yarn.lock",
            "classic yarn cannot choose optional packages for another platform: for those it installs every platform's (--ignore-platform)",
        );
    }
    if runner.via_corepack {
        b.reason(
            lockfile().unwrap_or_default(),
            format!("{} is not on PATH: run through corepack", manager.name()),
        );
    }
    runner
}

/// Whether `program` is an executable file in a PATH directory (a lookup, not a run).
pub(super) fn on_path(program: &str) -> bool {
    use std::os::unix::fs::PermissionsExt;
    crate::env::var_os(crate::env::PATH).is_some_and(|path| {
        std::env::split_paths(&path).any(|d| {
            std::fs::metadata(d.join(program))
                .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        })
    })
}
