use super::*;
use crate::oci::{self, Layer};
use crate::plan::{EntryKind, FileEntry};
use std::io::Write;

#[test]
fn classifies_by_path() {
    assert_eq!(classify("/app/libs/a-1.jar"), Some(Kind::Jar));
    assert_eq!(
        classify("/app/.deps/flask-3.0.0.dist-info/METADATA"),
        Some(Kind::PythonMetadata)
    );
    assert_eq!(classify("/app/METADATA"), None);
    assert_eq!(
        classify("/app/node_modules/express/package.json"),
        Some(Kind::NodePackage)
    );
    assert_eq!(
        classify("/app/node_modules/@types/node/package.json"),
        Some(Kind::NodePackage)
    );
    assert_eq!(
        classify("/app/node_modules/a/node_modules/b/package.json"),
        Some(Kind::NodePackage)
    );
    assert_eq!(classify("/app/node_modules/a/lib/package.json"), None);
    assert_eq!(classify("/app/node_modules/@scope/package.json"), None);
    assert_eq!(classify("/app/package.json"), None);
    assert_eq!(
        classify("/var/lib/dpkg/status.d/libc6"),
        Some(Kind::DpkgStatusD)
    );
    assert_eq!(classify("/var/lib/dpkg/status.d/libc6.md5sums"), None);
    assert_eq!(classify("/var/lib/dpkg/status"), Some(Kind::DpkgStatus));
}

#[test]
fn licenses_only_when_plain() {
    assert_eq!(plain_license("MIT").as_deref(), Some("MIT"));
    assert_eq!(
        plain_license("(MIT OR Apache-2.0)").as_deref(),
        Some("(MIT OR Apache-2.0)")
    );
    assert_eq!(plain_license("BSD License"), None);
    assert_eq!(plain_license("MIT OR"), None);
    assert_eq!(plain_license(""), None);
}

fn gz_tar(path: &Path, files: &[(&str, &[u8])]) -> Layer {
    let mut b = tar::Builder::new(Vec::new());
    for (name, data) in files {
        let mut h = tar::Header::new_gnu();
        h.set_mode(0o644);
        h.set_size(data.len() as u64);
        h.set_entry_type(tar::EntryType::Regular);
        b.append_data(&mut h, name, *data).unwrap();
    }
    let tar = b.into_inner().unwrap();
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(&tar).unwrap();
    let bytes = gz.finish().unwrap();
    std::fs::write(path, &bytes).unwrap();
    let digest = Digest::of(&bytes);
    Layer {
        descriptor: oci::descriptor(
            crate::layer::GZIP_LAYER_MEDIA_TYPE,
            bytes.len() as u64,
            &digest,
        ),
        diff_id: Digest::of(&tar),
        source: BlobSource::File(path.to_path_buf()),
    }
}

const LIBC: &str = "Package: libc6\nVersion: 2.36-9\nArchitecture: amd64\n";
const ZLIB: &str = "Package: zlib1g\nVersion: 1:1.2.13\nArchitecture: amd64\n";

/// Base layers with a whiteout, and lade layers with a Tree entry over them.
fn fixture(t: &Path) -> (Vec<Layer>, Vec<LayerSpec>) {
    // A jar in a base layer is spooled to a temporary file and read as any other.
    let mut jar = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    jar.start_file(
        "META-INF/maven/org.example/tool/pom.properties",
        zip::write::SimpleFileOptions::default(),
    )
    .unwrap();
    jar.write_all(b"groupId=org.example\nartifactId=tool\nversion=1.0\n")
        .unwrap();
    let jar = jar.finish().unwrap().into_inner();
    let base = vec![
        gz_tar(
            &t.join("l1"),
            &[
                ("./var/lib/dpkg/status.d/libc6", LIBC.as_bytes()),
                ("./var/lib/dpkg/status.d/libc6.md5sums", b"x"),
                ("./var/lib/dpkg/status.d/zlib1g", ZLIB.as_bytes()),
                (
                    "./usr/share/gone/node_modules/x/package.json",
                    br#"{"name":"x","version":"1"}"#,
                ),
                ("./opt/tool-1.0.jar", &jar),
            ],
        ),
        gz_tar(
            &t.join("l2"),
            &[
                ("var/lib/dpkg/status.d/.wh.zlib1g", b""),
                ("usr/share/.wh.gone", b""),
            ],
        ),
    ];
    let tree = t.join("deps");
    std::fs::create_dir_all(tree.join("flask-3.0.0.dist-info")).unwrap();
    std::fs::write(
        tree.join("flask-3.0.0.dist-info/METADATA"),
        "Name: Flask\nVersion: 3.0.0\n",
    )
    .unwrap();
    std::fs::create_dir_all(tree.join("node_modules/@s/p")).unwrap();
    std::fs::write(
        tree.join("node_modules/@s/p/package.json"),
        r#"{"name":"@s/p","version":"2.0.0","license":"ISC"}"#,
    )
    .unwrap();
    std::fs::write(tree.join("node_modules/@s/p/bad.json"), "{").unwrap();
    std::fs::create_dir_all(tree.join("node_modules/broken")).unwrap();
    std::fs::write(tree.join("node_modules/broken/package.json"), "{").unwrap();
    let tree_layer = |name: &str, source: PathBuf| LayerSpec {
        name: name.into(),
        entries: vec![FileEntry {
            target: "/app".into(),
            mode: 0o755,
            kind: EntryKind::Tree {
                source,
                exclude: Vec::new(),
            },
        }],
    };
    // A later layer's directory at the same place merges with it (an empty snapshot layer).
    let empty = t.join("empty");
    std::fs::create_dir_all(&empty).unwrap();
    let layers = vec![tree_layer("deps", tree), tree_layer("snapshots", empty)];
    (base, layers)
}

fn project(t: &Path) -> Project<'_> {
    Project {
        dir: t,
        detector: "python",
        cache: None,
    }
}

#[test]
fn scans_base_and_lade_layers_sorted_with_whiteouts() {
    let t = tempfile::tempdir().unwrap();
    let (base, layers) = fixture(t.path());
    let scan = scan(&base, &layers, &project(t.path())).unwrap();
    let purls: Vec<&str> = scan.packages.iter().map(|p| p.purl.as_str()).collect();
    assert_eq!(
        purls,
        [
            "pkg:deb/debian/libc6@2.36-9?arch=amd64",
            "pkg:maven/org.example/tool@1.0",
            "pkg:npm/%40s/p@2.0.0",
            "pkg:pypi/flask@3.0.0",
        ]
    );
    assert_eq!(scan.packages[1].source_info, "/opt/tool-1.0.jar");
    assert_eq!(scan.packages[2].license.as_deref(), Some("ISC"));
    assert_eq!(
        scan.packages[3].source_info,
        "/app/flask-3.0.0.dist-info/METADATA"
    );
    assert_eq!(scan.notes.len(), 1, "{:?}", scan.notes);
    assert!(
        scan.notes[0].starts_with("/app/node_modules/broken/package.json skipped"),
        "{:?}",
        scan.notes
    );
}

#[test]
fn remote_base_layers_are_a_note() {
    let t = tempfile::tempdir().unwrap();
    let (mut base, _) = fixture(t.path());
    base[0].source = BlobSource::Remote {
        registry: "r".into(),
        repository: "x".into(),
    };
    base.truncate(1);
    let scan = scan(&base, &[], &project(t.path())).unwrap();
    assert!(scan.packages.is_empty());
    assert_eq!(
        scan.notes,
        ["1 base layer(s) only in a registry were not scanned"]
    );
}

#[test]
fn document_shape_and_determinism() {
    let t = tempfile::tempdir().unwrap();
    let (base, layers) = fixture(t.path());
    let s = scan(&base, &layers, &project(t.path())).unwrap();
    let platform: Platform = "linux/arm/v7".parse().unwrap();
    let manifest = Digest::of(b"manifest");
    let image = ImageRef {
        name: "app",
        platform: &platform,
        manifest: &manifest,
        epoch: 1_700_000_000,
    };
    let out = t.path().join("sbom");
    let path = write(&out, &image, &s).unwrap();
    assert_eq!(path, out.join("app-linux-arm-v7.spdx.json"));
    let bytes = std::fs::read(&path).unwrap();
    let again = to_bytes(&document(
        &image,
        &scan(&base, &layers, &project(t.path())).unwrap(),
    ));
    assert_eq!(bytes, again, "byte-identical for the same image");

    let v: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
    let hex = manifest.hex();
    assert_eq!(v["spdxVersion"], "SPDX-2.3");
    assert_eq!(v["dataLicense"], "CC0-1.0");
    assert_eq!(v["SPDXID"], "SPDXRef-DOCUMENT");
    assert_eq!(v["name"], "app linux/arm/v7");
    assert_eq!(
        v["documentNamespace"],
        format!("https://lade.invalid/spdx/{hex}")
    );
    assert_eq!(v["creationInfo"]["created"], "2023-11-14T22:13:20Z");
    assert_eq!(
        v["creationInfo"]["creators"][0],
        format!("Tool: lade-{}", env!("CARGO_PKG_VERSION"))
    );
    // The serialized order is the model's field order.
    let text = String::from_utf8(bytes.clone()).unwrap();
    let at = |key: &str| {
        text.find(&format!("\n  \"{key}\":"))
            .unwrap_or_else(|| panic!("{key} in {text}"))
    };
    let keys = [
        "spdxVersion",
        "dataLicense",
        "SPDXID",
        "name",
        "documentNamespace",
        "comment",
        "creationInfo",
        "packages",
        "relationships",
    ];
    assert!(keys.windows(2).all(|w| at(w[0]) < at(w[1])), "{text}");
    let pkgs = v["packages"].as_array().unwrap();
    assert_eq!(pkgs.len(), 5);
    let img = &pkgs[0];
    assert_eq!(img["SPDXID"], "SPDXRef-Image");
    assert_eq!(img["primaryPackagePurpose"], "CONTAINER");
    assert_eq!(img["checksums"][0]["algorithm"], "SHA256");
    assert_eq!(img["checksums"][0]["checksumValue"], hex);
    assert_eq!(
        img["externalRefs"][0]["referenceLocator"],
        format!("pkg:oci/app@sha256%3A{hex}?arch=arm")
    );
    let p = &pkgs[3];
    assert_eq!(p["SPDXID"], "SPDXRef-Package-2");
    assert_eq!(p["name"], "@s/p");
    assert_eq!(p["versionInfo"], "2.0.0");
    assert_eq!(p["downloadLocation"], "NOASSERTION");
    assert_eq!(p["filesAnalyzed"], false);
    assert_eq!(p["licenseConcluded"], "NOASSERTION");
    assert_eq!(p["licenseDeclared"], "ISC");
    assert_eq!(p["copyrightText"], "NOASSERTION");
    assert_eq!(p["sourceInfo"], "/app/node_modules/@s/p/package.json");
    assert_eq!(
        p["externalRefs"],
        serde_json::json!([{
            "referenceCategory": "PACKAGE-MANAGER",
            "referenceType": "purl",
            "referenceLocator": "pkg:npm/%40s/p@2.0.0"
        }])
    );
    let rels = v["relationships"].as_array().unwrap();
    assert_eq!(rels.len(), 5);
    assert_eq!(
        rels[0],
        serde_json::json!({
            "spdxElementId": "SPDXRef-DOCUMENT",
            "relationshipType": "DESCRIBES",
            "relatedSpdxElement": "SPDXRef-Image"
        })
    );
    assert_eq!(rels[4]["spdxElementId"], "SPDXRef-Image");
    assert_eq!(rels[4]["relationshipType"], "CONTAINS");
    assert_eq!(rels[4]["relatedSpdxElement"], "SPDXRef-Package-3");
}

#[test]
fn a_base_is_read_once_then_from_the_cache() {
    let t = tempfile::tempdir().unwrap();
    let (base, layers) = fixture(t.path());
    let cache = t.path().join("cache");
    let cached = Project {
        cache: Some(&cache),
        ..project(t.path())
    };
    let first = scan(&base, &layers, &cached).unwrap();
    assert_eq!(first, scan(&base, &layers, &project(t.path())).unwrap());
    let kept: Vec<_> = std::fs::read_dir(cache.join("base-sbom"))
        .unwrap()
        .collect();
    assert_eq!(kept.len(), 1, "one listing per base");
    // The layers' bytes are no longer read: the listing answers.
    for l in &base {
        if let BlobSource::File(p) = &l.source {
            std::fs::write(p, b"not a layer any more").unwrap();
        }
    }
    assert_eq!(scan(&base, &layers, &cached).unwrap(), first);
    assert!(scan(&base, &layers, &project(t.path())).is_err());
}

/// A rebase's scan: the image's SBOM without the base's part, on another base, is what
/// scanning the image on that base gives.
#[test]
fn without_base_then_on_base_equals_a_scan_on_the_new_base() {
    let t = tempfile::tempdir().unwrap();
    let (base, layers) = fixture(t.path());
    let old = scan(&base, &layers, &project(t.path())).unwrap();
    let marked: Vec<&str> = old
        .packages
        .iter()
        .filter(|p| {
            p.properties
                .contains(&(LAYER_PROPERTY.into(), LAYER_BASE.into()))
        })
        .map(|p| p.name.as_str())
        .collect();
    assert_eq!(marked, ["libc6", "tool"], "the base's packages are marked");
    let own = without_base(old.clone());
    assert_eq!(own.packages.len(), 2);
    assert_eq!(own.notes, old.notes, "the broken package.json is lade's");

    // The new base: zlib1g is back, and a file that does not parse says it is the base's.
    let new_base = vec![gz_tar(
        &t.path().join("n1"),
        &[
            ("./var/lib/dpkg/status.d/libc6", LIBC.as_bytes()),
            ("./var/lib/dpkg/status.d/zlib1g", ZLIB.as_bytes()),
            ("./usr/lib/node_modules/bad/package.json", b"{"),
        ],
    )];
    let cache = t.path().join("cache");
    let rebased = on_base(&new_base, own.clone(), Some(&cache)).unwrap();
    let fresh = scan(
        &new_base,
        &layers,
        &Project {
            cache: Some(&cache),
            ..project(t.path())
        },
    )
    .unwrap();
    let mut fresh_notes = fresh.notes.clone();
    fresh_notes.sort();
    let mut rebased_notes = rebased.notes.clone();
    rebased_notes.sort();
    assert_eq!(rebased.packages, fresh.packages);
    assert_eq!(rebased_notes, fresh_notes);
    assert!(
        rebased
            .notes
            .iter()
            .any(|n| n.contains("bad/package.json skipped: in the base: ")),
        "{:?}",
        rebased.notes
    );
    assert!(base_scan_kept(&cache, &new_base));
    // The kept scan stands for the layers once their bytes are gone.
    let mut remote = new_base.clone();
    remote[0].source = BlobSource::Remote {
        registry: "r".into(),
        repository: "x".into(),
    };
    assert_eq!(
        on_base(&remote, own.clone(), Some(&cache)).unwrap(),
        rebased
    );
    // Without the base's part again, only lade's is left.
    assert_eq!(without_base(rebased), own);
}
