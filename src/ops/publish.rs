//! `lade publish`: plan, build, write layers, stack them on the base, write every output.

use super::checks;
use super::plan::{PlanOptions, plan};
use crate::base::{self, ResolvedBase};
use crate::build;
use crate::digest::Digest;
use crate::image::assemble::{self, BuildMeta, NamedLayer};
use crate::image::{self, BlobSource, ImageSet, Layer};
use crate::layer::{BlobStore, GZIP_LAYER_MEDIA_TYPE, LayerWriter};
use crate::plan::{BuildStep, Plan};
use crate::platform::Platform;
use crate::sink::{self, LocalBlobs, Published, Target};
use anyhow::Context;
use serde::Serialize;

#[derive(Clone, Debug, Default)]
pub struct PublishOptions {
    pub plan: PlanOptions,
    /// Outputs; when empty, `LADE_REPO/<name>:latest` if set, else `oci:./lade-out:latest`.
    pub targets: Vec<Target>,
    /// Extra tags written beside each output's own.
    pub tags: Vec<String>,
}

/// What happened, for people (stderr) and for machines (`--json` on stdout).
#[derive(Clone, Debug, Serialize)]
pub struct PublishReport {
    /// The root digest: the index when there are several platforms, else the manifest.
    pub digest: Digest,
    pub platforms: Vec<String>,
    pub base: BaseReport,
    pub layers: Vec<LayerReport>,
    pub outputs: Vec<Published>,
}

#[derive(Clone, Debug, Serialize)]
pub struct BaseReport {
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub digest: Option<Digest>,
}

#[derive(Clone, Debug, Serialize)]
pub struct LayerReport {
    pub platform: String,
    pub name: String,
    pub digest: Digest,
    pub size: u64,
    /// Reused from the layer cache rather than written now.
    pub cached: bool,
}

/// Progress the command line shows while publishing.
pub enum Event<'a> {
    Planned(&'a Plan),
    BaseResolved(&'a ResolvedBase),
    Step(&'a Platform, &'a BuildStep),
    Layer(&'a LayerReport),
    Output(&'a Published),
}

pub fn publish(opts: &PublishOptions, mut on: impl FnMut(Event)) -> anyhow::Result<PublishReport> {
    let plan = plan(&opts.plan)?;
    on(Event::Planned(&plan));
    let targets = output_targets(opts, &plan)?;
    let sinks = targets
        .iter()
        .map(sink::open)
        .collect::<Result<Vec<_>, _>>()?;
    let platforms: Vec<Platform> = plan.targets.iter().map(|t| t.platform.clone()).collect();

    // Resolve the base before building: a base lacking a platform should fail in a second,
    // not after minutes of compiling.
    let base = base::resolve(
        &plan.base,
        &platforms,
        &super::plan::base_dir(&opts.plan, &plan)?,
    )
    .map_err(|e| match checks::base_hint(&plan) {
        Some(hint) => anyhow::Error::new(e).context(hint),
        None => e.into(),
    })?;
    on(Event::BaseResolved(&base));

    for t in &plan.targets {
        for step in &t.steps {
            for a in &step.args {
                if let Some(parent) = std::path::Path::new(a).parent()
                    && parent.starts_with(super::cache_dir())
                {
                    std::fs::create_dir_all(parent).with_context(|| {
                        format!("creating build output directory {}", parent.display())
                    })?;
                }
            }
        }
    }
    checks::before_build(&plan)?;
    build::run(&plan.targets, |p, s| on(Event::Step(p, s)))?;
    // Only the built binaries know their linkage: check them against the base before layering.
    checks::after_build(&plan, &base)?;

    let epoch = crate::git::source_date_epoch(&plan.project_dir)?;
    let store_root = super::cache_dir();
    let store = BlobStore::open(&store_root)?;
    let writer = LayerWriter::new(&store, epoch);
    let meta = build_meta(&plan, &base, epoch);

    let mut images = Vec::new();
    let mut layer_reports = Vec::new();
    for t in &plan.targets {
        let base_image = base
            .for_platform(&t.platform)
            .expect("base::resolve returns an image for every requested platform");
        let mut layers = Vec::new();
        for spec in &t.layers {
            let blob = writer.write(spec)?;
            let report = LayerReport {
                platform: t.platform.to_string(),
                name: spec.name.clone(),
                digest: blob.digest.clone(),
                size: blob.size,
                cached: blob.cached,
            };
            on(Event::Layer(&report));
            layer_reports.push(report);
            layers.push(NamedLayer {
                name: spec.name.clone(),
                layer: Layer {
                    descriptor: image::descriptor(GZIP_LAYER_MEDIA_TYPE, blob.size, &blob.digest),
                    diff_id: blob.diff_id,
                    source: BlobSource::File(store.path(&blob.digest)),
                },
            });
        }
        images.push(assemble::image(base_image, layers, &plan.config, &meta)?);
    }
    let set = assemble::image_set(images, &meta)?;
    let outputs = write_outputs(&set, &sinks, &mut on)?;
    Ok(PublishReport {
        digest: set.root().digest(),
        platforms: platforms.iter().map(|p| p.to_string()).collect(),
        base: BaseReport {
            name: base.name.clone(),
            digest: base.digest.clone(),
        },
        layers: layer_reports,
        outputs,
    })
}

fn write_outputs(
    set: &ImageSet,
    sinks: &[Box<dyn sink::Sink>],
    on: &mut impl FnMut(Event),
) -> anyhow::Result<Vec<Published>> {
    let mut out = Vec::new();
    for s in sinks {
        let p = s.write(set, &LocalBlobs)?;
        on(Event::Output(&p));
        out.push(p);
    }
    Ok(out)
}

fn output_targets(opts: &PublishOptions, plan: &Plan) -> anyhow::Result<Vec<Target>> {
    let mut targets = opts.targets.clone();
    if targets.is_empty() {
        let default = match std::env::var("LADE_REPO") {
            Ok(repo) if !repo.is_empty() => {
                format!("{}/{}:latest", repo.trim_end_matches('/'), plan.name)
            }
            _ => "oci:./lade-out:latest".to_string(),
        };
        targets.push(Target::parse(&default).context("LADE_REPO")?);
    }
    let mut expanded = Vec::new();
    for t in targets {
        for tag in &opts.tags {
            if let Target::OciLayout { path, .. } = &t {
                expanded.push(Target::OciLayout {
                    path: path.clone(),
                    tag: tag.clone(),
                });
            }
        }
        expanded.push(t);
    }
    Ok(expanded)
}

fn build_meta(plan: &Plan, base: &ResolvedBase, epoch: u64) -> BuildMeta {
    let mut annotations = plan.config.annotations.clone();
    let dir = &plan.project_dir;
    if let Some(url) = crate::git::source_url(dir) {
        annotations
            .entry(image::ANNOTATION_SOURCE.into())
            .or_insert(url);
    }
    if let Some(rev) = crate::git::revision(dir) {
        annotations
            .entry(image::ANNOTATION_REVISION.into())
            .or_insert(rev);
    }
    if let Some(d) = &base.digest {
        annotations.insert(image::ANNOTATION_BASE_NAME.into(), base.name.clone());
        annotations.insert(image::ANNOTATION_BASE_DIGEST.into(), d.to_string());
    }
    BuildMeta {
        created: epoch,
        annotations,
    }
}
