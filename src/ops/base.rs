//! `lade base build`: a distroless-equivalent base from Debian packages, written to every
//! `--to`. The work is `debian::build_base`; this adds the outputs, and checks them before
//! anything is built so a bad `--to` fails in a second.

use crate::base_spec::BaseSpec;
use crate::debian::{self, BuildReport, DebianOptions, Event};
use crate::layer::BlobStore;
use crate::platform::Platform;
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
}

pub fn build(
    opts: &BaseBuildOptions,
    mut on: impl FnMut(BaseEvent),
) -> anyhow::Result<BaseBuildReport> {
    let sinks = opts
        .targets
        .iter()
        .map(sink::open)
        .collect::<Result<Vec<_>, _>>()?;
    let store = BlobStore::open(&opts.debian.cache_dir)?;
    let built = debian::build_base(
        &opts.spec,
        &opts.platforms,
        &store,
        &opts.debian,
        &mut |e| on(BaseEvent::Debian(e)),
    )?;
    let mut outputs = Vec::new();
    for s in &sinks {
        let p = s.write(&built.set, &LocalBlobs)?;
        on(BaseEvent::Output(&p));
        outputs.push(p);
    }
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
