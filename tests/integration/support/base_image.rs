//! A distroless-"static"-like base image, built here byte by byte as an OCI layout, so base
//! tests need no registry and do not trust lade's own image code: per platform one layer with
//! /etc/passwd (root 0, nobody 65534, nonroot 65532), /etc/group, /tmp (1777), a CA bundle
//! placeholder, and /etc/lade-test-base naming the platform (so a test can tell which
//! platform's base ended up under which image).

use super::layout::{OCI_INDEX, OCI_MANIFEST, REF_NAME, sha256_digest};
use flate2::Compression;
use flate2::write::GzEncoder;
use serde_json::{Value, json};
use sha2::{Digest as _, Sha256};
use std::collections::BTreeMap;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

pub const LAYER_GZIP: &str = "application/vnd.oci.image.layer.v1.tar+gzip";
pub const CONFIG: &str = "application/vnd.oci.image.config.v1+json";
pub const BASE_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

pub const PASSWD: &str = "root:x:0:0:root:/root:/sbin/nologin\n\
nobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin\n\
nonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n";
pub const GROUP: &str = "root:x:0:\nnobody:x:65534:\nnonroot:x:65532:\n";

pub struct BaseImage {
    pub dir: PathBuf,
    pub tag: String,
    /// Per architecture: the base layer's (blob digest, diff_id).
    pub layers: BTreeMap<String, (String, String)>,
    /// Per architecture: the manifest digest.
    pub manifests: BTreeMap<String, String>,
}

impl BaseImage {
    /// The `--base` value for lade.
    pub fn reference(&self) -> String {
        format!("oci:{}:{}", self.dir.display(), self.tag)
    }
}

/// Writes the base to a new layout at `dir`, tagged `tag`. With one architecture the tag
/// points straight at its manifest; with several, at an image index (as `skopeo copy --all`
/// leaves it). `user` sets config.User (None leaves it unset, like distroless/static's root).
pub fn build_base(dir: &Path, tag: &str, archs: &[&str], user: Option<&str>) -> BaseImage {
    build_base_from(dir, tag, archs, user, base_tar)
}

/// [`build_base`] with each architecture's layer tar made by `tar_for` (from [`base_tar_with`],
/// so platforms of one base can hold different files).
pub fn build_base_from(
    dir: &Path,
    tag: &str,
    archs: &[&str],
    user: Option<&str>,
    tar_for: impl Fn(&str) -> Vec<u8>,
) -> BaseImage {
    fs::create_dir_all(dir.join("blobs/sha256")).unwrap();
    fs::write(dir.join("oci-layout"), r#"{"imageLayoutVersion":"1.0.0"}"#).unwrap();
    let mut layers = BTreeMap::new();
    let mut manifests = BTreeMap::new();
    let mut descriptors = Vec::new();
    for arch in archs {
        let tar = tar_for(arch);
        let diff_id = sha256_digest(&tar);
        let gz = gzip(&tar);
        let layer_digest = put(dir, &gz);
        let mut platform = json!({"architecture": arch, "os": "linux"});
        if *arch == "arm64" {
            // As published arm64 images usually say it; lade must treat it as plain arm64.
            platform["variant"] = json!("v8");
        }
        let mut config = json!({
            "architecture": arch,
            "os": "linux",
            "created": "1970-01-01T00:00:00Z",
            "config": {
                "Env": [format!("PATH={BASE_PATH}"), "SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt"],
            },
            "rootfs": {"type": "layers", "diff_ids": [diff_id]},
            "history": [{"created": "1970-01-01T00:00:00Z", "created_by": "lade tests: static base files"}],
        });
        if let Some(v) = platform.get("variant") {
            config["variant"] = v.clone();
        }
        if let Some(u) = user {
            config["config"]["User"] = json!(u);
        }
        let config_bytes = serde_json::to_vec(&config).unwrap();
        let config_digest = put(dir, &config_bytes);
        let manifest = json!({
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": {"mediaType": CONFIG, "digest": config_digest, "size": config_bytes.len()},
            "layers": [{"mediaType": LAYER_GZIP, "digest": layer_digest, "size": gz.len()}],
        });
        let manifest_bytes = serde_json::to_vec(&manifest).unwrap();
        let manifest_digest = put(dir, &manifest_bytes);
        descriptors.push(json!({
            "mediaType": OCI_MANIFEST,
            "digest": manifest_digest,
            "size": manifest_bytes.len(),
            "platform": platform,
        }));
        layers.insert(arch.to_string(), (layer_digest, diff_id));
        manifests.insert(arch.to_string(), manifest_digest);
    }
    let mut top: Value = if descriptors.len() == 1 {
        descriptors.pop().unwrap()
    } else {
        let index = json!({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": descriptors});
        let bytes = serde_json::to_vec(&index).unwrap();
        json!({"mediaType": OCI_INDEX, "digest": put(dir, &bytes), "size": bytes.len()})
    };
    top["annotations"] = json!({ REF_NAME: tag });
    let index_json = json!({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": [top]});
    fs::write(
        dir.join("index.json"),
        serde_json::to_vec(&index_json).unwrap(),
    )
    .unwrap();
    BaseImage {
        dir: dir.to_path_buf(),
        tag: tag.to_string(),
        layers,
        manifests,
    }
}

/// Stores a blob under its digest and returns the digest.
pub fn put(dir: &Path, bytes: &[u8]) -> String {
    let hex = hex::encode(Sha256::digest(bytes));
    fs::write(dir.join("blobs/sha256").join(&hex), bytes).unwrap();
    format!("sha256:{hex}")
}

pub fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut gz = GzEncoder::new(Vec::new(), Compression::default());
    gz.write_all(bytes).unwrap();
    gz.finish().unwrap()
}

/// The base layer's uncompressed tar: every header written by hand (mtime 0, owner 0:0) so
/// the bytes are the same on every run.
pub fn base_tar(arch: &str) -> Vec<u8> {
    base_tar_with(arch, &[])
}

/// [`base_tar`] with `extra` regular files after the others: (path without the leading
/// slash, bytes, mode), their directories included.
pub fn base_tar_with(arch: &str, extra: &[(&str, &[u8], u32)]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    let dir = |b: &mut tar::Builder<Vec<u8>>, path: &str, mode: u32, uid: u64| {
        let mut h = tar::Header::new_ustar();
        h.set_entry_type(tar::EntryType::Directory);
        h.set_mode(mode);
        h.set_uid(uid);
        h.set_gid(uid);
        h.set_mtime(0);
        h.set_size(0);
        b.append_data(&mut h, path, std::io::empty()).unwrap();
    };
    let file = |b: &mut tar::Builder<Vec<u8>>, path: &str, data: &[u8]| {
        let mut h = tar::Header::new_ustar();
        h.set_entry_type(tar::EntryType::Regular);
        h.set_mode(0o644);
        h.set_uid(0);
        h.set_gid(0);
        h.set_mtime(0);
        h.set_size(data.len() as u64);
        b.append_data(&mut h, path, data).unwrap();
    };
    dir(&mut b, "etc/", 0o755, 0);
    file(&mut b, "etc/group", GROUP.as_bytes());
    file(
        &mut b,
        "etc/lade-test-base",
        format!("linux/{arch}\n").as_bytes(),
    );
    file(&mut b, "etc/passwd", PASSWD.as_bytes());
    dir(&mut b, "etc/ssl/", 0o755, 0);
    dir(&mut b, "etc/ssl/certs/", 0o755, 0);
    file(
        &mut b,
        "etc/ssl/certs/ca-certificates.crt",
        b"# lade tests: placeholder CA bundle, no certificates\n",
    );
    dir(&mut b, "home/", 0o755, 0);
    dir(&mut b, "home/nonroot/", 0o700, 65532);
    dir(&mut b, "tmp/", 0o1777, 0);
    for (path, data, mode) in extra {
        if let Some((parent, _)) = path.rsplit_once('/') {
            dir(&mut b, &format!("{parent}/"), 0o755, 0);
        }
        let mut h = tar::Header::new_ustar();
        h.set_entry_type(tar::EntryType::Regular);
        h.set_mode(*mode);
        h.set_uid(0);
        h.set_gid(0);
        h.set_mtime(0);
        h.set_size(data.len() as u64);
        b.append_data(&mut h, path, *data).unwrap();
    }
    b.into_inner().unwrap()
}

/// An OCI layout at `dir` holding one image for `arch` whose only layer is `tar`, tagged `tag`,
/// running as 65532 with the test PATH: the shape of every host-file test base.
pub fn single_layer_layout(
    dir: &Path,
    tag: &str,
    arch: &str,
    tar: &[u8],
    created_by: &str,
) -> BaseImage {
    let config = json!({"Env": [format!("PATH={BASE_PATH}")], "User": "65532"});
    single_layer_layout_with(dir, tag, arch, tar, created_by, config)
}

/// [`single_layer_layout`] with the image's `config` (Env, Entrypoint, User…) as given.
pub fn single_layer_layout_with(
    dir: &Path,
    tag: &str,
    arch: &str,
    tar: &[u8],
    created_by: &str,
    image_config: serde_json::Value,
) -> BaseImage {
    let diff_id = sha256_digest(tar);
    let mut gz = GzEncoder::new(Vec::new(), Compression::default());
    gz.write_all(tar).unwrap();
    let gz = gz.finish().unwrap();

    fs::create_dir_all(dir.join("blobs/sha256")).unwrap();
    fs::write(dir.join("oci-layout"), r#"{"imageLayoutVersion":"1.0.0"}"#).unwrap();
    let layer = put(dir, &gz);
    let config = json!({
        "architecture": arch,
        "os": "linux",
        "created": "1970-01-01T00:00:00Z",
        "config": image_config,
        "rootfs": {"type": "layers", "diff_ids": [diff_id]},
        "history": [{"created": "1970-01-01T00:00:00Z", "created_by": created_by}],
    });
    let config_bytes = serde_json::to_vec(&config).unwrap();
    let config_digest = put(dir, &config_bytes);
    let manifest = json!({
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": {"mediaType": CONFIG, "digest": config_digest, "size": config_bytes.len()},
        "layers": [{"mediaType": LAYER_GZIP, "digest": layer, "size": gz.len()}],
    });
    let manifest_bytes = serde_json::to_vec(&manifest).unwrap();
    let manifest_digest = put(dir, &manifest_bytes);
    let index = json!({
        "schemaVersion": 2,
        "mediaType": OCI_INDEX,
        "manifests": [{
            "mediaType": OCI_MANIFEST,
            "digest": manifest_digest,
            "size": manifest_bytes.len(),
            "platform": {"architecture": arch, "os": "linux"},
            "annotations": {REF_NAME: tag},
        }],
    });
    fs::write(dir.join("index.json"), serde_json::to_vec(&index).unwrap()).unwrap();
    BaseImage {
        dir: dir.to_path_buf(),
        tag: tag.to_string(),
        layers: BTreeMap::from([(arch.to_string(), (layer, diff_id))]),
        manifests: BTreeMap::from([(arch.to_string(), manifest_digest)]),
    }
}
