//! From unpacked packages to one `LayerSpec` per tier: package entries merged (a path two
//! packages ship differently is an error, as dpkg would refuse it), dpkg status entries for
//! scanners, and the files lade generates instead of running maintainer scripts.

use super::certs::{self, CaCert};
use super::deb::{Tree, TreeKind};
use super::error::{DebianError, io_err};
use super::lock::Pinned;
use super::presets::{Extra, Tier};
use super::system;
use crate::base_spec::Preset;
use crate::digest::Digest;
use crate::layer::Owners;
use crate::plan::{EntryKind, FileEntry, LayerSpec};
use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

/// Content-addressed files lade writes (status.d entries, passwd, CA stores), so layer
/// entries can point at them like at package files.
pub struct Generated {
    dir: PathBuf,
}

impl Generated {
    pub fn new(dir: &Path) -> Result<Generated, DebianError> {
        fs::create_dir_all(dir).map_err(io_err("creating", dir))?;
        Ok(Generated {
            dir: dir.to_path_buf(),
        })
    }

    /// A file holding `bytes`.
    pub fn put(&self, bytes: &[u8]) -> Result<PathBuf, DebianError> {
        let path = self.dir.join(Digest::of(bytes).hex());
        if fs::metadata(&path).is_ok_and(|m| m.len() == bytes.len() as u64)
            && fs::read(&path).is_ok_and(|b| b == bytes)
        {
            return Ok(path);
        }
        let mut tmp = tempfile::NamedTempFile::new_in(&self.dir)
            .map_err(io_err("creating a temporary file in", &self.dir))?;
        std::io::Write::write_all(&mut tmp, bytes).map_err(io_err("writing", tmp.path()))?;
        tmp.persist(&path)
            .map_err(|e| io_err("storing", &path)(e.error))?;
        Ok(path)
    }
}

/// A package to install in a tier, unpacked.
pub struct Installed<'a> {
    pub pin: &'a Pinned,
    pub tree: &'a Tree,
}

/// What a tier's layer is made of.
pub struct TierInput<'a> {
    pub tier: &'static Tier,
    pub preset: Preset,
    pub arch: &'a str,
    /// Sorted by name.
    pub packages: Vec<Installed<'a>>,
    /// The certificates of ca-certificates (from the static tier), for generated CA stores.
    pub ca_certs: &'a [CaCert],
    /// Entry times, also the date of the Java keystore's entries.
    pub epoch: u64,
}

/// An entry and the package (or `lade`) it came from.
struct Slot {
    entry: FileEntry,
    from: String,
}

pub fn tier_layer(
    input: &TierInput,
    generated: &Generated,
) -> Result<(LayerSpec, Owners), DebianError> {
    let name = format!("debian-{}", input.tier.name);
    let mut slots: BTreeMap<String, Slot> = BTreeMap::new();
    let mut owners = Owners::new();
    for pkg in &input.packages {
        let keep = input.tier.partial_paths(&pkg.pin.name);
        for e in &pkg.tree.unpacked.entries {
            if let Some(prefixes) = keep
                && !prefixes
                    .iter()
                    .any(|p| e.path == *p || e.path.starts_with(&format!("{p}/")))
            {
                continue;
            }
            let kind = match &e.kind {
                TreeKind::File { stored, .. } => EntryKind::File {
                    source: pkg.tree.file_path(stored),
                },
                TreeKind::Dir => EntryKind::Dir,
                TreeKind::Symlink { link } => EntryKind::Symlink { link: link.clone() },
            };
            add_package_entry(
                &name,
                &mut slots,
                FileEntry {
                    target: format!("/{}", e.path),
                    mode: e.mode,
                    kind,
                },
                &pkg.pin.name,
            )?;
        }
        if keep.is_none() {
            let dir = "/var/lib/dpkg/status.d";
            let mut control = pkg.tree.unpacked.control.clone();
            if !control.ends_with('\n') {
                control.push('\n');
            }
            put_file(
                &mut slots,
                generated,
                &format!("{dir}/{}", pkg.pin.name),
                0o644,
                control.as_bytes(),
            )?;
            if let Some(md5) = &pkg.tree.unpacked.md5sums {
                put_file(
                    &mut slots,
                    generated,
                    &format!("{dir}/{}.md5sums", pkg.pin.name),
                    0o644,
                    md5.as_bytes(),
                )?;
            }
        }
    }
    for extra in input.tier.extras {
        match extra {
            Extra::StaticFiles => static_files(input, generated, &mut slots, &mut owners)?,
            Extra::JavaCacerts => {
                let store = certs::jks(input.ca_certs, input.epoch.saturating_mul(1000)).map_err(
                    |detail| DebianError::Conflict {
                        layer: name.clone(),
                        detail: format!("building the Java keystore: {detail}"),
                    },
                )?;
                put_file(
                    &mut slots,
                    generated,
                    "/etc/ssl/certs/java/cacerts",
                    0o644,
                    &store,
                )?;
            }
        }
    }
    if input.tier.name == input.preset.name() {
        for (path, link) in input.preset.symlinks(input.arch) {
            put(
                &mut slots,
                FileEntry {
                    target: path,
                    mode: 0o777,
                    kind: EntryKind::Symlink { link },
                },
            );
        }
    }
    let spec = LayerSpec {
        name,
        entries: slots.into_values().map(|s| s.entry).collect(),
    };
    Ok((spec, owners))
}

/// Merges one package entry. Directories merge (the first mode wins); identical files and
/// links merge; anything else is a file conflict between two packages.
fn add_package_entry(
    layer: &str,
    slots: &mut BTreeMap<String, Slot>,
    entry: FileEntry,
    package: &str,
) -> Result<(), DebianError> {
    let Some(old) = slots.get(&entry.target) else {
        slots.insert(
            entry.target.clone(),
            Slot {
                entry,
                from: package.to_string(),
            },
        );
        return Ok(());
    };
    let same = match (&old.entry.kind, &entry.kind) {
        (EntryKind::Dir, EntryKind::Dir) => true,
        (EntryKind::Symlink { link: a }, EntryKind::Symlink { link: b }) => a == b,
        (EntryKind::File { source: a }, EntryKind::File { source: b }) => {
            old.entry.mode == entry.mode && same_bytes(a, b)
        }
        _ => false,
    };
    if same {
        return Ok(());
    }
    Err(DebianError::Conflict {
        layer: layer.to_string(),
        detail: format!(
            "{} is shipped differently by {} and {package}",
            entry.target, old.from
        ),
    })
}

fn same_bytes(a: &Path, b: &Path) -> bool {
    let len = |p: &Path| fs::metadata(p).map(|m| m.len()).ok();
    len(a).is_some() && len(a) == len(b) && fs::read(a).ok() == fs::read(b).ok()
}

/// A generated entry replaces whatever a package put at its path.
fn put(slots: &mut BTreeMap<String, Slot>, entry: FileEntry) {
    slots.insert(
        entry.target.clone(),
        Slot {
            entry,
            from: "lade".into(),
        },
    );
}

fn put_file(
    slots: &mut BTreeMap<String, Slot>,
    generated: &Generated,
    target: &str,
    mode: u32,
    bytes: &[u8],
) -> Result<(), DebianError> {
    let source = generated.put(bytes)?;
    put(
        slots,
        FileEntry {
            target: target.to_string(),
            mode,
            kind: EntryKind::File { source },
        },
    );
    Ok(())
}

fn dir(slots: &mut BTreeMap<String, Slot>, target: &str, mode: u32) {
    put(
        slots,
        FileEntry {
            target: target.to_string(),
            mode,
            kind: EntryKind::Dir,
        },
    );
}

fn static_files(
    input: &TierInput,
    generated: &Generated,
    slots: &mut BTreeMap<String, Slot>,
    owners: &mut Owners,
) -> Result<(), DebianError> {
    put_file(
        slots,
        generated,
        "/etc/passwd",
        0o644,
        system::PASSWD.as_bytes(),
    )?;
    put_file(
        slots,
        generated,
        "/etc/group",
        0o644,
        system::GROUP.as_bytes(),
    )?;
    put_file(
        slots,
        generated,
        "/etc/nsswitch.conf",
        0o644,
        system::NSSWITCH.as_bytes(),
    )?;
    put_file(
        slots,
        generated,
        "/etc/ssl/certs/ca-certificates.crt",
        0o644,
        &certs::bundle(input.ca_certs),
    )?;
    dir(slots, "/tmp", 0o1777);
    dir(slots, "/root", 0o700);
    dir(slots, "/home", 0o755);
    dir(slots, system::NONROOT_HOME, 0o700);
    owners.insert(
        system::NONROOT_HOME.to_string(),
        (system::NONROOT_UID, system::NONROOT_UID),
    );
    for d in ["/usr/bin", "/usr/sbin", "/usr/lib"] {
        slots.entry(d.to_string()).or_insert_with(|| Slot {
            entry: FileEntry {
                target: d.to_string(),
                mode: 0o755,
                kind: EntryKind::Dir,
            },
            from: "lade".into(),
        });
    }
    for (path, link) in system::usr_merge_links(input.arch) {
        put(
            slots,
            FileEntry {
                target: path.to_string(),
                mode: 0o777,
                kind: EntryKind::Symlink {
                    link: link.to_string(),
                },
            },
        );
    }
    Ok(())
}

/// The certificates ca-certificates ships under /usr/share/ca-certificates.
pub fn ca_certs(tree: &Tree) -> Result<Vec<CaCert>, DebianError> {
    let prefix = "usr/share/ca-certificates/";
    let mut out = Vec::new();
    for e in &tree.unpacked.entries {
        let (Some(name), TreeKind::File { stored, .. }) = (e.path.strip_prefix(prefix), &e.kind)
        else {
            continue;
        };
        if !name.ends_with(".crt") {
            continue;
        }
        let path = tree.file_path(stored);
        let pem = fs::read(&path).map_err(io_err("reading", &path))?;
        out.push(CaCert {
            name: name.to_string(),
            pem,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::debian::deb::{TreeEntry, Unpacked};
    use crate::debian::presets::{CC, STATIC};

    fn pin(name: &str, tier: &str) -> Pinned {
        Pinned {
            arch: "amd64".into(),
            tier: tier.into(),
            name: name.into(),
            version: "1".into(),
            suite: "bookworm".into(),
            filename: format!("pool/{name}.deb"),
            sha256: "0".repeat(64),
            size: 1,
        }
    }

    /// A fake unpacked package: (image path, file bytes or `None` for a directory).
    fn tree(root: &Path, name: &str, files: &[(&str, Option<&[u8]>)]) -> Tree {
        let dir = root.join(name);
        let mut entries = Vec::new();
        for (path, bytes) in files {
            let kind = match bytes {
                Some(b) => {
                    let p = dir.join("files").join(path);
                    fs::create_dir_all(p.parent().unwrap()).unwrap();
                    fs::write(&p, b).unwrap();
                    TreeKind::File {
                        size: b.len() as u64,
                        stored: path.to_string(),
                    }
                }
                None => TreeKind::Dir,
            };
            entries.push(TreeEntry {
                path: path.to_string(),
                mode: if bytes.is_some() { 0o644 } else { 0o755 },
                kind,
            });
        }
        Tree {
            dir,
            unpacked: Unpacked {
                control: format!("Package: {name}\nVersion: 1"),
                md5sums: None,
                entries,
                dropped: 0,
            },
        }
    }

    fn targets(spec: &LayerSpec) -> Vec<&str> {
        spec.entries.iter().map(|e| e.target.as_str()).collect()
    }

    #[test]
    fn static_tier_generates_system_files() {
        let d = tempfile::tempdir().unwrap();
        let generated = Generated::new(&d.path().join("gen")).unwrap();
        let base_files = tree(
            d.path(),
            "base-files",
            &[("tmp", None), ("usr/lib/os-release", Some(b"ID=debian\n"))],
        );
        let cert = b"-----BEGIN CERTIFICATE-----\nYWE=\n-----END CERTIFICATE-----\n";
        let ca = tree(
            d.path(),
            "ca-certificates",
            &[
                ("usr/share/ca-certificates/mozilla/A.crt", Some(cert)),
                ("usr/sbin/update-ca-certificates", Some(b"#!/bin/sh")),
            ],
        );
        let (p1, p2) = (
            pin("base-files", "static"),
            pin("ca-certificates", "static"),
        );
        let certs = ca_certs(&ca).unwrap();
        assert_eq!(certs.len(), 1);
        let input = TierInput {
            tier: &STATIC,
            preset: Preset::Static,
            arch: "amd64",
            packages: vec![
                Installed {
                    pin: &p1,
                    tree: &base_files,
                },
                Installed {
                    pin: &p2,
                    tree: &ca,
                },
            ],
            ca_certs: &certs,
            epoch: 0,
        };
        let (spec, owners) = tier_layer(&input, &generated).unwrap();
        let t = targets(&spec);
        for want in [
            "/etc/passwd",
            "/etc/group",
            "/etc/nsswitch.conf",
            "/etc/ssl/certs/ca-certificates.crt",
            "/home/nonroot",
            "/lib64",
            "/usr/lib/os-release",
            "/var/lib/dpkg/status.d/base-files",
        ] {
            assert!(t.contains(&want), "{want} missing from {t:?}");
        }
        // ca-certificates is only the source of the bundle: no script, no status entry.
        assert!(!t.contains(&"/usr/sbin/update-ca-certificates"), "{t:?}");
        assert!(
            !t.contains(&"/var/lib/dpkg/status.d/ca-certificates"),
            "{t:?}"
        );
        let tmp = spec.entries.iter().find(|e| e.target == "/tmp").unwrap();
        assert_eq!(tmp.mode, 0o1777, "lade's /tmp replaces the package's");
        assert_eq!(owners["/home/nonroot"], (65532, 65532));
        let status = spec
            .entries
            .iter()
            .find(|e| e.target == "/var/lib/dpkg/status.d/base-files")
            .unwrap();
        let EntryKind::File { source } = &status.kind else {
            panic!()
        };
        assert_eq!(
            fs::read_to_string(source).unwrap(),
            "Package: base-files\nVersion: 1\n"
        );

        let arm = TierInput {
            arch: "arm64",
            ..input
        };
        let (spec, _) = tier_layer(&arm, &generated).unwrap();
        assert!(!targets(&spec).contains(&"/lib64"));
    }

    #[test]
    fn conflicting_files_name_both_packages() {
        let d = tempfile::tempdir().unwrap();
        let generated = Generated::new(&d.path().join("gen")).unwrap();
        let a = tree(
            d.path(),
            "liba",
            &[("usr/lib", None), ("usr/lib/x.conf", Some(b"a"))],
        );
        let b = tree(
            d.path(),
            "libb",
            &[("usr/lib", None), ("usr/lib/x.conf", Some(b"b"))],
        );
        let same = tree(d.path(), "libc", &[("usr/lib/x.conf", Some(b"a"))]);
        let (pa, pb, pc) = (pin("liba", "cc"), pin("libb", "cc"), pin("libc", "cc"));
        let input = |packages| TierInput {
            tier: &CC,
            preset: Preset::Cc,
            arch: "amd64",
            packages,
            ca_certs: &[],
            epoch: 0,
        };
        let ok = input(vec![
            Installed { pin: &pa, tree: &a },
            Installed {
                pin: &pc,
                tree: &same,
            },
        ]);
        assert!(tier_layer(&ok, &generated).is_ok(), "identical files merge");
        let bad = input(vec![
            Installed { pin: &pa, tree: &a },
            Installed { pin: &pb, tree: &b },
        ]);
        let e = tier_layer(&bad, &generated).unwrap_err().to_string();
        assert!(
            e.contains("/usr/lib/x.conf") && e.contains("liba") && e.contains("libb"),
            "{e}"
        );
    }
}
