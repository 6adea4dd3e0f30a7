//! `lade rebase` of an image published with its SBOMs, provenance and signatures: each rebased
//! platform manifest gets fresh documents. go-hello is published on a `lade base build` base
//! (v1), then rebased onto v2 (v1 plus zlib1g) with the signing key. The documents are found
//! with curl through the registry's `sha256-<hex>` fallback index, validated by pyspdxtools and
//! cyclonedx-python-lib, the provenance signature checked with openssl, and `lade verify` run
//! on the result. The registry's access log shows lade's own layers are never downloaded.

use crate::attach::{referrers, validate_cyclonedx, validate_spdx};
use crate::rebase::{base_build, blob_gets, layer_digests, manifests};
use crate::sign::{keypair, provenance_is_signed, verify};
use crate::support::TestEnv;
use crate::support::layout::Layout;
use crate::support::registry::{Registry, blob_puts, skopeo_raw};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};

const BOTH: &str = "linux/amd64,linux/arm64";
const SPDX: &str = "application/spdx+json";
const CYCLONEDX: &str = "application/vnd.cyclonedx+json";
const IN_TOTO: &str = "application/vnd.in-toto+json";

/// The purls of a CycloneDX document's components: (the base's, lade's), by the
/// `lade:layer=base` property.
fn purls(cdx: &[u8]) -> (BTreeSet<String>, BTreeSet<String>) {
    let v: Value = serde_json::from_slice(cdx).unwrap();
    let mut base = BTreeSet::new();
    let mut own = BTreeSet::new();
    for c in v["components"].as_array().unwrap() {
        let purl = c["purl"].as_str().unwrap().to_string();
        let marked = c["properties"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|p| p["name"] == "lade:layer" && p["value"] == "base");
        match marked {
            true => base.insert(purl),
            false => own.insert(purl),
        };
    }
    (base, own)
}

/// The fallback index listing what is attached to `manifest`, as bytes.
fn listing(reg: &Registry, repo: &str, manifest: &str) -> Vec<u8> {
    skopeo_raw(
        &format!("{}/{repo}:{}", reg.host, manifest.replace(':', "-")),
        &["--tls-verify=false"],
    )
}

fn listed_digests(listing: &[u8]) -> BTreeSet<String> {
    let v: Value = serde_json::from_slice(listing).unwrap();
    v["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["digest"].as_str().unwrap().to_string())
        .collect()
}

/// The platform manifests of `repo@digest` as `{digest, size}` values, by architecture.
fn platform_descriptors(reg: &Registry, repo: &str, digest: &str) -> BTreeMap<String, Value> {
    let index = crate::rebase::raw(&format!("{}/{repo}@{digest}", reg.host));
    index["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            (
                d["platform"]["architecture"].as_str().unwrap().to_string(),
                d.clone(),
            )
        })
        .collect()
}

#[test]
fn a_rebased_image_gets_fresh_signed_documents_with_the_new_base_packages() {
    let env = TestEnv::new();
    let reg = Registry::start();
    let base_tag = format!("{}/bases/static:stable", reg.host);
    let v1 = base_build(&env, &base_tag, &["static", "--platform", BOTH]);
    let app = env.copy_example("go-hello", "app");
    let (key, public) = keypair(&env, "signer");
    let image = format!("{}/apps/hello:1", reg.host);
    let before = env
        .lade()
        .arg("publish")
        .arg("-C")
        .arg(&app)
        .args(["--base", &base_tag, "--platform", BOTH, "--to", &image])
        .arg("--sign-key")
        .arg(&key)
        .arg("--json")
        .run()
        .success()
        .json()["digest"]
        .as_str()
        .unwrap()
        .to_string();
    let old = platform_descriptors(&reg, "apps/hello", &before);
    let mut old_own = BTreeMap::new();
    let mut old_listed = BTreeMap::new();
    for (arch, m) in &old {
        let docs = referrers(&reg, "apps/hello", m);
        let (base, own) = purls(&docs[CYCLONEDX]);
        assert!(
            own.iter().any(|p| p.starts_with("pkg:golang/")),
            "{arch}: the app's Go packages: {own:?}"
        );
        assert!(!base.iter().any(|p| p.contains("zlib1g")), "{base:?}");
        old_own.insert(arch.clone(), own);
        let d = m["digest"].as_str().unwrap();
        old_listed.insert(
            arch.clone(),
            listed_digests(&listing(&reg, "apps/hello", d)),
        );
    }
    // lade's own layers: the image's above v1's.
    let v1_layers = manifests(&reg, "bases/static", &v1);
    let own_layers: BTreeSet<String> = manifests(&reg, "apps/hello", &before)
        .iter()
        .flat_map(|(arch, m)| {
            let (_, b) = v1_layers.iter().find(|(a, _)| a == arch).unwrap();
            layer_digests(m).split_off(layer_digests(b).len())
        })
        .collect();
    assert!(!own_layers.is_empty());

    let v2 = base_build(
        &env,
        &base_tag,
        &["static", "--package", "zlib1g", "--platform", BOTH],
    );
    assert_ne!(v1, v2);
    let rebase = |to: &str| {
        env.lade()
            .arg("rebase")
            .arg(&image)
            .args(["--to", to, "--json", "--sign-key"])
            .arg(&key)
            .run()
            .success()
    };
    let first_to = format!("{}/apps/hello:2", reg.host);
    let mark = reg.mark();
    let first = rebase(&first_to);
    let first_log = reg.requests_since(mark);
    assert!(
        !first.stderr.contains("not carried over"),
        "no warning when documents are attached: {}",
        first.stderr
    );
    let report = first.json();
    let after = report["digest"].as_str().unwrap().to_string();
    let zlib = report["packages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "zlib1g")
        .and_then(|p| p["new"].as_str())
        .unwrap_or_else(|| panic!("zlib1g is new in v2: {report}"))
        .to_string();
    assert_eq!(
        report["attachments"]["artifacts"].as_array().unwrap().len(),
        6,
        "three documents per platform: {report}"
    );

    let new = platform_descriptors(&reg, "apps/hello", &after);
    assert_eq!(new.len(), 2);
    let mut new_listings = BTreeMap::new();
    for (arch, m) in &new {
        let subject = m["digest"].as_str().unwrap();
        assert_ne!(subject, old[arch]["digest"].as_str().unwrap());
        let docs = referrers(&reg, "apps/hello", m);
        assert_eq!(
            docs.keys().collect::<Vec<_>>(),
            [SPDX, CYCLONEDX, IN_TOTO],
            "{arch}"
        );
        validate_spdx(&env, &format!("rebased-{arch}"), &docs[SPDX]);
        validate_cyclonedx(&env, &format!("rebased-{arch}"), &docs[CYCLONEDX]);

        // The new base's packages, and the app's own as before.
        let (base, own) = purls(&docs[CYCLONEDX]);
        let zlib_purl = base
            .iter()
            .find(|p| p.starts_with("pkg:deb/debian/zlib1g@"))
            .unwrap_or_else(|| panic!("{arch}: zlib1g among the base packages: {base:?}"));
        let cdx: Value = serde_json::from_slice(&docs[CYCLONEDX]).unwrap();
        let component = cdx["components"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["purl"] == zlib_purl.as_str())
            .unwrap();
        assert_eq!(component["version"], zlib.as_str(), "{arch}: v2's zlib1g");
        assert_eq!(cdx["metadata"]["component"]["version"], subject);
        assert!(
            base.iter()
                .any(|p| p.starts_with("pkg:deb/debian/base-files@"))
        );
        assert_eq!(
            own, old_own[arch],
            "{arch}: the app's packages carried over"
        );
        let spdx: Value = serde_json::from_slice(&docs[SPDX]).unwrap();
        assert!(
            spdx["packages"]
                .as_array()
                .unwrap()
                .iter()
                .any(|p| p["name"] == "zlib1g" && p["versionInfo"] == zlib.as_str()),
            "{arch}: SPDX lists zlib1g"
        );

        // The provenance: the new manifest, a rebase from the old image and base.
        use base64::Engine;
        let envelope: Value = serde_json::from_slice(&docs[IN_TOTO]).unwrap();
        let statement: Value = serde_json::from_slice(
            &base64::engine::general_purpose::STANDARD
                .decode(envelope["payload"].as_str().unwrap())
                .unwrap(),
        )
        .unwrap();
        assert_eq!(
            statement["subject"][0]["digest"]["sha256"],
            subject.trim_start_matches("sha256:")
        );
        let build = &statement["predicate"]["buildDefinition"];
        assert_eq!(
            build["buildType"],
            "https://lade.invalid/buildtypes/rebase/v1"
        );
        let deps = build["resolvedDependencies"].as_array().unwrap();
        let dep = |name: &str| {
            let d = deps.iter().find(|d| d["name"] == name).unwrap();
            format!("sha256:{}", d["digest"]["sha256"].as_str().unwrap())
        };
        assert_eq!(dep("image"), before);
        assert_eq!(dep("old base"), v1);
        assert_eq!(dep("base"), v2);
        assert_eq!(
            build["internalParameters"]["oldManifest"],
            old[arch]["digest"]
        );
        provenance_is_signed(
            &reg,
            "apps/hello",
            subject,
            &public,
            &env.dir(&format!("openssl-{arch}")),
        );

        // Only the fresh documents are listed for the new manifest.
        let l = listing(&reg, "apps/hello", subject);
        let listed = listed_digests(&l);
        assert_eq!(listed.len(), 3, "{arch}");
        assert!(listed.is_disjoint(&old_listed[arch]), "{arch}");
        new_listings.insert(arch.clone(), l);
    }
    let ok = verify(&env, &first_to, &public).success();
    assert!(ok.stdout.contains("signed by the key"), "{}", ok.context());

    // lade's layers were never downloaded (the new base's were, to scan them).
    for g in blob_gets(&first_log) {
        assert!(!own_layers.contains(&g), "lade's layer {g} was downloaded");
    }

    // The same rebase again, elsewhere: the same image and documents, byte for byte, and
    // now the new base's scan is kept: no layer is read at all.
    let again_to = format!("{}/apps/hello:3", reg.host);
    let mark = reg.mark();
    let again = rebase(&again_to).json();
    let again_log = reg.requests_since(mark);
    assert_eq!(again["digest"], after.as_str());
    for (arch, m) in &new {
        let subject = m["digest"].as_str().unwrap();
        assert_eq!(
            listing(&reg, "apps/hello", subject),
            new_listings[arch],
            "{arch}"
        );
    }
    let all_layers: BTreeSet<String> = manifests(&reg, "apps/hello", &after)
        .iter()
        .flat_map(|(_, m)| layer_digests(m))
        .collect();
    for g in blob_gets(&again_log) {
        assert!(
            !all_layers.contains(&g),
            "layer {g} read by the second rebase"
        );
    }
}

/// Manifests written (PUT) among `log`.
fn manifest_puts(log: &[crate::support::registry::Access]) -> Vec<String> {
    log.iter()
        .filter(|a| a.method == "PUT" && a.path.contains("/manifests/"))
        .map(|a| a.path.clone())
        .collect()
}

#[test]
fn attach_needs_the_images_sbom_and_no_attach_says_what_is_left_behind() {
    let env = TestEnv::new();
    let reg = Registry::start();
    let platform = format!("linux/{}", crate::support::arm64::host_arch());
    let base_tag = format!("{}/bases/static:stable", reg.host);
    base_build(&env, &base_tag, &["static", "--platform", &platform]);
    let app = env.copy_example("go-hello", "app");
    let publish = |to: &str, extra: &[&str]| {
        env.lade()
            .arg("publish")
            .arg("-C")
            .arg(&app)
            .args(["--base", &base_tag, "--platform", &platform, "--to", to])
            .args(extra)
            .run()
            .success();
    };
    let bare = format!("{}/apps/bare:1", reg.host);
    publish(&bare, &["--no-attach"]);
    let with_docs = format!("{}/apps/docs:1", reg.host);
    publish(&with_docs, &[]);
    base_build(
        &env,
        &base_tag,
        &["static", "--package", "zlib1g", "--platform", &platform],
    );

    // --attach on an image without an SBOM: refused before anything is written.
    let mark = reg.mark();
    env.lade()
        .args(["rebase", &bare, "--attach"])
        .run()
        .expect_error(&["apps/bare:1", "no CycloneDX SBOM attached", "--no-attach"]);
    let log = reg.requests_since(mark);
    assert_eq!(blob_puts(&log), 0, "{log:?}");
    assert_eq!(manifest_puts(&log), Vec::<String>::new());

    // Without the flag, an image that had no documents gets none, and no warning.
    let plain = env.lade().args(["rebase", &bare, "--json"]).run().success();
    assert!(plain.json()["attachments"].is_null(), "{}", plain.stdout);
    assert!(!plain.stderr.contains("warning"), "{}", plain.stderr);

    // --no-attach on an image that had documents: none written, and a warning says so.
    let mark = reg.mark();
    let run = env
        .lade()
        .args(["rebase", &with_docs, "--no-attach", "--json"])
        .run()
        .success();
    assert!(
        run.stderr.contains("lade: warning:") && run.stderr.contains("not carried over"),
        "{}",
        run.stderr
    );
    assert!(run.json()["attachments"].is_null());
    let puts = manifest_puts(&reg.requests_since(mark));
    assert!(
        puts.iter().all(|p| !p.contains("/manifests/sha256-")),
        "no referrers index written: {puts:?}"
    );
}

/// The documents a layout lists for `subject` (artifact type → bytes), by their manifests'
/// `subject`.
fn layout_documents(layout: &Layout, subject: &str) -> BTreeMap<String, Vec<u8>> {
    let mut docs = BTreeMap::new();
    for entry in layout.index()["manifests"].as_array().unwrap() {
        let Some(t) = entry["artifactType"].as_str() else {
            continue;
        };
        let m = layout.json(entry["digest"].as_str().unwrap());
        if m["subject"]["digest"] == subject {
            let doc = layout.blob(m["layers"][0]["digest"].as_str().unwrap());
            assert!(
                docs.insert(t.to_string(), doc).is_none(),
                "{t} listed twice"
            );
        }
    }
    docs
}

#[test]
fn an_image_in_a_layout_is_rebased_into_a_layout_with_its_documents() {
    let env = TestEnv::new();
    let reg = Registry::start();
    let arch = crate::support::arm64::host_arch();
    let platform = format!("linux/{arch}");
    let base_tag = format!("{}/bases/static:stable", reg.host);
    base_build(&env, &base_tag, &["static", "--platform", &platform]);
    let app = env.copy_example("go-hello", "app");
    let source = env.path("source");
    env.lade()
        .arg("publish")
        .arg("-C")
        .arg(&app)
        .args(["--base", &base_tag, "--platform", &platform, "--to"])
        .arg(format!("oci:{}:app", source.display()))
        .run()
        .success();
    let old = Layout::open(&source).image("app", arch);
    let old_docs = layout_documents(&Layout::open(&source), &old.manifest_digest);
    assert_eq!(old_docs.len(), 3, "published with its documents");
    let (_, app_packages) = purls(&old_docs[CYCLONEDX]);
    base_build(
        &env,
        &base_tag,
        &["static", "--package", "zlib1g", "--platform", &platform],
    );

    let dest = env.path("dest");
    let run = env
        .lade()
        .arg("rebase")
        .arg(format!("oci:{}:app", source.display()))
        .arg("--to")
        .arg(format!("oci:{}:img", dest.display()))
        .arg("--json")
        .run()
        .success();
    assert!(!run.stderr.contains("warning"), "{}", run.stderr);
    let layout = Layout::open(&dest);
    layout.verify_blobs();
    let img = layout.image("img", arch);
    let docs = layout_documents(&layout, &img.manifest_digest);
    assert_eq!(
        docs.keys().collect::<Vec<_>>(),
        [SPDX, CYCLONEDX, IN_TOTO],
        "{}",
        run.stdout
    );
    validate_spdx(&env, "layout", &docs[SPDX]);
    validate_cyclonedx(&env, "layout", &docs[CYCLONEDX]);
    let (base, own) = purls(&docs[CYCLONEDX]);
    assert!(
        base.iter().any(|p| p.starts_with("pkg:deb/debian/zlib1g@")),
        "{base:?}"
    );
    assert_eq!(own, app_packages);
    let cdx: Value = serde_json::from_slice(&docs[CYCLONEDX]).unwrap();
    assert_eq!(cdx["metadata"]["component"]["version"], img.manifest_digest);
}
