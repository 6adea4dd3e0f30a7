//! Reading OCI image layouts written by lade (or by the tests' own builders) without trusting
//! lade's code: blobs are re-hashed on read, indexes are walked by hand, layers are untarred
//! here. Also the external checks: oci-image-tool validate and umoci unpack.

use super::tools::{run_ok, tool};
use flate2::read::MultiGzDecoder;
use serde_json::{Value, json};
use sha2::{Digest as _, Sha256};
use std::collections::BTreeMap;
use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};

pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
pub const REF_NAME: &str = "org.opencontainers.image.ref.name";
pub const CREATED: &str = "org.opencontainers.image.created";

pub fn sha256_digest(bytes: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(bytes)))
}

pub struct Layout {
    pub dir: PathBuf,
}

/// One platform's image as found in a layout.
#[derive(Clone, Debug)]
pub struct PlatformImage {
    /// The descriptor that points at the manifest (from the index, or index.json).
    pub descriptor: Value,
    pub manifest_digest: String,
    pub manifest: Value,
    pub config_digest: String,
    pub config: Value,
}

impl PlatformImage {
    pub fn architecture(&self) -> &str {
        self.config["architecture"].as_str().unwrap_or("")
    }

    pub fn layer_digests(&self) -> Vec<String> {
        self.manifest["layers"]
            .as_array()
            .expect("manifest has layers")
            .iter()
            .map(|l| l["digest"].as_str().unwrap().to_string())
            .collect()
    }

    /// `config.config.<key>` (Entrypoint, User, Env, …).
    pub fn cfg(&self, key: &str) -> &Value {
        &self.config["config"][key]
    }

    /// `config.config.Env` as a map.
    pub fn env(&self) -> BTreeMap<String, String> {
        self.cfg("Env")
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|e| e.as_str()?.split_once('='))
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect()
            })
            .unwrap_or_default()
    }
}

impl Layout {
    /// Opens a layout, checking the `oci-layout` marker file.
    pub fn open(dir: &Path) -> Layout {
        let marker = dir.join("oci-layout");
        let text = fs::read_to_string(&marker)
            .unwrap_or_else(|e| panic!("{} is not an OCI layout: {e}", dir.display()));
        let v: Value = serde_json::from_str(&text).expect("oci-layout is JSON");
        assert_eq!(v["imageLayoutVersion"], "1.0.0", "{}", marker.display());
        Layout {
            dir: dir.to_path_buf(),
        }
    }

    pub fn index(&self) -> Value {
        let text = fs::read_to_string(self.dir.join("index.json")).expect("read index.json");
        serde_json::from_str(&text).expect("index.json is JSON")
    }

    pub fn blob_path(&self, digest: &str) -> PathBuf {
        let (alg, hex) = digest.split_once(':').expect("digest has an algorithm");
        self.dir.join("blobs").join(alg).join(hex)
    }

    /// A blob's bytes, checked against its digest.
    pub fn blob(&self, digest: &str) -> Vec<u8> {
        let p = self.blob_path(digest);
        let bytes = fs::read(&p).unwrap_or_else(|e| panic!("read blob {}: {e}", p.display()));
        assert_eq!(
            sha256_digest(&bytes),
            digest,
            "blob content does not match its name"
        );
        bytes
    }

    pub fn json(&self, digest: &str) -> Value {
        serde_json::from_slice(&self.blob(digest)).expect("blob is JSON")
    }

    /// Every blob in the layout hashes to its file name.
    pub fn verify_blobs(&self) {
        let dir = self.dir.join("blobs/sha256");
        for e in fs::read_dir(&dir).expect("blobs/sha256 exists") {
            let e = e.unwrap();
            let name = e.file_name().into_string().unwrap();
            let bytes = fs::read(e.path()).unwrap();
            assert_eq!(
                sha256_digest(&bytes),
                format!("sha256:{name}"),
                "blob {name} is corrupt"
            );
        }
    }

    /// Tags (`org.opencontainers.image.ref.name`) in index.json.
    pub fn tags(&self) -> Vec<String> {
        self.index()["manifests"]
            .as_array()
            .expect("index.json has manifests")
            .iter()
            .filter_map(|d| d["annotations"][REF_NAME].as_str().map(str::to_string))
            .collect()
    }

    /// The descriptor index.json holds for `tag`.
    pub fn tagged(&self, tag: &str) -> Value {
        let index = self.index();
        let found: Vec<&Value> = index["manifests"]
            .as_array()
            .expect("index.json has manifests")
            .iter()
            .filter(|d| d["annotations"][REF_NAME] == tag)
            .collect();
        assert_eq!(
            found.len(),
            1,
            "expected one descriptor tagged {tag:?} in {}; tags: {:?}",
            self.dir.display(),
            self.tags()
        );
        found[0].clone()
    }

    /// The platform images `tag` names: the manifests of its index, or its one manifest.
    pub fn images(&self, tag: &str) -> Vec<PlatformImage> {
        let top = self.tagged(tag);
        match top["mediaType"].as_str() {
            Some(OCI_INDEX) => {
                let index = self.json(top["digest"].as_str().unwrap());
                assert_eq!(index["mediaType"], OCI_INDEX, "index mediaType");
                index["manifests"]
                    .as_array()
                    .expect("index has manifests")
                    .iter()
                    .map(|d| self.image_at(d))
                    .collect()
            }
            Some(OCI_MANIFEST) => vec![self.image_at(&top)],
            other => panic!("tag {tag} points at unexpected media type {other:?}"),
        }
    }

    /// The image for `arch` under `tag`; panics unless there is exactly one.
    pub fn image(&self, tag: &str, arch: &str) -> PlatformImage {
        let all = self.images(tag);
        let mut found: Vec<PlatformImage> = all
            .iter()
            .filter(|i| i.architecture() == arch)
            .cloned()
            .collect();
        assert_eq!(
            found.len(),
            1,
            "expected one {arch} image under {tag}; have {:?}",
            all.iter().map(|i| i.architecture()).collect::<Vec<_>>()
        );
        found.pop().unwrap()
    }

    fn image_at(&self, descriptor: &Value) -> PlatformImage {
        let manifest_digest = descriptor["digest"].as_str().unwrap().to_string();
        let bytes = self.blob(&manifest_digest);
        assert_eq!(
            descriptor["size"].as_u64(),
            Some(bytes.len() as u64),
            "descriptor size of {manifest_digest}"
        );
        let manifest: Value = serde_json::from_slice(&bytes).unwrap();
        // mediaType inside a manifest is optional in the OCI spec (umoci omits it); when
        // present it must agree with the descriptor. lade's own tests check it is there.
        assert_eq!(
            descriptor["mediaType"], OCI_MANIFEST,
            "descriptor mediaType"
        );
        if !manifest["mediaType"].is_null() {
            assert_eq!(manifest["mediaType"], OCI_MANIFEST, "manifest mediaType");
        }
        let config_digest = manifest["config"]["digest"].as_str().unwrap().to_string();
        let config = self.json(&config_digest);
        // An index entry's platform must agree with the config it leads to, or a runtime
        // would pick the wrong image.
        if let Some(arch) = descriptor["platform"]["architecture"].as_str() {
            assert_eq!(config["architecture"], arch, "index platform vs config");
            assert_eq!(
                config["os"], descriptor["platform"]["os"],
                "index os vs config"
            );
        }
        PlatformImage {
            descriptor: descriptor.clone(),
            manifest_digest,
            manifest,
            config_digest,
            config,
        }
    }

    /// The files of one layer blob.
    pub fn layer_entries(&self, digest: &str) -> Vec<TarEntry> {
        read_tar_gz(&self.blob(digest))
    }

    /// Copies `img` into a new single-image layout at `dest`, tagged `tag`. Needed because
    /// oci-image-tool and umoci do not follow nested indexes. Blobs are hard-linked.
    pub fn extract(&self, img: &PlatformImage, dest: &Path, tag: &str) -> Layout {
        let blobs = dest.join("blobs/sha256");
        fs::create_dir_all(&blobs).unwrap();
        let mut digests = vec![img.manifest_digest.clone(), img.config_digest.clone()];
        digests.extend(img.layer_digests());
        for d in digests {
            let to = blobs.join(d.trim_start_matches("sha256:"));
            if !to.exists() && fs::hard_link(self.blob_path(&d), &to).is_err() {
                fs::copy(self.blob_path(&d), &to).unwrap();
            }
        }
        fs::write(dest.join("oci-layout"), r#"{"imageLayoutVersion":"1.0.0"}"#).unwrap();
        let mut desc = img.descriptor.clone();
        desc["annotations"] = json!({ REF_NAME: tag });
        let index = json!({"schemaVersion": 2, "manifests": [desc]});
        fs::write(dest.join("index.json"), serde_json::to_vec(&index).unwrap()).unwrap();
        Layout::open(dest)
    }
}

#[derive(Clone, Debug)]
pub struct TarEntry {
    /// Relative, without a leading `./` or `/`, without a trailing `/`.
    pub path: String,
    pub kind: tar::EntryType,
    pub mode: u32,
    pub uid: u64,
    pub gid: u64,
    pub mtime: u64,
    pub link: Option<String>,
    pub data: Vec<u8>,
}

pub fn read_tar_gz(bytes: &[u8]) -> Vec<TarEntry> {
    // Multi-member aware: umoci (and pigz-style writers) emit several gzip members.
    let mut archive = tar::Archive::new(MultiGzDecoder::new(bytes));
    let mut out = Vec::new();
    for e in archive.entries().expect("layer is a tar.gz") {
        let mut e = e.expect("tar entry");
        let h = e.header().clone();
        let path = e.path().unwrap().to_string_lossy().into_owned();
        let path = path
            .trim_start_matches("./")
            .trim_start_matches('/')
            .trim_end_matches('/')
            .to_string();
        let link = e
            .link_name()
            .unwrap()
            .map(|l| l.to_string_lossy().into_owned());
        let mut data = Vec::new();
        e.read_to_end(&mut data).unwrap();
        out.push(TarEntry {
            path,
            kind: h.entry_type(),
            mode: h.mode().unwrap(),
            uid: h.uid().unwrap(),
            gid: h.gid().unwrap(),
            mtime: h.mtime().unwrap(),
            link,
            data,
        });
    }
    out
}

pub fn find_entry<'a>(entries: &'a [TarEntry], path: &str) -> &'a TarEntry {
    entries.iter().find(|e| e.path == path).unwrap_or_else(|| {
        panic!(
            "no {path} in layer; it has {:?}",
            entries.iter().map(|e| &e.path).collect::<Vec<_>>()
        )
    })
}

/// `oci-image-tool validate` on one tag of a single-image layout.
pub fn validate(layout: &Path, tag: &str) {
    run_ok(
        tool("oci-image-tool")
            .args(["validate", "--type", "image", "--ref"])
            .arg(format!("name={tag}"))
            .arg(layout),
    );
}

/// `umoci unpack` of one tag into a runtime bundle (rootfs/ and config.json). We run as root,
/// so no `--rootless`: file owners in the rootfs are the ones in the layers.
pub fn unpack(layout: &Path, tag: &str, bundle: &Path) {
    run_ok(
        tool("umoci")
            .arg("unpack")
            .arg("--image")
            .arg(format!("{}:{tag}", layout.display()))
            .arg(bundle),
    );
}
