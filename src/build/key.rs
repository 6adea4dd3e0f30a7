//! Reuse keys: a digest of everything that decides what a step writes — its program line,
//! environment, directory and outputs, lade's version, and the current contents of each
//! declared input (file bytes and executable bits, symlink targets, variable values, the bytes
//! of the tool's executable). Equal keys mean the step would do the same work again.

use crate::digest::Digest;
use crate::plan::{BuildStep, Plan, Reuse, StepInput, TargetPlan};
use sha2::{Digest as _, Sha256};
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("reading {path}, an input of `{step}`")]
    Read {
        step: String,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// Computes the key of every reusable step of `plan`; `lade plan` shows them and the runner
/// compares them with the last run's.
pub fn fill_keys(plan: &mut Plan) -> Result<(), KeyError> {
    plan.targets.iter_mut().try_for_each(fill_target_keys)
}

/// [`fill_keys`] for one target's steps.
pub fn fill_target_keys(t: &mut TargetPlan) -> Result<(), KeyError> {
    let mut previous: Option<String> = None;
    for step in &mut t.steps {
        let after = step.inputs.contains(&StepInput::PreviousStep);
        // A step that works on what the one before wrote is keyed by that one's key; after a
        // step that is never reused, it is not either.
        if step.reuse == Reuse::WhenUnchanged && (!after || previous.is_some()) {
            step.key = Some(reuse_key_after(step, previous.as_deref())?.to_string());
        }
        previous = step.key.clone();
    }
    Ok(())
}

/// The key of `step` from the current contents of its inputs.
pub fn reuse_key(step: &BuildStep) -> Result<Digest, KeyError> {
    reuse_key_after(step, None)
}

/// [`reuse_key`] of a step whose step before has the key `previous`.
pub fn reuse_key_after(step: &BuildStep, previous: Option<&str>) -> Result<Digest, KeyError> {
    let mut h = Sha256::new();
    h.update(b"lade step key 2\n");
    h.update(env!("CARGO_PKG_VERSION").as_bytes());
    h.update(b"\n");
    h.update(program_line(step).as_bytes());
    h.update(b"\n");
    let err = |path: &Path| {
        let step = step.description.clone();
        let path = path.to_path_buf();
        move |source| KeyError::Read { step, path, source }
    };
    for input in &step.inputs {
        match input {
            StepInput::Files { root, paths } => {
                h.update(format!("files {}\n", root.display()).as_bytes());
                for p in paths {
                    hash_path(&mut h, &root.join(p), p, &[]).map_err(err(&root.join(p)))?;
                }
            }
            StepInput::Tree { path, exclude } => {
                h.update(format!("tree {}\n", path.display()).as_bytes());
                hash_path(&mut h, path, ".", exclude).map_err(err(path))?;
            }
            StepInput::Env { name } => {
                let value = super::host::var(name);
                h.update(format!("env {name}={value:?}\n").as_bytes());
            }
            StepInput::ToolVersion { program, args } => {
                h.update(format!("tool version {program} {args:?}\n").as_bytes());
                let printed = tool_version(step, program, args).map_err(err(Path::new(program)))?;
                h.update(&printed);
                h.update(b"\n");
            }
            StepInput::PreviousStep => {
                h.update(format!("after {}\n", previous.unwrap_or("nothing")).as_bytes());
            }
            StepInput::Tool { program } => {
                h.update(format!("tool {program}\n").as_bytes());
                match resolve_program(program, &step.dir) {
                    Some(exe) => hash_file(&mut h, &exe).map_err(err(&exe))?,
                    // A missing tool fails the step (or the check before it) with its own
                    // message; the key only has to differ from the key with the tool.
                    None => h.update(b"absent\n"),
                }
            }
        }
    }
    Ok(Digest::from_sha256(h))
}

/// What a step runs and writes, as the text keys hash: program, arguments, environment,
/// directory and outputs. serde_json writes struct fields and BTreeMap entries in a fixed
/// order, so the text is stable.
pub fn program_line(step: &BuildStep) -> String {
    serde_json::to_string(&(
        &step.program,
        &step.args,
        &step.env,
        &step.dir,
        &step.outputs,
    ))
    .expect("a step's program line serializes")
}

/// Hashes what is at `path` (shown as `rel`): a file's bytes and executable bit, a symlink's
/// target, a directory's entries in name order; `exclude` are paths relative to a directory
/// left out with everything below them.
pub(crate) fn hash_path(
    h: &mut Sha256,
    path: &Path,
    rel: &str,
    exclude: &[String],
) -> std::io::Result<()> {
    let meta = match std::fs::symlink_metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            h.update(format!("missing {rel}\n").as_bytes());
            return Ok(());
        }
        Err(e) => return Err(e),
    };
    if !meta.is_dir() {
        return hash_entry(h, path, rel, &meta, None);
    }
    let mut entries = Vec::new();
    for entry in walkdir::WalkDir::new(path).sort_by_file_name() {
        let entry = entry.map_err(std::io::Error::other)?;
        let inner = entry
            .path()
            .strip_prefix(path)
            .expect("walkdir yields paths under its root");
        let inner = inner.to_string_lossy();
        if exclude
            .iter()
            .any(|x| *inner == **x || inner.starts_with(&format!("{x}/")))
        {
            continue;
        }
        let shown = if inner.is_empty() {
            rel.to_string()
        } else {
            format!("{rel}/{inner}")
        };
        let meta = entry.metadata().map_err(std::io::Error::other)?;
        entries.push((entry.into_path(), shown, meta));
    }
    // The files' digests on all cores (a tree of thousands of files costs a stat and a cache
    // lookup each), then hashed into the key in walk order as before.
    // The walk's lstat of a regular file is its stat: the cache need not stat it again.
    let digests = crate::par::map(&entries, |(path, _, meta)| {
        (meta.is_file() && !meta.is_symlink())
            .then(|| crate::statcache::shared().digest_with(path, meta))
    });
    for ((path, shown, meta), digest) in entries.iter().zip(digests) {
        hash_entry(h, path, shown, meta, digest)?;
    }
    Ok(())
}

/// `digest`: the file's content digest when already known.
fn hash_entry(
    h: &mut Sha256,
    path: &Path,
    rel: &str,
    meta: &std::fs::Metadata,
    digest: Option<std::io::Result<(crate::digest::Digest, u64)>>,
) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    if meta.is_symlink() {
        let target = std::fs::read_link(path)?;
        h.update(format!("link {rel} {}\n", target.display()).as_bytes());
    } else if meta.is_dir() {
        h.update(format!("dir {rel}\n").as_bytes());
    } else {
        let exec = meta.permissions().mode() & 0o111 != 0;
        h.update(format!("file {rel} {exec}\n").as_bytes());
        match digest {
            Some(d) => put_digest(h, &d?.0),
            None => hash_file(h, path)?,
        }
    }
    Ok(())
}

/// The file's content digest, through the stat cache: an unchanged file is not read again.
fn hash_file(h: &mut Sha256, path: &Path) -> std::io::Result<()> {
    let (digest, _) = crate::statcache::shared().digest(path)?;
    put_digest(h, &digest);
    Ok(())
}

fn put_digest(h: &mut Sha256, digest: &crate::digest::Digest) {
    h.update(digest.hex().as_bytes());
    h.update(b"\n");
}

/// What `program args` prints on stdout, run as the step would run (its directory and
/// environment: a `rust-toolchain.toml` or `RUSTUP_TOOLCHAIN` picks the compiler). A tool that
/// cannot run gives a key of its own; the step then fails with the tool's own message.
fn tool_version(step: &BuildStep, program: &str, args: &[String]) -> std::io::Result<Vec<u8>> {
    let out = std::process::Command::new(program)
        .args(args)
        .envs(&step.env)
        .current_dir(&step.dir)
        .stdin(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .output();
    Ok(match out {
        Ok(o) if o.status.success() => o.stdout,
        Ok(o) => format!("failed {}", o.status).into_bytes(),
        Err(e) => format!("cannot run: {}", e.kind()).into_bytes(),
    })
}

/// What identifies a tool input on this machine, or `None` when its program is not here (a
/// machine that takes its builds from a shared cache need not have the toolchain): the
/// executable's content digest for `Tool`, what it prints for `ToolVersion`.
pub fn tool_identity(step: &BuildStep, input: &StepInput) -> Option<std::io::Result<Vec<u8>>> {
    match input {
        StepInput::Tool { program } => {
            let exe = resolve_program(program, &step.dir)?;
            Some(
                crate::statcache::shared()
                    .digest(&exe)
                    .map(|(d, _)| d.as_str().as_bytes().to_vec()),
            )
        }
        StepInput::ToolVersion { program, args } => {
            resolve_program(program, &step.dir)?;
            Some(tool_version(step, program, args))
        }
        _ => None,
    }
}

/// The executable `program` names: a path (relative to the step's directory) or a name
/// looked up on PATH, with symlinks resolved.
pub fn resolve_program(program: &str, dir: &Path) -> Option<PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    let is_exe = |p: &Path| {
        std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
    };
    let found = if program.contains('/') {
        Some(dir.join(program)).filter(|p| is_exe(p))
    } else {
        let path = super::host::path();
        std::env::split_paths(&path)
            .map(|d| d.join(program))
            .find(|p| is_exe(p))
    }?;
    std::fs::canonicalize(&found).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn step(dir: &Path, inputs: Vec<StepInput>) -> BuildStep {
        let mut s = BuildStep::new("t", "true", vec!["a".into()], dir).reused_when_unchanged();
        s.inputs = inputs;
        s
    }

    #[test]
    fn the_key_follows_file_contents_modes_and_the_program_line() {
        let d = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(d.path().join("src/sub")).unwrap();
        std::fs::write(d.path().join("a.txt"), "one").unwrap();
        std::fs::write(d.path().join("src/sub/b.txt"), "two").unwrap();
        let inputs = vec![StepInput::Files {
            root: d.path().into(),
            paths: vec!["a.txt".into(), "src".into(), "gone.txt".into()],
        }];
        let k1 = reuse_key(&step(d.path(), inputs.clone())).unwrap();
        assert_eq!(k1, reuse_key(&step(d.path(), inputs.clone())).unwrap());

        std::fs::write(d.path().join("src/sub/b.txt"), "three").unwrap();
        let k2 = reuse_key(&step(d.path(), inputs.clone())).unwrap();
        assert_ne!(k1, k2, "a file below a listed directory changed");

        use std::os::unix::fs::PermissionsExt;
        let p = d.path().join("a.txt");
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
        let k3 = reuse_key(&step(d.path(), inputs.clone())).unwrap();
        assert_ne!(k2, k3, "the executable bit changed");

        std::fs::write(d.path().join("gone.txt"), "").unwrap();
        let k4 = reuse_key(&step(d.path(), inputs.clone())).unwrap();
        assert_ne!(k3, k4, "a missing input appeared");

        let mut other = step(d.path(), inputs);
        other.args.push("b".into());
        assert_ne!(k4, reuse_key(&other).unwrap(), "the arguments changed");
    }

    #[test]
    fn excluded_paths_of_a_tree_do_not_count() {
        let d = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(d.path().join("target/x")).unwrap();
        std::fs::write(d.path().join("main.rs"), "fn main() {}").unwrap();
        let inputs = vec![StepInput::Tree {
            path: d.path().into(),
            exclude: vec!["target".into()],
        }];
        let k1 = reuse_key(&step(d.path(), inputs.clone())).unwrap();
        std::fs::write(d.path().join("target/x/out"), "built").unwrap();
        assert_eq!(k1, reuse_key(&step(d.path(), inputs.clone())).unwrap());
        std::fs::write(d.path().join("main.rs"), "fn main() { }").unwrap();
        assert_ne!(k1, reuse_key(&step(d.path(), inputs)).unwrap());
    }

    #[test]
    fn a_tool_is_known_by_its_executable() {
        let d = tempfile::tempdir().unwrap();
        let tool = d.path().join("tool");
        std::fs::write(&tool, "#!/bin/sh\n").unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&tool, std::fs::Permissions::from_mode(0o755)).unwrap();
        let inputs = vec![StepInput::Tool {
            program: "./tool".into(),
        }];
        let k1 = reuse_key(&step(d.path(), inputs.clone())).unwrap();
        std::fs::write(&tool, "#!/bin/sh\n# v2\n").unwrap();
        assert_ne!(k1, reuse_key(&step(d.path(), inputs)).unwrap());
    }
}
