//! The build steps and layers of one platform: pip into lade's build directory, the helper
//! script's clean/write/copy/normalize/check-native steps, and the layers that pick up the
//! results (see the parent module for why each step is there).

use super::entry::PYTHON;
use super::version::BASE_PYTHON;
use super::{DEPS_DIR, Deps, HELPER, HOST_PYTHON, PROJECT_DIR};
use crate::plan::{BuildStep, EntryKind, FileEntry, LayerSpec, TargetPlan};
use crate::platform::Platform;
use std::collections::BTreeMap;
use std::path::Path;

fn helper_step(description: String, args: &[&str], dir: &Path) -> BuildStep {
    let mut all = vec!["-c".to_string(), HELPER.to_string()];
    all.extend(args.iter().map(|a| a.to_string()));
    BuildStep {
        description,
        program: HOST_PYTHON.into(),
        args: all,
        env: BTreeMap::new(),
        dir: dir.to_path_buf(),
    }
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
    let [major, minor, _] = BASE_PYTHON;
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

/// Linux limits one argument to 128 KiB (MAX_ARG_STRLEN); a lock with many hashed wheels is
/// longer, so its text is passed in pieces the helper joins.
const ARG_CHUNK: usize = 64 * 1024;

/// `text` cut at line ends into pieces of at most `max` bytes (a longer line is one piece).
fn chunks(text: &str, max: usize) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    for line in text.split_inclusive('\n') {
        if !cur.is_empty() && cur.len() + line.len() > max {
            out.push(std::mem::take(&mut cur));
        }
        cur.push_str(line);
    }
    if !cur.is_empty() || out.is_empty() {
        out.push(cur);
    }
    out
}

/// Where the dependency install records what it was made from, and that it finished. Beside
/// `deps/`, not in it: the layer takes `deps/` whole.
const DEPS_KEY: &str = "deps.lade-key";
const DEPS_DONE: &str = "deps.lade-installed";

/// `steps` (clearing, installing and normalizing the dependencies) run only when their
/// commands or the requirements' text differ from those of the last finished install, as a
/// Dockerfile's `RUN pip install -r requirements.txt` layer is reused while the file is
/// unchanged. A hash of both is the key; a first step compares it with the last install's, the
/// others are skipped while the install is current, and a last step marks it finished.
fn reused_when_unchanged(
    steps: Vec<BuildStep>,
    inputs: &[u8],
    out: &Path,
    cwd: &Path,
) -> Vec<BuildStep> {
    let mut key = Vec::new();
    for st in &steps {
        key.extend(format!("{:?} {} {:?}\n", st.env, st.program, st.args).into_bytes());
    }
    key.extend_from_slice(inputs);
    let key = crate::digest::Digest::of(&key).hex().to_string();
    let done = out.join(DEPS_DONE);
    let record = out.join(DEPS_KEY);
    let sh = |description: String, script: &str, args: Vec<String>| BuildStep {
        description,
        program: "sh".into(),
        args: ["-c".to_string(), script.to_string(), "lade-deps".into()]
            .into_iter()
            .chain(args)
            .collect(),
        env: BTreeMap::new(),
        dir: cwd.to_path_buf(),
    };
    let mut all = vec![sh(
        "compare the dependencies with the last install".into(),
        "# keeps the last install when its key (a hash of the commands and requirements) is this one
if [ -f \"$1\" ] && [ \"$(cat \"$2\" 2>/dev/null)\" = \"$3\" ]; then
  echo \"lade: dependencies unchanged since the last install, reused\"
  exit 0
fi
rm -f -- \"$1\"
mkdir -p -- \"$(dirname -- \"$2\")\"
printf '%s' \"$3\" > \"$2\"
",
        vec![s(&done), s(&record), key],
    )];
    for st in steps {
        let mut args = vec![
            "-c".to_string(),
            "[ -f \"$0\" ] && exit 0\nexec \"$@\"".to_string(),
            s(&done),
            st.program,
        ];
        args.extend(st.args);
        all.push(BuildStep {
            program: "sh".into(),
            args,
            ..st
        });
    }
    all.push(sh(
        "mark the dependencies installed".into(),
        ": > \"$1\"",
        vec![s(&done)],
    ));
    all
}

pub(super) fn target(
    platform: &Platform,
    out: &Path,
    dir: &Path,
    deps: &Deps,
    packaged: Option<&String>,
    app_entries: &[FileEntry],
) -> TargetPlan {
    let mut steps = Vec::new();
    let foreign = !is_host(platform);
    let mut layers = Vec::new();
    let pip = |description: String, args: Vec<String>| BuildStep {
        description,
        program: HOST_PYTHON.into(),
        args: ["-m".to_string(), "pip".into()]
            .into_iter()
            .chain(args)
            .collect(),
        env: pip_env(),
        dir: dir.to_path_buf(),
    };
    let install_base = |target: &Path, no_deps: bool| -> Vec<String> {
        let mut a = vec![
            "install".to_string(),
            "--target".into(),
            s(target),
            "--no-compile".into(),
            "--no-warn-script-location".into(),
        ];
        a.extend(platform_flags(platform, !no_deps));
        a
    };

    if *deps != Deps::None {
        let deps_out = out.join("deps");
        let mut dep_steps = Vec::new();
        dep_steps.push(helper_step(
            format!("clear {} for {platform}", deps_out.display()),
            &["clean", &s(&deps_out)],
            dir,
        ));
        let locked = matches!(deps, Deps::Locked { .. });
        let mut args = install_base(&deps_out, locked);
        // What the install depends on besides the command: the requirements' text.
        let mut inputs: Option<Vec<u8>> = Some(Vec::new());
        match deps {
            Deps::Locked { text, .. } => {
                let req = out.join("requirements.lock.txt");
                let mut write = vec!["write".to_string(), s(&req)];
                write.extend(chunks(text, ARG_CHUNK));
                let write: Vec<&str> = write.iter().map(String::as_str).collect();
                dep_steps.push(helper_step(
                    format!("write the locked requirements for {platform}"),
                    &write,
                    dir,
                ));
                args.extend([
                    "--require-hashes".into(),
                    "--no-deps".into(),
                    "-r".into(),
                    s(&req),
                ]);
                inputs = Some(text.as_bytes().to_vec());
            }
            Deps::File(f) => {
                args.extend(["-r".into(), s(f)]);
                // A requirements file that includes others (`-r`, `-c`) is not all here.
                inputs = std::fs::read(dir.join(f)).ok().filter(|t| {
                    !t.split(|b| *b == b'\n').any(|l| {
                        let l = String::from_utf8_lossy(l);
                        let l = l.trim_start();
                        l.starts_with("-r")
                            || l.starts_with("-c")
                            || l.starts_with("--requirement")
                            || l.starts_with("--constraint")
                    })
                });
            }
            Deps::List(l) => args.extend(l.iter().cloned()),
            Deps::None => unreachable!(),
        }
        let what = if foreign && !locked {
            format!(
                "pip install dependencies for {platform} (wheels only: pip names any dependency without a {platform} wheel)"
            )
        } else {
            format!("pip install dependencies for {platform}")
        };
        dep_steps.push(pip(what, args));
        dep_steps.push(helper_step(
            format!("normalize dependencies for {platform}"),
            &["normalize", &s(&deps_out), PYTHON],
            dir,
        ));
        if foreign && let Some(machine) = platform.elf_machine() {
            dep_steps.push(helper_step(
                format!(
                    "check that native code in the dependencies is for {platform} (the message above names the dependency)"
                ),
                &["check-native", &s(&deps_out), &machine.to_string(), &platform.to_string()],
                dir,
            ));
        }
        match inputs {
            Some(inputs) => steps.extend(reused_when_unchanged(dep_steps, &inputs, out, dir)),
            None => steps.extend(dep_steps),
        }
        layers.push(LayerSpec {
            name: "python dependencies".into(),
            entries: vec![FileEntry {
                target: DEPS_DIR.into(),
                mode: 0o755,
                kind: EntryKind::Tree {
                    source: deps_out,
                    exclude: vec![],
                },
            }],
        });
    }

    if let Some(dist) = packaged {
        let src = out.join("src");
        let wheel = out.join("wheel");
        let proj = out.join("project");
        steps.push(helper_step(
            format!("copy the project to {}", src.display()),
            &["copy", &s(dir), &s(&src)],
            dir,
        ));
        steps.push(helper_step(
            format!("clear {}", wheel.display()),
            &["clean", &s(&wheel)],
            dir,
        ));
        steps.push(pip(
            format!("pip wheel the project for {platform}"),
            vec![
                "wheel".into(),
                "--no-deps".into(),
                "-w".into(),
                s(&wheel),
                s(&src),
            ],
        ));
        steps.push(helper_step(
            format!("clear {}", proj.display()),
            &["clean", &s(&proj)],
            dir,
        ));
        let mut args = install_base(&proj, true);
        args.extend([
            "--no-deps".into(),
            "--no-index".into(),
            "--find-links".into(),
            s(&wheel),
            dist.clone(),
        ]);
        steps.push(pip(
            format!("pip install the project's wheel for {platform}"),
            args,
        ));
        steps.push(helper_step(
            format!("normalize the project for {platform}"),
            &["normalize", &s(&proj), PYTHON],
            dir,
        ));
        layers.push(LayerSpec {
            name: "application".into(),
            entries: vec![FileEntry {
                target: PROJECT_DIR.into(),
                mode: 0o755,
                kind: EntryKind::Tree {
                    source: proj,
                    exclude: vec![],
                },
            }],
        });
    } else {
        layers.push(LayerSpec {
            name: "application".into(),
            entries: app_entries.to_vec(),
        });
    }
    TargetPlan {
        platform: platform.clone(),
        steps,
        layers,
        checks: Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_texts_are_cut_at_line_ends() {
        let text = "a\nbb\nccc\n";
        assert_eq!(chunks(text, 5), ["a\nbb\n", "ccc\n"]);
        assert_eq!(chunks(text, 100), [text]);
        assert_eq!(chunks("", 5), [""]);
        assert_eq!(chunks(text, 1).concat(), text);
    }
}
