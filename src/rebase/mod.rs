//! The decisions of `lade rebase`, as pure functions over configs and layer lists: which layers
//! of an image are lade's own (those above the old base's, which must be exactly the old base's
//! layers), what lade set in the config (the difference from the old base's config, merged over
//! the new base's by `image::assemble` as a publish merges it), whether the new base is of the
//! same lineage, and which Debian packages changed. `ops::rebase` reads and writes; this decides.

mod packages;

pub use packages::{PackageChange, package_changes};

use crate::base_spec::BaseSpec;
use crate::debian::LABEL_BASE;
use crate::image::assemble::OwnLayers;
use crate::oci::{BaseImage, Reference};
use crate::plan::ImageConfigPatch;
use oci_spec::image::{Config, ImageConfiguration};
use std::collections::BTreeMap;

/// Why an image cannot be rebased as asked. `forceable` refusals are lifted by `--force`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Refusal {
    pub reason: String,
    pub forceable: bool,
}

impl Refusal {
    fn hard(reason: String) -> Refusal {
        Refusal {
            reason,
            forceable: false,
        }
    }
}

/// What a base descends from: a lade Debian base is known by its label (release, libc and
/// preset, whichever repository holds it); any other base by its repository.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Lineage {
    Debian {
        release: String,
        libc: &'static str,
        /// The preset and variant (`cc`, `static:root`); extra packages may change.
        preset: String,
    },
    Repository(String),
}

impl std::fmt::Display for Lineage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Lineage::Debian {
                release,
                libc,
                preset,
            } => write!(f, "lade base {release}/{preset} ({libc})"),
            Lineage::Repository(r) => write!(f, "repository {r}"),
        }
    }
}

/// The lineage of the base `name` whose config is `config`.
pub fn lineage(name: &str, config: &ImageConfiguration) -> Lineage {
    let label = config
        .config()
        .as_ref()
        .and_then(|c| c.labels().as_ref())
        .and_then(|l| l.get(LABEL_BASE));
    if let Some(Some(Ok(spec))) = label.map(|l| BaseSpec::parse_reference(l)) {
        let release = label
            .and_then(|l| l.split('/').next())
            .unwrap_or_default()
            .to_string();
        let variant = if spec.root { ":root" } else { "" };
        return Lineage::Debian {
            release,
            libc: spec.preset.libc(),
            preset: format!("{}{variant}", spec.preset),
        };
    }
    Lineage::Repository(repository(name))
}

/// The repository a base name is in: `registry/repository` without tag or digest, or the
/// layout path of `oci:PATH[:TAG]`.
fn repository(name: &str) -> String {
    if let Some(rest) = name.strip_prefix("oci:") {
        return format!("oci:{}", crate::oci::reference::split_path_tag(rest).0);
    }
    match Reference::parse(name) {
        Ok(r) => format!("{}/{}", r.registry, r.repository),
        Err(_) => name.to_string(),
    }
}

/// A refusal naming what differs when `new` is not of `old`'s lineage.
pub fn check_lineage(old: &Lineage, new: &Lineage) -> Result<(), Refusal> {
    if old == new {
        return Ok(());
    }
    let what = match (old, new) {
        (
            Lineage::Debian {
                release: r1,
                libc: l1,
                preset: p1,
            },
            Lineage::Debian {
                release: r2,
                libc: l2,
                preset: p2,
            },
        ) => {
            let parts = [
                ("Debian release", r1.as_str(), r2.as_str()),
                ("libc", l1, l2),
                ("preset", p1.as_str(), p2.as_str()),
            ];
            parts
                .iter()
                .filter(|(_, a, b)| a != b)
                .map(|(what, a, b)| format!("{what} {a} → {b}"))
                .collect::<Vec<_>>()
                .join(", ")
        }
        _ => format!("{old} → {new}"),
    };
    Err(Refusal {
        reason: format!("the new base is another lineage ({what})"),
        forceable: true,
    })
}

/// lade's layers of `image` and their history: what is above `old_base`'s layers, which must
/// be the image's bottom layers, digest and diff_id alike.
pub fn own_layers(image: &BaseImage, old_base: &BaseImage) -> Result<OwnLayers, Refusal> {
    let p = &image.platform;
    let n = old_base.layers.len();
    if image.layers.len() < n {
        return Err(Refusal::hard(format!(
            "[{p}] the image has {} layers, fewer than the old base's {n}: it is not built on that base",
            image.layers.len()
        )));
    }
    for (i, (have, want)) in image.layers.iter().zip(&old_base.layers).enumerate() {
        if have.digest() != want.digest() || have.diff_id != want.diff_id {
            return Err(Refusal::hard(format!(
                "[{p}] layer {} of the image is {}, but the old base's is {}: its bottom layers are not the old base's",
                i + 1,
                have.digest(),
                want.digest()
            )));
        }
    }
    let base_history = old_base.config.history().as_ref().map_or(0, Vec::len);
    let history = image.config.history().clone().unwrap_or_default();
    Ok(OwnLayers {
        layers: image.layers[n..].to_vec(),
        history: history.into_iter().skip(base_history).collect(),
    })
}

/// The new base must have the image's platform, by its config too.
pub fn check_platform(image: &BaseImage, new_base: &BaseImage) -> Result<(), Refusal> {
    let cfg = crate::oci::base::config_platform(&new_base.config);
    if cfg.os != image.platform.os || cfg.architecture != image.platform.architecture {
        return Err(Refusal::hard(format!(
            "[{}] the new base's image for it is {}/{} (OS or architecture differ)",
            image.platform, cfg.os, cfg.architecture
        )));
    }
    Ok(())
}

/// What lade set over the base: the settings of `image` that differ from `base`'s, as the
/// patch a publish merges (`assemble::merge_config(base, patch)` gives `image` back).
pub fn lade_patch(image: &ImageConfiguration, base: &ImageConfiguration) -> ImageConfigPatch {
    let empty = Config::default();
    let i = image.config().as_ref().unwrap_or(&empty);
    let b = base.config().as_ref().unwrap_or(&empty);
    let base_env = b.env().clone().unwrap_or_default();
    let env: BTreeMap<String, String> = i
        .env()
        .iter()
        .flatten()
        .filter(|e| !base_env.contains(e))
        .filter_map(|e| e.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    // An entrypoint of lade's replaces the base's cmd too, so the pair goes together.
    let (entrypoint, cmd) = if i.entrypoint() != b.entrypoint() || i.cmd() != b.cmd() {
        (i.entrypoint().clone(), i.cmd().clone())
    } else {
        (None, None)
    };
    let non_empty = |u: &Option<String>| u.clone().filter(|u| !u.is_empty());
    let user = non_empty(i.user()).filter(|u| Some(u) != non_empty(b.user()).as_ref());
    let base_labels = b.labels().clone().unwrap_or_default();
    let labels = i
        .labels()
        .iter()
        .flatten()
        .filter(|(k, v)| base_labels.get(*k) != Some(v))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let base_ports = b.exposed_ports().clone().unwrap_or_default();
    let exposed_ports = i
        .exposed_ports()
        .iter()
        .flatten()
        .filter(|p| !base_ports.contains(p))
        .cloned()
        .collect();
    ImageConfigPatch {
        entrypoint,
        cmd,
        env,
        workdir: i
            .working_dir()
            .clone()
            .filter(|w| Some(w) != b.working_dir().as_ref()),
        user,
        labels,
        exposed_ports,
        annotations: BTreeMap::new(),
    }
}

#[cfg(test)]
mod tests;
