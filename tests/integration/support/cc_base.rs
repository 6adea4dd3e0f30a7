//! A distroless-"cc"-like base built from the host's own glibc files, as an OCI layout with one
//! image for the host's architecture: the loader, libc, libm and libgcc_s in Debian's
//! multiarch directory (the loader also at its ABI path), /etc/passwd with nonroot 65532, /tmp.
//! Enough to run a glibc-linked Rust binary without a registry. `omit` leaves libraries out,
//! to test what lade says about a base that lacks one.

use super::arm64::host_arch;
use super::base_image::{BaseImage, GROUP, PASSWD, single_layer_layout};
use super::layout::sha256_digest;
use std::fs;
use std::path::Path;

/// (multiarch directory, loader's ABI path) for the host.
fn host_abi() -> (&'static str, &'static str) {
    match host_arch() {
        "amd64" => ("x86_64-linux-gnu", "/lib64/ld-linux-x86-64.so.2"),
        "arm64" => ("aarch64-linux-gnu", "/lib/ld-linux-aarch64.so.1"),
        other => panic!("no cc base recipe for {other}"),
    }
}

/// Library file names copied from the host.
pub fn libraries() -> Vec<String> {
    let (_, loader) = host_abi();
    let loader_name = loader.rsplit('/').next().unwrap().to_string();
    vec![
        loader_name,
        "libc.so.6".into(),
        "libgcc_s.so.1".into(),
        "libm.so.6".into(),
    ]
}

pub fn build_cc_base(dir: &Path, tag: &str, omit: &[&str]) -> BaseImage {
    let arch = host_arch();
    let (multiarch, loader) = host_abi();
    let tar = cc_tar(multiarch, loader, omit);
    single_layer_layout(dir, tag, arch, &tar, "lade tests: host glibc files")
}

fn put(dir: &Path, bytes: &[u8]) -> String {
    let digest = sha256_digest(bytes);
    let hex = digest.strip_prefix("sha256:").unwrap();
    fs::write(dir.join("blobs/sha256").join(hex), bytes).unwrap();
    digest
}

fn cc_tar(multiarch: &str, loader: &str, omit: &[&str]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    let header = |kind: tar::EntryType, mode: u32, size: u64| {
        let mut h = tar::Header::new_ustar();
        h.set_entry_type(kind);
        h.set_mode(mode);
        h.set_uid(0);
        h.set_gid(0);
        h.set_mtime(0);
        h.set_size(size);
        h
    };
    let dir = |b: &mut tar::Builder<Vec<u8>>, path: &str, mode: u32| {
        let mut h = header(tar::EntryType::Directory, mode, 0);
        b.append_data(&mut h, path, std::io::empty()).unwrap();
    };
    let file = |b: &mut tar::Builder<Vec<u8>>, path: &str, mode: u32, data: &[u8]| {
        let mut h = header(tar::EntryType::Regular, mode, data.len() as u64);
        b.append_data(&mut h, path, data).unwrap();
    };
    dir(&mut b, "etc/", 0o755);
    file(&mut b, "etc/group", 0o644, GROUP.as_bytes());
    file(&mut b, "etc/passwd", 0o644, PASSWD.as_bytes());
    dir(&mut b, "lib/", 0o755);
    let libdir = format!("lib/{multiarch}/");
    dir(&mut b, &libdir, 0o755);
    let host_dir = Path::new("/lib").join(multiarch);
    for name in libraries() {
        if omit.contains(&name.as_str()) {
            continue;
        }
        // fs::read follows the host's symlinks (libc.so.6 may be one): the base gets the bytes.
        let data = fs::read(host_dir.join(&name))
            .unwrap_or_else(|e| panic!("{}: {e}", host_dir.join(&name).display()));
        file(&mut b, &format!("{libdir}{name}"), 0o755, &data);
    }
    let loader_dir = Path::new(loader).parent().unwrap().to_str().unwrap();
    if loader_dir != "/lib" {
        dir(&mut b, &format!("{}/", &loader_dir[1..]), 0o755);
    }
    let loader_name = loader.rsplit('/').next().unwrap();
    if loader_dir != format!("/lib/{multiarch}") {
        let mut h = header(tar::EntryType::Symlink, 0o777, 0);
        b.append_link(
            &mut h,
            &loader[1..],
            format!("/lib/{multiarch}/{loader_name}"),
        )
        .unwrap();
    }
    dir(&mut b, "tmp/", 0o1777);
    b.into_inner().unwrap()
}
