//! Build steps for Node projects, as data: copying files into lade's staging directories, the
//! package manager's install for a platform, the build script, and the post-install check.
//! Everything runs in the build directory under lade's cache; the project is only read.

use super::package::Manager;
use crate::detect::staging::{copy_step, files_input, reusable_copy_step};
use crate::plan::{BuildStep, LADE_PROGRAM, StepInput, StepOutput};
use crate::platform::Platform;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// How the package manager is started: its own command when on PATH, else through corepack
/// (bundled with node), which also honours the `packageManager` version.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Runner {
    pub manager: Manager,
    pub via_corepack: bool,
    /// `packageManager` from package.json (`pnpm@10.20.0`), when it names this manager.
    pub declared: Option<String>,
    /// npm, pnpm and yarn workspaces: the package's directory relative to the workspace root
    /// (`apps/web`), whose production dependencies alone are installed.
    pub workspace: Option<String>,
}

impl Runner {
    /// What corepack is asked to run: the declared version, else classic yarn's last line
    /// for a classic lockfile (corepack's own default yarn may be a later major), else
    /// corepack's default.
    fn corepack_spec(&self) -> String {
        match (&self.declared, &self.manager) {
            (Some(d), _) => d.clone(),
            (None, Manager::Yarn { berry: false }) => "yarn@1".into(),
            (None, m) => m.name().into(),
        }
    }

    fn command(&self, args: &[&str]) -> (String, Vec<String>) {
        let mut argv: Vec<String> = args.iter().map(|a| a.to_string()).collect();
        if self.via_corepack {
            argv.insert(0, self.corepack_spec());
            ("corepack".into(), argv)
        } else {
            (self.manager.name().to_string(), argv)
        }
    }

    fn step(&self, description: String, args: &[&str], dir: &Path) -> BuildStep {
        let (program, args) = self.command(args);
        BuildStep::new(description, program, args, dir)
            .with_env(quiet_env())
            .with_tool_input()
    }
}

/// For installs pinned by a lockfile: a package already in the manager's download cache is
/// taken from there without asking the registry whether it changed. The lockfile's integrity
/// hashes fix the bytes either way, so what is installed is the same; npm ci of a warm cache
/// takes 1.2–1.4 s instead of 2.1 s (node-express). Unlocked installs resolve ranges and must
/// see the registry's current versions, so they go without it.
const PREFER_OFFLINE: &str = "--prefer-offline";

/// Keeps the managers from phoning home or prompting; nothing here changes what is installed.
fn quiet_env() -> BTreeMap<String, String> {
    [
        ("npm_config_update_notifier", "false"),
        ("npm_config_fund", "false"),
        ("npm_config_audit", "false"),
        ("COREPACK_ENABLE_DOWNLOAD_PROMPT", "0"),
        ("CI", "true"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect()
}

/// node's names for architectures (`process.arch`), which npm's `--cpu` takes.
pub fn node_arch(p: &Platform) -> &str {
    match p.architecture.as_str() {
        "amd64" => "x64",
        "386" => "ia32",
        "ppc64le" => "ppc64",
        other => other,
    }
}

/// Stages `files` of the project `from` in `dir`, installs production dependencies for
/// `platform` there, then runs the post-install step. Install scripts run only when `platform`
/// is the host's; otherwise they are skipped and the post-install step refuses packages that
/// need them.
///
/// With a lockfile, the copy and the install are reused while the staged files and the
/// install command are byte for byte those of their last run: the lockfile pins the tree, so
/// reinstalling would only spend time (a republish after a source change then takes a second,
/// not the manager's full install).
///
/// `own_install` names the lockfile when lade may write node_modules from it itself
/// (`npm_lock::locked_install` accepted it for `platform`): the install is then `lade
/// npm-install`, which carries the npm command after `--` and runs it when npm's cache lacks
/// a tarball.
pub fn production_install(
    runner: &Runner,
    platform: &Platform,
    host: &Platform,
    (from, files): (&Path, &[String]),
    own_install: Option<&str>,
    dir: &Path,
) -> Vec<BuildStep> {
    let mut installs = install_steps(runner, platform, host, dir);
    if let (Some(lockfile), [npm]) = (own_install, installs.as_mut_slice()) {
        *npm = own_npm_install(npm, lockfile, platform);
    }
    let native = platform.matches(host) && host.matches(platform);
    let mut steps = Vec::new();
    let description = format!("stage package manifests for {platform}");
    if matches!(runner.manager, Manager::Npm { locked: false }) {
        // Nothing pins an unlocked install: run it every time.
        steps.push(copy_step(description, from, files, dir));
        steps.extend(installs);
    } else {
        steps.push(reusable_copy_step(description, from, files, dir));
        steps.extend(installs.into_iter().map(|step| {
            step.with_input(files_input(from, files))
                .reused_when_unchanged()
        }));
    }
    steps.push(finish_step(platform, host, native, dir));
    steps
}

fn install_steps(
    runner: &Runner,
    platform: &Platform,
    host: &Platform,
    dir: &Path,
) -> Vec<BuildStep> {
    let native = platform.matches(host) && host.matches(platform);
    let arch = node_arch(platform);
    let cpu = format!("--cpu={arch}");
    let mut steps = Vec::new();
    let what = format!("for {platform}");
    match &runner.manager {
        Manager::Npm { locked } => {
            let mut args = vec![
                if *locked { "ci" } else { "install" },
                "--omit=dev",
                &cpu,
                "--os=linux",
                "--libc=glibc",
            ];
            if *locked {
                args.push(PREFER_OFFLINE);
            }
            if !native {
                args.push("--ignore-scripts");
            }
            if let Some(member) = &runner.workspace {
                args.extend(["--workspace", member]);
            }
            let verb = if *locked { "npm ci" } else { "npm install" };
            steps.push(
                runner
                    .step(format!("{verb} --omit=dev {what}"), &args, dir)
                    .with_output(modules(dir)),
            );
        }
        Manager::Pnpm => {
            let mut args = vec![
                "install",
                "--frozen-lockfile",
                PREFER_OFFLINE,
                "--prod",
                &cpu,
                "--os=linux",
                "--libc=glibc",
            ];
            if !native {
                args.push("--ignore-scripts");
            }
            // The package and the workspace packages it depends on (`...`), selected by
            // directory.
            let filter = runner.workspace.as_ref().map(|m| format!("{{{m}}}..."));
            if let Some(f) = &filter {
                args.extend(["--filter", f]);
            }
            steps.push(
                runner
                    .step(format!("pnpm install --prod {what}"), &args, dir)
                    .with_output(modules(dir)),
            );
        }
        Manager::Yarn { berry: false } => {
            // Classic yarn picks optional packages by the running node's platform only; for
            // another platform it is told to ignore platforms, which installs every
            // platform's optional packages (the image's among them).
            let mut args = vec![
                "install",
                "--frozen-lockfile",
                "--production",
                "--non-interactive",
                "--ignore-engines",
            ];
            if !native {
                args.extend(["--ignore-platform", "--ignore-scripts"]);
            }
            steps.push(
                runner
                    .step(format!("yarn install --production {what}"), &args, dir)
                    .with_output(modules(dir)),
            );
        }
        Manager::Yarn { berry: true } => {
            steps.extend(berry_install_steps(runner, platform, native, dir));
        }
    }
    steps
}

/// Yarn berry: a node_modules linker and the platform's architectures in the staging copy's
/// .yarnrc.yml, then a production-only `workspaces focus` (which has no `--immutable`:
/// `lade node-finish` checks what it installed against yarn.lock).
fn berry_install_steps(
    runner: &Runner,
    platform: &Platform,
    native: bool,
    dir: &Path,
) -> Vec<BuildStep> {
    let arch = node_arch(platform);
    let what = format!("for {platform}");
    let mut steps = Vec::new();
    let archs = format!(r#"{{"os":["linux"],"cpu":["{arch}"],"libc":["glibc"]}}"#);
    steps.push(
        runner
            .step(
                "yarn: node_modules linker in the staging copy".into(),
                &["config", "set", "nodeLinker", "node-modules"],
                dir,
            )
            .with_output(StepOutput::File {
                path: dir.join(".yarnrc.yml"),
            }),
    );
    steps.push(
        runner
            .step(
                format!("yarn: supportedArchitectures {platform}"),
                &["config", "set", "supportedArchitectures", "--json", &archs],
                dir,
            )
            .with_output(StepOutput::File {
                path: dir.join(".yarnrc.yml"),
            }),
    );
    // A workspace package: focused from its own directory, which installs it and the
    // workspace packages it depends on; else the whole project.
    let (args, cwd): (&[&str], PathBuf) = match &runner.workspace {
        Some(member) => (&["workspaces", "focus", "--production"], dir.join(member)),
        None => (
            &["workspaces", "focus", "--all", "--production"],
            dir.to_path_buf(),
        ),
    };
    let mut step = runner.step(
        format!("yarn workspaces focus --production {what}"),
        args,
        &cwd,
    );
    if !native {
        // Berry's `focus` has no --ignore-scripts; this setting does the same.
        step.env
            .insert("YARN_ENABLE_SCRIPTS".into(), "false".into());
    }
    steps.push(step.with_output(modules(dir)));
    steps
}

/// `lade npm-install` in place of the npm step `npm`, which it runs when it cannot install by
/// itself: same environment, reads (npm itself among them) and output.
fn own_npm_install(npm: &BuildStep, lockfile: &str, platform: &Platform) -> BuildStep {
    let mut args: Vec<String> = [
        "npm-install",
        "--lockfile",
        lockfile,
        "--cpu",
        node_arch(platform),
        "--os",
        "linux",
        "--libc",
        "glibc",
        "--",
    ]
    .map(String::from)
    .to_vec();
    args.push(npm.program.clone());
    args.extend(npm.args.iter().cloned());
    let mut step = BuildStep::new(
        format!(
            "{} (from npm's cache by lade when it has every package)",
            npm.description
        ),
        LADE_PROGRAM,
        args,
        &npm.dir,
    )
    .with_env(npm.env.clone())
    .with_inputs(npm.inputs.clone());
    step.outputs = npm.outputs.clone();
    step.reuse = npm.reuse;
    step
}

/// The install's output: node_modules in the staging copy.
fn modules(dir: &Path) -> StepOutput {
    StepOutput::Dir {
        path: dir.join("node_modules"),
    }
}

fn finish_step(platform: &Platform, host: &Platform, native: bool, dir: &Path) -> BuildStep {
    let mut args = vec![
        "node-finish".to_string(),
        "--platform".into(),
        platform.to_string(),
        "--host".into(),
        host.to_string(),
    ];
    if native {
        args.push("--native".into());
    }
    // It works on the install's node_modules in place, and does the same again for the same
    // install: reused whenever the install is, it costs a publish that changed only source
    // files nothing (it is a start of lade and a walk of node_modules).
    BuildStep::new(
        format!("tidy node_modules and check native packages for {platform}"),
        LADE_PROGRAM,
        args,
        dir,
    )
    .with_input(StepInput::PreviousStep)
    .reused_when_unchanged()
}

/// Installs every dependency (dev included) for the host in the build copy and runs the
/// `build` script there.
pub fn build_script(runner: &Runner, dir: &Path) -> Vec<BuildStep> {
    let install: &[&str] = match &runner.manager {
        Manager::Npm { locked: true } => &["ci", PREFER_OFFLINE],
        Manager::Npm { locked: false } => &["install"],
        Manager::Pnpm => &["install", "--frozen-lockfile", PREFER_OFFLINE],
        Manager::Yarn { berry: false } => &["install", "--frozen-lockfile", "--non-interactive"],
        Manager::Yarn { berry: true } => &["install", "--immutable"],
    };
    let name = runner.manager.name();
    let mut steps = Vec::new();
    if matches!(runner.manager, Manager::Yarn { berry: true }) {
        steps.push(runner.step(
            "yarn: node_modules linker in the build copy".into(),
            &["config", "set", "nodeLinker", "node-modules"],
            dir,
        ));
    }
    steps.push(runner.step(
        format!("{name} {} (all dependencies, for the build)", install[0]),
        install,
        dir,
    ));
    steps.push(runner.step(format!("{name} run build"), &["run", "build"], dir));
    steps
}

/// Where the staging copies live under the project's build directory.
pub struct Dirs {
    /// The copy of the project the build script runs in (shared by every platform: the
    /// build's output is the same JavaScript whatever the image's platform).
    pub build: PathBuf,
}

impl Dirs {
    pub fn new(out_dir: &Path) -> Dirs {
        Dirs {
            build: out_dir.join("node-build"),
        }
    }

    /// The staging directory of the production install for one platform.
    pub fn deps(out_dir_for_platform: &Path) -> PathBuf {
        out_dir_for_platform.join("node-deps")
    }
}
