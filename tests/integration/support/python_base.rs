//! A Python 3.11 base image for the Python tests, built from the host's Debian python
//! (python3.11-minimal + libpython3.11-stdlib): per platform the static base layer of
//! base_image.rs, and for amd64 a second layer with /usr/bin/python3.11 (and the python3
//! link), /usr/lib/python3.11 without its tests and tools, every shared library `ldd` lists for
//! the interpreter and the extension modules, and the loader. For arm64 the host has no
//! interpreter to copy: the Debian arm64 packages (python3.11-minimal, libpython3.11-stdlib and
//! their libraries) are unpacked with `dpkg-deb -x` when they are in [`ARM64_DEBS`] (see
//! [`ARM64_PACKAGES`]); without them the arm64 image has no Python and arm64 Python images are
//! checked by their ELF headers only. Built once per test run and shared.

use super::base_image::{BASE_PATH, CONFIG, LAYER_GZIP, base_tar, gzip, put};
use super::layout::{OCI_INDEX, OCI_MANIFEST, REF_NAME, sha256_digest};
use super::tools::{stdout_ok, tool};
use serde_json::json;
use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

pub const TAG: &str = "py311";
const PYTHON: &str = "/usr/bin/python3.11";
const STDLIB: &str = "/usr/lib/python3.11";
/// Parts of the stdlib no server needs; leaving them out keeps the layer small.
const SKIP: &[&str] = &[
    "test",
    "idlelib",
    "tkinter",
    "turtledemo",
    "lib2to3",
    "ensurepip",
    "pydoc_data",
    "__pycache__",
];

/// The `--base` reference of the shared Python base (amd64 and arm64), built on first use.
pub fn python_base() -> String {
    static BASE: OnceLock<PathBuf> = OnceLock::new();
    let dir = BASE.get_or_init(|| {
        remove_stale_bases();
        let dir = std::env::temp_dir().join(format!("lade-python-base-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        build(&dir);
        dir
    });
    format!("oci:{}:{TAG}", dir.display())
}

/// Bases of test runs that have ended (their process is gone): nothing removes them when a
/// run ends, since the base is shared by all its tests.
fn remove_stale_bases() {
    let Ok(rd) = fs::read_dir(std::env::temp_dir()) else {
        return;
    };
    for e in rd.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        if let Some(pid) = name.strip_prefix("lade-python-base-")
            && !Path::new("/proc").join(pid).exists()
        {
            let _ = fs::remove_dir_all(e.path());
        }
    }
}

enum Node {
    Dir,
    File(PathBuf, u32),
    Link(String),
}

fn build(dir: &Path) {
    assert!(
        Path::new(PYTHON).is_file() && Path::new(STDLIB).join("lib-dynload").is_dir(),
        "required: the host's Debian python ({PYTHON}, {STDLIB}); apt-get install python3.11-minimal libpython3.11-stdlib"
    );
    fs::create_dir_all(dir.join("blobs/sha256")).unwrap();
    fs::write(dir.join("oci-layout"), r#"{"imageLayoutVersion":"1.0.0"}"#).unwrap();
    let mut descriptors = Vec::new();
    for arch in ["amd64", "arm64"] {
        let mut tars = vec![base_tar(arch)];
        if arch == "amd64" {
            tars.push(python_tar());
        } else if let Some(debs) = arm64_debs() {
            tars.push(debs_tar(&debs, &dir.join("arm64-root")));
        }
        let mut diff_ids = Vec::new();
        let mut layers = Vec::new();
        for t in &tars {
            diff_ids.push(sha256_digest(t));
            let gz = gzip(t);
            layers
                .push(json!({"mediaType": LAYER_GZIP, "digest": put(dir, &gz), "size": gz.len()}));
        }
        let config = json!({
            "architecture": arch,
            "os": "linux",
            "created": "1970-01-01T00:00:00Z",
            "config": {
                "Env": [format!("PATH={BASE_PATH}"), "LANG=C.UTF-8"],
                "Entrypoint": ["/usr/bin/python3.11"],
                "User": "65532",
            },
            "rootfs": {"type": "layers", "diff_ids": diff_ids},
            "history": tars.iter().map(|_| json!({"created": "1970-01-01T00:00:00Z", "created_by": "lade tests: python base"})).collect::<Vec<_>>(),
        });
        let config_bytes = serde_json::to_vec(&config).unwrap();
        let manifest = json!({
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": {"mediaType": CONFIG, "digest": put(dir, &config_bytes), "size": config_bytes.len()},
            "layers": layers,
        });
        let bytes = serde_json::to_vec(&manifest).unwrap();
        descriptors.push(json!({
            "mediaType": OCI_MANIFEST,
            "digest": put(dir, &bytes),
            "size": bytes.len(),
            "platform": {"architecture": arch, "os": "linux"},
        }));
    }
    let index = json!({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": descriptors});
    let bytes = serde_json::to_vec(&index).unwrap();
    let top = json!({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": [{
        "mediaType": OCI_INDEX, "digest": put(dir, &bytes), "size": bytes.len(),
        "annotations": {REF_NAME: TAG},
    }]});
    fs::write(dir.join("index.json"), serde_json::to_vec(&top).unwrap()).unwrap();
}

/// Where the arm64 .debs are looked for; `LADE_TEST_ARM64_PYTHON_DEBS` overrides it.
pub const ARM64_DEBS: &str = "/opt/lade-test/arm64-python";
/// The packages that directory should hold (`apt-get download PKG:arm64`).
pub const ARM64_PACKAGES: &[&str] = &[
    "python3.11-minimal",
    "libpython3.11-minimal",
    "libpython3.11-stdlib",
    "libc6",
    "zlib1g",
    "libexpat1",
    "libffi8",
    "libssl3",
    "libbz2-1.0",
    "liblzma5",
    "libuuid1",
    "libsqlite3-0",
    "libgcc-s1",
    "libstdc++6",
    "libcrypt1",
    "libnsl2",
    "libtirpc3",
];

/// The arm64 .deb files, when they are there.
fn arm64_debs() -> Option<Vec<PathBuf>> {
    let dir = std::env::var_os("LADE_TEST_ARM64_PYTHON_DEBS")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(ARM64_DEBS));
    let mut debs: Vec<PathBuf> = fs::read_dir(&dir)
        .ok()?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "deb"))
        .collect();
    debs.sort();
    (!debs.is_empty()).then_some(debs)
}

/// Whether the shared base has an arm64 Python.
pub fn has_arm64_python() -> bool {
    arm64_debs().is_some()
}

/// A layer with the files of `debs`, unpacked into `root`, without docs and the stdlib's tests.
fn debs_tar(debs: &[PathBuf], root: &Path) -> Vec<u8> {
    for d in debs {
        super::tools::run_ok(tool("dpkg-deb").arg("-x").arg(d).arg(root));
    }
    let mut nodes: BTreeMap<String, Node> = BTreeMap::new();
    for e in walkdir::WalkDir::new(root)
        .min_depth(1)
        .sort_by_file_name()
        .into_iter()
        .filter_entry(|e| {
            let name = e.file_name().to_string_lossy();
            !(SKIP.contains(&name.as_ref())
                || name.starts_with("config-3.11")
                || e.path()
                    .strip_prefix(root)
                    .is_ok_and(|r| r.starts_with("usr/share")))
        })
    {
        let e = e.unwrap();
        let rel = e
            .path()
            .strip_prefix(root)
            .unwrap()
            .to_string_lossy()
            .into_owned();
        let ft = e.file_type();
        let node = if ft.is_dir() {
            Node::Dir
        } else if ft.is_symlink() {
            Node::Link(
                fs::read_link(e.path())
                    .unwrap()
                    .to_string_lossy()
                    .into_owned(),
            )
        } else {
            let mode = fs::metadata(e.path()).unwrap().permissions().mode() & 0o755;
            Node::File(e.path().to_path_buf(), mode)
        };
        nodes.insert(rel, node);
    }
    nodes
        .entry("usr/bin/python3".into())
        .or_insert(Node::Link("python3.11".into()));
    let tar = write_tar(nodes);
    // The unpacked files are in the tar now; the layout only needs its blobs.
    let _ = fs::remove_dir_all(root);
    tar
}

fn python_tar() -> Vec<u8> {
    let mut nodes: BTreeMap<String, Node> = BTreeMap::new();
    nodes.insert(
        "usr/bin/python3.11".into(),
        Node::File(PYTHON.into(), 0o755),
    );
    nodes.insert("usr/bin/python3".into(), Node::Link("python3.11".into()));
    let mut objects = vec![PathBuf::from(PYTHON)];
    for e in walkdir::WalkDir::new(STDLIB)
        .sort_by_file_name()
        .into_iter()
        .filter_entry(|e| {
            let name = e.file_name().to_string_lossy();
            !(SKIP.contains(&name.as_ref()) || name.starts_with("config-3.11"))
        })
    {
        let e = e.unwrap();
        let rel = e
            .path()
            .strip_prefix("/")
            .unwrap()
            .to_string_lossy()
            .into_owned();
        let ft = e.file_type();
        if ft.is_dir() {
            nodes.insert(rel, Node::Dir);
        } else if ft.is_symlink() {
            let l = fs::read_link(e.path()).unwrap();
            nodes.insert(rel, Node::Link(l.to_string_lossy().into_owned()));
        } else {
            let mode = fs::metadata(e.path()).unwrap().permissions().mode() & 0o755;
            nodes.insert(rel, Node::File(e.path().to_path_buf(), mode));
            if e.path().extension().is_some_and(|x| x == "so") {
                objects.push(e.path().to_path_buf());
            }
        }
    }
    // The shared libraries and the loader, at the paths ldd resolves them to (the file's
    // bytes, not the symlink: the image needs the library under the name the loader asks for).
    for obj in &objects {
        let out = stdout_ok(tool("ldd").arg(obj));
        for line in out.lines() {
            let path = match line.split("=>").nth(1) {
                Some(rest) => rest.split_whitespace().next(),
                None => line
                    .split_whitespace()
                    .next()
                    .filter(|p| p.starts_with('/')),
            };
            if let Some(p) = path.filter(|p| p.starts_with('/')) {
                nodes.insert(
                    p.trim_start_matches('/').to_string(),
                    Node::File(PathBuf::from(p), 0o755),
                );
            }
        }
    }
    // All of libc6's libraries, as distroless python ships them: extension modules in wheels
    // link libpthread, libdl or librt, which the interpreter itself does not need.
    for f in stdout_ok(tool("dpkg").args(["-L", "libc6"])).lines() {
        let p = Path::new(f);
        let name = p
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        if name.contains(".so") && f.contains("-linux-gnu/") && p.is_file() {
            nodes.insert(
                f.trim_start_matches('/').to_string(),
                Node::File(p.to_path_buf(), 0o755),
            );
        }
    }
    write_tar(nodes)
}

/// The tar of `nodes`, parents added, in name order.
fn write_tar(mut nodes: BTreeMap<String, Node>) -> Vec<u8> {
    // Parents first, each once.
    let names: Vec<String> = nodes.keys().cloned().collect();
    for n in names {
        let mut parts: Vec<&str> = n.split('/').collect();
        parts.pop();
        for i in 1..=parts.len() {
            nodes.entry(parts[..i].join("/")).or_insert(Node::Dir);
        }
    }
    let mut b = tar::Builder::new(Vec::new());
    for (name, node) in &nodes {
        let mut h = tar::Header::new_gnu();
        h.set_uid(0);
        h.set_gid(0);
        h.set_mtime(0);
        match node {
            Node::Dir => {
                h.set_entry_type(tar::EntryType::Directory);
                h.set_mode(0o755);
                h.set_size(0);
                b.append_data(&mut h, format!("{name}/"), std::io::empty())
                    .unwrap();
            }
            Node::File(src, mode) => {
                let data = fs::read(src).unwrap();
                h.set_entry_type(tar::EntryType::Regular);
                h.set_mode(*mode);
                h.set_size(data.len() as u64);
                b.append_data(&mut h, name, &data[..]).unwrap();
            }
            Node::Link(target) => {
                h.set_entry_type(tar::EntryType::Symlink);
                h.set_mode(0o777);
                h.set_size(0);
                b.append_link(&mut h, name, target).unwrap();
            }
        }
    }
    b.into_inner().unwrap()
}
