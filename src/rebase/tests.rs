use super::*;
use crate::digest::Digest;
use crate::image::assemble::{self, BuildMeta, NamedLayer};
use crate::oci::{self, BlobSource, Layer};
use crate::platform::Platform;
use oci_spec::image::ImageConfiguration;
use std::collections::HashMap;

fn layer(seed: &str) -> Layer {
    let digest = Digest::of(seed.as_bytes());
    Layer {
        descriptor: oci::descriptor(crate::layer::GZIP_LAYER_MEDIA_TYPE, 10, &digest),
        diff_id: Digest::of(format!("diff {seed}").as_bytes()),
        source: BlobSource::File(format!("/blobs/{seed}").into()),
    }
}

fn base(seed: &str, labels: &[(&str, &str)], entrypoint: Option<&str>) -> BaseImage {
    let mut c = Config::default();
    c.set_env(Some(vec!["PATH=/usr/bin".into(), "LANG=C".into()]));
    c.set_user(Some("65532".into()));
    c.set_working_dir(Some("/home/nonroot".into()));
    c.set_entrypoint(entrypoint.map(|e| vec![e.to_string()]));
    c.set_labels(Some(
        labels
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
    ));
    let mut config = ImageConfiguration::default();
    config.set_config(Some(c));
    let layers = vec![layer(&format!("{seed}-1")), layer(&format!("{seed}-2"))];
    config
        .rootfs_mut()
        .set_diff_ids(layers.iter().map(|l| l.diff_id.to_string()).collect());
    let mut h = oci_spec::image::History::default();
    h.set_created_by(Some(format!("base {seed}")));
    config.set_history(Some(vec![h.clone(), h]));
    BaseImage {
        platform: "linux/amd64".parse::<Platform>().unwrap(),
        config,
        layers,
    }
}

fn patch() -> ImageConfigPatch {
    let mut p = ImageConfigPatch {
        entrypoint: Some(vec!["/app/hello".into()]),
        workdir: Some("/app".into()),
        exposed_ports: vec!["8080/tcp".into()],
        ..ImageConfigPatch::default()
    };
    p.env.insert("LANG".into(), "C.UTF-8".into());
    p.env.insert("APP".into(), "1".into());
    p.labels.insert("team".into(), "core".into());
    p
}

fn meta() -> BuildMeta {
    BuildMeta {
        created: 1_700_000_000,
        annotations: [
            (
                oci::ANNOTATION_BASE_NAME.to_string(),
                "r/base:v".to_string(),
            ),
            (
                oci::ANNOTATION_BASE_DIGEST.to_string(),
                "sha256:0".to_string(),
            ),
        ]
        .into(),
    }
}

/// The image a publish writes on `b`.
fn published(b: &BaseImage) -> oci::Image {
    let own = vec![NamedLayer {
        name: "app".into(),
        layer: layer("app"),
    }];
    assemble::image(b, own, &patch(), &meta()).unwrap()
}

fn as_base(img: &oci::Image) -> BaseImage {
    BaseImage {
        platform: img.platform.clone(),
        config: serde_json::from_slice(&img.config.bytes).unwrap(),
        layers: img.layers.clone(),
    }
}

fn annotations(img: &oci::Image) -> HashMap<String, String> {
    let m: oci_spec::image::ImageManifest = serde_json::from_slice(&img.manifest.bytes).unwrap();
    m.annotations().clone().unwrap()
}

#[test]
fn restacking_on_the_same_base_gives_the_same_bytes() {
    let b = base("v1", &[], Some("/bin/sh"));
    let img = published(&b);
    let read = as_base(&img);
    let own = own_layers(&read, &b).unwrap();
    let p = lade_patch(&read.config, &b.config);
    let created = read.config.created().clone().unwrap();
    let again = assemble::stack(&b, own, &p, &created, annotations(&img)).unwrap();
    assert_eq!(again.config.bytes, img.config.bytes);
    assert_eq!(again.manifest.bytes, img.manifest.bytes);
}

#[test]
fn a_new_base_gets_lades_settings_and_keeps_lades_layers() {
    let v1 = base("v1", &[("dev.lade.base", "debian12/cc")], None);
    let img = as_base(&published(&v1));
    let mut v2 = base("v2", &[("dev.lade.base", "debian12/cc+zlib1g")], None);
    let mut c = v2.config.config().clone().unwrap();
    c.set_env(Some(vec![
        "PATH=/usr/local/bin:/usr/bin".into(),
        "LANG=C".into(),
    ]));
    v2.config.set_config(Some(c));
    let own = own_layers(&img, &v1).unwrap();
    assert_eq!(own.layers.len(), 1);
    assert_eq!(own.layers[0].digest(), layer("app").digest());
    assert_eq!(own.history.len(), 1);
    let p = lade_patch(&img.config, &v1.config);
    let out = assemble::stack(&v2, own, &p, "2023-11-14T22:13:20Z", HashMap::new()).unwrap();
    let cfg: ImageConfiguration = serde_json::from_slice(&out.config.bytes).unwrap();
    let c = cfg.config().clone().unwrap();
    assert_eq!(
        c.env().clone().unwrap(),
        vec![
            "PATH=/usr/local/bin:/usr/bin".to_string(),
            "LANG=C.UTF-8".into(),
            "APP=1".into()
        ],
        "the new base's PATH, lade's LANG and APP"
    );
    assert_eq!(
        c.entrypoint().clone().unwrap(),
        vec!["/app/hello".to_string()]
    );
    assert_eq!(c.working_dir().as_deref(), Some("/app"));
    let labels = c.labels().clone().unwrap();
    assert_eq!(labels["dev.lade.base"], "debian12/cc+zlib1g");
    assert_eq!(labels["team"], "core");
    let layers: Vec<Digest> = out.layers.iter().map(Layer::digest).collect();
    assert_eq!(
        layers,
        vec![
            v2.layers[0].digest(),
            v2.layers[1].digest(),
            layer("app").digest()
        ]
    );
    assert_eq!(cfg.rootfs().diff_ids().len(), 3);
    assert_eq!(cfg.history().as_ref().unwrap().len(), 3);
}

#[test]
fn an_image_not_on_the_old_base_is_refused() {
    let v1 = base("v1", &[], None);
    let other = base("other", &[], None);
    let img = as_base(&published(&other));
    let r = own_layers(&img, &v1).err().unwrap();
    assert!(!r.forceable);
    assert!(
        r.reason.contains("layer 1") && r.reason.contains("not the old base's"),
        "{}",
        r.reason
    );
}

#[test]
fn lineage_follows_the_lade_preset_else_the_repository() {
    let cfg = |label: &str| base("x", &[("dev.lade.base", label)], None).config;
    let cc = lineage("reg/a:v1", &cfg("debian12/cc"));
    assert_eq!(cc, lineage("reg/b:v2", &cfg("debian12/cc+zlib1g")));
    let r = check_lineage(&cc, &lineage("reg/a:v1", &cfg("debian12/python3"))).unwrap_err();
    assert!(r.forceable);
    assert!(r.reason.contains("preset cc → python3"), "{}", r.reason);
    let r = check_lineage(&cc, &lineage("reg/a:v1", &cfg("debian12/static"))).unwrap_err();
    assert!(
        r.reason.contains("libc glibc → none, preset cc → static"),
        "{}",
        r.reason
    );
    let plain = ImageConfiguration::default();
    let a = lineage("registry.example/team/base:1", &plain);
    assert_eq!(a, lineage("registry.example/team/base:2", &plain));
    let r = check_lineage(&a, &lineage("registry.example/other:1", &plain)).unwrap_err();
    assert!(
        r.reason
            .contains("registry.example/team/base → repository registry.example/other"),
        "{}",
        r.reason
    );
    assert!(check_lineage(&cc, &a).is_err());
}

#[test]
fn changed_packages_come_from_the_labels() {
    let old = base(
        "a",
        &[(
            "dev.lade.base.packages",
            "libc6=2.36-9 tzdata=2024a zlib1g=1:1.2.13",
        )],
        None,
    );
    let new = base(
        "b",
        &[(
            "dev.lade.base.packages",
            "libc6=2.36-9+deb12u10 tzdata=2024a curl=7.88",
        )],
        None,
    );
    let changes: Vec<String> = package_changes(&old.config, &new.config)
        .iter()
        .map(|c| c.to_string())
        .collect();
    assert_eq!(
        changes,
        vec![
            "curl (none) → 7.88",
            "libc6 2.36-9 → 2.36-9+deb12u10",
            "zlib1g 1:1.2.13 → (none)"
        ]
    );
    assert!(package_changes(&old.config, &ImageConfiguration::default()).is_empty());
}

#[test]
fn the_new_base_must_be_for_the_same_os_and_architecture() {
    let img = base("a", &[], None);
    let mut other = base("b", &[], None);
    other.config.set_architecture(oci_spec::image::Arch::ARM64);
    other.config.set_os(oci_spec::image::Os::Linux);
    let r = check_platform(&img, &other).unwrap_err();
    assert!(r.reason.contains("linux/arm64"), "{}", r.reason);
}
