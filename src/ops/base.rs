//! `lade base build`: a distroless-equivalent base from Debian packages, written to every
//! `--to`. The work is `debian::build_base`; this adds the outputs, and checks them before
//! anything is built so a bad `--to` fails in a second: every output opened, every registry
//! probed for a push. Every output is attempted and each result reported; the lock is written
//! only when all were.

use crate::base_spec::BaseSpec;
use crate::debian::{self, BuildReport, DebianOptions, Event};
use crate::layer::BlobStore;
use crate::platform::Platform;
use crate::registry::{RegistryOptions, RegistrySession};
use crate::sink::{self, LocalBlobs, Published, Target};
use serde::Serialize;

#[derive(Clone, Debug)]
pub struct BaseBuildOptions {
    pub spec: BaseSpec,
    pub platforms: Vec<Platform>,
    pub targets: Vec<Target>,
    pub debian: DebianOptions,
}

#[derive(Clone, Debug, Serialize)]
pub struct BaseBuildReport {
    #[serde(flatten)]
    pub build: BuildReport,
    pub outputs: Vec<Published>,
}

/// Progress while building a base.
pub enum BaseEvent<'a> {
    Debian(Event<'a>),
    Output(&'a Published),
    /// An output of several could not be written (target, error); the others are attempted.
    OutputFailed(&'a str, &'a sink::SinkError),
}

/// Some of the outputs were not written; the others were, and were reported.
#[derive(Debug, thiserror::Error)]
#[error("{} of {total} outputs failed ({}); the others were written and the lock was not", .failed.len(), .failed.join(", "))]
pub struct BaseOutputsFailed {
    pub failed: Vec<String>,
    pub total: usize,
}

pub fn build(
    opts: &BaseBuildOptions,
    mut on: impl FnMut(BaseEvent),
) -> anyhow::Result<BaseBuildReport> {
    let registry = match opts
        .targets
        .iter()
        .any(|t| matches!(t, Target::Registry { .. }))
    {
        true => RegistryOptions::from_env()?,
        false => RegistryOptions::default(),
    };
    let registry = RegistrySession::with_progress(registry, opts.debian.progress.clone());
    let open = sink::OpenOptions {
        registry: registry.clone(),
        tags: Vec::new(),
        progress: opts.debian.progress.clone(),
    };
    let sinks = opts
        .targets
        .iter()
        .map(|t| Ok((sink::open_with(t, &open)?, t.to_string())))
        .collect::<Result<Vec<_>, sink::SinkError>>()?;
    super::publish::probe_registries(&opts.targets, &registry)?;
    let store = BlobStore::open(&opts.debian.cache_dir)?;
    let mut built = debian::build_base(
        &opts.spec,
        &opts.platforms,
        &store,
        &opts.debian,
        &mut |e| on(BaseEvent::Debian(e)),
    )?;
    let mut outputs = Vec::new();
    let mut failed = Vec::new();
    for (s, target) in &sinks {
        match s.write(&built.set, &LocalBlobs) {
            Ok(p) => {
                on(BaseEvent::Output(&p));
                outputs.push(p);
            }
            // One output: its error is the command's, said once.
            Err(e) if sinks.len() == 1 => return Err(e.into()),
            Err(e) => {
                on(BaseEvent::OutputFailed(target, &e));
                failed.push(target.clone());
            }
        }
    }
    if !failed.is_empty() {
        return Err(BaseOutputsFailed {
            failed,
            total: sinks.len(),
        }
        .into());
    }
    built.save_lock()?;
    Ok(BaseBuildReport {
        build: built.report,
        outputs,
    })
}

impl BaseEvent<'_> {
    /// The progress line for this event, if it is worth one at this verbosity.
    pub fn describe(&self, verbose: bool) -> Option<String> {
        Some(match self {
            BaseEvent::Debian(Event::Suite(s)) => match &s.verified_by {
                Some(k) => format!("{} verified ({k})", s.url),
                None => format!("{} read WITHOUT signature check", s.url),
            },
            BaseEvent::Debian(Event::Warning(w)) => format!("warning: {w}"),
            BaseEvent::Debian(Event::Resolved { arch, packages }) => {
                format!("[{arch}] {packages} packages")
            }
            BaseEvent::Debian(Event::Fetched { files, bytes }) => {
                if *bytes == 0 && !verbose {
                    return None;
                }
                format!("{files} packages, {} downloaded", mib(*bytes))
            }
            BaseEvent::Debian(Event::Layer {
                platform,
                tier,
                blob,
            }) => {
                if blob.cached && !verbose {
                    return None;
                }
                let how = if blob.cached { "cached" } else { "written" };
                format!(
                    "[{platform}] layer {tier} {} ({}, {how})",
                    blob.digest,
                    mib(blob.size)
                )
            }
            BaseEvent::Output(o) => format!("wrote {} ({})", o.target, o.digest),
            BaseEvent::OutputFailed(target, e) => format!(
                "{target} failed: {}",
                super::publish::output_error(target, e)
            ),
        })
    }
}

impl BaseBuildReport {
    /// The closing lines: how packages were chosen, the extras' closure and what was left out
    /// (every tier's with `verbose`), and each platform's size.
    pub fn summary(&self, verbose: bool) -> Vec<String> {
        let b = &self.build;
        let mut out = vec![format!(
            "packages {}; signatures {}",
            b.source, b.signatures
        )];
        for p in &b.platforms {
            // The extras are what the user asked for, so their closure is always shown.
            for t in p.tiers.iter().filter(|t| verbose || t.name == "extras") {
                let names: Vec<String> = t
                    .packages
                    .iter()
                    .map(|p| format!("{} {}", p.name, p.version))
                    .collect();
                if !names.is_empty() {
                    out.push(format!("[{}] {}: {}", p.platform, t.name, names.join(", ")));
                }
                for s in &t.skipped {
                    let by = if s.needed_by.is_empty() {
                        String::new()
                    } else {
                        format!(" (needed by {})", s.needed_by)
                    };
                    out.push(format!(
                        "[{}] {}: not installed: {}{by}: {}",
                        p.platform, t.name, s.dependency, s.reason
                    ));
                }
            }
            out.push(format!(
                "[{}] {} layers, {} ({})",
                p.platform,
                p.tiers.iter().filter(|t| t.layer.is_some()).count(),
                mib(p.size),
                p.manifest
            ));
        }
        if let Some(l) = &b.lock_written {
            out.push(format!("wrote {}", l.display()));
        }
        out
    }
}

fn mib(bytes: u64) -> String {
    format!("{:.1} MiB", bytes as f64 / (1024.0 * 1024.0))
}
