//! `docker-archive:FILE[:NAME[:TAG]]`: a `docker load` tarball of one platform's image.
//!
//! The layout is what `docker save` writes since Docker 25: `manifest.json` (the classic
//! `[{"Config", "RepoTags", "Layers"}]` list `docker load` and skopeo read) over an OCI layout
//! (`oci-layout`, `index.json`, `blobs/sha256/…`) that containerd-based loaders read. Config
//! and layers are the same blobs for both: layers stay gzip-compressed, which `docker load`
//! and skopeo both decompress. The legacy `repositories` file is not written; it only maps
//! names to v1 layer IDs, which lade does not produce and no current loader needs.
//!
//! Names: `NAME:TAG` goes into `RepoTags` as written (a NAME without a tag gets `:latest`), and
//! into `index.json` as `io.containerd.image.name` (fully qualified, `docker.io/library/…`)
//! and `org.opencontainers.image.ref.name` (the tag), as `docker save` does. Without a name
//! `RepoTags` is empty: `docker load` then loads the image untagged and prints its ID (the
//! config digest), and `skopeo … docker-archive:FILE` picks the only image.
//!
//! The tar is deterministic in the same way as oci-archive's (see `oci_archive`).

use super::oci_archive::{Entry, blob_name, layout_entries, write_tar};
use super::oci_layout::{Blob, check_not_empty, collect_blobs, invalid, new_index, root_entry};
use super::{BlobProvider, Published, Sink, SinkError};
use crate::digest::Digest;
use crate::image::canonical;
use crate::oci::{ANNOTATION_REF_NAME, Image, ImageSet};
use std::collections::BTreeMap;
use std::path::PathBuf;

/// The annotation containerd (and Docker 25+ with the containerd store) reads the image name
/// from.
const ANNOTATION_CONTAINERD_NAME: &str = "io.containerd.image.name";

pub struct DockerArchiveSink {
    target: String,
    path: PathBuf,
    reference: Option<String>,
}

impl DockerArchiveSink {
    pub fn new(target: String, path: PathBuf, reference: Option<String>) -> Self {
        DockerArchiveSink {
            target,
            path,
            reference,
        }
    }
}

impl Sink for DockerArchiveSink {
    fn write(&self, set: &ImageSet, blobs: &dyn BlobProvider) -> Result<Published, SinkError> {
        let t = self.target.as_str();
        check_not_empty(t, set)?;
        if set.images.len() > 1 {
            let platforms: Vec<String> =
                set.images.iter().map(|i| i.platform.to_string()).collect();
            return Err(invalid(
                t,
                format!(
                    "docker-archive holds one platform; pass --platform {} (one of: {}) or use oci-archive:{} for all",
                    platforms[0],
                    platforms.join(", "),
                    self.path.display()
                ),
            ));
        }
        let name = match &self.reference {
            Some(r) => Some(DockerName::parse_for(t, r)?),
            None => None,
        };
        let image = &set.images[0];
        let all = collect_blobs(t, std::slice::from_ref(image), None, blobs)?;
        let entries = archive_entries(t, image, name.as_ref(), &all)?;
        write_tar(t, &self.path, &entries)?;

        let digest = image.manifest.digest();
        Ok(Published {
            target: self.target.clone(),
            reference: self.target.clone(),
            digest,
            stats: None,
        })
    }
}

/// The members of a docker-archive holding `image` (named `name`, or untagged), whose blobs
/// are `all`: what this sink writes to a file and `docker_daemon` streams to an engine.
pub(super) fn archive_entries<'a>(
    t: &str,
    image: &Image,
    name: Option<&DockerName>,
    all: &'a BTreeMap<Digest, Blob<'a>>,
) -> Result<BTreeMap<String, Entry<'a>>, SinkError> {
    let mut annotations = BTreeMap::new();
    if let Some(n) = name {
        annotations.insert(ANNOTATION_CONTAINERD_NAME.to_string(), n.qualified());
        annotations.insert(ANNOTATION_REF_NAME.to_string(), n.tag.clone());
    }
    let index = new_index(t, root_entry(t, &image.manifest, annotations)?)?;
    let manifest = serde_json::json!([{
        "Config": blob_name(&image.config.digest()),
        "RepoTags": name.iter().map(|n| n.repo_tag()).collect::<Vec<_>>(),
        "Layers": image.layers.iter().map(|l| blob_name(&l.digest())).collect::<Vec<_>>(),
    }]);
    let manifest = canonical::to_vec(&manifest)
        .map_err(|e| invalid(t, format!("encoding manifest.json: {e}")))?;
    let mut entries = layout_entries(all, index);
    entries.insert("manifest.json".to_string(), Entry::Bytes(manifest));
    Ok(entries)
}

/// A Docker image name with its tag, checked against the reference grammar `docker load`
/// applies (so a bad name fails here, not at load time).
#[derive(Debug, PartialEq, Eq)]
pub(super) struct DockerName {
    /// As written: `app`, `team/app`, `registry.example:5000/team/app`.
    name: String,
    tag: String,
}

impl DockerName {
    /// [`DockerName::parse`], with the error an output reports.
    pub(super) fn parse_for(t: &str, r: &str) -> Result<DockerName, SinkError> {
        DockerName::parse(r).map_err(|why| {
            invalid(
                t,
                format!("'{r}' is not a valid image name: {why} (write NAME:TAG, e.g. myapp:1.0)"),
            )
        })
    }

    fn parse(s: &str) -> Result<DockerName, String> {
        if s.contains('@') {
            return Err("a digest cannot be a tag of a loaded image".into());
        }
        let last_slash = s.rfind('/').map_or(0, |i| i + 1);
        let (name, tag) = match s[last_slash..].rfind(':') {
            Some(i) => (&s[..last_slash + i], &s[last_slash + i + 1..]),
            None => (s, "latest"),
        };
        let tag_ok = !tag.is_empty()
            && tag.len() <= 128
            && tag
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"_.-".contains(&b))
            && !tag.starts_with(['.', '-']);
        if !tag_ok {
            return Err(format!(
                "tag '{tag}' must be 1-128 letters, digits, '_', '.' or '-', not starting with '.' or '-'"
            ));
        }
        let mut parts: Vec<&str> = name.split('/').collect();
        if parts.len() > 1 && is_domain(parts[0]) {
            let domain = parts.remove(0);
            let (host, port) = domain.split_once(':').unwrap_or((domain, "1"));
            let host_ok = !host.is_empty()
                && host.split('.').all(|l| {
                    !l.is_empty() && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
                });
            if !host_ok || port.is_empty() || !port.bytes().all(|b| b.is_ascii_digit()) {
                return Err(format!("'{domain}' is not a valid registry host"));
            }
        }
        for p in &parts {
            if !is_path_component(p) {
                return Err(format!(
                    "'{p}' must be lowercase letters and digits, separated by '.', '_', '__' or dashes"
                ));
            }
        }
        Ok(DockerName {
            name: name.to_string(),
            tag: tag.to_string(),
        })
    }

    pub(super) fn repo_tag(&self) -> String {
        format!("{}:{}", self.name, self.tag)
    }

    /// The fully qualified form containerd stores (`app:1` → `docker.io/library/app:1`).
    fn qualified(&self) -> String {
        let first = self.name.split('/').next().unwrap_or_default();
        let has_domain = self.name.contains('/') && is_domain(first);
        match (has_domain, self.name.contains('/')) {
            (true, _) => self.repo_tag(),
            (false, true) => format!("docker.io/{}", self.repo_tag()),
            (false, false) => format!("docker.io/library/{}", self.repo_tag()),
        }
    }
}

/// Docker's rule: the first component names a registry if it has a `.` or a `:` or is
/// `localhost`.
fn is_domain(s: &str) -> bool {
    s.contains(['.', ':']) || s == "localhost"
}

/// `[a-z0-9]+` runs joined by `.`, `_`, `__` or one or more `-`.
fn is_path_component(s: &str) -> bool {
    let b = s.as_bytes();
    let alnum = |c: u8| c.is_ascii_lowercase() || c.is_ascii_digit();
    if b.is_empty() || !alnum(b[0]) || !alnum(b[b.len() - 1]) {
        return false;
    }
    let mut i = 0;
    while i < b.len() {
        if alnum(b[i]) {
            i += 1;
            continue;
        }
        let start = i;
        while i < b.len() && !alnum(b[i]) {
            i += 1;
        }
        let sep = &s[start..i];
        if !(sep == "." || sep == "_" || sep == "__" || sep.bytes().all(|c| c == b'-')) {
            return false;
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::super::oci_layout::testkit::*;
    use super::*;
    use crate::sink::LocalBlobs;
    use std::fs;
    use std::path::Path;

    fn write(file: &Path, reference: Option<&str>, set: &ImageSet) -> Result<Published, SinkError> {
        let target = match reference {
            Some(r) => format!("docker-archive:{}:{r}", file.display()),
            None => format!("docker-archive:{}", file.display()),
        };
        DockerArchiveSink::new(target, file.to_path_buf(), reference.map(str::to_string))
            .write(set, &LocalBlobs)
    }

    fn member(tar_bytes: &[u8], name: &str) -> Vec<u8> {
        let mut ar = tar::Archive::new(tar_bytes);
        for e in ar.entries().unwrap() {
            let mut e = e.unwrap();
            if e.path().unwrap().to_str() == Some(name) {
                let mut v = Vec::new();
                std::io::Read::read_to_end(&mut e, &mut v).unwrap();
                return v;
            }
        }
        panic!("{name} not in the archive");
    }

    #[test]
    fn skopeo_reads_config_and_layers_back() {
        let tmp = tempfile::tempdir().unwrap();
        let set = image_set(&tmp.path().join("store"), &["linux/amd64"], "hi");
        let file = tmp.path().join("app.tar");
        let p = write(&file, Some("example.com:5000/team/app:1.2"), &set).unwrap();
        assert_eq!(p.digest, set.images[0].manifest.digest());
        let bytes = fs::read(&file).unwrap();

        let manifest: serde_json::Value =
            serde_json::from_slice(&member(&bytes, "manifest.json")).unwrap();
        let img = &set.images[0];
        assert_eq!(
            manifest,
            serde_json::json!([{
                "Config": format!("blobs/sha256/{}", img.config.digest().hex()),
                "RepoTags": ["example.com:5000/team/app:1.2"],
                "Layers": img.layers.iter().map(|l| format!("blobs/sha256/{}", l.digest().hex())).collect::<Vec<_>>(),
            }])
        );
        let index: serde_json::Value =
            serde_json::from_slice(&member(&bytes, "index.json")).unwrap();
        let ann = &index["manifests"][0]["annotations"];
        assert_eq!(
            ann[ANNOTATION_CONTAINERD_NAME],
            "example.com:5000/team/app:1.2"
        );
        assert_eq!(ann[ANNOTATION_REF_NAME], "1.2");

        let source = format!("docker-archive:{}", file.display());
        let inspect = run_json(skopeo().arg("inspect").arg(&source));
        assert_eq!(inspect["Architecture"], "amd64");
        assert_eq!(inspect["Env"][0], "GREETING=hi");
        let config = run_json(skopeo().args(["inspect", "--config"]).arg(&source));
        assert_eq!(config["config"]["User"], "1234");
        assert_eq!(
            config["config"]["Entrypoint"],
            serde_json::json!(["/hello", "--flag"])
        );
        let diff_ids: Vec<String> = img.layers.iter().map(|l| l.diff_id.to_string()).collect();
        assert_eq!(config["rootfs"]["diff_ids"], serde_json::json!(diff_ids));
        // The named form resolves too.
        run(skopeo()
            .args(["inspect", "--raw"])
            .arg(format!("{source}:example.com:5000/team/app:1.2")));

        // Layers decompress to the diff_ids the config promises: skopeo verifies that on copy.
        let layout = tmp.path().join("layout");
        run(skopeo()
            .arg("copy")
            .arg(&source)
            .arg(format!("oci:{}:x", layout.display())));
        let rootfs = umoci_unpack(&layout, "x", &tmp.path().join("bundle"));
        assert_eq!(
            fs::read_to_string(rootfs.join("hello.txt")).unwrap(),
            "hi from linux/amd64\n"
        );
    }

    #[test]
    fn untagged_archive_is_deterministic() {
        let tmp = tempfile::tempdir().unwrap();
        let set = image_set(&tmp.path().join("store"), &["linux/arm64"], "hi");
        let a = tmp.path().join("a.tar");
        let b = tmp.path().join("b.tar");
        write(&a, None, &set).unwrap();
        write(&b, None, &set).unwrap();
        let bytes = fs::read(&a).unwrap();
        assert_eq!(bytes, fs::read(&b).unwrap());
        let manifest: serde_json::Value =
            serde_json::from_slice(&member(&bytes, "manifest.json")).unwrap();
        assert_eq!(manifest[0]["RepoTags"], serde_json::json!([]));
        let index: serde_json::Value =
            serde_json::from_slice(&member(&bytes, "index.json")).unwrap();
        assert!(index["manifests"][0].get("annotations").is_none());
        let inspect = run_json(
            skopeo()
                .arg("inspect")
                .arg(format!("docker-archive:{}", a.display())),
        );
        assert_eq!(inspect["Architecture"], "arm64");
    }

    #[test]
    fn several_platforms_are_refused_with_advice() {
        let tmp = tempfile::tempdir().unwrap();
        let set = image_set(
            &tmp.path().join("store"),
            &["linux/amd64", "linux/arm64"],
            "hi",
        );
        let file = tmp.path().join("app.tar");
        let err = write(&file, Some("app:1"), &set).unwrap_err().to_string();
        assert!(
            err.contains("docker-archive holds one platform; pass --platform linux/amd64 (one of: linux/amd64, linux/arm64) or use oci-archive:"),
            "{err}"
        );
        assert!(!file.exists());
    }

    #[test]
    fn names() {
        let ok = |s: &str| DockerName::parse(s).unwrap();
        assert_eq!(ok("app").repo_tag(), "app:latest");
        assert_eq!(ok("app").qualified(), "docker.io/library/app:latest");
        assert_eq!(ok("team/app:1").qualified(), "docker.io/team/app:1");
        assert_eq!(ok("localhost/app:1").qualified(), "localhost/app:1");
        assert_eq!(
            ok("localhost:5000/a/b:v1.0").repo_tag(),
            "localhost:5000/a/b:v1.0"
        );
        assert_eq!(ok("my-app__x.y:1_2-3").tag, "1_2-3");
        for bad in [
            "App:1",
            "app:",
            "app:-x",
            "app@sha256:00",
            "a//b",
            "app_:1",
            "app..x",
        ] {
            assert!(DockerName::parse(bad).is_err(), "{bad}");
        }
    }
}
