//! A Node runtime base built from the host's own node, as an OCI layout with one image for the
//! host's architecture: `node` at /usr/bin/node (on the base's PATH), every shared library
//! `ldd` names and the dynamic loader at their host paths, /etc/passwd and /etc/group with
//! nonroot 65532, /tmp. Enough to run a Node app without a registry.

use super::arm64::host_arch;
use super::base_image::{
    BASE_PATH, BaseImage, GROUP, PASSWD, single_layer_layout, single_layer_layout_with,
};
use super::layout::sha256_digest;
use super::tools::{require_tool, stdout_ok, tool};
use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

/// The host's node major version, as the base would report it.
pub fn node_major() -> u32 {
    let v = stdout_ok(tool("node").arg("--version"));
    v.trim()
        .trim_start_matches('v')
        .split('.')
        .next()
        .unwrap()
        .parse()
        .unwrap()
}

/// Builds the base at `dir`, tagged `tag`.
pub fn build_node_base(dir: &Path, tag: &str) -> BaseImage {
    let tar = base_tar(&node_files("usr/bin/node"));
    single_layer_layout(dir, tag, host_arch(), &tar, "lade tests: host node")
}

/// [`build_node_base`] with the libraries native addons (`.node` files on the host) need, as
/// a distro's node image has them.
pub fn build_node_base_for_addons(dir: &Path, tag: &str, addons: &[PathBuf]) -> BaseImage {
    let mut files = node_files("usr/bin/node");
    for lib in addons.iter().flat_map(|a| shared_libraries(a)) {
        let data = fs::read(&lib).unwrap_or_else(|e| panic!("{}: {e}", lib.display()));
        let rel = lib.to_str().unwrap().trim_start_matches('/').to_string();
        files.entry(rel).or_insert((0o755, data));
    }
    let tar = base_tar(&files);
    single_layer_layout(
        dir,
        tag,
        host_arch(),
        &tar,
        "lade tests: host node and addon libraries",
    )
}

/// A stand-in for distroless Node: `node` only at /nodejs/bin/node, off the image's PATH, and
/// that as the image's Entrypoint, as gcr.io/distroless/nodejs keeps it.
pub fn build_distroless_node_base(dir: &Path, tag: &str) -> BaseImage {
    let tar = base_tar(&node_files("nodejs/bin/node"));
    let config = serde_json::json!({
        "Env": [format!("PATH={BASE_PATH}")],
        "Entrypoint": ["/nodejs/bin/node"],
        "User": "65532",
    });
    single_layer_layout_with(
        dir,
        tag,
        host_arch(),
        &tar,
        "lade tests: distroless-like node",
        config,
    )
}

/// The host's node at `at`, its libraries and loader, /etc/passwd and /etc/group.
fn node_files(at: &str) -> BTreeMap<String, (u32, Vec<u8>)> {
    let node = fs::canonicalize(require_tool("node")).unwrap();
    let mut files: BTreeMap<String, (u32, Vec<u8>)> = BTreeMap::new();
    files.insert(at.into(), (0o755, fs::read(&node).unwrap()));
    for lib in shared_libraries(&node) {
        // fs::read follows the host's symlinks (libc.so.6 may be one): the base gets the bytes.
        let data = fs::read(&lib).unwrap_or_else(|e| panic!("{}: {e}", lib.display()));
        let rel = lib.to_str().unwrap().trim_start_matches('/').to_string();
        files.insert(rel, (0o755, data));
    }
    files.insert("etc/passwd".into(), (0o644, PASSWD.as_bytes().to_vec()));
    files.insert("etc/group".into(), (0o644, GROUP.as_bytes().to_vec()));
    files
}

/// The absolute paths `ldd` prints for `binary`: its libraries and the loader.
fn shared_libraries(binary: &Path) -> Vec<PathBuf> {
    let out = stdout_ok(tool("ldd").arg(binary));
    out.lines()
        .filter_map(|l| {
            let l = l.trim();
            let path = match l.split_once("=>") {
                Some((_, rest)) => rest.split_whitespace().next()?,
                None => l.split_whitespace().next()?,
            };
            path.starts_with('/').then(|| PathBuf::from(path))
        })
        .collect()
}

fn put(dir: &Path, bytes: &[u8]) -> String {
    let digest = sha256_digest(bytes);
    let hex = digest.strip_prefix("sha256:").unwrap();
    fs::write(dir.join("blobs/sha256").join(hex), bytes).unwrap();
    digest
}

/// Files with their parent directories, sorted, every header written by hand.
fn base_tar(files: &BTreeMap<String, (u32, Vec<u8>)>) -> Vec<u8> {
    let mut dirs: BTreeMap<String, u32> = BTreeMap::from([("tmp".to_string(), 0o1777)]);
    for path in files.keys() {
        let mut p = Path::new(path).parent();
        while let Some(d) = p.filter(|d| !d.as_os_str().is_empty()) {
            dirs.entry(d.to_str().unwrap().to_string()).or_insert(0o755);
            p = d.parent();
        }
    }
    let mut all: BTreeMap<String, Option<&(u32, Vec<u8>)>> = BTreeMap::new();
    for d in dirs.keys() {
        all.insert(d.clone(), None);
    }
    for (p, f) in files {
        all.insert(p.clone(), Some(f));
    }
    let mut b = tar::Builder::new(Vec::new());
    for (path, file) in all {
        let mut h = tar::Header::new_gnu();
        h.set_uid(0);
        h.set_gid(0);
        h.set_mtime(0);
        match file {
            None => {
                h.set_entry_type(tar::EntryType::Directory);
                h.set_mode(dirs[&path]);
                h.set_size(0);
                b.append_data(&mut h, format!("{path}/"), std::io::empty())
                    .unwrap();
            }
            Some((mode, data)) => {
                h.set_entry_type(tar::EntryType::Regular);
                h.set_mode(*mode);
                h.set_size(data.len() as u64);
                b.append_data(&mut h, &path, &data[..]).unwrap();
            }
        }
    }
    b.into_inner().unwrap()
}
