//! `lade publish`: plan, build, write layers, stack them on the base, write every output.

use super::checks;
use super::layering::{Layered, Layering, Uploads};
use super::plan::{PlanOptions, plan_and_config};
use crate::base;
use crate::build;
use crate::digest::Digest;
use crate::image::assemble::{self, BuildMeta};
use crate::layer::{BlobStore, LayerWriter};
use crate::lock::Lock;
use crate::oci::ResolvedBase;
use crate::oci::{self, BlobSource, ImageSet};
use crate::plan::{BuildStep, Plan};
use crate::platform::Platform;
use crate::registry::{RegistryOptions, RegistrySession};
use crate::sink::registry::RegistryBlobs;
use crate::sink::{self, BlobProvider, LocalBlobs, Published, Target};
use anyhow::Context;
use serde::Serialize;

#[derive(Clone, Debug, Default)]
pub struct PublishOptions {
    pub plan: PlanOptions,
    /// Outputs; when empty, `LADE_REPO/<name>:latest` if set, else `oci:./lade-out:latest`.
    pub targets: Vec<Target>,
    /// Extra tags written beside each output's own.
    pub tags: Vec<String>,
    /// How registries are reached (outputs and bases).
    pub registry: RegistryOptions,
    /// Resolve a registry base's tag again instead of using lade.lock's digest.
    pub refresh_base: bool,
    /// Where to write each output's digest reference, one per line.
    pub image_refs: Option<std::path::PathBuf>,
    /// Write an SPDX 2.3 SBOM per platform image into this directory (created).
    pub sbom: Option<std::path::PathBuf>,
    /// Skip the runtime check (the entrypoint can start), with a warning.
    pub no_verify: bool,
    /// PEM PKCS#8 private key: registry outputs get cosign signatures.
    pub sign_key: Option<std::path::PathBuf>,
    /// Do not attach SBOMs and provenance to registry and OCI layout outputs.
    pub no_attach: bool,
    /// Where build steps, downloads, uploads and loads report their progress.
    pub progress: crate::progress::Reporter,
    /// How lade's own layers are compressed (base layers stay as they are).
    pub compression: crate::layer::Compression,
    /// `--compression-level`, checked against `compression`; `None`: its default.
    pub compression_level: Option<u32>,
    /// With several projects in one run: the registry client and resolved bases they share.
    pub shared: Option<super::shared::Shared>,
    /// `--cache-repo`: a build cache shared through this registry repository (over lade.toml's
    /// `[build] cache-repo`).
    pub cache_repo: Option<crate::cache_repo::CacheRepo>,
}

/// What happened, for people (stderr) and for machines (`--json` on stdout).
#[derive(Clone, Debug, Serialize)]
pub struct PublishReport {
    /// The root digest: the index when there are several platforms, else the manifest.
    pub digest: Digest,
    pub platforms: Vec<String>,
    /// Each platform image: manifest, config and sizes.
    pub images: Vec<ImageReport>,
    pub base: BaseReport,
    /// Every build step, in order: what ran and what was reused, with its key.
    pub steps: Vec<build::StepRun>,
    pub layers: Vec<LayerReport>,
    /// Every output, in `--to` order, with whether it was written.
    pub outputs: Vec<OutputReport>,
    /// The SPDX files written for `--sbom`, one per platform.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub sboms: Vec<std::path::PathBuf>,
    /// The signatures of registry outputs (`--sign-key`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub signatures: Vec<crate::sign::Signed>,
    /// What was attached to each registry and OCI layout output (SBOMs, provenance).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub attachments: Vec<crate::attach::OutputAttachments>,
    /// What the shared build cache (`--cache-repo`) gave and took.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub shared_cache: Option<super::cache_repo::SharedCacheReport>,
    /// The run's warnings ([`crate::warnings`]), each said once. `publish` leaves this empty:
    /// warnings are tracing events, and the caller that installed [`crate::warnings::Warnings`]
    /// fills it in.
    pub warnings: Vec<String>,
}

#[derive(Clone, Debug, Serialize)]
pub struct BaseReport {
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub digest: Option<Digest>,
    /// The digest came from lade.lock rather than from resolving the tag now.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub locked: bool,
}

#[derive(Clone, Debug, Serialize)]
pub struct LayerReport {
    pub platform: String,
    pub name: String,
    pub digest: Digest,
    pub size: u64,
    /// Reused from the layer cache rather than written now.
    pub cached: bool,
    /// Taken from the shared cache (`--cache-repo`): neither built nor written here.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub shared: bool,
}

/// One platform image of a publish.
#[derive(Clone, Debug, Serialize)]
pub struct ImageReport {
    pub platform: String,
    pub manifest: Digest,
    pub config: Digest,
    /// Bytes as stored and pushed: the (compressed) layer blobs, the config and the manifest.
    pub compressed_size: u64,
    /// The layers' tar bytes, what an engine unpacks; `null` when a base layer's bytes are
    /// only in a registry (they are not downloaded to be counted).
    pub uncompressed_size: Option<u64>,
}

/// A platform's manifest in an output.
#[derive(Clone, Debug, Serialize)]
pub struct PlatformManifest {
    pub platform: String,
    pub digest: Digest,
}

/// One output's result.
#[derive(Clone, Debug, Serialize)]
pub struct OutputReport {
    /// The `--to` value (with its tag).
    pub target: String,
    pub status: OutputStatus,
    /// Digest of the root document written (absent when the output failed).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub digest: Option<Digest>,
    /// A reference other tools accept for what was written: `REPO@sha256:…` for a registry,
    /// the target itself (`oci:DIR:TAG`, `oci-archive:FILE:TAG`) for files, whose digest is
    /// `digest`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reference: Option<String>,
    /// The tags the output names the image by (a registry's include every `--tag`).
    pub tags: Vec<String>,
    /// The index written, when there is one (several platforms; never in a docker-archive).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub index: Option<Digest>,
    /// Each platform's manifest in the output (empty when the output failed).
    pub manifests: Vec<PlatformManifest>,
    /// What a registry push transferred.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stats: Option<crate::registry::PushStats>,
    /// Why the output failed, with its causes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum OutputStatus {
    Ok,
    Failed,
}

impl PublishReport {
    /// One line per output written, for people and scripts: the reference, then the digest
    /// when the reference does not hold it (`oci:DIR:TAG sha256:…`), so the first word is
    /// always something other tools accept.
    pub fn lines(&self) -> impl Iterator<Item = String> {
        self.outputs.iter().filter_map(|o| {
            Some(sink::result_line(
                o.reference.as_deref()?,
                o.digest.as_ref()?,
            ))
        })
    }
}

/// Some outputs of several were not written. Every output was attempted; the report says
/// which were written (and the failures were reported as [`Event::OutputFailed`]).
#[derive(Debug, thiserror::Error)]
#[error("{}", outputs_failed(.failed, .report.outputs.len()))]
pub struct OutputsFailed {
    pub report: Box<PublishReport>,
    /// The targets that failed.
    pub failed: Vec<String>,
}

fn outputs_failed(failed: &[String], total: usize) -> String {
    let which = failed.join(", ");
    if failed.len() == total {
        format!("all {total} outputs failed ({which})")
    } else {
        format!(
            "{} of {total} outputs failed ({which}); the others were written",
            failed.len()
        )
    }
}

/// `e` with its causes, without the target it names first (the report says it beside).
pub fn output_error(target: &str, e: &sink::SinkError) -> String {
    let mut s = e.to_string();
    let mut cause = std::error::Error::source(e);
    while let Some(c) = cause {
        s.push_str(": ");
        s.push_str(&c.to_string());
        cause = c.source();
    }
    match s.strip_prefix(target).and_then(|r| r.strip_prefix(": ")) {
        Some(rest) => rest.to_string(),
        None => s,
    }
}

/// Progress the command line shows while publishing.
pub enum Event<'a> {
    Planned(&'a Plan),
    BaseResolved(&'a ResolvedBase),
    /// A registry base was fetched at the digest lade.lock pins (name, digest).
    BaseLocked(&'a str, &'a Digest),
    Step(&'a Platform, &'a BuildStep),
    /// A reusable step was skipped: its inputs are those of its last successful run.
    StepReused(&'a Platform, &'a BuildStep),
    Layer(&'a LayerReport),
    Output(&'a Published),
    /// An output could not be written (target, error); the others are still attempted.
    OutputFailed(&'a str, &'a sink::SinkError),
    /// An SBOM file was written.
    Sbom(&'a std::path::Path),
    /// A signature was attached to a registry output (or was already there).
    Signed(&'a crate::sign::Signed),
    /// Documents were attached to an output's images.
    Attached(&'a crate::attach::OutputAttachments),
}

pub fn publish(opts: &PublishOptions, mut on: impl FnMut(Event)) -> anyhow::Result<PublishReport> {
    let sign_key = super::signing::read_key(opts.sign_key.as_deref())?;
    let opts = &super::platforms::resolve_all(opts)?;
    let (mut plan, config) = plan_and_config(&opts.plan)?;
    on(Event::Planned(&plan));
    let Outputs {
        targets,
        registry,
        sinks,
        cache_repo: repo,
    } = open_outputs(opts, &plan, &config)?;
    // git runs while the registries are asked their first question.
    let reading = crate::git::Source::start(&plan.project_dir);
    let probed = probe_registries(&targets, &registry);
    let source = reading.finish();
    let epoch = source.date_epoch()?;
    probed?;
    let platforms: Vec<Platform> = plan.targets.iter().map(|t| t.platform.clone()).collect();

    // Resolve the base before building: a base lacking a platform should fail in a second,
    // not after minutes of compiling. A registry base is pinned by lade.lock.
    let debian_base = crate::base_spec::BaseSpec::parse_reference(&plan.base).transpose()?;
    let from_registry = debian_base.is_none() && is_registry_base(&plan.base);
    let mut lock = if from_registry {
        Lock::read(&plan.project_dir)?
    } else {
        Lock::default()
    };
    let pin = match (from_registry, opts.refresh_base) {
        (true, false) => lock.pinned(&plan.base).cloned(),
        _ => None,
    };
    let mut base_lock = None;
    let base = match &debian_base {
        Some(spec) => {
            let built =
                debian_base_for(spec, &platforms, &plan, opts.refresh_base, &opts.progress)?;
            base_lock = Some(built);
            base_lock
                .as_ref()
                .map(|b| b.base.clone())
                .expect("just set")
        }
        None => {
            let dir = super::plan::base_dir(&opts.plan, &plan)?;
            let resolve =
                || base::resolve_with(&plan.base, &platforms, &dir, &registry, pin.as_ref());
            match &opts.shared {
                Some(shared) => shared.base(&plan.base, &platforms, &dir, pin.as_ref(), resolve),
                None => resolve(),
            }
        }
        .map_err(|e| {
            match unreachable_base_hint(&plan.base, &e).or_else(|| checks::base_hint(&plan)) {
                Some(hint) => anyhow::Error::new(e).context(hint),
                None => e.into(),
            }
        })?,
    };
    on(Event::BaseResolved(&base));
    if let Some(d) = &pin {
        on(Event::BaseLocked(&plan.base, d));
    }
    // lade.lock is written once the publish succeeded: a failed publish must not pin a base
    // that no image was built on.
    let lock_changed = from_registry
        && base
            .digest
            .as_ref()
            .is_some_and(|d| lock.set(&plan.base, d));

    let store_root = super::cache_dir();
    let store = BlobStore::open(&store_root)?;
    let listings = match &repo {
        Some(r) => super::cache_repo::fetch_base_listings(r, &registry, &base, &store),
        None => Vec::new(),
    };
    let trees = base_trees(opts, &plan, &base, &store, &registry)?;
    if let Some(r) = &repo {
        let made: Vec<_> = listings.into_iter().filter(|(_, f)| f.exists()).collect();
        super::cache_repo::store_base_listings(r, &registry, &made);
    }
    super::runtime::adopt_base_interpreter(&mut plan, &base, trees.as_ref());
    if let Some(trees) = &trees {
        super::runtime::prepare(&mut plan, &base, trees)?;
    }
    let level = opts
        .compression_level
        .unwrap_or(opts.compression.default_level());
    let mut from_repo = match repo {
        Some(repo) => Some(super::cache_repo::look_up(
            &plan,
            &repo,
            &registry,
            &base,
            opts.compression,
            level,
            epoch,
        )?),
        None => None,
    };
    let skip = from_repo
        .as_ref()
        .map(|s| s.skip.clone())
        .unwrap_or_default();
    checks::before_build(&without_skipped_checks(&plan, &skip))?;
    let run = build::RunOptions {
        records: build::record::Records::new(&super::cache_dir()),
        logs: super::plan::build_dir(&plan.project_dir).join("logs"),
        progress: opts.progress.clone(),
        skip,
    };
    // Build outputs listed once, for the start-up check and then the layers.
    let listings = crate::layer::tree::Listings::default();
    let uploads = Uploads::new(&sinks);
    // Registry outputs start uploading a large layer while it is compressed.
    let follow = |blob: crate::growing::GrowingBlob| uploads.started(blob);
    let writer = LayerWriter::new(&store, epoch)
        .with_compression(opts.compression)
        .with_level(level)
        .with_listings(&listings)
        .with_follower(&follow);
    let meta = build_meta(&plan, &base, &source, epoch);
    let mut layering = Layering::new(super::layering::Inputs {
        plan: &plan,
        base: &base,
        trees: trees.as_ref(),
        listings: &listings,
        shared: from_repo.as_ref(),
        store: &store,
        writer: &writer,
        uploads: &uploads,
        meta: &meta,
    });
    // Step events and built platforms both come on this thread, one at a time.
    let shared_on = std::cell::RefCell::new(&mut on);
    let steps = build::run(
        &plan.targets,
        &run,
        |e| match e {
            build::StepEvent::Started(p, s) => shared_on.borrow_mut()(Event::Step(p, s)),
            build::StepEvent::Reused(p, s) => shared_on.borrow_mut()(Event::StepReused(p, s)),
        },
        |b| layering.built(b, &mut *shared_on.borrow_mut()),
    )
    .map_err(|e| match e {
        build::RunError::Build(e) => anyhow::Error::new(e),
        build::RunError::Built(e) => e,
    })?;
    let Layered {
        images,
        reports: layer_reports,
        written,
    } = layering.finish();
    super::plan::save_stat_cache();
    let mut set = assemble::image_set(images, &meta)?;
    for (wrote, image) in written.iter().zip(&set.images) {
        let made: Vec<Digest> = wrote
            .iter()
            .filter(|(_, blob)| !blob.cached)
            .map(|(_, blob)| blob.digest.clone())
            .collect();
        if !made.is_empty() {
            set.made.extend(made);
            set.made.insert(image.config.digest());
        }
    }
    let sboms = match &opts.sbom {
        Some(dir) => write_sboms(dir, &plan, &base, &set, epoch, from_repo.as_ref(), &mut on)?,
        None => Vec::new(),
    };
    let has_remote = set
        .images
        .iter()
        .flat_map(|i| &i.layers)
        .any(|l| matches!(l.source, BlobSource::Remote { .. }));
    let blobs: Box<dyn BlobProvider> = if has_remote {
        let b = RegistryBlobs::new(&store, &registry)?;
        // Registry outputs mount or stream base layers; only files and archives need them here.
        if targets
            .iter()
            .any(|t| !matches!(t, Target::Registry { .. }))
        {
            b.prefetch(&set)?;
        }
        Box::new(b)
    } else {
        Box::new(LocalBlobs)
    };
    let inputs = super::attach::Inputs {
        plan: &plan,
        base: &base,
        set: &set,
        epoch,
        source: &source,
        steps: &steps,
        options: opts,
        key: sign_key.as_ref(),
        cache_repo: from_repo.as_ref(),
    };
    // The attachments' documents (an SBOM scan, provenance) are made, and sent to the
    // registry outputs, while the outputs are written, which mostly waits on the registry.
    let (signals, image_written): (Vec<_>, Vec<_>) = targets
        .iter()
        .map(|_| crate::attach::registry::ImageWritten::pending())
        .unzip();
    let (results, prepared) = std::thread::scope(|scope| {
        let prepared = (!opts.no_attach).then(|| {
            scope.spawn(|| {
                super::attach::prepare(&inputs, &targets).map(|docs| {
                    super::attach::attach_to_registries(
                        docs,
                        &targets,
                        &registry,
                        &set,
                        image_written,
                    )
                })
            })
        });
        let results = write_outputs(&set, &sinks, blobs.as_ref(), signals, &mut on);
        let prepared = prepared.map(|h| h.join().unwrap_or_else(|p| std::panic::resume_unwind(p)));
        (results, prepared)
    });
    if let Some(s) = &mut from_repo {
        // Recorded once the outputs are written: a registry output then holds the new
        // blobs, which the cache repository mounts instead of receiving them again.
        s.store(&plan, &written, &store, &targets, &registry);
    }
    // One output: its error is the publish's, as it was said.
    if let [Err(_)] = results.as_slice() {
        let Some(Err(e)) = results.into_iter().next() else {
            unreachable!("one failed result")
        };
        return Err(e.into());
    }
    let mut failed = Vec::new();
    let outputs: Vec<OutputReport> = targets
        .iter()
        .zip(results)
        .map(|(t, r)| match r {
            Ok(p) => OutputReport {
                target: p.target,
                status: OutputStatus::Ok,
                digest: Some(p.digest),
                reference: Some(p.reference),
                tags: super::report::tags(t, &opts.tags),
                index: super::report::index(&set, t),
                manifests: super::report::manifests(&set, t),
                stats: p.stats,
                error: None,
            },
            Err(e) => {
                failed.push(t.to_string());
                OutputReport {
                    target: t.to_string(),
                    status: OutputStatus::Failed,
                    digest: None,
                    reference: None,
                    tags: super::report::tags(t, &opts.tags),
                    index: None,
                    manifests: Vec::new(),
                    stats: None,
                    error: Some(output_error(&t.to_string(), &e)),
                }
            }
        })
        .collect();
    // Signatures and attachments go on the outputs that were written.
    let written: Vec<Target> = targets
        .iter()
        .zip(&outputs)
        .filter(|(_, o)| o.status == OutputStatus::Ok)
        .map(|(t, _)| t.clone())
        .collect();
    let signatures = super::signing::sign_outputs(sign_key.as_ref(), &set, &written, &registry)?;
    signatures.iter().for_each(|s| on(Event::Signed(s)));
    let attachments = match prepared {
        None => Vec::new(),
        Some(prepared) => {
            let names: Vec<Option<String>> = outputs
                .iter()
                .map(|o| (o.status == OutputStatus::Ok).then(|| o.target.clone()))
                .collect();
            super::attach::attach_all(prepared?, &targets, &names, &registry)?
        }
    };
    attachments.iter().for_each(|a| on(Event::Attached(a)));
    let report = PublishReport {
        digest: set.root().digest(),
        platforms: platforms.iter().map(|p| p.to_string()).collect(),
        images: super::report::images(&set, &store),
        base: BaseReport {
            name: base.name.clone(),
            digest: base.digest.clone(),
            locked: pin.is_some(),
        },
        steps,
        layers: layer_reports,
        outputs,
        sboms,
        signatures,
        attachments,
        shared_cache: from_repo.map(|s| s.report),
        warnings: Vec::new(),
    };
    if let Some(path) = &opts.image_refs {
        write_image_refs(path, &image_refs(&report))?;
    }
    if lock_changed && failed.is_empty() {
        lock.write(&plan.project_dir)?;
    }
    if let Some(built) = base_lock.as_mut().filter(|_| failed.is_empty()) {
        built.save_lock()?;
    }
    if !failed.is_empty() {
        return Err(OutputsFailed {
            report: Box::new(report),
            failed,
        }
        .into());
    }
    Ok(report)
}

/// What `--image-refs` lists, one per line: the images that were published, even when another
/// output failed (they exist), then what was attached to them and their signatures, so a
/// pipeline can copy or check all of it; the images come first, one line per output.
pub(super) fn image_refs(report: &PublishReport) -> String {
    let images = report.outputs.iter().filter_map(|o| o.reference.clone());
    let artifacts = report
        .attachments
        .iter()
        .flat_map(|a| &a.artifacts)
        .map(|a| a.reference.clone());
    let signed = report
        .signatures
        .iter()
        .map(|s| format!("{}@{}", s.repository, s.signature));
    images
        .chain(artifacts)
        .chain(signed)
        .map(|r| format!("{r}\n"))
        .collect()
}

/// The outputs of a publish, opened (nothing written yet).
pub(super) struct Outputs {
    /// `--to` (or the default), with a layout target per `--tag`.
    pub targets: Vec<Target>,
    /// One client for the whole publish: the base, every registry output and the base layers
    /// file outputs need share its connections and tokens.
    pub registry: RegistrySession,
    /// Each target's sink with the target as written.
    pub sinks: Vec<(Box<dyn sink::Sink>, String)>,
    /// The shared build cache's repository (`--cache-repo`, lade.toml), checked.
    pub cache_repo: Option<crate::cache_repo::CacheRepo>,
}

/// Checks every input that names something to write and opens the outputs, without
/// connecting anywhere: a bad flag must cost seconds, not a build, and must not leave a push
/// behind. `lade plan` runs this too, so a dry run refuses what the publish would.
pub(super) fn open_outputs(
    opts: &PublishOptions,
    plan: &Plan,
    config: &crate::config::LadeConfig,
) -> anyhow::Result<Outputs> {
    let targets = output_targets(opts, plan)?;
    check_inputs(opts)?;
    let cache_repo = cache_repo(opts, config)?;
    let mut options = opts.registry.clone();
    super::registry::apply_settings(&config.registry, &mut options, &plan.project_dir);
    super::registry::add_push_registries(&mut options, &targets);
    options
        .push_registries
        .extend(cache_repo.iter().map(|r| r.registry.clone()));
    // One client for the whole publish: the base, every registry output and the base layers
    // file outputs need share its connections and tokens.
    let registry = match &opts.shared {
        Some(shared) => shared.session(options, opts.progress.clone()),
        None => RegistrySession::with_progress(options, opts.progress.clone()),
    };
    let open = sink::OpenOptions {
        registry: registry.clone(),
        tags: opts.tags.clone(),
        progress: opts.progress.clone(),
    };
    let sinks = targets
        .iter()
        .map(|t| Ok((sink::open_with(t, &open)?, t.to_string())))
        .collect::<Result<Vec<_>, sink::SinkError>>()?;
    Ok(Outputs {
        targets,
        registry,
        sinks,
        cache_repo,
    })
}

/// A publish input refused before anything is built.
#[derive(Debug, thiserror::Error)]
pub enum InputError {
    #[error("--tag '{tag}': {}; pass a valid tag", crate::sink::TAG_GRAMMAR)]
    Tag { tag: String },
    #[error("{flag} {}: {problem}", path.display())]
    Path {
        flag: &'static str,
        path: std::path::PathBuf,
        problem: String,
    },
    #[error("{flag} {}: {action}", path.display())]
    PathIo {
        flag: &'static str,
        path: std::path::PathBuf,
        action: String,
        #[source]
        source: std::io::Error,
    },
    #[error("--to {target}: the registry cannot be pushed to (checked before building{hint})")]
    Registry {
        target: String,
        /// Empty, or `; …` saying what the target may have meant.
        hint: String,
        #[source]
        source: Box<crate::registry::RegistryError>,
    },
}

/// The flags that name things to write, checked before building. (`SOURCE_DATE_EPOCH` is
/// read before building too, by the caller; registries are probed by [`probe_registries`].)
pub(super) fn check_inputs(opts: &PublishOptions) -> Result<(), InputError> {
    if let Some(tag) = opts.tags.iter().find(|t| !crate::sink::valid_tag(t)) {
        return Err(InputError::Tag { tag: tag.clone() });
    }
    if let Some(path) = &opts.image_refs {
        check_writable_file("--image-refs", path)?;
    }
    if let Some(dir) = &opts.sbom {
        check_writable_dir("--sbom", dir)?;
    }
    Ok(())
}

/// `path` can be replaced by a file: it is not a directory, and its directory exists and
/// takes new files (the file is written through a temporary file beside it).
fn check_writable_file(flag: &'static str, path: &std::path::Path) -> Result<(), InputError> {
    if path.is_dir() {
        return Err(InputError::Path {
            flag,
            path: path.to_path_buf(),
            problem: "is a directory; name a file".into(),
        });
    }
    let parent = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => std::path::Path::new("."),
    };
    if !parent.is_dir() {
        return Err(InputError::Path {
            flag,
            path: path.to_path_buf(),
            problem: format!(
                "directory {} does not exist; create it or name a file in an existing directory",
                parent.display()
            ),
        });
    }
    probe_dir(flag, path, parent)
}

/// `dir` is, or can be created as, a directory that takes new files.
fn check_writable_dir(flag: &'static str, dir: &std::path::Path) -> Result<(), InputError> {
    // The nearest existing ancestor decides: the rest is created when the files are written.
    let mut existing = dir;
    while !existing.exists() {
        match existing.parent() {
            Some(p) if !p.as_os_str().is_empty() => existing = p,
            _ => {
                existing = std::path::Path::new(".");
                break;
            }
        }
    }
    if !existing.is_dir() {
        return Err(InputError::Path {
            flag,
            path: dir.to_path_buf(),
            problem: format!(
                "{} is not a directory; name a directory",
                existing.display()
            ),
        });
    }
    probe_dir(flag, dir, existing)
}

/// Creates and removes a temporary file in `dir`: permissions alone do not tell (read-only
/// mounts, ACLs, root).
fn probe_dir(
    flag: &'static str,
    path: &std::path::Path,
    dir: &std::path::Path,
) -> Result<(), InputError> {
    tempfile::NamedTempFile::new_in(dir)
        .map(drop)
        .map_err(|source| InputError::PathIo {
            flag,
            path: path.to_path_buf(),
            action: format!("cannot create files in {}", dir.display()),
            source,
        })
}

/// Every registry output answers and accepts a push from these credentials, before building.
pub(super) fn probe_registries(
    targets: &[Target],
    registry: &RegistrySession,
) -> Result<(), InputError> {
    for t in targets {
        if let Target::Registry { reference } = t {
            let err = |source| InputError::Registry {
                target: t.to_string(),
                hint: docker_hub_hint(reference),
                source: Box::new(source),
            };
            let r = oci::Reference::parse(reference).map_err(|e| err(e.into()))?;
            registry.probe_push(&r).map_err(err)?;
        }
    }
    Ok(())
}

/// A reference without a registry host means Docker Hub, which a relative path (`out/dir`)
/// also reads as: when it cannot be pushed to, say what else it could have meant.
fn docker_hub_hint(reference: &str) -> String {
    let first = reference.split('/').next().unwrap_or_default();
    let names_a_host = first.contains('.') || first.contains(':') || first == "localhost";
    if names_a_host || reference.starts_with("docker://") {
        return String::new();
    }
    let path = reference.split(':').next().unwrap_or(reference);
    format!(
        "; without a registry host this is Docker Hub, docker.io/{reference}: did you mean oci:./{path}?"
    )
}

/// For a registry base that cannot be reached (a default distroless base with no network, a
/// DNS failure): the ways around it, including the Debian-built equivalent when there is one.
fn unreachable_base_hint(base: &str, e: &base::BaseError) -> Option<String> {
    let base::BaseError::Registry { error, .. } = e else {
        return None;
    };
    let crate::registry::RegistryError::Transport { registry, .. } = error.as_ref() else {
        return None;
    };
    // `…/distroless/nodejs22-debian12:nonroot` → `nodejs`: the preset building the same files.
    let image = base.rsplit('/').next().unwrap_or(base);
    let name = image.split([':', '@']).next().unwrap_or(image);
    let preset = crate::base_spec::PRESETS
        .iter()
        .map(|p| p.name())
        .filter(|p| {
            name.strip_suffix("-debian12")
                .is_some_and(|n| n.starts_with(p))
        })
        .max_by_key(|p| p.len());
    let debian = match preset {
        Some(p) => {
            format!("; or --base debian12/{p} to build an equivalent base from Debian packages")
        }
        None => "; or --base debian12/PRESET to build a base from Debian packages".to_string(),
    };
    Some(format!(
        "the base cannot be reached (use --base with a base you can reach, oci:PATH:TAG or a registry; --registry-mirror {registry}=HOST to pull it through a mirror{debian})"
    ))
}

/// Writes `--image-refs` through a temporary file beside it, so a reader never sees half a list
/// and a failed write leaves the previous file.
pub(super) fn write_image_refs(path: &std::path::Path, refs: &str) -> Result<(), InputError> {
    let parent = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => std::path::Path::new("."),
    };
    let io = |action: &str| {
        let action = action.to_string();
        move |source| InputError::PathIo {
            flag: "--image-refs",
            path: path.to_path_buf(),
            action,
            source,
        }
    };
    let mut tmp =
        tempfile::NamedTempFile::new_in(parent).map_err(io("creating a temporary file beside"))?;
    use std::io::Write;
    tmp.write_all(refs.as_bytes()).map_err(io("writing"))?;
    tmp.persist(path)
        .map_err(|e| e.error)
        .map_err(io("replacing"))?;
    Ok(())
}

/// Whether a base reference names a registry image (rather than scratch or a layout).
/// A base built from Debian packages (`debian12/PRESET[+PKG…]`, or `[base] preset` in
/// lade.toml), pinned by `lade-base.lock` in the project. Its layers use epoch 0 rather than
/// the app's time so every app on the same package set shares them. The lock is written by the
/// caller once the publish succeeded.
fn debian_base_for(
    spec: &crate::base_spec::BaseSpec,
    platforms: &[Platform],
    plan: &Plan,
    refresh: bool,
    progress: &crate::progress::Reporter,
) -> anyhow::Result<crate::debian::BaseBuild> {
    let cache = super::cache_dir();
    let store = BlobStore::open(&cache)?;
    let mut opts = crate::debian::DebianOptions::new(cache);
    opts.lock = Some(plan.project_dir.join("lade-base.lock"));
    opts.update = refresh;
    opts.progress = progress.clone();
    crate::debian::build_base(spec, platforms, &store, &opts, &mut |_| {})
        .with_context(|| format!("building base {spec}"))
}

fn is_registry_base(base: &str) -> bool {
    base != "scratch" && !base.starts_with("oci:")
}

/// One SBOM per platform image, from its base's local layers, lade's layers and the
/// project's lock file.
fn write_sboms(
    dir: &std::path::Path,
    plan: &Plan,
    base: &ResolvedBase,
    set: &ImageSet,
    epoch: u64,
    shared: Option<&super::cache_repo::Shared>,
    on: &mut impl FnMut(Event),
) -> anyhow::Result<Vec<std::path::PathBuf>> {
    let cache = super::cache_dir();
    let project = crate::sbom::Project {
        dir: &plan.project_dir,
        detector: &plan.detector,
        cache: Some(&cache),
    };
    let mut written = Vec::new();
    for (ti, (t, image)) in plan.targets.iter().zip(&set.images).enumerate() {
        let base_layers = base
            .for_platform(&t.platform)
            .map(|b| b.layers.as_slice())
            .unwrap_or_default();
        let layers = super::cache_repo::sbom_layers(shared, ti, &t.layers);
        let scan = crate::sbom::scan_layers(base_layers, &layers, &project)?;
        let manifest = image.manifest.digest();
        let path = crate::sbom::write(
            dir,
            &crate::sbom::ImageRef {
                name: &plan.name,
                platform: &t.platform,
                manifest: &manifest,
                epoch,
            },
            &scan,
        )?;
        on(Event::Sbom(&path));
        written.push(path);
    }
    Ok(written)
}

fn write_outputs(
    set: &ImageSet,
    sinks: &[(Box<dyn sink::Sink>, String)],
    blobs: &dyn BlobProvider,
    written: Vec<crate::attach::registry::ImageWrittenSignal>,
    on: &mut impl FnMut(Event),
) -> Vec<Result<Published, sink::SinkError>> {
    // Every output is attempted: one failing (a full disk, a registry down) must not keep the
    // others from being written, and each result is reported.
    let mut out = Vec::new();
    for ((s, target), written) in sinks.iter().zip(written) {
        let r = s.write(set, blobs);
        // The attachments' fallback tag waits for this.
        written.said(r.is_ok());
        match &r {
            Ok(p) => on(Event::Output(p)),
            // A single output's error is the publish's, said once.
            Err(e) if sinks.len() > 1 => on(Event::OutputFailed(target, e)),
            Err(_) => {}
        }
        out.push(r);
    }
    out
}

fn output_targets(opts: &PublishOptions, plan: &Plan) -> anyhow::Result<Vec<Target>> {
    let mut targets = opts.targets.clone();
    if targets.is_empty() {
        let default = match crate::env::non_empty(crate::env::LADE_REPO) {
            Some(repo) => format!("{}/{}:latest", repo.trim_end_matches('/'), plan.name),
            None => "oci:./lade-out:latest".to_string(),
        };
        targets.push(Target::parse(&default).context(crate::env::LADE_REPO.name())?);
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

fn build_meta(
    plan: &Plan,
    base: &ResolvedBase,
    source: &crate::git::Source,
    epoch: u64,
) -> BuildMeta {
    let mut annotations = plan.config.annotations.clone();
    if let Some(url) = &source.url {
        annotations
            .entry(oci::ANNOTATION_SOURCE.into())
            .or_insert(url.clone());
    }
    if let Some(rev) = &source.revision {
        annotations
            .entry(oci::ANNOTATION_REVISION.into())
            .or_insert(rev.clone());
    }
    if let Some(d) = &base.digest {
        annotations.insert(oci::ANNOTATION_BASE_NAME.into(), base.name.clone());
        annotations.insert(oci::ANNOTATION_BASE_DIGEST.into(), d.to_string());
    }
    BuildMeta {
        created: epoch,
        annotations,
    }
}

/// The base's file trees for the runtime check, fetching registry-only layers into the store
/// (they are listed once per base and the listing kept); `None` with `--no-verify`.
fn base_trees(
    opts: &PublishOptions,
    plan: &Plan,
    base: &ResolvedBase,
    store: &BlobStore,
    registry: &RegistrySession,
) -> anyhow::Result<Option<super::runtime::BaseTrees>> {
    if opts.no_verify {
        tracing::warn!("--no-verify: the image's entrypoint is not checked; it may not start");
        return Ok(None);
    }
    let remote = base
        .images
        .iter()
        .flat_map(|i| &i.layers)
        .any(|l| matches!(l.source, BlobSource::Remote { .. }));
    if remote && !super::runtime::needs_base_files(plan) {
        return Ok(None);
    }
    let trees = if remote {
        let blobs = RegistryBlobs::new(store, registry)?;
        super::runtime::BaseTrees::read(base, &blobs, store)?
    } else {
        super::runtime::BaseTrees::read(base, &LocalBlobs, store)?
    };
    Ok(Some(trees))
}

/// `--cache-repo`, else lade.toml's `[build] cache-repo`.
fn cache_repo(
    opts: &PublishOptions,
    config: &crate::config::LadeConfig,
) -> anyhow::Result<Option<crate::cache_repo::CacheRepo>> {
    if let Some(r) = &opts.cache_repo {
        return Ok(Some(r.clone()));
    }
    let place = format!(
        "[build] cache-repo in {}",
        config.place.as_deref().unwrap_or("lade.toml")
    );
    Ok(config
        .build
        .cache_repo
        .as_deref()
        .map(|r| crate::cache_repo::CacheRepo::parse_in(r, &place))
        .transpose()?)
}

/// The plan as the checks before the build see it: a platform none of whose steps run needs
/// no toolchain.
fn without_skipped_checks(
    plan: &Plan,
    skip: &std::collections::BTreeSet<crate::cache_repo::keys::StepId>,
) -> Plan {
    let mut checked = plan.clone();
    for (ti, t) in checked.targets.iter_mut().enumerate() {
        if !t.steps.is_empty() && (0..t.steps.len()).all(|si| skip.contains(&(ti, si))) {
            t.checks.clear();
        }
    }
    checked
}
