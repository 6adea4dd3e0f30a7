//! Stacks lade's layers on a base image and merges lade's config over the base's, producing
//! canonical config, manifest and index bytes.

use super::{canonical, time};
use crate::oci::{
    ANNOTATION_CREATED, BaseImage, Image, ImageSet, JsonBlob, Layer, OCI_CONFIG, OCI_INDEX,
    OCI_MANIFEST,
};
use crate::plan::{ImageConfigPatch, NONROOT_USER};
use oci_spec::image::{
    Arch, Config, History, ImageIndex, ImageManifestBuilder, MediaType, Os, PlatformBuilder,
};
use std::collections::{BTreeMap, HashMap};

#[derive(Debug, thiserror::Error)]
pub enum AssembleError {
    #[error("encoding image JSON")]
    Json(#[from] serde_json::Error),
    #[error("building image JSON")]
    Spec(#[from] oci_spec::OciSpecError),
}

/// A layer lade wrote, with the name its history entry gets.
pub struct NamedLayer {
    pub name: String,
    pub layer: Layer,
}

/// Values shared by every platform of one publish.
#[derive(Clone, Debug, Default)]
pub struct BuildMeta {
    /// Seconds since the epoch: SOURCE_DATE_EPOCH, else the commit time, else 0.
    pub created: u64,
    /// Manifest and index annotations (created, source, revision, base name and digest, user's).
    pub annotations: BTreeMap<String, String>,
}

/// The image for one platform: base layers first, then `layers` in order.
pub fn image(
    base: &BaseImage,
    layers: Vec<NamedLayer>,
    patch: &ImageConfigPatch,
    meta: &BuildMeta,
) -> Result<Image, AssembleError> {
    let created = time::rfc3339(meta.created);
    let history = layers
        .iter()
        .map(|l| {
            let mut h = History::default();
            h.set_created(Some(created.clone()));
            h.set_created_by(Some(format!("lade: {} layer", l.name)));
            h.set_comment(Some(format!("lade layer '{}'", l.name)));
            h
        })
        .collect();
    let own = OwnLayers {
        layers: layers.into_iter().map(|l| l.layer).collect(),
        history,
    };
    stack(base, own, patch, &created, annotations(meta))
}

/// lade's part of an image: its layers and their history entries, as written on some base.
pub struct OwnLayers {
    pub layers: Vec<Layer>,
    pub history: Vec<History>,
}

/// Stacks `own` on `base` with `patch` merged over the base's config: what [`image`] does for
/// a publish, and what a rebase does with the layers and history an image already has.
pub fn stack(
    base: &BaseImage,
    own: OwnLayers,
    patch: &ImageConfigPatch,
    created: &str,
    annotations: HashMap<String, String>,
) -> Result<Image, AssembleError> {
    let mut config = base.config.clone();
    config.set_created(Some(created.to_string()));
    config.set_architecture(Arch::from(base.platform.architecture.as_str()));
    config.set_os(Os::from(base.platform.os.as_str()));
    config.set_variant(base.platform.variant.clone());
    config.set_config(Some(merge_config(
        config.config().clone().unwrap_or_default(),
        patch,
    )));

    let mut diff_ids = config.rootfs().diff_ids().clone();
    diff_ids.extend(own.layers.iter().map(|l| l.diff_id.to_string()));
    let mut history = config.history().clone().unwrap_or_default();
    history.extend(own.history);
    config.rootfs_mut().set_diff_ids(diff_ids);
    config.set_history(Some(history));
    let config = JsonBlob::new(OCI_CONFIG, canonical::to_vec(&config)?);

    let all_layers: Vec<Layer> = base.layers.iter().cloned().chain(own.layers).collect();
    let manifest = ImageManifestBuilder::default()
        .schema_version(2u32)
        .media_type(MediaType::ImageManifest)
        .config(config.descriptor.clone())
        .layers(
            all_layers
                .iter()
                .map(|l| l.descriptor.clone())
                .collect::<Vec<_>>(),
        )
        .annotations(annotations)
        .build()?;
    let manifest = JsonBlob::new(OCI_MANIFEST, canonical::to_vec(&manifest)?);

    Ok(Image {
        platform: base.platform.clone(),
        config,
        manifest,
        layers: all_layers,
    })
}

/// One image stays a manifest; several get an index listing each with its platform.
pub fn image_set(images: Vec<Image>, meta: &BuildMeta) -> Result<ImageSet, AssembleError> {
    image_set_with(images, annotations(meta))
}

/// [`image_set`] with the index's annotations given as they are.
pub fn image_set_with(
    images: Vec<Image>,
    annotations: HashMap<String, String>,
) -> Result<ImageSet, AssembleError> {
    if images.len() < 2 {
        return Ok(ImageSet {
            images,
            index: None,
            made: Default::default(),
        });
    }
    let mut manifests = Vec::new();
    for img in &images {
        let mut d = img.manifest.descriptor.clone();
        let mut p = PlatformBuilder::default()
            .architecture(Arch::from(img.platform.architecture.as_str()))
            .os(Os::from(img.platform.os.as_str()));
        if let Some(v) = &img.platform.variant {
            p = p.variant(v.clone());
        }
        d.set_platform(Some(p.build()?));
        manifests.push(d);
    }
    let mut index = ImageIndex::default();
    index.set_schema_version(2);
    index.set_media_type(Some(MediaType::ImageIndex));
    index.set_manifests(manifests);
    index.set_annotations(Some(annotations));
    let index = JsonBlob::new(OCI_INDEX, canonical::to_vec(&index)?);
    Ok(ImageSet {
        images,
        index: Some(index),
        made: Default::default(),
    })
}

fn annotations(meta: &BuildMeta) -> HashMap<String, String> {
    let mut a: HashMap<String, String> = meta.annotations.clone().into_iter().collect();
    a.entry(ANNOTATION_CREATED.to_string())
        .or_insert_with(|| time::rfc3339(meta.created));
    a
}

/// lade's settings over the base's: environment merged by name, labels and ports merged,
/// an entrypoint of lade's replaces the base's cmd too (as Docker's ENTRYPOINT does), and the
/// user is the configured one, else the base's, else nonroot.
pub fn merge_config(mut c: Config, patch: &ImageConfigPatch) -> Config {
    let mut env: Vec<String> = c.env().clone().unwrap_or_default();
    for (k, v) in &patch.env {
        let entry = format!("{k}={v}");
        match env
            .iter_mut()
            .find(|e| e.split('=').next() == Some(k.as_str()))
        {
            Some(existing) => *existing = entry,
            None => env.push(entry),
        }
    }
    if !env.is_empty() {
        c.set_env(Some(env));
    }
    if let Some(e) = &patch.entrypoint {
        c.set_entrypoint(Some(e.clone()));
        c.set_cmd(patch.cmd.clone());
    } else if let Some(cmd) = &patch.cmd {
        c.set_cmd(Some(cmd.clone()));
    }
    if let Some(w) = &patch.workdir {
        c.set_working_dir(Some(w.clone()));
    }
    let base_user = c.user().clone().filter(|u| !u.is_empty());
    c.set_user(Some(
        patch
            .user
            .clone()
            .or(base_user)
            .unwrap_or_else(|| NONROOT_USER.to_string()),
    ));
    if !patch.labels.is_empty() {
        let mut labels = c.labels().clone().unwrap_or_default();
        labels.extend(patch.labels.clone());
        c.set_labels(Some(labels));
    }
    if !patch.exposed_ports.is_empty() {
        let mut ports = c.exposed_ports().clone().unwrap_or_default();
        for p in &patch.exposed_ports {
            if !ports.contains(p) {
                ports.push(p.clone());
            }
        }
        ports.sort();
        c.set_exposed_ports(Some(ports));
    }
    c
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_merge_precedence() {
        let mut base = Config::default();
        base.set_env(Some(vec!["PATH=/usr/bin".into(), "A=base".into()]));
        base.set_cmd(Some(vec!["/bin/sh".into()]));
        base.set_user(Some("1000".into()));
        let mut patch = ImageConfigPatch::default();
        patch.env.insert("A".into(), "ours".into());
        patch.env.insert("B".into(), "new".into());
        patch.entrypoint = Some(vec!["/app/x".into()]);
        let c = merge_config(base, &patch);
        assert_eq!(
            c.env().clone().unwrap(),
            vec!["PATH=/usr/bin".to_string(), "A=ours".into(), "B=new".into()]
        );
        assert_eq!(c.cmd(), &None, "an entrypoint of ours drops the base's cmd");
        assert_eq!(c.user().as_deref(), Some("1000"), "the base's user is kept");
        let c = merge_config(Config::default(), &ImageConfigPatch::default());
        assert_eq!(c.user().as_deref(), Some(NONROOT_USER));
    }
}
