//! Targets built side by side. A multi-platform plan has one list of steps per platform; when
//! no step of one platform touches what a step of another writes, the platforms' lists run at
//! the same time (each list still in order), so the second platform compiles while the first
//! links. The decision is made from the plan's data alone: every step must declare what it
//! reads (a reusable step does, its key depends on it), and no step may read or write under
//! another platform's step outputs. Otherwise the targets run one after the other as before.

use super::run::{BuildError, Built, RunError, RunOptions, StepEvent, StepRun, run_target};
use crate::plan::{BuildStep, EntryKind, Reuse, StepInput, TargetPlan};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;

/// At most this many targets build at once, whatever the number of cores: each build is
/// itself parallel (go, cargo), and several at once mostly add memory.
const MAX_AT_ONCE: usize = 4;

/// Whether `targets` may build side by side: more than one target has steps, every step is
/// reusable (so its inputs are declared), and no step's inputs, directory or outputs lie
/// under (or above) an output of a step of another target.
pub(super) fn independent(targets: &[TargetPlan]) -> bool {
    if targets.iter().filter(|t| !t.steps.is_empty()).count() < 2 {
        return false;
    }
    let steps = || targets.iter().flat_map(|t| &t.steps);
    if steps().any(|s| s.reuse != Reuse::WhenUnchanged) {
        return false;
    }
    targets.iter().enumerate().all(|(i, a)| {
        targets[i + 1..].iter().all(|b| {
            a.steps.iter().all(|sa| {
                b.steps
                    .iter()
                    .all(|sb| !writes_into(sa, sb) && !writes_into(sb, sa))
            })
        })
    })
}

/// Whether `writer`'s outputs overlap anything `other` reads or writes.
fn writes_into(writer: &BuildStep, other: &BuildStep) -> bool {
    let touched = touched_paths(other);
    writer
        .outputs
        .iter()
        .any(|o| touched.iter().any(|p| overlap(o.path(), p)))
}

/// The paths a step reads or writes: its directory, its declared inputs (a tree whole, its
/// exclusions ignored), its outputs.
fn touched_paths(step: &BuildStep) -> Vec<PathBuf> {
    let mut paths = vec![step.dir.clone()];
    for input in &step.inputs {
        match input {
            StepInput::Files { root, paths: rel } => {
                paths.extend(rel.iter().map(|p| root.join(p)));
            }
            StepInput::Tree { path, .. } => paths.push(path.clone()),
            StepInput::Env { .. }
            | StepInput::Tool { .. }
            | StepInput::ToolVersion { .. }
            | StepInput::PreviousStep => {}
        }
    }
    paths.extend(step.outputs.iter().map(|o| o.path().to_path_buf()));
    paths
}

fn overlap(a: &Path, b: &Path) -> bool {
    a.starts_with(b) || b.starts_with(a)
}

/// Whether a target's layers may be written while the other targets still build: no step of
/// one target writes under (or above) a file or tree a layer of another target reads.
pub(super) fn layers_apart(targets: &[TargetPlan]) -> bool {
    targets.iter().enumerate().all(|(i, a)| {
        let read: Vec<&Path> = a
            .layers
            .iter()
            .flat_map(|l| &l.entries)
            .filter_map(|e| match &e.kind {
                EntryKind::File { source } | EntryKind::Tree { source, .. } => {
                    Some(source.as_path())
                }
                EntryKind::Dir | EntryKind::Symlink { .. } => None,
            })
            .collect();
        targets
            .iter()
            .enumerate()
            .filter(|(j, _)| *j != i)
            .all(|(_, b)| {
                b.steps
                    .iter()
                    .flat_map(|s| &s.outputs)
                    .all(|o| read.iter().all(|r| !overlap(o.path(), r)))
            })
    })
}

/// What a worker tells the calling thread.
enum Message<'t> {
    Step(StepEvent<'t>),
    Done(usize, Result<Vec<StepRun>, BuildError>),
}

/// Runs each target's steps on threads of their own (at most [`MAX_AT_ONCE`] and the number of
/// cores at once), passing their events to `on` on the calling thread as they come, and each
/// built target to `built` (see [`super::run::run`]). The result lists the steps in plan
/// order; the first target in plan order that failed gives the error, once every target
/// started has finished, else what `built` returned.
pub(super) fn run<E>(
    targets: &[TargetPlan],
    opts: &RunOptions,
    mut on: impl FnMut(StepEvent),
    mut built: impl FnMut(Built) -> Result<(), E>,
) -> Result<Vec<StepRun>, RunError<E>> {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let workers = targets.len().min(cores.max(2)).min(MAX_AT_ONCE);
    let early = layers_apart(targets);
    let next = AtomicUsize::new(0);
    let mut results: Vec<Option<Result<Vec<StepRun>, BuildError>>> =
        targets.iter().map(|_| None).collect();
    let mut refused = None;
    std::thread::scope(|s| {
        let (tx, rx) = mpsc::channel::<Message>();
        let handles: Vec<_> = (0..workers)
            .map(|_| {
                let (tx, next) = (tx.clone(), &next);
                s.spawn(move || {
                    loop {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        let Some(t) = targets.get(i) else { break };
                        // The receiver lives until every worker is joined.
                        let r = run_target(i, t, opts, &mut |e| {
                            let _ = tx.send(Message::Step(e));
                        });
                        let failed = r.is_err();
                        let _ = tx.send(Message::Done(i, r));
                        if failed {
                            // At once, not when the calling thread gets to the message.
                            next.store(targets.len(), Ordering::Relaxed);
                            break;
                        }
                    }
                })
            })
            .collect();
        drop(tx);
        let mut left = targets.len();
        for m in rx {
            match m {
                Message::Step(e) => on(e),
                Message::Done(i, r) => {
                    left -= 1;
                    results[i] = Some(r);
                    let sound = refused.is_none() && results.iter().flatten().all(|r| r.is_ok());
                    if early && sound {
                        let all = left == 0;
                        if let Err(e) = built(Built { target: i, all }) {
                            refused = Some(e);
                            // Start no new target; running ones finish.
                            next.store(targets.len(), Ordering::Relaxed);
                        }
                    }
                }
            }
        }
        for h in handles {
            h.join().unwrap_or_else(|p| std::panic::resume_unwind(p));
        }
    });
    let mut ran = Vec::new();
    for r in results {
        match r {
            Some(r) => ran.extend(r.map_err(RunError::Build)?),
            // Not started because something failed first.
            None => break,
        }
    }
    if let Some(e) = refused {
        return Err(RunError::Built(e));
    }
    if !early {
        for target in 0..targets.len() {
            built(Built { target, all: true }).map_err(RunError::Built)?;
        }
    }
    Ok(ran)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::build::record::Records;
    use crate::plan::StepOutput;

    fn target(platform: &str, steps: Vec<BuildStep>) -> TargetPlan {
        TargetPlan {
            platform: platform.parse().unwrap(),
            steps,
            layers: Vec::new(),
            checks: Vec::new(),
        }
    }

    /// A reusable step in `project` reading it whole and writing `out`.
    fn step(name: &str, project: &Path, out: &Path, args: &[&str]) -> BuildStep {
        let mut s = BuildStep::new(
            name,
            "sh",
            args.iter().map(|a| a.to_string()).collect(),
            project,
        )
        .with_input(StepInput::Tree {
            path: project.to_path_buf(),
            exclude: vec![],
        })
        .with_output(StepOutput::File {
            path: out.to_path_buf(),
        })
        .reused_when_unchanged();
        s.key = Some(format!("key of {name}"));
        s
    }

    #[test]
    fn platforms_are_independent_only_when_the_plan_says_so() {
        let (p, b) = (Path::new("/src/app"), Path::new("/cache/build"));
        let amd = |s: BuildStep| target("linux/amd64", vec![s]);
        let arm = |s: BuildStep| target("linux/arm64", vec![s]);
        let go = |plat: &str| step(plat, p, &b.join(plat).join("app"), &[]);
        assert!(independent(&[amd(go("amd64")), arm(go("arm64"))]));
        // One target, or one with steps: nothing to run side by side.
        assert!(!independent(&[amd(go("amd64"))]));
        assert!(!independent(&[
            amd(go("amd64")),
            target("linux/arm64", vec![])
        ]));
        // A step that is never reused may read anything: no.
        let mut plain = go("arm64");
        plain.reuse = Reuse::Never;
        assert!(!independent(&[amd(go("amd64")), arm(plain)]));
        // The second platform reads what the first writes (a build once, in the first).
        let reads_first = step("arm64", &b.join("amd64"), &b.join("arm64/app"), &[]);
        assert!(!independent(&[amd(go("amd64")), arm(reads_first)]));
        // Both write the same file.
        let same_out = step("arm64", p, &b.join("amd64/app"), &[]);
        assert!(!independent(&[amd(go("amd64")), arm(same_out)]));
        // An output inside the other's project tree (a cache kept in the project).
        let inside = step("amd64", p, &p.join(".cache/app"), &[]);
        assert!(!independent(&[amd(inside), arm(go("arm64"))]));
    }

    #[test]
    fn independent_platforms_really_run_at_once_and_report_in_plan_order() {
        // Each step announces itself, then waits for the other's announcement: run one after
        // the other, the first would wait in vain and fail after 30 s.
        let d = tempfile::tempdir().unwrap();
        let project = d.path().join("project");
        std::fs::create_dir_all(&project).unwrap();
        let (a, b) = (d.path().join("a.started"), d.path().join("b.started"));
        let meet = |me: &Path, other: &Path, out: &Path| {
            format!(
                "touch '{}'; i=0; while [ ! -e '{}' ]; do i=$((i+1)); [ $i -gt 3000 ] && exit 7; sleep 0.01; done; echo done > '{}'",
                me.display(),
                other.display(),
                out.display()
            )
        };
        let out = d.path().join("build");
        let (oa, ob) = (out.join("amd64/app"), out.join("arm64/app"));
        let targets = [
            target(
                "linux/amd64",
                vec![step("a", &project, &oa, &["-c", &meet(&a, &b, &oa)])],
            ),
            target(
                "linux/arm64",
                vec![step("b", &project, &ob, &["-c", &meet(&b, &a, &ob)])],
            ),
        ];
        assert!(independent(&targets));
        let opts = RunOptions {
            records: Records::new(&d.path().join("cache")),
            logs: d.path().join("logs"),
            progress: Default::default(),
            skip: Default::default(),
        };
        let mut started = Vec::new();
        let ran = super::super::run::run(
            &targets,
            &opts,
            |e| {
                if let StepEvent::Started(p, _) = e {
                    started.push(p.to_string());
                }
            },
            |_| Ok::<_, ()>(()),
        )
        .unwrap();
        let order: Vec<&str> = ran.iter().map(|r| r.description.as_str()).collect();
        assert_eq!(order, ["a", "b"]);
        started.sort();
        assert_eq!(started, ["linux/amd64", "linux/arm64"]);
        assert_eq!(std::fs::read_to_string(&oa).unwrap(), "done\n");
        assert_eq!(std::fs::read_to_string(&ob).unwrap(), "done\n");
    }

    #[test]
    fn a_failing_platform_fails_the_build_after_the_others_finish() {
        let d = tempfile::tempdir().unwrap();
        let project = d.path().join("project");
        std::fs::create_dir_all(&project).unwrap();
        let out = d.path().join("build");
        let (oa, ob) = (out.join("amd64/app"), out.join("arm64/app"));
        let targets = [
            target(
                "linux/amd64",
                vec![step("a", &project, &oa, &["-c", "exit 3"])],
            ),
            target(
                "linux/arm64",
                vec![step(
                    "b",
                    &project,
                    &ob,
                    &["-c", &format!("sleep 0.2; echo ok > '{}'", ob.display())],
                )],
            ),
        ];
        let opts = RunOptions {
            records: Records::new(&d.path().join("cache")),
            logs: d.path().join("logs"),
            progress: Default::default(),
            skip: Default::default(),
        };
        let mut got = Vec::new();
        let err = super::super::run::run(
            &targets,
            &opts,
            |_| {},
            |b| {
                got.push(b);
                Ok::<_, ()>(())
            },
        )
        .unwrap_err();
        assert!(
            matches!(&err, RunError::Build(BuildError::Failed { step, .. }) if step == "a"),
            "{err:?}"
        );
        // Nothing of a failed build is handed over, not even the platform that built.
        assert_eq!(got, []);
        assert_eq!(std::fs::read_to_string(&ob).unwrap(), "ok\n");
    }

    fn options(d: &Path) -> RunOptions {
        RunOptions {
            records: Records::new(&d.join("cache")),
            logs: d.join("logs"),
            progress: Default::default(),
            skip: Default::default(),
        }
    }

    /// A layer of `t` made of the file `source`.
    fn with_layer(mut t: TargetPlan, source: &Path) -> TargetPlan {
        t.layers.push(crate::plan::LayerSpec {
            name: "binary".into(),
            entries: vec![crate::plan::FileEntry {
                target: "/app".into(),
                mode: 0o755,
                kind: EntryKind::File {
                    source: source.to_path_buf(),
                },
            }],
        });
        t
    }

    #[test]
    fn a_built_platform_is_handed_over_while_another_still_builds() {
        // b's step waits for a file only the caller's `built` for a makes: handed over after
        // every target built, b would wait in vain and fail.
        let d = tempfile::tempdir().unwrap();
        let project = d.path().join("project");
        std::fs::create_dir_all(&project).unwrap();
        let out = d.path().join("build");
        let (oa, ob) = (out.join("amd64/app"), out.join("arm64/app"));
        let handed = d.path().join("a.handed");
        let wait = format!(
            "i=0; while [ ! -e '{}' ]; do i=$((i+1)); [ $i -gt 3000 ] && exit 7; sleep 0.01; done; echo b > '{}'",
            handed.display(),
            ob.display()
        );
        let a_script = format!("echo a > '{}'", oa.display());
        let targets = [
            with_layer(
                target(
                    "linux/amd64",
                    vec![step("a", &project, &oa, &["-c", &a_script])],
                ),
                &oa,
            ),
            with_layer(
                target(
                    "linux/arm64",
                    vec![step("b", &project, &ob, &["-c", &wait])],
                ),
                &ob,
            ),
        ];
        assert!(independent(&targets) && layers_apart(&targets));
        let mut got = Vec::new();
        let ran = super::super::run::run(
            &targets,
            &options(d.path()),
            |_| {},
            |b| {
                // What a hands over is there, whole.
                if b.target == 0 {
                    assert_eq!(std::fs::read_to_string(&oa).unwrap(), "a\n");
                    std::fs::write(&handed, "").unwrap();
                }
                got.push(b);
                Ok::<_, ()>(())
            },
        )
        .unwrap();
        assert_eq!(got, [built(0, false), built(1, true)]);
        assert_eq!(ran.len(), 2);
        assert_eq!(std::fs::read_to_string(&ob).unwrap(), "b\n");
    }

    /// Two platforms whose steps each write one file, `build/amd64/app` and `build/arm64/app`
    /// under `d`; each image takes its own file, or amd64's takes arm64's when
    /// `amd64_takes_arm64s`. Returns the targets and the two files.
    fn writers(d: &Path, amd64_takes_arm64s: bool) -> ([TargetPlan; 2], PathBuf, PathBuf) {
        let project = d.join("project");
        std::fs::create_dir_all(&project).unwrap();
        let out = d.join("build");
        let (oa, ob) = (out.join("amd64/app"), out.join("arm64/app"));
        let write = |o: &Path| format!("echo x > '{}'", o.display());
        let a = target(
            "linux/amd64",
            vec![step("a", &project, &oa, &["-c", &write(&oa)])],
        );
        let b = target(
            "linux/arm64",
            vec![step("b", &project, &ob, &["-c", &write(&ob)])],
        );
        let a_takes = if amd64_takes_arm64s { &ob } else { &oa };
        let targets = [with_layer(a, a_takes), with_layer(b, &ob)];
        (targets, oa, ob)
    }

    fn built(target: usize, all: bool) -> Built {
        Built { target, all }
    }

    #[test]
    fn a_layer_reading_another_platforms_output_waits_for_every_build() {
        let d = tempfile::tempdir().unwrap();
        let (targets, oa, ob) = writers(d.path(), true);
        assert!(independent(&targets));
        assert!(!layers_apart(&targets));
        let mut got = Vec::new();
        super::super::run::run(
            &targets,
            &options(d.path()),
            |_| {},
            |b| {
                // Both outputs exist whenever anything is handed over.
                assert!(oa.exists() && ob.exists());
                got.push(b);
                Ok::<_, ()>(())
            },
        )
        .unwrap();
        assert_eq!(got, [built(0, true), built(1, true)]);
    }

    #[test]
    fn what_the_caller_refuses_fails_the_build() {
        let d = tempfile::tempdir().unwrap();
        let (targets, _, _) = writers(d.path(), false);
        assert!(layers_apart(&targets));
        let mut calls = 0;
        let err = super::super::run::run(
            &targets,
            &options(d.path()),
            |_| {},
            |b| {
                calls += 1;
                Err(format!("refused {}", b.target))
            },
        )
        .unwrap_err();
        assert!(
            matches!(&err, RunError::Built(m) if m.starts_with("refused ")),
            "{err:?}"
        );
        // Refused once, never asked again.
        assert_eq!(calls, 1);
    }
}
