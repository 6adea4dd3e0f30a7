//! The documents a rebased image gets: when the image had SBOMs or provenance attached (or
//! `--attach` asks), each rebased platform manifest gets a fresh SPDX and CycloneDX SBOM and a
//! provenance statement, as a publish attaches them.
//!
//! The SBOM is the old one with the base's part replaced: lade's packages (those a publish did
//! not mark as the base's, `sbom::LAYER_PROPERTY`) are read back from the CycloneDX document
//! attached to the old manifest — lade's layers are byte-identical, so what they hold is what
//! that document says, and no layer of theirs is read — and the new base's packages are
//! scanned from its layers, or taken from the scan kept in `<cache>/base-sbom/`. The
//! provenance names the new manifest, says it was a rebase, and lists the old image and both
//! bases; it is signed (DSSE) with `--sign-key`. Documents carry the image's own `created`
//! time, so rebasing the same image the same way gives the same bytes.

use super::rebase::{RebaseError, RebaseOptions, RebaseReport};
use crate::attach::{self, Artifact, OutputAttachments};
use crate::base::image::ReadImage;
use crate::digest::Digest;
use crate::oci::reference::split_path_tag;
use crate::oci::{BlobSource, ImageSet, Layer, Reference, ResolvedBase};
use crate::platform::Platform;
use crate::provenance::{self, Build, Resource};
use crate::registry::{RegistryError, RegistrySession};
use crate::sbom::{self, Scan};
use crate::sink::{BlobProvider, Target, registry::RegistryBlobs};
use anyhow::Context;
use serde::Deserialize;
use serde_json::json;
use std::path::Path;

/// A document lade attached is small JSON; a larger blob is not one.
const MAX_DOCUMENT: usize = 64 << 20;

/// What was attached to one platform manifest of the image before the rebase.
pub struct OldDocuments {
    pub platform: Platform,
    pub manifest: Digest,
    /// SBOMs and provenance listed for it.
    pub listed: usize,
    /// Its CycloneDX document's bytes, when one is listed.
    pub cyclonedx: Option<Vec<u8>>,
}

/// What the fresh documents are made from, gathered before anything is written.
pub struct Prepared {
    /// The image's name, as its SBOMs give it.
    name: String,
    /// lade's own part of each platform's SBOM, in the image's platform order.
    own: Vec<(Platform, Scan)>,
    /// The image's `created` (seconds), the documents' only time.
    epoch: u64,
}

#[derive(Deserialize)]
struct Listing {
    #[serde(default)]
    manifests: Vec<Entry>,
}

#[derive(Deserialize)]
struct Entry {
    digest: Digest,
    #[serde(rename = "artifactType", default)]
    artifact_type: Option<String>,
}

#[derive(Deserialize)]
struct ArtifactManifest {
    #[serde(default)]
    subject: Option<Ref>,
    #[serde(default)]
    layers: Vec<Ref>,
}

#[derive(Deserialize)]
struct Ref {
    digest: Digest,
}

fn documents(t: &Option<String>) -> bool {
    matches!(
        t.as_deref(),
        Some(attach::SPDX_JSON | attach::CYCLONEDX_JSON | attach::IN_TOTO_JSON)
    )
}

/// The documents attached to each platform manifest of the image: listed in the
/// `sha256-<hex>` fallback index on a registry (the tag lade writes where there is no
/// referrers API), or in `index.json` of a layout with their `subject`. Only manifests and,
/// unless `--no-attach` says they are not wanted, the CycloneDX documents are read.
pub fn old_documents(
    opts: &RebaseOptions,
    cwd: &Path,
    read: &ReadImage,
    registry: &RegistrySession,
) -> anyhow::Result<Vec<OldDocuments>> {
    let image = opts.image.as_str();
    let sbom = opts.attach != Some(false);
    let context = || format!("rebase {image}: reading the documents attached to it");
    match image.strip_prefix("oci:") {
        Some(rest) => {
            let dir = cwd.join(split_path_tag(rest).0);
            layout_documents(&dir, read).with_context(context)
        }
        None => registry_documents(image, read, registry, sbom)
            .map_err(anyhow::Error::from)
            .with_context(context),
    }
}

fn registry_documents(
    image: &str,
    read: &ReadImage,
    registry: &RegistrySession,
    sbom: bool,
) -> Result<Vec<OldDocuments>, RegistryError> {
    let r = Reference::parse(image)?;
    let connected = registry.connect()?;
    let client = connected.client();
    connected.block_on(async {
        let mut out = Vec::new();
        for (platform, manifest) in &read.root.manifests {
            let tag = attach::fallback_tag(manifest);
            let listing = match client
                .get_manifest_at(&r.registry, &r.repository, &tag)
                .await
            {
                Ok(m) => serde_json::from_slice::<Listing>(&m.bytes).unwrap_or(Listing {
                    manifests: Vec::new(),
                }),
                Err(RegistryError::Status { status: 404, .. }) => Listing {
                    manifests: Vec::new(),
                },
                Err(e) => return Err(e),
            };
            let entries: Vec<&Entry> = listing
                .manifests
                .iter()
                .filter(|e| documents(&e.artifact_type))
                .collect();
            let mut cyclonedx = None;
            if let Some(e) = entries
                .iter()
                .find(|e| e.artifact_type.as_deref() == Some(attach::CYCLONEDX_JSON))
                .filter(|_| sbom)
            {
                let m = client
                    .get_manifest_at(&r.registry, &r.repository, e.digest.as_str())
                    .await?;
                if let Some(layer) = serde_json::from_slice::<ArtifactManifest>(&m.bytes)
                    .ok()
                    .and_then(|a| a.layers.into_iter().next())
                {
                    cyclonedx = Some(
                        client
                            .fetch_blob_bytes(
                                &r.registry,
                                &r.repository,
                                &layer.digest,
                                MAX_DOCUMENT,
                            )
                            .await?,
                    );
                }
            }
            out.push(OldDocuments {
                platform: platform.clone(),
                manifest: manifest.clone(),
                listed: entries.len(),
                cyclonedx,
            });
        }
        Ok(out)
    })
}

fn layout_documents(dir: &Path, read: &ReadImage) -> anyhow::Result<Vec<OldDocuments>> {
    let blob = |d: &Digest| {
        let path = dir.join("blobs").join(d.algorithm()).join(d.hex());
        std::fs::read(&path).with_context(|| format!("reading {}", path.display()))
    };
    let index_path = dir.join("index.json");
    let index: Listing = serde_json::from_slice(
        &std::fs::read(&index_path).with_context(|| format!("reading {}", index_path.display()))?,
    )
    .with_context(|| format!("{} is not an OCI index", index_path.display()))?;
    // Each listed document's manifest, with the subject it names.
    let mut artifacts = Vec::new();
    for e in index
        .manifests
        .iter()
        .filter(|e| documents(&e.artifact_type))
    {
        let m: ArtifactManifest = serde_json::from_slice(&blob(&e.digest)?)
            .with_context(|| format!("artifact manifest {} is not a manifest", e.digest))?;
        artifacts.push((e, m));
    }
    let mut out = Vec::new();
    for (platform, manifest) in &read.root.manifests {
        let mine: Vec<_> = artifacts
            .iter()
            .filter(|(_, m)| m.subject.as_ref().is_some_and(|s| &s.digest == manifest))
            .collect();
        let cyclonedx = match mine
            .iter()
            .find(|(e, _)| e.artifact_type.as_deref() == Some(attach::CYCLONEDX_JSON))
            .and_then(|(_, m)| m.layers.first())
        {
            Some(layer) => Some(blob(&layer.digest)?),
            None => None,
        };
        out.push(OldDocuments {
            platform: platform.clone(),
            manifest: manifest.clone(),
            listed: mine.len(),
            cyclonedx,
        });
    }
    Ok(out)
}

/// Whether the rebase attaches documents (`--attach`, `--no-attach`, else as the image had
/// them) and, if it does, lade's part of each platform's SBOM. Refuses, before anything is
/// written, when a platform has no SBOM of lade's to carry its packages over from.
pub fn prepare(
    opts: &RebaseOptions,
    read: &ReadImage,
    old: &[OldDocuments],
) -> anyhow::Result<Option<Prepared>> {
    let had = old.iter().filter(|o| o.listed > 0).count();
    let attach = opts.attach.unwrap_or(had > 0);
    if !attach {
        if had > 0 {
            tracing::warn!(
                "{}: --no-attach: {had} platform image(s) have attached documents (SBOM, provenance); they describe the old image and are not carried over",
                opts.image
            );
        }
        return Ok(None);
    }
    let created = read
        .image
        .images
        .first()
        .and_then(|i| i.config.created().clone())
        .unwrap_or_default();
    let epoch =
        crate::image::time::parse_rfc3339(&created).ok_or_else(|| RebaseError::Created {
            image: opts.image.clone(),
            created: created.clone(),
        })?;
    let mut name = None;
    let mut own = Vec::new();
    for o in old {
        let bytes = o.cyclonedx.as_deref().ok_or_else(|| RebaseError::NoSbom {
            image: opts.image.clone(),
            platform: o.platform.to_string(),
            manifest: o.manifest.clone(),
        })?;
        let (n, scan) =
            sbom::cyclonedx::read(bytes).map_err(|detail| RebaseError::ForeignSbom {
                image: opts.image.clone(),
                platform: o.platform.to_string(),
                manifest: o.manifest.clone(),
                detail,
            })?;
        name.get_or_insert(n);
        own.push((o.platform.clone(), sbom::without_base(scan)));
    }
    Ok(Some(Prepared {
        name: name.unwrap_or_else(|| opts.image.clone()),
        own,
        epoch,
    }))
}

/// What the provenance records of the rebase, beside the platform.
pub struct Rebased<'a> {
    pub opts: &'a RebaseOptions,
    /// The image before the rebase (its root digest and platform manifests).
    pub read: &'a ReadImage,
    pub old_base: (&'a str, &'a Digest),
    pub new_base: (&'a ResolvedBase, &'a Digest),
    pub key: Option<&'a crate::sign::SigningKey>,
}

/// The documents of every rebased platform manifest for `target`: the SBOMs (the new base
/// scanned, its layers fetched into the blob store when no scan of them is kept) and the
/// provenance.
pub fn artifacts(
    p: &Prepared,
    set: &ImageSet,
    r: &Rebased,
    target: &Target,
    registry: &RegistrySession,
) -> anyhow::Result<Vec<Artifact>> {
    let cache = super::cache_dir();
    let created = crate::image::time::rfc3339(p.epoch);
    let name = match target {
        Target::Registry { reference } => {
            let t = Reference::parse(reference)?;
            format!("{}/{}", t.registry, t.repository)
        }
        _ => p.name.clone(),
    };
    let mut out = Vec::new();
    for image in &set.images {
        let platform = &image.platform;
        let own = p
            .own
            .iter()
            .find(|(pl, _)| pl == platform)
            .map(|(_, s)| s.clone())
            .unwrap_or_default();
        let base = r
            .new_base
            .0
            .for_platform(platform)
            .map(|b| b.layers.as_slice())
            .unwrap_or_default();
        let base = local_layers(base, &cache, registry)?;
        let scan = sbom::on_base(&base, own, Some(&cache))
            .with_context(|| format!("scanning the new base's {platform} image for the SBOM"))?;
        let manifest = image.manifest.digest();
        let image_ref = sbom::ImageRef {
            name: &p.name,
            platform,
            manifest: &manifest,
            epoch: p.epoch,
        };
        let spdx = crate::image::canonical::to_vec(&sbom::document(&image_ref, &scan))
            .context("encoding the SPDX document")?;
        let cdx = sbom::cyclonedx::to_bytes(&sbom::cyclonedx::bom(&image_ref, &scan));
        for (artifact_type, bytes) in [(attach::SPDX_JSON, spdx), (attach::CYCLONEDX_JSON, cdx)] {
            out.push(Artifact::new(
                artifact_type,
                &image.manifest,
                bytes,
                &created,
            )?);
        }
        let statement = provenance::statement(&statement(r, &name, platform, &manifest, p.epoch));
        out.push(super::provenance::artifact(
            &statement,
            r.key,
            &image.manifest,
            &created,
        )?);
    }
    Ok(out)
}

/// The base's layers with their bytes on disk, unless their scan is kept (then none is read).
fn local_layers(
    base: &[Layer],
    cache: &Path,
    registry: &RegistrySession,
) -> anyhow::Result<Vec<Layer>> {
    let remote = base
        .iter()
        .any(|l| matches!(l.source, BlobSource::Remote { .. }));
    if !remote || sbom::base_scan_kept(cache, base) {
        return Ok(base.to_vec());
    }
    let blobs = RegistryBlobs::new(&crate::layer::BlobStore::open(cache)?, registry)?;
    base.iter()
        .map(|l| {
            Ok(Layer {
                source: BlobSource::File(blobs.local_path(l)?),
                ..l.clone()
            })
        })
        .collect()
}

/// The provenance of one rebased platform manifest.
fn statement<'a>(
    r: &'a Rebased,
    name: &'a str,
    platform: &Platform,
    manifest: &'a Digest,
    epoch: u64,
) -> Build<'a> {
    let o = r.opts;
    let old_manifest = r
        .read
        .root
        .manifests
        .iter()
        .find(|(p, _)| p == platform)
        .map(|(_, d)| d.to_string());
    Build {
        build_type: provenance::REBASE_BUILD_TYPE,
        name,
        subject: manifest,
        external_parameters: json!({
            "image": o.image,
            "flags": {"base": o.base, "force": o.force, "tag": o.tags},
        }),
        internal_parameters: json!({
            "platform": platform.to_string(),
            "oldManifest": old_manifest,
        }),
        resolved_dependencies: vec![
            Resource {
                name: Some("image".into()),
                uri: Some(o.image.clone()),
                digest: provenance::sha256(&r.read.root.digest),
            },
            Resource {
                name: Some("old base".into()),
                uri: Some(r.old_base.0.to_string()),
                digest: provenance::sha256(r.old_base.1),
            },
            Resource {
                name: Some("base".into()),
                uri: Some(r.new_base.0.name.clone()),
                digest: provenance::sha256(r.new_base.1),
            },
        ],
        epoch,
    }
}

/// Attaches `artifacts` to the rebased image written to `target`.
pub fn attach_to(
    target: &Target,
    artifacts: &[Artifact],
    registry: &RegistrySession,
) -> anyhow::Result<OutputAttachments> {
    let out = target.to_string();
    let (attached, stats) = match target {
        Target::Registry { reference } => attach::registry::attach(
            &out,
            reference,
            registry,
            artifacts,
            &[],
            attach::registry::ImageWritten::already(),
        )?,
        Target::OciLayout { path, .. } => attach::layout::attach(&out, path, artifacts)?,
        _ => unreachable!("a rebase writes to a registry or a layout"),
    };
    Ok(OutputAttachments {
        target: out,
        artifacts: attached,
        stats,
    })
}

/// The report's line about the documents attached.
pub fn summary(report: &RebaseReport) -> Option<String> {
    let a = report.attachments.as_ref()?;
    Some(format!(
        "attached {} document(s) (SBOM, provenance) to {} platform image(s)",
        a.artifacts.len(),
        report.platforms.len()
    ))
}
