//! The step runner. The tools' output (stdout and stderr through one pipe, in order) goes to
//! a log file per step under the build directory and, as it comes, to the step's progress task
//! (the command line shows it with `-v`); the end of it is kept in memory, bounded, and handed
//! over when the step fails, so a failure shows what the tool said and a success shows nothing.

use super::record::Records;
use crate::plan::{BuildStep, LADE_PROGRAM, Reuse, StepInput, StepOutput, TargetPlan};
use crate::platform::Platform;
use crate::progress::{Kind, Reporter, Task};
use serde::Serialize;
use std::collections::VecDeque;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;

#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    #[error("{step} failed ({status}); its full output is in {}", log.display())]
    Failed {
        step: String,
        status: std::process::ExitStatus,
        log: PathBuf,
    },
    #[error("{step}: creating its log {}", path.display())]
    Log {
        step: String,
        path: PathBuf,
        #[source]
        source: std::io::Error,
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
    /// Not run: every layer it produces came from the shared cache (`--cache-repo`).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub shared: bool,
}

/// How much of a step's output is kept in memory for its failure: the end, where tools say
/// what went wrong; the rest is in the log.
const KEPT_OUTPUT: usize = 64 << 10;

/// Where the runner writes and reports besides running steps.
#[derive(Clone, Debug)]
pub struct RunOptions {
    /// Keeps the keys of reusable steps' last successful runs.
    pub records: Records,
    /// Directory of the steps' logs, one file per step, replaced at each run.
    pub logs: PathBuf,
    pub progress: Reporter,
    /// Steps not run, by (target, position): a shared cache holds what they produce.
    pub skip: std::collections::BTreeSet<(usize, usize)>,
}

#[cfg(test)]
impl RunOptions {
    /// Records in `dir/cache`, logs in `dir/logs`, no progress, nothing skipped.
    pub fn in_dir(dir: &std::path::Path) -> RunOptions {
        RunOptions {
            records: Records::new(&dir.join("cache")),
            logs: dir.join("logs"),
            progress: Default::default(),
            skip: Default::default(),
        }
    }
}

/// Why a build stopped: a step failed, or what the caller did with a built target failed.
#[derive(Debug)]
pub enum RunError<E> {
    Build(BuildError),
    /// What the caller's `built` returned.
    Built(E),
}

/// A target whose steps have all succeeded, handed to the caller of [`run`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Built {
    /// Its position in the plan.
    pub target: usize,
    /// Every target's steps have succeeded (this one is the last, or they ran one after the
    /// other): nothing builds any more.
    pub all: bool,
}

/// Runs (or reuses) every step of every target and returns what it did, in plan order. Each
/// target's steps run in order; the targets themselves run side by side when their steps are
/// independent (`super::parallel`), else one after the other.
///
/// `built` is called on the calling thread for each target once its steps have succeeded:
/// when the targets build side by side and no step of one writes what another's layers read,
/// as soon as that target is done (the caller writes its layers while the others still
/// build); otherwise for every target in plan order once all have built. Once it fails, no
/// new target starts and it is not called again.
pub fn run<E>(
    targets: &[TargetPlan],
    opts: &RunOptions,
    mut on: impl FnMut(StepEvent),
    mut built: impl FnMut(Built) -> Result<(), E>,
) -> Result<Vec<StepRun>, RunError<E>> {
    if super::parallel::independent(targets) {
        return super::parallel::run(targets, opts, on, built);
    }
    let mut ran = Vec::new();
    for (ti, t) in targets.iter().enumerate() {
        ran.extend(run_target(ti, t, opts, &mut on).map_err(RunError::Build)?);
    }
    for target in 0..targets.len() {
        built(Built { target, all: true }).map_err(RunError::Built)?;
    }
    Ok(ran)
}

/// Runs (or reuses) the steps of one target in order.
pub(super) fn run_target<'t>(
    ti: usize,
    t: &'t TargetPlan,
    opts: &RunOptions,
    on: &mut dyn FnMut(StepEvent<'t>),
) -> Result<Vec<StepRun>, BuildError> {
    let records = &opts.records;
    let mut ran = Vec::new();
    // Whether the step before ran this time: a step working on what it wrote must run too.
    let mut previous_ran = false;
    for (n, step) in t.steps.iter().enumerate() {
        let key = step
            .key
            .as_deref()
            .filter(|_| step.reuse == Reuse::WhenUnchanged);
        let shared = opts.skip.contains(&(ti, n));
        let after_a_run = previous_ran && step.inputs.contains(&StepInput::PreviousStep);
        let reused = shared || !after_a_run && key.is_some_and(|k| records.is_current(step, k));
        previous_ran = !reused;
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
            // Stat data taken before no longer stands for the files it may write.
            let _writing = crate::statcache::step_writing();
            prepare_outputs(step)?;
            let log = opts.logs.join(log_name(&t.platform, n, step));
            let task = Arc::new(
                opts.progress
                    .start(Kind::Step, &label(step, &t.platform), None),
            );
            run_step(step, &log, &task)?;
            task.finish();
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
            shared,
        });
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

/// The step's description, with its platform when the description does not say it.
fn label(step: &BuildStep, platform: &Platform) -> String {
    let p = platform.to_string();
    match step.description.contains(&p) {
        true => step.description.clone(),
        false => format!("{} ({p})", step.description),
    }
}

/// `linux-amd64-03-go-build.log`: platform, position and description, so the logs of one
/// publish sort in the order the steps ran.
fn log_name(platform: &Platform, n: usize, step: &BuildStep) -> String {
    let mut name = format!("{platform}-{n:02}-{}", step.description);
    name = name
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect();
    while name.contains("--") {
        name = name.replace("--", "-");
    }
    name.truncate(100);
    format!("{}.log", name.trim_end_matches('-'))
}

/// The end of a step's output, at most [`KEPT_OUTPUT`] bytes, and how many came before it.
#[derive(Default)]
struct Tail {
    kept: VecDeque<u8>,
    omitted: u64,
}

impl Tail {
    fn push(&mut self, bytes: &[u8]) {
        self.kept.extend(bytes);
        let over = self.kept.len().saturating_sub(KEPT_OUTPUT);
        if over > 0 {
            self.kept.drain(..over);
            self.omitted += over as u64;
        }
    }

    /// The kept bytes, starting at a line when some were dropped.
    fn into_parts(self) -> (Vec<u8>, u64) {
        let mut kept: Vec<u8> = self.kept.into();
        let mut omitted = self.omitted;
        if omitted > 0
            && let Some(nl) = kept.iter().position(|b| *b == b'\n')
        {
            kept.drain(..=nl);
            omitted += nl as u64 + 1;
        }
        (kept, omitted)
    }
}

fn run_step(step: &BuildStep, log: &Path, task: &Arc<Task>) -> Result<(), BuildError> {
    let log_err = |source| BuildError::Log {
        step: step.description.clone(),
        path: log.to_path_buf(),
        source,
    };
    if let Some(dir) = log.parent() {
        std::fs::create_dir_all(dir).map_err(log_err)?;
    }
    let mut file = std::fs::File::create(log).map_err(log_err)?;
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
    // The tool's stdout and stderr go through one pipe, so the log has them in the order
    // written; lade's own stdout stays for its result.
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
    // pipe open after the tool exits, and the build must not wait for it. The task goes with
    // it for `-v`'s live output.
    let (done, ended) = std::sync::mpsc::channel();
    let copier = task.clone();
    std::thread::spawn(move || {
        let mut tail = Tail::default();
        let mut buf = [0u8; 8192];
        loop {
            match reader.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => {
                    // A log that cannot be written (a full disk) must not stop the build;
                    // the kept end still shows a failure.
                    let _ = file.write_all(&buf[..n]);
                    tail.push(&buf[..n]);
                    copier.output(&buf[..n]);
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(_) => break,
            }
        }
        let _ = done.send(tail);
    });
    let status = child.wait().map_err(spawn_err)?;
    let tail = ended
        .recv_timeout(std::time::Duration::from_secs(2))
        .unwrap_or_default();
    if status.success() {
        return Ok(());
    }
    let (output, omitted) = tail.into_parts();
    task.fail(&output, omitted, Some(log));
    Err(BuildError::Failed {
        step: step.description.clone(),
        status,
        log: log.to_path_buf(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_kept_output_is_the_end_from_a_line_start() {
        let mut t = Tail::default();
        for i in 0..20_000 {
            t.push(format!("line {i}\n").as_bytes());
        }
        let total: u64 = (0..20_000)
            .map(|i| format!("line {i}\n").len() as u64)
            .sum();
        let (kept, omitted) = t.into_parts();
        assert!(kept.len() <= KEPT_OUTPUT);
        assert_eq!(kept.len() as u64 + omitted, total);
        let text = String::from_utf8(kept).unwrap();
        assert!(text.starts_with("line "), "{}", &text[..20]);
        assert!(text.ends_with("line 19999\n"));
        let mut short = Tail::default();
        short.push(b"partial");
        assert_eq!(short.into_parts(), (b"partial".to_vec(), 0));
    }

    /// A step working in place on what the step before wrote is reused with it, and runs
    /// whenever it runs, even when its own key is the same (the step before's outputs were
    /// missing, so it ran again with the same key).
    #[test]
    fn a_step_after_another_runs_when_it_runs() {
        let d = tempfile::tempdir().unwrap();
        let (src, out, runs) = (
            d.path().join("src"),
            d.path().join("out"),
            d.path().join("runs"),
        );
        std::fs::create_dir_all(&src).unwrap();
        std::fs::write(src.join("input"), "1").unwrap();
        let mut write = BuildStep::new(
            "write",
            "sh",
            vec!["-c".into(), format!("cp input {}/copy", out.display())],
            &src,
        )
        .with_input(StepInput::Files {
            root: src.clone(),
            paths: vec!["input".into()],
        })
        .reused_when_unchanged();
        write.outputs = vec![StepOutput::Dir { path: out.clone() }];
        let finish = BuildStep::new(
            "finish in place",
            "sh",
            vec!["-c".into(), format!("echo ran >> {}", runs.display())],
            &out,
        )
        .with_input(StepInput::PreviousStep)
        .reused_when_unchanged();
        let mut plan_targets = vec![TargetPlan {
            platform: "linux/amd64".parse().unwrap(),
            steps: vec![write, finish],
            layers: Vec::new(),
            checks: Vec::new(),
        }];
        let opts = RunOptions::in_dir(d.path());
        let publish = |targets: &mut Vec<TargetPlan>| {
            for step in &mut targets[0].steps {
                step.key = None;
            }
            super::super::fill_target_keys(&mut targets[0]).unwrap();
            let ran = run(targets, &opts, |_| {}, |_| Ok::<_, ()>(())).unwrap();
            let runs = std::fs::read_to_string(&runs).unwrap_or_default();
            (
                ran.iter().map(|r| r.reused).collect::<Vec<_>>(),
                runs.lines().count(),
            )
        };
        assert_eq!(publish(&mut plan_targets), (vec![false, false], 1));
        assert_eq!(
            publish(&mut plan_targets),
            (vec![true, true], 1),
            "both reused"
        );
        std::fs::remove_dir_all(&out).unwrap();
        assert_eq!(
            publish(&mut plan_targets),
            (vec![false, false], 2),
            "the step before ran again with the same key, and so did the one after it"
        );
        std::fs::write(src.join("input"), "2").unwrap();
        assert_eq!(publish(&mut plan_targets), (vec![false, false], 3));
        assert_eq!(publish(&mut plan_targets), (vec![true, true], 3));
    }

    #[test]
    fn log_names_sort_by_platform_and_position() {
        let step = BuildStep {
            description: "npm ci (all dependencies, for the build)".into(),
            program: "npm".into(),
            args: vec![],
            env: Default::default(),
            dir: ".".into(),
            inputs: vec![],
            outputs: vec![],
            reuse: Default::default(),
            key: None,
        };
        let p: Platform = "linux/arm64".parse().unwrap();
        assert_eq!(
            log_name(&p, 3, &step),
            "linux-arm64-03-npm-ci-all-dependencies-for-the-build.log"
        );
        assert_eq!(
            label(&step, &p),
            "npm ci (all dependencies, for the build) (linux/arm64)"
        );
    }
}
