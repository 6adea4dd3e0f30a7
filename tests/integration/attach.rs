//! `lade publish` attaches SBOMs (SPDX 2.3, CycloneDX 1.6) and provenance to every platform
//! image as OCI 1.1 referrers. Against Debian's docker-registry 2.8 (no referrers API) they
//! are found, with curl and not lade, through the `sha256-<hex>` fallback index; the documents
//! pass their projects' validators (`pyspdxtools`; cyclonedx-python-lib's strict JSON schema
//! check); a second publish is byte-identical and uploads nothing. An OCI layout output lists
//! the same artifact manifests in its index.json.

use crate::support::TestEnv;
use crate::support::layout::{Layout, sha256_digest};
use crate::support::registry::{Registry, blob_puts, require_tool};
use crate::support::tools::{run_ok, tool};
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
const EMPTY_DIGEST: &str =
    "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a";
const SPDX: &str = "application/spdx+json";
const CYCLONEDX: &str = "application/vnd.cyclonedx+json";
const IN_TOTO: &str = "application/vnd.in-toto+json";
/// What every platform image gets.
const TYPES: [&str; 3] = [SPDX, CYCLONEDX, IN_TOTO];

/// `GET` from the registry with curl, accepting OCI manifests and indexes.
fn get(reg: &Registry, path: &str) -> Vec<u8> {
    let out = Command::new(require_tool("curl"))
        .args(["-sSf", "-H"])
        .arg(format!("Accept: {OCI_INDEX}, {OCI_MANIFEST}"))
        .arg(format!("http://{}/v2/{path}", reg.host))
        .output()
        .expect("running curl");
    assert!(
        out.status.success(),
        "curl {path}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

fn get_json(reg: &Registry, path: &str) -> Value {
    serde_json::from_slice(&get(reg, path)).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn publish(env: &TestEnv, project: &Path, to: &[String]) -> Value {
    let refs = env.path("image-refs.txt");
    let mut lade = env.lade().arg("publish").arg("-C").arg(project).args([
        "--platform",
        "linux/amd64,linux/arm64",
        "--json",
        "--image-refs",
    ]);
    lade = lade.arg(&refs);
    for t in to {
        lade = lade.arg("--to").arg(t);
    }
    lade.run().success().json()
}

/// The documents attached to `manifest` (artifact type → bytes), found through its fallback
/// tag; each artifact manifest is checked for the OCI 1.1 shape and its subject.
pub(crate) fn referrers(reg: &Registry, repo: &str, manifest: &Value) -> BTreeMap<String, Vec<u8>> {
    let subject = manifest["digest"].as_str().unwrap();
    let tag = subject.replace(':', "-");
    let index = get_json(reg, &format!("{repo}/manifests/{tag}"));
    assert_eq!(index["mediaType"], OCI_INDEX, "{index}");
    let mut docs = BTreeMap::new();
    for entry in index["manifests"].as_array().unwrap() {
        let digest = entry["digest"].as_str().unwrap();
        let bytes = get(reg, &format!("{repo}/manifests/{digest}"));
        assert_eq!(sha256_digest(&bytes), digest);
        let m: Value = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(m["artifactType"], entry["artifactType"], "{m}");
        assert_eq!(m["subject"]["digest"], subject, "{m}");
        assert_eq!(m["subject"]["size"], manifest["size"], "{m}");
        assert_eq!(m["config"]["digest"], EMPTY_DIGEST, "{m}");
        assert_eq!(
            m["config"]["mediaType"],
            "application/vnd.oci.empty.v1+json"
        );
        assert_eq!(m["layers"][0]["mediaType"], m["artifactType"], "{m}");
        assert!(m["annotations"]["org.opencontainers.image.created"].is_string());
        let layer = m["layers"][0]["digest"].as_str().unwrap();
        let doc = get(reg, &format!("{repo}/blobs/{layer}"));
        assert_eq!(sha256_digest(&doc), layer);
        docs.insert(m["artifactType"].as_str().unwrap().to_string(), doc);
    }
    docs
}

pub(crate) fn validate_spdx(env: &TestEnv, name: &str, doc: &[u8]) {
    let path = env.path(&format!("{name}.spdx.json"));
    std::fs::write(&path, doc).unwrap();
    run_ok(tool("pyspdxtools").arg("-i").arg(&path));
}

pub(crate) fn validate_cyclonedx(env: &TestEnv, name: &str, doc: &[u8]) {
    let path = env.path(&format!("{name}.cdx.json"));
    std::fs::write(&path, doc).unwrap();
    let script = "import sys\n\
        from cyclonedx.validation.json import JsonStrictValidator\n\
        from cyclonedx.schema import SchemaVersion\n\
        err = JsonStrictValidator(SchemaVersion.V1_6).validate_str(open(sys.argv[1]).read())\n\
        sys.exit(f'invalid: {err}' if err is not None else 0)\n";
    run_ok(tool("python3").args(["-c", script]).arg(&path));
}

/// Checks one platform's documents with the validators and against its manifest digest.
fn check_documents(env: &TestEnv, name: &str, docs: &BTreeMap<String, Vec<u8>>, subject: &str) {
    for t in TYPES {
        assert!(
            docs.contains_key(t),
            "{name}: no {t} among {:?}",
            docs.keys()
        );
    }
    validate_spdx(env, name, &docs[SPDX]);
    validate_cyclonedx(env, name, &docs[CYCLONEDX]);
    let cdx: Value = serde_json::from_slice(&docs[CYCLONEDX]).unwrap();
    assert_eq!(cdx["metadata"]["component"]["version"], subject);
    check_provenance(&docs[IN_TOTO], subject);
}

fn check_provenance(dsse: &[u8], subject: &str) {
    use base64::Engine;
    let envelope: Value = serde_json::from_slice(dsse).unwrap();
    assert_eq!(envelope["payloadType"], IN_TOTO);
    let payload = base64::engine::general_purpose::STANDARD
        .decode(envelope["payload"].as_str().unwrap())
        .unwrap();
    let statement: Value = serde_json::from_slice(&payload).unwrap();
    assert_eq!(statement["_type"], "https://in-toto.io/Statement/v1");
    assert_eq!(statement["predicateType"], "https://slsa.dev/provenance/v1");
    assert_eq!(
        statement["subject"][0]["digest"]["sha256"],
        subject.trim_start_matches("sha256:")
    );
    let predicate = &statement["predicate"];
    let deps = predicate["buildDefinition"]["resolvedDependencies"]
        .as_array()
        .unwrap();
    assert!(
        deps.iter().any(|d| d["name"] == "go.mod"),
        "the lock files are resolved dependencies: {deps:?}"
    );
    assert!(
        deps.iter()
            .any(|d| d["name"] == "tool go" && d["digest"]["sha256"].is_string()),
        "the Go toolchain by digest: {deps:?}"
    );
    let steps = predicate["buildDefinition"]["internalParameters"]["steps"]
        .as_array()
        .unwrap();
    assert!(steps.iter().any(|s| s["program"] == "go"), "{steps:?}");
    assert!(
        predicate["runDetails"]["builder"]["id"]
            .as_str()
            .unwrap()
            .contains("lade")
    );
    assert!(envelope["signatures"].as_array().unwrap().is_empty());
}

#[test]
fn sboms_attached_to_registry_and_layout_outputs_and_unchanged_on_republish() {
    let env = TestEnv::new();
    let project = env.copy_example("go-hello", "go-hello");
    let reg = Registry::start();
    let repo = "team/go-hello";
    let out = env.path("out");
    let to = vec![
        format!("{}/{repo}:v1", reg.host),
        format!("oci:{}:v1", out.display()),
    ];
    let first = publish(&env, &project, &to);

    let index = get_json(&reg, &format!("{repo}/manifests/v1"));
    let manifests = index["manifests"].as_array().unwrap();
    assert_eq!(manifests.len(), 2, "{index}");
    let mut all_docs = Vec::new();
    for m in manifests {
        let arch = m["platform"]["architecture"].as_str().unwrap();
        let docs = referrers(&reg, repo, m);
        check_documents(&env, arch, &docs, m["digest"].as_str().unwrap());
        all_docs.push(docs);
    }

    // --image-refs lists the images, then every attached artifact.
    let lines: Vec<String> = std::fs::read_to_string(env.path("image-refs.txt"))
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect();
    let outputs = first["outputs"].as_array().unwrap();
    for (line, o) in lines.iter().zip(outputs) {
        assert_eq!(line, o["reference"].as_str().unwrap());
    }
    for a in first["attachments"].as_array().unwrap() {
        for art in a["artifacts"].as_array().unwrap() {
            let r = art["reference"].as_str().unwrap();
            assert!(lines.iter().any(|l| l == r), "{r} not in {lines:?}");
        }
    }

    // The report lists the same artifacts per output.
    let attachments = first["attachments"].as_array().expect("attachments");
    assert_eq!(attachments.len(), 2, "{attachments:?}");
    for a in attachments {
        let artifacts = a["artifacts"].as_array().unwrap();
        assert_eq!(artifacts.len(), 2 * all_docs[0].len(), "{a}");
        for art in artifacts {
            assert!(manifests.iter().any(|m| m["digest"] == art["subject"]));
            assert!(TYPES.iter().any(|t| art["artifact_type"] == *t), "{art}");
            let reference = art["reference"].as_str().unwrap();
            assert!(
                reference.ends_with(&format!("@{}", art["digest"].as_str().unwrap())),
                "{art}"
            );
        }
    }

    // The layout holds the same artifact manifests, listed by index.json with their subject.
    let layout = Layout::open(&out);
    layout.verify_blobs();
    let listed: Vec<Value> = layout.index()["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|d| d["artifactType"].is_string())
        .cloned()
        .collect();
    assert_eq!(listed.len(), 2 * all_docs[0].len(), "{listed:?}");
    for d in &listed {
        let m = layout.json(d["digest"].as_str().unwrap());
        assert!(
            manifests
                .iter()
                .any(|p| p["digest"] == m["subject"]["digest"])
        );
        let doc = layout.blob(m["layers"][0]["digest"].as_str().unwrap());
        if m["artifactType"] == IN_TOTO {
            // The statement names the layout's image, not the registry repository.
            check_provenance(&doc, m["subject"]["digest"].as_str().unwrap());
        } else {
            assert!(all_docs.iter().any(|docs| docs.values().any(|b| b == &doc)));
        }
    }

    let mark = reg.mark();
    let second = publish(&env, &project, &to);
    let log = reg.requests_since(mark);
    assert_eq!(
        second["digest"], first["digest"],
        "attaching never changes the image"
    );
    assert_eq!(blob_puts(&log), 0, "nothing uploaded again: {log:?}");
    assert!(
        !log.iter()
            .any(|a| a.method == "PUT" && a.path.contains("/manifests/sha256")),
        "no artifact manifest or fallback index written again: {log:?}"
    );
    assert_eq!(
        second["attachments"],
        zero_stats(first["attachments"].clone())
    );
    for (m, before) in manifests.iter().zip(&all_docs) {
        assert_eq!(
            &referrers(&reg, repo, m),
            before,
            "byte-identical documents"
        );
    }

    // The second publish read what each of lade's layers adds to the SBOM from the cache,
    // where the first kept it: a kept part that is damaged is scanned again, to the same
    // documents.
    let kept: Vec<_> = std::fs::read_dir(env.cache.join("layer-sbom"))
        .expect("layer parts kept in the cache")
        .map(|e| e.unwrap().path())
        .collect();
    assert!(!kept.is_empty());
    for f in &kept {
        std::fs::write(f, "{damaged").unwrap();
    }
    let third = publish(&env, &project, &to);
    assert_eq!(third["digest"], first["digest"]);
    assert_eq!(
        third["attachments"],
        zero_stats(first["attachments"].clone()),
        "the same documents, so the same artifact digests"
    );
}

/// `attachments` with the transfer counts a publish of the same image must find zero.
fn zero_stats(mut attachments: Value) -> Value {
    for a in attachments.as_array_mut().unwrap() {
        for v in a["stats"].as_object_mut().unwrap().values_mut() {
            *v = Value::from(0);
        }
    }
    attachments
}
