//! The whole base build: pins (from the lock, else resolved from the archive), downloads,
//! unpacking, one layer per tier, image configs, and the report the command line prints.

use super::DebianOptions;
use super::archive::{self, Archive, Mirrors, SuiteReport};
use super::deb::{self, Tree};
use super::error::{DebianError, io_err};
use super::fetch::{Fetcher, Want};
use super::index::Index;
use super::layers::{self, Generated, Installed, TierInput};
use super::lock::{BaseLock, LOCK_VERSION, LockedSkip, Pinned};
use super::presets::{EXTRAS, Tier};
use super::resolve::{self, Skipped};
use super::signature::Keyring;
use super::system;
use crate::base_spec::BaseSpec;
use crate::digest::Digest;
use crate::image::assemble::{self, BuildMeta, NamedLayer};
use crate::layer::{BlobStore, GZIP_LAYER_MEDIA_TYPE, LayerBlob, LayerWriter};
use crate::oci::base::scratch_config;
use crate::oci::{self, BaseImage, BlobSource, ImageSet, Layer, ResolvedBase};
use crate::plan::ImageConfigPatch;
use crate::platform::Platform;
use serde::Serialize;
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

/// The environment every preset has.
const PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
const SSL_CERT_FILE: &str = "/etc/ssl/certs/ca-certificates.crt";

/// Label and annotation keys naming what a base is made of.
pub const LABEL_BASE: &str = "dev.lade.base";
pub const LABEL_PACKAGES: &str = "dev.lade.base.packages";

/// Progress, for the command line to show.
pub enum Event<'a> {
    /// A suite's Release was read (and its signature checked, if `verified_by` says so).
    Suite(&'a SuiteReport),
    Warning(&'a str),
    /// The packages of one architecture are known.
    Resolved {
        arch: &'a str,
        packages: usize,
    },
    /// The .debs are in the cache; `bytes` of them were downloaded now.
    Fetched {
        files: usize,
        bytes: u64,
    },
    Layer {
        platform: &'a Platform,
        tier: &'a str,
        blob: &'a LayerBlob,
    },
}

#[derive(Clone, Debug, Serialize)]
pub struct PackageReport {
    pub name: String,
    pub version: String,
    /// Only some of its files are in the image (the CA certificates, the C.UTF-8 locale).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub partial: bool,
}

#[derive(Clone, Debug, Serialize)]
pub struct TierReport {
    pub name: String,
    /// `None` when nothing was left to install (every package asked for was skipped).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub layer: Option<Digest>,
    pub size: u64,
    pub cached: bool,
    pub packages: Vec<PackageReport>,
    /// Dependencies deliberately not installed.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub skipped: Vec<Skipped>,
}

#[derive(Clone, Debug, Serialize)]
pub struct PlatformReport {
    pub platform: String,
    pub manifest: Digest,
    /// Compressed size of all layers.
    pub size: u64,
    pub tiers: Vec<TierReport>,
}

#[derive(Clone, Debug, Serialize)]
pub struct BuildReport {
    pub name: String,
    /// The root digest: the index for several platforms, else the manifest.
    pub digest: Digest,
    /// How packages were chosen: resolved from the archive, or read from a lock.
    pub source: String,
    /// Whether the archive's signatures were checked, in words.
    pub signatures: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub suites: Vec<SuiteReport>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lock_written: Option<PathBuf>,
    pub downloaded_bytes: u64,
    pub platforms: Vec<PlatformReport>,
}

/// A built base: the image set to write anywhere, the same as a `ResolvedBase` to build an
/// app on, and the report.
pub struct BaseBuild {
    pub set: ImageSet,
    pub base: ResolvedBase,
    pub report: BuildReport,
    /// The lock to write once whatever uses the base succeeded ([`BaseBuild::save_lock`]).
    pub lock: Option<PendingLock>,
}

/// A lock resolved by a build and not yet written: a failed output or publish must not pin
/// packages that no image was made of.
pub struct PendingLock {
    path: PathBuf,
    lock: BaseLock,
}

impl BaseBuild {
    /// Writes the lock the build resolved, if any, and says so in the report.
    pub fn save_lock(&mut self) -> Result<(), DebianError> {
        if let Some(p) = self.lock.take() {
            p.lock.save(&p.path)?;
            self.report.lock_written = Some(p.path);
        }
        Ok(())
    }
}

/// Builds `spec` for each platform (linux/amd64, linux/arm64), layers into `store`.
pub fn build_base(
    spec: &BaseSpec,
    platforms: &[Platform],
    store: &BlobStore,
    opts: &DebianOptions,
    on: &mut dyn FnMut(Event),
) -> Result<BaseBuild, DebianError> {
    let archs: Vec<String> = platforms
        .iter()
        .map(debian_arch)
        .collect::<Result<_, _>>()?;
    let packages = spec.normalized_packages();
    let mirrors = Mirrors::from_main(&opts.mirror, opts.security_mirror.as_deref());
    let root = opts.cache_dir.join("debian");
    let fetcher = Fetcher::new(&root, opts.progress.clone())?;
    let tiers = tiers(spec);

    let mut warnings = Vec::new();
    let locked = match &opts.lock {
        Some(path) if !opts.update => match BaseLock::load(path)? {
            Some(l) if l.covers(spec.preset, &packages, &archs) => Some(l),
            Some(_) => {
                let w = format!(
                    "{} pins another preset, package list or platform set; resolving again and rewriting it",
                    path.display()
                );
                on(Event::Warning(&w));
                warnings.push(w);
                None
            }
            None => None,
        },
        _ => None,
    };
    let from_lock = locked.is_some();
    let mut suites = Vec::new();
    let (pins, skipped, source, signatures) = match locked {
        Some(lock) => {
            let source = format!(
                "pinned by {}",
                opts.lock.as_deref().unwrap_or(Path::new("")).display()
            );
            let signatures =
                "not needed: every .deb is checked against the sha256 in the lock".to_string();
            (lock.pinned, lock.skipped, source, signatures)
        }
        None => {
            let keyring = keyring(opts)?;
            let opened = Archive::open(&fetcher, &mirrors, keyring.as_ref(), opts.now)?;
            for s in &opened.suites {
                on(Event::Suite(s));
            }
            for w in &opened.warnings {
                on(Event::Warning(w));
            }
            warnings.extend(opened.warnings.iter().cloned());
            suites = opened.suites.clone();
            let mut pins = Vec::new();
            let mut skipped = Vec::new();
            for arch in &archs {
                let index = opened.archive.index(arch)?;
                let (p, s) = resolve_arch(&index, &tiers, &packages)?;
                on(Event::Resolved {
                    arch,
                    packages: p.len(),
                });
                pins.extend(p);
                skipped.extend(s);
            }
            let signatures = match &keyring {
                Some(k) => format!("verified with {}", k.origin),
                None => "NOT verified (signature checks were turned off)".to_string(),
            };
            (
                pins,
                skipped,
                format!("resolved from {}", mirrors.main),
                signatures,
            )
        }
    };

    let trees = fetch_and_unpack(&fetcher, &mirrors, &pins, &root, on)?;
    let downloaded_bytes = trees.1;
    let trees = trees.0;

    let generated = Generated::new(&root.join("generated"))?;
    let writer = LayerWriter::new(store, opts.epoch);
    let meta = BuildMeta {
        created: opts.epoch,
        annotations: BTreeMap::from([(LABEL_BASE.to_string(), spec.to_string())]),
    };
    let mut images = Vec::new();
    let mut platform_reports = Vec::new();
    for (platform, arch) in platforms.iter().zip(&archs) {
        let (layers, tier_reports) = arch_layers(
            &LayerJob {
                spec,
                arch,
                platform,
                tiers: &tiers,
                pins: &pins,
                skipped: &skipped,
                trees: &trees,
                epoch: opts.epoch,
            },
            &generated,
            &writer,
            store,
            on,
        )?;
        let patch = config_patch(spec, arch, &pins);
        let scratch = BaseImage {
            platform: platform.clone(),
            config: scratch_config(),
            layers: Vec::new(),
        };
        let img = assemble::image(&scratch, layers, &patch, &meta)?;
        platform_reports.push(PlatformReport {
            platform: platform.to_string(),
            manifest: img.manifest.digest(),
            size: img.layers.iter().map(Layer::size).sum(),
            tiers: tier_reports,
        });
        images.push(img);
    }
    let set = assemble::image_set(images, &meta)?;
    let base = ResolvedBase {
        name: spec.to_string(),
        digest: Some(set.root().digest()),
        images: set
            .images
            .iter()
            .map(|img| BaseImage {
                platform: img.platform.clone(),
                config: serde_json::from_slice(&img.config.bytes)
                    .expect("lade's own config bytes parse back"),
                layers: img.layers.clone(),
            })
            .collect(),
    };

    // Kept for the caller to write once its outputs are written.
    let lock = match &opts.lock {
        Some(path) if !from_lock => Some(PendingLock {
            path: path.clone(),
            lock: BaseLock {
                version: LOCK_VERSION,
                preset: spec.preset,
                packages,
                pinned: pins,
                skipped,
            },
        }),
        _ => None,
    };
    let report = BuildReport {
        name: spec.to_string(),
        digest: set.root().digest(),
        source,
        signatures,
        suites,
        warnings,
        lock_written: None,
        downloaded_bytes,
        platforms: platform_reports,
    };
    Ok(BaseBuild {
        set,
        base,
        report,
        lock,
    })
}

/// Whether lade builds Debian bases for `p` (`--platform all` with a `debian12/…` base).
pub fn builds_for(p: &Platform) -> bool {
    debian_arch(p).is_ok()
}

/// Debian's name for a platform's architecture.
fn debian_arch(p: &Platform) -> Result<String, DebianError> {
    match (p.os.as_str(), p.architecture.as_str(), p.variant.as_deref()) {
        ("linux", "amd64", None) => Ok("amd64".into()),
        ("linux", "arm64", None | Some("v8")) => Ok("arm64".into()),
        _ => Err(DebianError::Platform(p.to_string())),
    }
}

pub(super) fn tiers(spec: &BaseSpec) -> Vec<&'static Tier> {
    let mut t = spec.preset.tiers();
    if !spec.packages.is_empty() {
        t.push(&EXTRAS);
    }
    t
}

pub(super) fn keyring(opts: &DebianOptions) -> Result<Option<Keyring>, DebianError> {
    if !opts.verify_signatures {
        return Ok(None);
    }
    match &opts.keyring {
        None => Ok(Some(Keyring::debian())),
        Some(path) => {
            let bytes = std::fs::read(path).map_err(io_err("reading keyring", path))?;
            Keyring::parse(&bytes, &path.display().to_string())
                .map(Some)
                .map_err(|detail| DebianError::Keyring {
                    path: path.clone(),
                    detail,
                })
        }
    }
}

/// Resolves every tier of one architecture, each against the packages of the tiers below.
pub(super) fn resolve_arch(
    index: &Index,
    tiers: &[&'static Tier],
    extras: &[String],
) -> Result<(Vec<Pinned>, Vec<LockedSkip>), DebianError> {
    let mut installed = resolve::Installed::new();
    let mut pins = Vec::new();
    let mut skipped = Vec::new();
    for tier in tiers {
        let roots: Vec<String> = if tier.name == EXTRAS.name {
            extras.to_vec()
        } else {
            tier.roots.iter().map(|s| s.to_string()).collect()
        };
        let r = resolve::resolve(index, &roots, &installed, &|n| tier.skip_reason(n))?;
        for p in r.packages {
            installed.insert(p.name.clone(), p.version.clone());
            pins.push(Pinned {
                arch: index.arch.clone(),
                tier: tier.name.to_string(),
                name: p.name,
                version: p.version,
                suite: p.suite,
                filename: p.filename,
                sha256: p.sha256,
                size: p.size,
            });
        }
        for s in r.skipped {
            skipped.push(LockedSkip {
                arch: index.arch.clone(),
                tier: tier.name.to_string(),
                dependency: s.dependency,
                needed_by: s.needed_by,
                reason: s.reason,
            });
        }
    }
    Ok((pins, skipped))
}

/// Downloads (what the cache lacks) and unpacks every pinned .deb once, even when an `all`
/// package is pinned for two architectures. Returns the trees by sha256 and the bytes
/// downloaded.
fn fetch_and_unpack(
    fetcher: &Fetcher,
    mirrors: &Mirrors,
    pins: &[Pinned],
    root: &Path,
    on: &mut dyn FnMut(Event),
) -> Result<(HashMap<String, Tree>, u64), DebianError> {
    let mut unique: Vec<&Pinned> = Vec::new();
    for p in pins {
        if !unique.iter().any(|u| u.sha256 == p.sha256) {
            unique.push(p);
        }
    }
    let wants = unique
        .iter()
        .map(|p| {
            let archive_root = archive::root_for_suite(mirrors, &p.suite).ok_or_else(|| {
                DebianError::Index {
                    url: p.filename.clone(),
                    detail: format!(
                        "{} {} comes from {}, but no security mirror is configured (--debian-security-mirror)",
                        p.name, p.version, p.suite
                    ),
                }
            })?;
            let what = p.filename.rsplit('/').next().unwrap_or(&p.filename).to_string();
            Ok(Want {
                urls: vec![format!("{archive_root}/{}", p.filename)],
                sha256: p.sha256.clone(),
                size: p.size,
                what,
            })
        })
        .collect::<Result<Vec<_>, DebianError>>()?;
    let (paths, bytes) = fetcher.ensure(&wants)?;
    on(Event::Fetched {
        files: wants.len(),
        bytes,
    });
    let trees_root = root.join("trees");
    let jobs: Vec<(&Pinned, &PathBuf)> = unique.iter().copied().zip(&paths).collect();
    // Up to 4 threads: unpacking is decompression-bound.
    let results = crate::par::map_each(&jobs, 4, |(p, path)| {
        deb::unpack_cached(path, &p.sha256, &p.name, &trees_root)
    });
    let mut trees = HashMap::new();
    for ((p, _), tree) in jobs.iter().zip(results) {
        trees.insert(p.sha256.clone(), tree?);
    }
    Ok((trees, bytes))
}

struct LayerJob<'a> {
    spec: &'a BaseSpec,
    arch: &'a str,
    platform: &'a Platform,
    tiers: &'a [&'static Tier],
    pins: &'a [Pinned],
    skipped: &'a [LockedSkip],
    trees: &'a HashMap<String, Tree>,
    epoch: u64,
}

fn arch_layers(
    job: &LayerJob,
    generated: &Generated,
    writer: &LayerWriter,
    store: &BlobStore,
    on: &mut dyn FnMut(Event),
) -> Result<(Vec<NamedLayer>, Vec<TierReport>), DebianError> {
    let arch_pins: Vec<&Pinned> = job.pins.iter().filter(|p| p.arch == job.arch).collect();
    let ca_certs = match arch_pins.iter().find(|p| p.name == "ca-certificates") {
        Some(p) => layers::ca_certs(&job.trees[&p.sha256])?,
        None => Vec::new(),
    };
    let mut named = Vec::new();
    let mut reports = Vec::new();
    for tier in job.tiers {
        let mut tier_pins: Vec<&Pinned> = arch_pins
            .iter()
            .copied()
            .filter(|p| p.tier == tier.name)
            .collect();
        tier_pins.sort_by(|a, b| a.name.cmp(&b.name));
        let input = TierInput {
            tier,
            preset: job.spec.preset,
            arch: job.arch,
            packages: tier_pins
                .iter()
                .map(|p| Installed {
                    pin: p,
                    tree: &job.trees[&p.sha256],
                })
                .collect(),
            ca_certs: &ca_certs,
            epoch: job.epoch,
        };
        let (spec, owners) = layers::tier_layer(&input, generated)?;
        let mut report = TierReport {
            name: tier.name.to_string(),
            layer: None,
            size: 0,
            cached: false,
            packages: tier_pins
                .iter()
                .map(|p| PackageReport {
                    name: p.name.clone(),
                    version: p.version.clone(),
                    partial: tier.partial_paths(&p.name).is_some(),
                })
                .collect(),
            skipped: job
                .skipped
                .iter()
                .filter(|s| s.arch == job.arch && s.tier == tier.name)
                .map(LockedSkip::skipped)
                .collect(),
        };
        if spec.entries.is_empty() {
            reports.push(report);
            continue;
        }
        let blob = writer.write_owned(&spec, &owners)?;
        on(Event::Layer {
            platform: job.platform,
            tier: tier.name,
            blob: &blob,
        });
        report.layer = Some(blob.digest.clone());
        report.size = blob.size;
        report.cached = blob.cached;
        reports.push(report);
        named.push(NamedLayer {
            name: spec.name.clone(),
            layer: Layer {
                descriptor: oci::descriptor(GZIP_LAYER_MEDIA_TYPE, blob.size, &blob.digest),
                diff_id: blob.diff_id.clone(),
                source: BlobSource::File(store.path(&blob.digest)),
            },
        });
    }
    Ok((named, reports))
}

/// The config distroless gives each variant, plus labels naming the package set.
fn config_patch(spec: &BaseSpec, arch: &str, pins: &[Pinned]) -> ImageConfigPatch {
    let mut env = BTreeMap::from([
        ("PATH".to_string(), PATH.to_string()),
        ("SSL_CERT_FILE".to_string(), SSL_CERT_FILE.to_string()),
    ]);
    env.extend(spec.preset.env(arch));
    let mut installed: Vec<String> = pins
        .iter()
        .filter(|p| p.arch == arch)
        .map(|p| format!("{}={}", p.name, p.version))
        .collect();
    installed.sort();
    ImageConfigPatch {
        entrypoint: spec.preset.entrypoint(),
        env,
        workdir: (!spec.root).then(|| system::NONROOT_HOME.to_string()),
        user: Some(if spec.root {
            "0".to_string()
        } else {
            system::NONROOT_UID.to_string()
        }),
        labels: BTreeMap::from([
            (LABEL_BASE.to_string(), spec.to_string()),
            (LABEL_PACKAGES.to_string(), installed.join(" ")),
        ]),
        ..ImageConfigPatch::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::base_spec::Preset;

    #[test]
    fn platforms_map_to_debian_arches() {
        assert_eq!(
            debian_arch(&"linux/amd64".parse().unwrap()).unwrap(),
            "amd64"
        );
        assert_eq!(
            debian_arch(&"linux/arm64".parse().unwrap()).unwrap(),
            "arm64"
        );
        let e = debian_arch(&"linux/arm/v7".parse().unwrap()).unwrap_err();
        assert!(e.to_string().contains("linux/arm/v7"), "{e}");
    }

    #[test]
    fn nonroot_and_root_configs() {
        let spec = BaseSpec::parse("python3", &[], false).unwrap();
        let p = config_patch(&spec, "amd64", &[]);
        assert_eq!(p.user.as_deref(), Some("65532"));
        assert_eq!(p.workdir.as_deref(), Some("/home/nonroot"));
        assert_eq!(p.env["LANG"], "C.UTF-8");
        assert_eq!(p.env["SSL_CERT_FILE"], SSL_CERT_FILE);
        let root = BaseSpec::parse("static:root", &[], false).unwrap();
        let p = config_patch(&root, "arm64", &[]);
        assert_eq!(p.user.as_deref(), Some("0"));
        assert_eq!(p.workdir, None);
        assert_eq!(p.entrypoint, None);
        assert!(
            Preset::Java
                .env("arm64")
                .iter()
                .any(|(k, v)| k == "JAVA_HOME" && v.ends_with("arm64"))
        );
    }
}
