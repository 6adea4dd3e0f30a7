//! `lade rebase IMAGE`: the image's base layers swapped for a newer base's, without a build.
//! The image and both bases are read as configs and manifests only (`base::image`,
//! `base::resolve_with`); `rebase` decides which layers are lade's and what lade set, and checks
//! the new base; `image::assemble::stack` stacks lade's layers on the new base with lade's
//! settings merged as a publish merges them; the image goes out through the usual sinks, so a
//! registry destination mounts or finds every layer instead of downloading it. Fresh SBOMs and
//! provenance for the rebased manifests are `rebase_attach`'s.

use super::rebase_attach;
use crate::base::{self, image::ReadImage};
use crate::digest::Digest;
use crate::image::assemble;
use crate::lock::Lock;
use crate::oci::{self, BlobSource, ImageSet, ResolvedBase};
use crate::rebase::{self, PackageChange, Refusal};
use crate::registry::{PushStats, RegistryOptions, RegistrySession};
use crate::sink::registry::RegistryBlobs;
use crate::sink::{self, BlobProvider, LocalBlobs, Target};
use anyhow::Context;
use serde::Serialize;
use std::path::{Path, PathBuf};

#[derive(Clone, Debug, Default)]
pub struct RebaseOptions {
    /// The image to rebase: a registry reference or `oci:PATH[:TAG]`.
    pub image: String,
    /// The new base; by default the old base's name resolved again.
    pub base: Option<String>,
    /// Where to write the rebased image; by default IMAGE itself (its tag).
    pub to: Option<String>,
    /// Extra tags for the destination.
    pub tags: Vec<String>,
    /// Rebase onto a base of another lineage.
    pub force: bool,
    pub registry: RegistryOptions,
    /// PEM PKCS#8 private key: a registry destination gets cosign signatures.
    pub sign_key: Option<PathBuf>,
    /// Projects whose lade.lock pins the base: updated to the new digest once written.
    pub lock_dirs: Vec<PathBuf>,
    /// Attach fresh SBOMs and provenance (`Some(true)`, `--attach`), or not (`--no-attach`);
    /// `None`: when the image had documents attached.
    pub attach: Option<bool>,
}

#[derive(Clone, Debug, Serialize)]
pub struct BaseRef {
    pub name: String,
    pub digest: Digest,
}

#[derive(Clone, Debug, Serialize)]
pub struct PlatformRebase {
    pub platform: String,
    pub old_manifest: Digest,
    pub new_manifest: Digest,
    pub old_base_layers: usize,
    pub new_base_layers: usize,
    /// lade's layers, kept byte for byte.
    pub own_layers: usize,
}

#[derive(Clone, Debug, Serialize)]
pub struct RebaseReport {
    pub image: String,
    /// The root digest before and after.
    pub old_digest: Digest,
    pub digest: Digest,
    /// What was written (`REPO@sha256:…`, `oci:DIR@sha256:…`).
    pub reference: String,
    pub old_base: BaseRef,
    pub new_base: BaseRef,
    /// The new base is the old one: nothing was written.
    pub unchanged: bool,
    pub platforms: Vec<PlatformRebase>,
    /// Debian packages of lade bases whose versions changed, `[platform] …` when platforms differ.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub packages: Vec<PlatformPackage>,
    /// Refusals `--force` lifted.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub forced: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stats: Option<PushStats>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub signatures: Vec<crate::sign::Signed>,
    /// The fresh SBOMs and provenance attached to the rebased platform manifests.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub attachments: Option<crate::attach::OutputAttachments>,
    /// lade.lock files updated to the new base digest.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub locks_updated: Vec<PathBuf>,
    /// Filled in by the caller that collects warnings.
    pub warnings: Vec<String>,
}

#[derive(Clone, Debug, Serialize)]
pub struct PlatformPackage {
    pub platform: String,
    #[serde(flatten)]
    pub change: PackageChange,
}

#[derive(Debug, thiserror::Error)]
pub enum RebaseError {
    #[error("rebase {image}: refused: {reason}{}", if *.forceable { "; --force rebases anyway" } else { "" })]
    Refused {
        image: String,
        reason: String,
        forceable: bool,
    },
    #[error(
        "rebase {image}: it has no {} annotation, so lade cannot tell its base layers from its own; rebase images lade published",
        oci::ANNOTATION_BASE_DIGEST
    )]
    NoBase { image: String },
    #[error(
        "rebase {image}: its base {base} was built from Debian packages during the publish and is in no registry or layout; publish on a base written by `lade base build --to`, or publish again with --refresh-base"
    )]
    BuiltBase { image: String, base: String },
    #[error(
        "rebase {image}: the old base {base}@{digest} is no longer there ({found}), so lade cannot check the image's base layers; keep the old base's tag, or pass the old base by digest"
    )]
    OldBaseGone {
        image: String,
        base: String,
        digest: Digest,
        found: String,
    },
    #[error(
        "rebase {image}: it names a digest, which cannot be written again; pass --to REPO[:TAG]"
    )]
    DigestDestination { image: String },
    #[error(
        "rebase {image}: {platform} ({manifest}) has no CycloneDX SBOM attached to carry lade's packages over from; publish the image again to attach one, or rebase with --no-attach"
    )]
    NoSbom {
        image: String,
        platform: String,
        manifest: Digest,
    },
    #[error(
        "rebase {image}: the CycloneDX SBOM attached to {platform} ({manifest}) is not one lade wrote ({detail}); publish the image again, or rebase with --no-attach"
    )]
    ForeignSbom {
        image: String,
        platform: String,
        manifest: Digest,
        detail: String,
    },
    #[error(
        "rebase {image}: its created time '{created}' is not an RFC 3339 UTC time, which the attached documents need; rebase with --no-attach"
    )]
    Created { image: String, created: String },
}

pub fn rebase(opts: &RebaseOptions) -> anyhow::Result<RebaseReport> {
    let key = super::signing::read_key(opts.sign_key.as_deref())?;
    let target = destination(opts)?;
    let cwd = std::env::current_dir().context("reading the current directory")?;
    let mut options = opts.registry.clone();
    super::registry::add_push_registries(&mut options, std::slice::from_ref(&target));
    let registry = RegistrySession::new(options);
    let sink = sink::open_with(
        &target,
        &sink::OpenOptions {
            registry: registry.clone(),
            tags: opts.tags.clone(),
            progress: Default::default(),
        },
    )?;

    let read = base::image::read(&opts.image, &cwd, &registry)?;
    let (old_name, old_digest) = recorded_base(&opts.image, &read)?;
    let old = old_base(opts, &old_name, &old_digest, &read, &cwd, &registry)?;
    let new_name = opts.base.clone().unwrap_or_else(|| old_name.clone());
    let new = base::resolve_with(&new_name, &read.root.platforms, &cwd, &registry, None)
        .with_context(|| format!("rebase {}: resolving the new base", opts.image))?;
    let new_digest = new
        .digest
        .clone()
        .with_context(|| format!("rebase {}: the new base {new_name} is scratch", opts.image))?;

    let restacked = restack(opts, &read, &old, &new, &new_digest)?;
    let set = restacked.set;
    let unchanged =
        set.root().digest() == read.root.digest && opts.to.is_none() && opts.tags.is_empty();
    // The documents are made before anything is written, so a rebase that cannot make them
    // writes nothing.
    let artifacts = match unchanged {
        true => None,
        false => {
            let docs = rebase_attach::old_documents(opts, &cwd, &read, &registry)?;
            match rebase_attach::prepare(opts, &read, &docs)? {
                None => None,
                Some(prepared) => {
                    let rebased = rebase_attach::Rebased {
                        opts,
                        read: &read,
                        old_base: (&old_name, &old_digest),
                        new_base: (&new, &new_digest),
                        key: key.as_ref(),
                    };
                    Some(rebase_attach::artifacts(
                        &prepared, &set, &rebased, &target, &registry,
                    )?)
                }
            }
        }
    };
    let (reference, stats) = if unchanged {
        (format!("{}@{}", opts.image, read.root.digest), None)
    } else {
        let published = sink.write(&set, blobs(&set, &target, &registry)?.as_ref())?;
        (published.reference, published.stats)
    };
    let signatures = match unchanged {
        true => Vec::new(),
        false => super::signing::sign_outputs(
            key.as_ref(),
            &set,
            std::slice::from_ref(&target),
            &registry,
        )?,
    };
    let attachments = match &artifacts {
        Some(a) => Some(rebase_attach::attach_to(&target, a, &registry)?),
        None => None,
    };
    let locks_updated = match new_name == old_name {
        true => update_locks(&opts.lock_dirs, &old_name, &new_digest)?,
        false => Vec::new(),
    };
    Ok(RebaseReport {
        image: opts.image.clone(),
        old_digest: read.root.digest.clone(),
        digest: set.root().digest(),
        reference,
        old_base: BaseRef {
            name: old_name,
            digest: old_digest,
        },
        new_base: BaseRef {
            name: new_name,
            digest: new_digest,
        },
        unchanged,
        platforms: restacked.platforms,
        packages: restacked.packages,
        forced: restacked.forced,
        stats,
        signatures,
        attachments,
        locks_updated,
        warnings: Vec::new(),
    })
}

/// `--to`, else IMAGE itself, checked before anything is read.
fn destination(opts: &RebaseOptions) -> anyhow::Result<Target> {
    if let Some(tag) = opts.tags.iter().find(|t| !sink::valid_tag(t)) {
        anyhow::bail!("--tag '{tag}': {}; pass a valid tag", sink::TAG_GRAMMAR);
    }
    let to = match &opts.to {
        Some(t) => t.clone(),
        None if !opts.image.starts_with("oci:") && opts.image.contains('@') => {
            return Err(RebaseError::DigestDestination {
                image: opts.image.clone(),
            }
            .into());
        }
        None => opts.image.clone(),
    };
    let target = Target::parse(&to)?;
    if matches!(
        target,
        Target::OciArchive { .. } | Target::DockerArchive { .. }
    ) {
        anyhow::bail!(
            "--to {to}: rebase writes to a registry or an OCI layout (oci:DIR[:TAG]), not an archive"
        );
    }
    Ok(target)
}

/// The base the image records (`org.opencontainers.image.base.name` and `.digest`).
fn recorded_base(image: &str, read: &ReadImage) -> Result<(String, Digest), RebaseError> {
    let a = &read.root.annotations;
    let (Some(name), Some(digest)) = (
        a.get(oci::ANNOTATION_BASE_NAME),
        a.get(oci::ANNOTATION_BASE_DIGEST)
            .and_then(|d| d.parse::<Digest>().ok()),
    ) else {
        return Err(RebaseError::NoBase {
            image: image.to_string(),
        });
    };
    if crate::base_spec::BaseSpec::parse_reference(name).is_some() {
        return Err(RebaseError::BuiltBase {
            image: image.to_string(),
            base: name.clone(),
        });
    }
    Ok((name.clone(), digest))
}

/// The old base at the digest the image records.
fn old_base(
    opts: &RebaseOptions,
    name: &str,
    digest: &Digest,
    read: &ReadImage,
    cwd: &Path,
    registry: &RegistrySession,
) -> anyhow::Result<ResolvedBase> {
    let gone = |found: String| RebaseError::OldBaseGone {
        image: opts.image.clone(),
        base: name.to_string(),
        digest: digest.clone(),
        found,
    };
    let old = base::resolve_with(name, &read.root.platforms, cwd, registry, Some(digest))
        .map_err(|e| gone(e.to_string()))?;
    // A layout is read by tag: it may name another image now.
    match &old.digest {
        Some(d) if d != digest => Err(gone(format!("its tag names {d} now")).into()),
        _ => Ok(old),
    }
}

struct Restacked {
    set: ImageSet,
    platforms: Vec<PlatformRebase>,
    packages: Vec<PlatformPackage>,
    forced: Vec<String>,
}

/// Every platform's image on the new base, after the checks.
fn restack(
    opts: &RebaseOptions,
    read: &ReadImage,
    old: &ResolvedBase,
    new: &ResolvedBase,
    new_digest: &Digest,
) -> anyhow::Result<Restacked> {
    let refused = |r: Refusal| RebaseError::Refused {
        image: opts.image.clone(),
        reason: r.reason,
        forceable: r.forceable,
    };
    let mut annotations = read.root.annotations.clone();
    annotations.insert(oci::ANNOTATION_BASE_NAME.into(), new.name.clone());
    annotations.insert(oci::ANNOTATION_BASE_DIGEST.into(), new_digest.to_string());
    let annotations: std::collections::HashMap<String, String> = annotations.into_iter().collect();

    let mut out = Restacked {
        set: ImageSet {
            images: Vec::new(),
            index: None,
            made: Default::default(),
        },
        platforms: Vec::new(),
        packages: Vec::new(),
        forced: Vec::new(),
    };
    let mut images = Vec::new();
    for image in &read.image.images {
        let p = &image.platform;
        let (Some(o), Some(n)) = (old.for_platform(p), new.for_platform(p)) else {
            unreachable!("both bases were resolved for every platform of the image")
        };
        let own = rebase::own_layers(image, o).map_err(refused)?;
        rebase::check_platform(image, n).map_err(refused)?;
        if let Err(r) = rebase::check_lineage(
            &rebase::lineage(&old.name, &o.config),
            &rebase::lineage(&new.name, &n.config),
        ) {
            if !opts.force {
                return Err(refused(r).into());
            }
            if !out.forced.contains(&r.reason) {
                tracing::warn!("--force: {}", r.reason);
                out.forced.push(r.reason);
            }
        }
        out.packages.extend(
            rebase::package_changes(&o.config, &n.config)
                .into_iter()
                .map(|change| PlatformPackage {
                    platform: p.to_string(),
                    change,
                }),
        );
        let patch = rebase::lade_patch(&image.config, &o.config);
        let created = image.config.created().clone().unwrap_or_default();
        let own_count = own.layers.len();
        let rebased = assemble::stack(n, own, &patch, &created, annotations.clone())?;
        out.platforms.push(PlatformRebase {
            platform: p.to_string(),
            old_manifest: manifest_digest(read, image),
            new_manifest: rebased.manifest.digest(),
            old_base_layers: o.layers.len(),
            new_base_layers: n.layers.len(),
            own_layers: own_count,
        });
        images.push(rebased);
    }
    out.set = assemble::image_set_with(images, annotations)?;
    Ok(out)
}

/// The digest of the manifest the image's platform was read from.
fn manifest_digest(read: &ReadImage, image: &oci::BaseImage) -> Digest {
    read.root
        .manifests
        .iter()
        .find(|(p, _)| p == &image.platform)
        .map(|(_, d)| d.clone())
        .unwrap_or_else(|| read.root.digest.clone())
}

/// Layer bytes for a layout destination (a registry one mounts or streams them itself).
fn blobs(
    set: &ImageSet,
    target: &Target,
    registry: &RegistrySession,
) -> anyhow::Result<Box<dyn BlobProvider>> {
    let remote = set
        .images
        .iter()
        .flat_map(|i| &i.layers)
        .any(|l| matches!(l.source, BlobSource::Remote { .. }));
    if !remote || matches!(target, Target::Registry { .. }) {
        return Ok(Box::new(LocalBlobs));
    }
    let b = RegistryBlobs::new(
        &crate::layer::BlobStore::open(&super::cache_dir())?,
        registry,
    )?;
    b.prefetch(set)?;
    Ok(Box::new(b))
}

/// Moves each project's lade.lock pin of `name` to `digest`; projects that do not pin it are
/// left alone.
fn update_locks(dirs: &[PathBuf], name: &str, digest: &Digest) -> anyhow::Result<Vec<PathBuf>> {
    let mut updated = Vec::new();
    for dir in dirs {
        let mut lock = Lock::read(dir)?;
        if lock.pinned(name).is_some() && lock.set(name, digest) {
            lock.write(dir)?;
            updated.push(Lock::path(dir));
        }
    }
    Ok(updated)
}

impl RebaseReport {
    /// What changed, for people: the base digests, each platform, the packages.
    pub fn summary(&self) -> Vec<String> {
        let mut out = vec![format!(
            "base {}@{} → {}@{}",
            self.old_base.name, self.old_base.digest, self.new_base.name, self.new_base.digest
        )];
        if self.unchanged {
            out.push("the image is already on this base; nothing written".into());
            return out;
        }
        for p in &self.platforms {
            out.push(format!(
                "[{}] {} base layers → {}, {} of lade's kept; {} → {}",
                p.platform,
                p.old_base_layers,
                p.new_base_layers,
                p.own_layers,
                p.old_manifest,
                p.new_manifest
            ));
        }
        let same_everywhere = self.platforms.len() > 1 && {
            let first = &self.platforms[0].platform;
            let of = |pl: &str| -> Vec<&PackageChange> {
                self.packages
                    .iter()
                    .filter(|c| c.platform == pl)
                    .map(|c| &c.change)
                    .collect()
            };
            self.platforms.iter().all(|p| of(&p.platform) == of(first))
        };
        for c in &self.packages {
            if same_everywhere && c.platform != self.platforms[0].platform {
                continue;
            }
            match same_everywhere {
                true => out.push(format!("package {}", c.change)),
                false => out.push(format!("[{}] package {}", c.platform, c.change)),
            }
        }
        out.extend(rebase_attach::summary(self));
        for l in &self.locks_updated {
            out.push(format!("updated {}", l.display()));
        }
        out
    }
}
