//! `lade base build`: a distroless-equivalent base from Debian packages, written to every
//! `--to`. The work is `debian::build_base`; this adds the outputs, and checks them before
//! anything is built so a bad `--to` fails in a second.

use crate::debian::{self, BaseSpec, BuildReport, DebianOptions, Event};
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
