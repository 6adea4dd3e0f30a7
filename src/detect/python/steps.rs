//! The build steps and layers of one platform: pip into lade's build directory, the helper
//! script's clean/write/copy/normalize/check-native steps, and the layers that pick up the
//! results (see the parent module for why each step is there).

use super::entry::PYTHON;
use super::facts::LocalPackage;
use super::version::WHEEL_PYTHON;
use super::{DEPS_DIR, Deps, HOST_PYTHON, LOCAL_DIR, PROJECT_DIR};
use crate::detect::builder::Target;
use crate::plan::{
    BuildStep, Check, EntryKind, FileEntry, LADE_PROGRAM, LayerSpec, StepInput, StepOutput,
};
use crate::platform::Platform;
use std::collections::BTreeMap;
use std::path::Path;

/// A step lade runs itself (`lade python-normalize …`).
fn lade_step(description: String, args: Vec<String>, dir: &Path) -> BuildStep {
    BuildStep::new(description, LADE_PROGRAM, args, dir)
}

/// What a wheel build's copy of the project leaves out: setuptools writes build/ and
/// *.egg-info next to the sources, and local state or secrets have no place in a wheel.
const WHEEL_SKIP: &[&str] = &[
    ".git",
    ".hg",
    ".venv",
    "venv",
    "__pycache__",
    "node_modules",
    "build",
    "dist",
    "*.egg-info",
    ".tox",
    ".nox",
    "lade-out",
    ".env",
    ".env.*",
    "*.pem",
    "*.key",
];

/// Whether pip fetches wheels for another platform's interpreter (its ABI is then
/// [`WHEEL_PYTHON`]'s, which the base's Python must be) rather than for the host's own.
pub(super) fn fetches_foreign_wheels(platform: &Platform, deps: &Deps) -> bool {
    *deps != Deps::None && !is_host(platform)
}

fn is_host(platform: &Platform) -> bool {
    Platform::host().is_some_and(|h| h.matches(platform) || platform.matches(&h))
}

/// pip flags that make it pick wheels for `platform` rather than for the host. `wheels_only`
/// adds `--only-binary=:all:`, which pip demands for a foreign platform unless `--no-deps`.
fn platform_flags(platform: &Platform, wheels_only: bool) -> Vec<String> {
    if is_host(platform) {
        return Vec::new();
    }
    let arch = match platform.architecture.as_str() {
        "amd64" => "x86_64",
        "arm64" => "aarch64",
        "ppc64le" => "ppc64le",
        "s390x" => "s390x",
        "386" => "i686",
        "arm" => "armv7l",
        other => other,
    };
    let [major, minor] = WHEEL_PYTHON;
    let mut flags = vec![
        "--platform".into(),
        format!("manylinux2014_{arch}"),
        "--python-version".into(),
        format!("{major}.{minor}"),
        "--implementation".into(),
        "cp".into(),
        "--abi".into(),
        format!("cp{major}{minor}"),
    ];
    flags.push(if wheels_only {
        "--only-binary=:all:".into()
    } else {
        "--prefer-binary".into()
    });
    flags
}

fn pip_env() -> BTreeMap<String, String> {
    [
        ("PIP_DISABLE_PIP_VERSION_CHECK", "1"),
        ("PIP_NO_INPUT", "1"),
        ("PYTHONDONTWRITEBYTECODE", "1"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect()
}

fn s(p: &Path) -> String {
    p.to_string_lossy().into_owned()
}

pub(super) fn target(
    platform: &Platform,
    out: &Path,
    dir: &Path,
    deps: &Deps,
    local: &[LocalPackage],
    packaged: Option<&String>,
    app_entries: &[FileEntry],
) -> Target {
    let mut steps = Vec::new();
    let mut layers = Vec::new();
    if *deps != Deps::None {
        let deps_out = out.join("deps");
        steps.extend(dependency_steps(platform, out, &deps_out, dir, deps));
        layers.push(tree_layer("python dependencies", DEPS_DIR, deps_out));
    }
    if !local.is_empty() {
        steps.extend(local_steps(platform, out, dir, local));
        layers.push(tree_layer("local packages", LOCAL_DIR, out.join("local")));
    }
    if let Some(dist) = packaged {
        steps.extend(wheel_steps(platform, out, dir, dist));
        layers.push(tree_layer("application", PROJECT_DIR, out.join("project")));
    } else {
        layers.push(LayerSpec {
            name: "application".into(),
            entries: app_entries.to_vec(),
        });
    }
    Target {
        steps,
        layers,
        // Console scripts and the entrypoint run the base's interpreter: a base without it
        // fails before pip runs.
        checks: vec![Check::ImageHas {
            path: PYTHON.into(),
            what: "the Python interpreter".into(),
        }],
    }
}

fn tree_layer(name: &str, target: &str, source: std::path::PathBuf) -> LayerSpec {
    LayerSpec {
        name: name.into(),
        entries: vec![FileEntry {
            target: target.into(),
            mode: 0o755,
            kind: EntryKind::Tree {
                source,
                exclude: vec![],
            },
        }],
    }
}

fn pip(description: String, args: Vec<String>, dir: &Path) -> BuildStep {
    let args = ["-m".to_string(), "pip".into()].into_iter().chain(args);
    BuildStep::new(description, HOST_PYTHON, args.collect(), dir)
        .with_env(pip_env())
        .with_tool_input()
}

fn install_args(platform: &Platform, target: &Path, no_deps: bool) -> Vec<String> {
    let mut a = vec![
        "install".to_string(),
        "--target".into(),
        s(target),
        "--no-compile".into(),
        "--no-warn-script-location".into(),
    ];
    a.extend(platform_flags(platform, !no_deps));
    a
}

/// Whether a requirements file pulls in others (`-r`, `-c`): then its own text is not all the
/// install depends on, and the install is not reused.
fn includes_others(file: &Path) -> bool {
    std::fs::read(file).map_or(true, |t| {
        t.split(|b| *b == b'\n').any(|l| {
            let l = String::from_utf8_lossy(l);
            let l = l.trim_start();
            ["-r", "-c", "--requirement", "--constraint"]
                .iter()
                .any(|p| l.starts_with(p))
        })
    })
}

/// The dependency install of one platform into `deps_out`, then its normalization and (for a
/// foreign platform) the native-code check. The install is reused while its command and the
/// requirements (file, lock, or list) are unchanged, as a Dockerfile's
/// `RUN pip install -r requirements.txt` layer is; the cheap steps after it always run.
fn dependency_steps(
    platform: &Platform,
    out: &Path,
    deps_out: &Path,
    dir: &Path,
    deps: &Deps,
) -> Vec<BuildStep> {
    let mut steps = Vec::new();
    let locked = matches!(deps, Deps::Locked { .. });
    let foreign = !is_host(platform);
    let mut args = install_args(platform, deps_out, locked);
    let mut reusable = true;
    let mut read = Vec::new();
    let mut lock_input = None;
    match deps {
        Deps::Locked { lock, .. } => {
            let req = out.join("requirements.lock.txt");
            // The lock may be a workspace root's, above the project.
            let input = StepInput::Files {
                root: lock.parent().unwrap_or(dir).to_path_buf(),
                paths: lock
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .into_iter()
                    .collect(),
            };
            lock_input = Some(input.clone());
            if dir.join("pyproject.toml").is_file() {
                read.push("pyproject.toml".into());
            }
            steps.push(
                lade_step(
                    format!("write the locked requirements for {platform}"),
                    vec![
                        "python-requirements".into(),
                        "--project".into(),
                        s(dir),
                        "--out".into(),
                        s(&req),
                    ],
                    dir,
                )
                .with_input(input)
                .with_input(StepInput::Files {
                    root: dir.to_path_buf(),
                    paths: read.clone(),
                })
                .with_output(StepOutput::File { path: req.clone() }),
            );
            args.extend([
                "--require-hashes".into(),
                "--no-deps".into(),
                "-r".into(),
                s(&req),
            ]);
        }
        Deps::File(f) => {
            args.extend(["-r".into(), s(f)]);
            reusable = !includes_others(f);
            if let Ok(rel) = f.strip_prefix(dir) {
                read.push(s(rel));
            }
        }
        Deps::List(l) => args.extend(l.iter().cloned()),
        Deps::None => {}
    }
    let what = if foreign && !locked {
        format!(
            "pip install dependencies for {platform} (wheels only: pip names any dependency without a {platform} wheel)"
        )
    } else {
        format!("pip install dependencies for {platform}")
    };
    let mut install = pip(what, args, dir).with_output(StepOutput::Dir {
        path: deps_out.to_path_buf(),
    });
    if let Some(input) = lock_input {
        install = install.with_input(input);
    }
    if !read.is_empty() {
        install = install.with_input(StepInput::Files {
            root: dir.to_path_buf(),
            paths: read,
        });
    }
    if reusable {
        install = install.reused_when_unchanged();
    }
    steps.push(install);
    steps.extend(after_install_steps(platform, deps_out, dir, "dependencies"));
    steps
}

/// After the install: the normalization, and for a foreign platform the check that native
/// code is that platform's.
fn after_install_steps(
    platform: &Platform,
    deps_out: &Path,
    dir: &Path,
    what: &str,
) -> Vec<BuildStep> {
    let mut steps = Vec::new();
    steps.push(lade_step(
        format!("normalize {what} for {platform}"),
        vec![
            "python-normalize".into(),
            s(deps_out),
            "--python".into(),
            PYTHON.into(),
        ],
        dir,
    ));
    if !is_host(platform)
        && let Some(machine) = platform.elf_machine()
    {
        steps.push(lade_step(
            format!(
                "check that native code in the {what} is for {platform} (the message above names the dependency)"
            ),
            vec![
                "python-check-native".into(),
                s(deps_out),
                "--machine".into(),
                machine.to_string(),
                "--platform".into(),
                platform.to_string(),
            ],
            dir,
        ));
    }
    steps
}

/// Packages built from directories (workspace members, path dependencies): each copied out of
/// the tree (pip and setuptools write next to the sources), built into a wheel with its
/// declared build backend, and the wheels installed without dependencies — those come from the
/// lock, with the project's — into `out/local`.
fn local_steps(
    platform: &Platform,
    out: &Path,
    dir: &Path,
    local: &[LocalPackage],
) -> Vec<BuildStep> {
    let src = out.join("local-src");
    let wheels = out.join("local-wheels");
    let dest = out.join("local");
    let names: Vec<String> = local.iter().map(|l| l.name.clone()).collect();
    // Each step is keyed by the packages' sources (not by the copy, whose key would be
    // computed before it is made): while they are unchanged, the copies, wheels and install
    // are kept.
    let sources: Vec<StepInput> = local
        .iter()
        .map(|l| StepInput::Tree {
            path: l.dir.clone(),
            exclude: WHEEL_SKIP
                .iter()
                .filter(|s| !s.contains('*'))
                .map(|s| s.to_string())
                .collect(),
        })
        .collect();
    let mut steps = Vec::new();
    let mut wheel = vec![
        "wheel".to_string(),
        "--no-deps".into(),
        "-w".into(),
        s(&wheels),
    ];
    for (l, source) in local.iter().zip(&sources) {
        let to = src.join(&l.name);
        steps.push(
            lade_step(
                format!("copy {} to {}", l.dir.display(), to.display()),
                stage_args(&l.dir, &to),
                dir,
            )
            .with_input(source.clone())
            .with_output(StepOutput::Dir { path: to.clone() })
            .reused_when_unchanged(),
        );
        wheel.push(s(&to));
    }
    steps.push(
        pip(
            format!("pip wheel {} for {platform}", names.join(", ")),
            wheel,
            dir,
        )
        .with_inputs(sources.clone())
        .with_output(StepOutput::Dir {
            path: wheels.clone(),
        })
        .reused_when_unchanged(),
    );
    let mut install = install_args(platform, &dest, true);
    install.extend([
        "--no-deps".into(),
        "--no-index".into(),
        "--find-links".into(),
        s(&wheels),
    ]);
    install.extend(names.iter().cloned());
    steps.push(
        pip(
            format!("pip install {} for {platform}", names.join(", ")),
            install,
            dir,
        )
        .with_inputs(sources)
        .with_output(StepOutput::Dir { path: dest.clone() })
        .reused_when_unchanged(),
    );
    steps.extend(after_install_steps(platform, &dest, dir, "local packages"));
    steps
}

/// `lade stage` arguments copying `from` to `to` without [`WHEEL_SKIP`].
fn stage_args(from: &Path, to: &Path) -> Vec<String> {
    let mut stage = vec![
        "stage".to_string(),
        "--from".into(),
        s(from),
        "--to".into(),
        s(to),
    ];
    for skip in WHEEL_SKIP {
        stage.extend(["--skip".into(), skip.to_string()]);
    }
    stage
}

/// A packaged project: a copy of it is built into a wheel, which is installed into
/// `out/project` and normalized.
fn wheel_steps(platform: &Platform, out: &Path, dir: &Path, dist: &str) -> Vec<BuildStep> {
    let src = out.join("src");
    let wheel = out.join("wheel");
    let proj = out.join("project");
    let stage = stage_args(dir, &src);
    let mut install = install_args(platform, &proj, true);
    install.extend([
        "--no-deps".into(),
        "--no-index".into(),
        "--find-links".into(),
        s(&wheel),
        dist.to_string(),
    ]);
    vec![
        lade_step(format!("copy the project to {}", src.display()), stage, dir)
            .with_output(StepOutput::Dir { path: src.clone() }),
        pip(
            format!("pip wheel the project for {platform}"),
            vec![
                "wheel".into(),
                "--no-deps".into(),
                "-w".into(),
                s(&wheel),
                s(&src),
            ],
            dir,
        )
        .with_output(StepOutput::Dir { path: wheel }),
        pip(
            format!("pip install the project's wheel for {platform}"),
            install,
            dir,
        )
        .with_output(StepOutput::Dir { path: proj.clone() }),
        lade_step(
            format!("normalize the project for {platform}"),
            vec![
                "python-normalize".into(),
                s(&proj),
                "--python".into(),
                PYTHON.into(),
            ],
            dir,
        ),
    ]
}
