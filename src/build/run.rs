//! The step runner. The tools' output is streamed to lade's stderr as it
//! comes (stdout included, so lade's own stdout stays machine-readable); a failure returns one
//! error naming the step and platform, shown under the tool's own messages.

use super::record::Records;
use crate::plan::{BuildStep, LADE_PROGRAM, Reuse, StepOutput, TargetPlan};
use crate::platform::Platform;
use serde::Serialize;
use std::io::{Read, Write};
use std::path::PathBuf;
use std::process::{Command, Stdio};

#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    #[error("{step} failed ({status}); its output is above")]
    Failed {
        step: String,
        status: std::process::ExitStatus,
    },
    #[error("{step}: cannot run `{program}`; is it installed and on PATH?")]
    Spawn {
        step: String,
        program: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{step}: preparing its output {path}")]
    Output {
        step: String,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{step}: recording its run in {path}")]
    Record {
        step: String,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// What the runner tells its caller about each step, before it runs or when it is skipped.
pub enum StepEvent<'a> {
    Started(&'a Platform, &'a BuildStep),
    /// The step's key equals that of its last successful run and its outputs are there.
    Reused(&'a Platform, &'a BuildStep),
}

/// One step as the runner handled it.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct StepRun {
    pub platform: String,
    pub description: String,
    pub program: String,
    pub args: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    pub reused: bool,
}

/// Runs (or reuses) every step of every target in order and returns what it did. `records`
/// keeps the keys of reusable steps' last successful runs.
pub fn run(
    targets: &[TargetPlan],
    records: &Records,
    mut on: impl FnMut(StepEvent),
) -> Result<Vec<StepRun>, BuildError> {
    let mut ran = Vec::new();
    for t in targets {
        for step in &t.steps {
            let key = step
                .key
                .as_deref()
                .filter(|_| step.reuse == Reuse::WhenUnchanged);
            let reused = key.is_some_and(|k| records.is_current(step, k));
            if reused {
                on(StepEvent::Reused(&t.platform, step));
            } else {
                on(StepEvent::Started(&t.platform, step));
                if key.is_some() {
                    records.forget(step).map_err(|source| BuildError::Record {
                        step: step.description.clone(),
                        path: records.dir().to_path_buf(),
                        source,
                    })?;
                }
                prepare_outputs(step)?;
                run_step(step)?;
                if let Some(k) = key {
                    records
                        .remember(step, k)
                        .map_err(|source| BuildError::Record {
                            step: step.description.clone(),
                            path: records.dir().to_path_buf(),
                            source,
                        })?;
                }
            }
            ran.push(StepRun {
                platform: t.platform.to_string(),
                description: step.description.clone(),
                program: step.program.clone(),
                args: step.args.clone(),
                key: key.map(str::to_string),
                reused,
            });
        }
    }
    Ok(ran)
}

/// Empties and creates output directories and creates the directories of output files, so
/// steps never make their own and a rerun never sees a previous run's leftovers.
fn prepare_outputs(step: &BuildStep) -> Result<(), BuildError> {
    for o in &step.outputs {
        let err = |source| BuildError::Output {
            step: step.description.clone(),
            path: o.path().to_path_buf(),
            source,
        };
        match o {
            StepOutput::Dir { path } => {
                match std::fs::remove_dir_all(path) {
                    Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(err(e)),
                    _ => {}
                }
                std::fs::create_dir_all(path).map_err(err)?;
            }
            StepOutput::File { path } => {
                if let Some(parent) = path.parent() {
                    std::fs::create_dir_all(parent).map_err(err)?;
                }
            }
        }
    }
    Ok(())
}

fn run_step(step: &BuildStep) -> Result<(), BuildError> {
    let spawn_err = |source| BuildError::Spawn {
        step: step.description.clone(),
        program: step.program.clone(),
        source,
    };
    let program = if step.program == LADE_PROGRAM {
        std::env::current_exe().map_err(spawn_err)?
    } else {
        step.program.clone().into()
    };
    // The tool's stdout and stderr go, through one pipe and in the order written, to our
    // stderr: `lade publish --json` keeps stdout for its report. Passing them through lets
    // lade end a last line the tool left open (Debian's Maven ends with bare colour resets), so
    // lade's own messages always start a line.
    let (mut reader, writer) = std::io::pipe().map_err(spawn_err)?;
    let mut command = Command::new(program);
    for k in super::host::credential_vars() {
        command.env_remove(k);
    }
    let mut child = command
        .args(&step.args)
        .envs(&step.env)
        .current_dir(&step.dir)
        .stdin(Stdio::null())
        .stdout(writer.try_clone().map_err(spawn_err)?)
        .stderr(writer)
        .spawn()
        .map_err(spawn_err)?;
    // The command holds the pipe's write ends: dropped now, the copy below sees the end of
    // the output when the tool exits instead of waiting out its timeout.
    drop(command);
    // Copied on a thread: something the tool leaves running (a compiler daemon) may hold the
    // pipe open after the tool exits, and the build must not wait for it.
    let (done, ended) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut last = b'\n';
        let mut buf = [0u8; 8192];
        let mut err = std::io::stderr();
        loop {
            match reader.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => {
                    last = buf[n - 1];
                    // A closed stderr is no reason to stop the build.
                    let _ = err.write_all(&buf[..n]);
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(_) => break,
            }
        }
        let _ = done.send(last);
    });
    let status = child.wait().map_err(spawn_err)?;
    let last = ended
        .recv_timeout(std::time::Duration::from_secs(2))
        .unwrap_or(b' ');
    if last != b'\n' {
        let _ = std::io::stderr().write_all(b"\n");
    }
    if status.success() {
        Ok(())
    } else {
        Err(BuildError::Failed {
            step: step.description.clone(),
            status,
        })
    }
}
