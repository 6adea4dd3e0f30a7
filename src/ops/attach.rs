//! What `publish` attaches to the images it pushed or wrote (unless `--no-attach`): per
//! platform image, an SPDX 2.3 and a CycloneDX 1.6 SBOM and the provenance
//! (`ops::provenance`). Registry outputs and OCI layouts get
//! them (`attach::registry`, `attach::layout`); archives do not, as they hold one image each.

use crate::attach::{self, Artifact, OutputAttachments};
use crate::oci::{ImageSet, ResolvedBase};
use crate::plan::Plan;
use crate::registry::RegistrySession;
use crate::sink::Target;
use anyhow::Context;

/// What the documents are made from.
pub struct Inputs<'a> {
    pub plan: &'a Plan,
    pub base: &'a ResolvedBase,
    pub set: &'a ImageSet,
    pub epoch: u64,
    /// The project's commit (provenance names it).
    pub source: &'a crate::git::Source,
    /// The steps the build runner ran or reused.
    pub steps: &'a [crate::build::StepRun],
    pub options: &'a super::publish::PublishOptions,
    /// `--sign-key`: the provenance envelopes are signed with it.
    pub key: Option<&'a crate::sign::SigningKey>,
    /// The shared cache's answer: layers taken from it are scanned from their entries.
    pub cache_repo: Option<&'a super::cache_repo::Shared>,
}

/// The documents for each of `targets` (`None` for an output that takes none: archives and
/// engines). Made from the image set alone, so `publish` makes them while the outputs are
/// written; they are attached only to the outputs that were.
pub fn prepare(inputs: &Inputs, targets: &[Target]) -> anyhow::Result<Vec<Option<Vec<Artifact>>>> {
    if !targets.iter().any(takes_documents) {
        return Ok(vec![None; targets.len()]);
    }
    let sboms = sbom_artifacts(inputs)?;
    targets
        .iter()
        .map(|t| {
            let name = match t {
                Target::Registry { reference } => {
                    let r = crate::oci::Reference::parse(reference)?;
                    format!("{}/{}", r.registry, r.repository)
                }
                Target::OciLayout { .. } => inputs.plan.name.clone(),
                _ => return Ok(None),
            };
            let mut artifacts = sboms.clone();
            artifacts.extend(super::provenance::artifacts(inputs, &name)?);
            Ok(Some(artifacts))
        })
        .collect()
}

fn takes_documents(t: &Target) -> bool {
    matches!(t, Target::Registry { .. } | Target::OciLayout { .. })
}

/// The [`prepare`]d documents, and what attaching them to each registry output gave.
pub struct Prepared {
    documents: Vec<Option<Vec<Artifact>>>,
    registry: Vec<Option<Attachment>>,
}

type Attachment = Result<(Vec<attach::Attached>, attach::AttachStats), attach::AttachError>;

/// Attaches the documents to the registry outputs while their images are pushed: the spec
/// has a registry accept a manifest whose `subject` is not there yet, "allowing clients to
/// push a manifest and referrers to that manifest in either order" (BuildKit pushes them at
/// once too). Only the fallback index, a tag, waits for the output's image (`written`, one
/// per target). A repository named by two outputs is attached here for the first only; the
/// second is attached afterwards. The results are kept for [`attach_all`], which reports
/// those of the outputs written.
pub fn attach_to_registries(
    documents: Vec<Option<Vec<Artifact>>>,
    targets: &[Target],
    registry: &RegistrySession,
    set: &crate::oci::ImageSet,
    written: Vec<attach::registry::ImageWritten>,
) -> Prepared {
    // The images holding a blob this run made are new: most likely no artifact names them yet.
    let new_subjects: Vec<crate::digest::Digest> = set
        .images
        .iter()
        .filter(|i| set.made.contains(&i.config.digest()))
        .map(|i| i.manifest.digest())
        .collect();
    let mut repositories: Vec<String> = Vec::new();
    let attached = targets
        .iter()
        .zip(&documents)
        .zip(written)
        .map(|((t, artifacts), written)| {
            let (Target::Registry { reference }, Some(artifacts)) = (t, artifacts) else {
                return None;
            };
            let repository = crate::oci::Reference::parse(reference)
                .ok()
                .map(|r| format!("{}/{}", r.registry, r.repository))?;
            if repositories.contains(&repository) {
                return None;
            }
            repositories.push(repository);
            Some(attach::registry::attach(
                &t.to_string(),
                reference,
                registry,
                artifacts,
                &new_subjects,
                written,
            ))
        })
        .collect();
    Prepared {
        documents,
        registry: attached,
    }
}

/// Attaches the [`prepare`]d documents to every registry and OCI layout output in `targets`
/// that was written (`outputs`: its name, in the same order; `None`: it failed), and reports
/// what [`attach_to_registries`] attached.
pub fn attach_all(
    prepared: Prepared,
    targets: &[Target],
    outputs: &[Option<String>],
    registry: &RegistrySession,
) -> anyhow::Result<Vec<OutputAttachments>> {
    let mut done: Vec<OutputAttachments> = Vec::new();
    let mut layouts: Vec<&std::path::Path> = Vec::new();
    let prepared = prepared.documents.into_iter().zip(prepared.registry);
    for ((t, out), (artifacts, attached)) in targets.iter().zip(outputs).zip(prepared) {
        let (Some(out), Some(artifacts)) = (out, artifacts) else {
            continue;
        };
        let (attached, stats) = match (t, attached) {
            (Target::Registry { .. }, Some(attached)) => attached?,
            (Target::Registry { reference }, None) => attach::registry::attach(
                out,
                reference,
                registry,
                &artifacts,
                &[],
                attach::registry::ImageWritten::already(),
            )?,
            // `--tag` gives one layout target per tag: the artifacts go in once.
            (Target::OciLayout { path, .. }, _) if !layouts.contains(&path.as_path()) => {
                layouts.push(path);
                attach::layout::attach(out, path, &artifacts)?
            }
            _ => continue,
        };
        done.push(OutputAttachments {
            target: out.clone(),
            artifacts: attached,
            stats,
        });
    }
    Ok(done)
}

/// An SPDX and a CycloneDX document per platform image, from one scan of its files.
fn sbom_artifacts(inputs: &Inputs) -> anyhow::Result<Vec<Artifact>> {
    let plan = inputs.plan;
    let cache = super::cache_dir();
    let project = crate::sbom::Project {
        dir: &plan.project_dir,
        detector: &plan.detector,
        cache: Some(&cache),
    };
    let created = crate::image::time::rfc3339(inputs.epoch);
    let mut artifacts = Vec::new();
    for (ti, (t, image)) in plan.targets.iter().zip(&inputs.set.images).enumerate() {
        let base_layers = inputs
            .base
            .for_platform(&t.platform)
            .map(|b| b.layers.as_slice())
            .unwrap_or_default();
        let layers = super::cache_repo::sbom_layers(inputs.cache_repo, ti, &t.layers);
        let kept = kept_parts(inputs, &cache, ti, base_layers.len(), &layers)?;
        let layers: Vec<_> = layers
            .into_iter()
            .zip(&kept)
            .map(|(layer, kept)| match (layer, kept) {
                (crate::sbom::LadeLayer::Files(_), Some(part)) => {
                    crate::sbom::LadeLayer::Part(part)
                }
                (layer, _) => layer,
            })
            .collect();
        let scan = crate::sbom::scan_layers(base_layers, &layers, &project)
            .with_context(|| format!("scanning the {} image for its SBOM", t.platform))?;
        let manifest = image.manifest.digest();
        let image_ref = crate::sbom::ImageRef {
            name: &plan.name,
            platform: &t.platform,
            manifest: &manifest,
            epoch: inputs.epoch,
        };
        let spdx = crate::image::canonical::to_vec(&crate::sbom::document(&image_ref, &scan))
            .context("encoding the SPDX document")?;
        let cdx = crate::sbom::cyclonedx::to_bytes(&crate::sbom::cyclonedx::bom(&image_ref, &scan));
        for (artifact_type, bytes) in [(attach::SPDX_JSON, spdx), (attach::CYCLONEDX_JSON, cdx)] {
            artifacts.push(Artifact::new(
                artifact_type,
                &image.manifest,
                bytes,
                &created,
            )?);
        }
    }
    Ok(artifacts)
}

/// What each of lade's layers of image `ti` adds to its SBOM, from `<cache>/layer-sbom/`: a
/// layer's part follows from its bytes (keyed by its digest, the detector and lade's
/// version), so a layer this publish found in its layer cache is not read again — for a Node
/// image, node_modules' hundreds of files and every package.json. `None` where the layer is
/// not in the image (it only had empty trees), its digest is unknown, or it came from the
/// shared cache with its part.
fn kept_parts(
    inputs: &Inputs,
    cache: &std::path::Path,
    ti: usize,
    base_layers: usize,
    layers: &[crate::sbom::LadeLayer],
) -> anyhow::Result<Vec<Option<crate::sbom::LayerPart>>> {
    let specs = &inputs.plan.targets[ti].layers;
    let image = &inputs.set.images[ti];
    let own = image.layers.get(base_layers..).unwrap_or_default();
    let written = |s: &&crate::plan::LayerSpec| !crate::layer::tree::only_empty_trees(&s.entries);
    // The image holds one layer per spec with files, in order; anything else is not an
    // image this plan made, and is scanned from its files.
    if own.len() != specs.iter().filter(written).count() {
        return Ok(vec![None; specs.len()]);
    }
    let mut digests = own.iter().map(|l| l.digest());
    let detector = &inputs.plan.detector;
    specs
        .iter()
        .zip(layers)
        .map(|(spec, layer)| {
            if !written(&spec) {
                return Ok(None);
            }
            let Some(digest) = digests.next() else {
                return Ok(None);
            };
            // A layer from the shared cache brings its part; its files are not here.
            if !matches!(layer, crate::sbom::LadeLayer::Files(_)) {
                return Ok(None);
            }
            let key = crate::digest::Digest::of(
                format!(
                    "lade layer sbom 1\n{}\n{detector}\n{digest}",
                    env!("CARGO_PKG_VERSION")
                )
                .as_bytes(),
            );
            let file = cache.join("layer-sbom").join(key.hex());
            if let Some(part) = crate::kept::read_json(&file) {
                return Ok(Some(part));
            }
            let part = crate::sbom::layer_part(spec, detector)
                .with_context(|| format!("scanning the {} layer for its SBOM", spec.name))?;
            crate::kept::keep_json(&file, &part);
            Ok(Some(part))
        })
        .collect()
}
