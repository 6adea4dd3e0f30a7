//! Runs a plan's build steps on the host. The tools' output is streamed to lade's stderr as it
//! comes (stdout included, so lade's own stdout stays machine-readable); a failure returns one
//! error naming the step and platform, shown under the tool's own messages.

use crate::plan::{BuildStep, LADE_PROGRAM, TargetPlan};
use crate::platform::Platform;
use std::os::fd::AsFd;
use std::process::{Command, Stdio};

#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    #[error("{step} failed ({status}); its output is above")]
    Failed {
        step: String,
        status: std::process::ExitStatus,
    },
    #[error("{step}: cannot run `{program}`: {source}; is it installed and on PATH?")]
    Spawn {
        step: String,
        program: String,
        source: std::io::Error,
    },
}

/// Runs every step of every target in order. `on_step` is told before each step starts so the
/// caller can report progress.
pub fn run(
    targets: &[TargetPlan],
    mut on_step: impl FnMut(&Platform, &BuildStep),
) -> Result<(), BuildError> {
    for t in targets {
        for step in &t.steps {
            on_step(&t.platform, step);
            run_step(step)?;
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
    // The tool's stdout goes to our stderr: `lade publish --json` keeps stdout for its report.
    let stdout = std::io::stderr()
        .as_fd()
        .try_clone_to_owned()
        .map_err(spawn_err)?;
    let program = if step.program == LADE_PROGRAM {
        std::env::current_exe().map_err(spawn_err)?
    } else {
        step.program.clone().into()
    };
    let status = Command::new(program)
        .args(&step.args)
        .envs(&step.env)
        .current_dir(&step.dir)
        .stdin(Stdio::null())
        .stdout(Stdio::from(stdout))
        .stderr(Stdio::inherit())
        .status()
        .map_err(spawn_err)?;
    if status.success() {
        Ok(())
    } else {
        Err(BuildError::Failed {
            step: step.description.clone(),
            status,
        })
    }
}
