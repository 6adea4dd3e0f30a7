//! Runs a plan's build steps on the host. The tools' output is streamed to lade's stderr as it
//! comes (stdout included, so lade's own stdout stays machine-readable); a failure returns one
//! error naming the step and platform, shown under the tool's own messages.

use crate::plan::{BuildStep, LADE_PROGRAM, TargetPlan};
use crate::platform::Platform;
use std::io::{Read, Write};
use std::process::{Command, Stdio};

#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    #[error("{step} failed ({status}); its output is above")]
    Failed {
        step: String,
        status: std::process::ExitStatus,
    },
    /// `cause`, not `source`: the message already says it, and anyhow's chain would repeat it.
    #[error("{step}: cannot run `{program}`: {cause}; is it installed and on PATH?")]
    Spawn {
        step: String,
        program: String,
        cause: std::io::Error,
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
    let spawn_err = |cause| BuildError::Spawn {
        step: step.description.clone(),
        program: step.program.clone(),
        cause,
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
    let mut child = Command::new(program)
        .args(&step.args)
        .envs(&step.env)
        .current_dir(&step.dir)
        .stdin(Stdio::null())
        .stdout(writer.try_clone().map_err(spawn_err)?)
        .stderr(writer)
        .spawn()
        .map_err(spawn_err)?;
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
