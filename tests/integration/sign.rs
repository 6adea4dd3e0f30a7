//! `publish --sign-key` and `lade verify` against a real docker-registry. The signatures are
//! read back with curl and checked with `openssl dgst -verify`, tools lade did not write.

use crate::support::TestEnv;
use crate::support::lade::{LadeRun, root_digest};
use crate::support::layout::sha256_digest;
use crate::support::registry::{Registry, blob_puts};
use crate::support::tools::{run_ok, stdout_ok, tool};
use serde_json::Value;
use std::path::{Path, PathBuf};

const PLATFORMS: &str = "linux/amd64,linux/arm64";
const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
const SIG_ANNOTATION: &str = "dev.cosignproject.cosign/signature";

/// A P-256 key pair made by openssl: (private PKCS#8 PEM, public SPKI PEM).
pub(crate) fn keypair(env: &TestEnv, name: &str) -> (PathBuf, PathBuf) {
    let key = env.path(&format!("{name}.pem"));
    let public = env.path(&format!("{name}.pub.pem"));
    run_ok(
        tool("openssl")
            .args(["genpkey", "-algorithm", "EC", "-pkeyopt"])
            .args(["ec_paramgen_curve:P-256", "-out"])
            .arg(&key),
    );
    run_ok(
        tool("openssl")
            .args(["pkey", "-in"])
            .arg(&key)
            .args(["-pubout", "-out"])
            .arg(&public),
    );
    (key, public)
}

fn publish(env: &TestEnv, project: &Path, target: &str, key: &Path) -> LadeRun {
    env.lade()
        .arg("publish")
        .arg("-C")
        .arg(project)
        .args(["--platform", PLATFORMS, "--json", "--to", target])
        .arg("--sign-key")
        .arg(key)
        .run()
}

pub(crate) fn verify(env: &TestEnv, reference: &str, public: &Path) -> LadeRun {
    env.lade()
        .args(["verify", reference, "--key"])
        .arg(public)
        .run()
}

fn curl_get(url: &str, accept: &str) -> Vec<u8> {
    run_ok(tool("curl").args(["-sSf", "-H", &format!("Accept: {accept}"), url])).stdout
}

/// Uploads `bytes` as a blob (POST, then PUT to the Location with the digest).
fn curl_upload(reg: &Registry, repo: &str, bytes: &[u8], dir: &Path) -> String {
    let digest = sha256_digest(bytes);
    let file = dir.join(digest.replace(':', "-"));
    std::fs::write(&file, bytes).unwrap();
    let headers = stdout_ok(tool("curl").args([
        "-sSf",
        "-X",
        "POST",
        "-D",
        "-",
        "-o",
        "/dev/null",
        &format!("http://{}/v2/{repo}/blobs/uploads/", reg.host),
    ]));
    let location = headers
        .lines()
        .find_map(|l| {
            l.strip_prefix("Location: ")
                .or(l.strip_prefix("location: "))
        })
        .expect("a Location header")
        .trim()
        .to_string();
    let url = if location.starts_with("http") {
        location
    } else {
        format!("http://{}{location}", reg.host)
    };
    let sep = if url.contains('?') { '&' } else { '?' };
    run_ok(
        tool("curl")
            .args([
                "-sSf",
                "-X",
                "PUT",
                "-H",
                "Content-Type: application/octet-stream",
            ])
            .arg("--data-binary")
            .arg(format!("@{}", file.display()))
            .arg(format!("{url}{sep}digest={digest}")),
    );
    digest
}

fn curl_put_manifest(reg: &Registry, repo: &str, tag: &str, bytes: &[u8], dir: &Path) {
    curl_put(reg, repo, tag, OCI_MANIFEST, bytes, dir);
}

/// PUTs `bytes` as a manifest of `media_type` under `tag`, as another tool would.
fn curl_put(reg: &Registry, repo: &str, tag: &str, media_type: &str, bytes: &[u8], dir: &Path) {
    let file = dir.join(format!("manifest-{tag}"));
    std::fs::write(&file, bytes).unwrap();
    run_ok(
        tool("curl")
            .args([
                "-sSf",
                "-X",
                "PUT",
                "-H",
                &format!("Content-Type: {media_type}"),
            ])
            .arg("--data-binary")
            .arg(format!("@{}", file.display()))
            .arg(format!("http://{}/v2/{repo}/manifests/{tag}", reg.host)),
    );
}

fn sig_tag(digest: &str) -> String {
    format!("{}.sig", digest.replace(':', "-"))
}

/// The `.sig` manifest of `digest`, its payload and its DER signature.
fn fetch_signature(reg: &Registry, repo: &str, digest: &str) -> (Vec<u8>, Vec<u8>, Vec<u8>) {
    let base = format!("http://{}/v2/{repo}", reg.host);
    let manifest = curl_get(
        &format!("{base}/manifests/{}", sig_tag(digest)),
        OCI_MANIFEST,
    );
    let m: Value = serde_json::from_slice(&manifest).unwrap();
    assert_eq!(
        m["config"]["mediaType"],
        "application/vnd.oci.image.config.v1+json"
    );
    let layers = m["layers"].as_array().unwrap();
    assert_eq!(layers.len(), 1, "{m}");
    let layer = &layers[0];
    assert_eq!(
        layer["mediaType"],
        "application/vnd.dev.cosign.simplesigning.v1+json"
    );
    let payload = curl_get(
        &format!("{base}/blobs/{}", layer["digest"].as_str().unwrap()),
        "*/*",
    );
    let b64 = layer["annotations"][SIG_ANNOTATION].as_str().unwrap();
    let decoded = stdout_ok(
        tool("sh")
            .arg("-c")
            .arg(format!("printf %s '{b64}' | base64 -d | od -An -v -tx1")),
    );
    let sig = hex_bytes(&decoded);
    (manifest, payload, sig)
}

fn hex_bytes(od: &str) -> Vec<u8> {
    od.split_whitespace()
        .map(|h| u8::from_str_radix(h, 16).unwrap())
        .collect()
}

fn openssl_verifies(dir: &Path, public: &Path, payload: &[u8], sig: &[u8]) -> String {
    let p = dir.join("payload");
    let s = dir.join("sig.der");
    std::fs::write(&p, payload).unwrap();
    std::fs::write(&s, sig).unwrap();
    let out = tool("openssl")
        .args(["dgst", "-sha256", "-verify"])
        .arg(public)
        .arg("-signature")
        .arg(&s)
        .arg(&p)
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// The provenance attached to `subject` is a DSSE envelope whose signature over the PAE
/// (`DSSEv1 <len> <type> <len> <payload>`) openssl accepts with the public key, and whose
/// statement names `subject`.
pub(crate) fn provenance_is_signed(
    reg: &Registry,
    repo: &str,
    subject: &str,
    public: &Path,
    dir: &Path,
) {
    use base64::Engine;
    let b64 = base64::engine::general_purpose::STANDARD;
    let base = format!("http://{}/v2/{repo}", reg.host);
    let fallback: Value = serde_json::from_slice(&curl_get(
        &format!("{base}/manifests/{}", subject.replace(':', "-")),
        OCI_INDEX,
    ))
    .unwrap();
    let entry = fallback["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["artifactType"] == "application/vnd.in-toto+json")
        .unwrap_or_else(|| panic!("no provenance for {subject}: {fallback}"));
    let manifest: Value = serde_json::from_slice(&curl_get(
        &format!("{base}/manifests/{}", entry["digest"].as_str().unwrap()),
        "application/vnd.oci.image.manifest.v1+json",
    ))
    .unwrap();
    let layer = manifest["layers"][0]["digest"].as_str().unwrap();
    let envelope: Value =
        serde_json::from_slice(&curl_get(&format!("{base}/blobs/{layer}"), "*/*")).unwrap();
    let payload_type = envelope["payloadType"].as_str().unwrap();
    let payload = b64.decode(envelope["payload"].as_str().unwrap()).unwrap();
    let statement: Value = serde_json::from_slice(&payload).unwrap();
    assert_eq!(
        format!(
            "sha256:{}",
            statement["subject"][0]["digest"]["sha256"]
                .as_str()
                .unwrap()
        ),
        subject
    );
    let sig = b64
        .decode(envelope["signatures"][0]["sig"].as_str().unwrap())
        .unwrap();
    let mut pae = format!(
        "DSSEv1 {} {payload_type} {} ",
        payload_type.len(),
        payload.len()
    )
    .into_bytes();
    pae.extend_from_slice(&payload);
    assert_eq!(
        openssl_verifies(dir, public, &pae, &sig),
        "Verified OK",
        "the provenance of {subject}"
    );
}

fn failed_checks(run: &LadeRun) -> Vec<&str> {
    run.stderr
        .lines()
        .filter_map(|l| l.strip_prefix("lade: check failed: "))
        .collect()
}

#[test]
fn signed_publish_verifies_with_openssl_and_lade_verify_catches_tampering() {
    let env = TestEnv::new();
    let project = env.copy_example("go-hello", "go-hello");
    let reg = Registry::start();
    let scratch = env.dir("scratch");
    let (key, public) = keypair(&env, "signer");
    let repo = "team/signed";
    let target = format!("{}/{repo}:1", reg.host);

    let report = publish(&env, &project, &target, &key).success().json();
    let root = root_digest(&report);
    let index: Value = serde_json::from_slice(&curl_get(
        &format!("http://{}/v2/{repo}/manifests/{root}", reg.host),
        OCI_INDEX,
    ))
    .unwrap();
    let platform_digests: Vec<String> = index["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["digest"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(platform_digests.len(), 2);
    for d in &platform_digests {
        provenance_is_signed(&reg, repo, d, &public, &scratch);
    }
    let subjects: Vec<String> = std::iter::once(root.clone())
        .chain(platform_digests.iter().cloned())
        .collect();
    let signatures = report["signatures"].as_array().unwrap();
    assert_eq!(signatures.len(), 3, "{report}");

    // Each signature is cosign's simple signing, and openssl accepts it with the public key.
    let mut sig_manifests = Vec::new();
    for d in &subjects {
        let (manifest, payload, sig) = fetch_signature(&reg, repo, d);
        assert_eq!(
            String::from_utf8(payload.clone()).unwrap(),
            format!(
                r#"{{"critical":{{"identity":{{"docker-reference":"{}/{repo}"}},"image":{{"docker-manifest-digest":"{d}"}},"type":"cosign container image signature"}},"optional":null}}"#,
                reg.host
            )
        );
        assert_eq!(
            openssl_verifies(&scratch, &public, &payload, &sig),
            "Verified OK",
            "{d}"
        );
        sig_manifests.push(manifest);
    }

    // lade verify, by tag and by digest.
    let ok = verify(&env, &target, &public).success();
    for d in &subjects {
        assert!(
            ok.stdout.contains(&format!("{d}: signed by the key")),
            "{}",
            ok.context()
        );
    }
    let json = env
        .lade()
        .args([
            "verify",
            &format!("{}/{repo}@{root}", reg.host),
            "--json",
            "--key",
        ])
        .arg(&public)
        .run()
        .success()
        .json();
    assert_eq!(json["images"].as_array().unwrap().len(), 3, "{json}");
    assert!(
        json["images"]
            .as_array()
            .unwrap()
            .iter()
            .all(|i| i["signed"] == true)
    );

    // Artifacts the referrers fallback index lists for a platform manifest are listed.
    let listed = sha256_digest(&sig_manifests[0]);
    let fallback = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": OCI_INDEX,
        "manifests": [{
            "mediaType": OCI_MANIFEST,
            "digest": listed,
            "size": sig_manifests[0].len(),
            "artifactType": "application/spdx+json",
        }],
    });
    curl_put(
        &reg,
        repo,
        &platform_digests[0].replace(':', "-"),
        OCI_INDEX,
        &serde_json::to_vec(&fallback).unwrap(),
        &scratch,
    );
    let with_referrer = verify(&env, &target, &public).success();
    assert!(
        with_referrer
            .stdout
            .contains(&format!("referrer {listed} application/spdx+json")),
        "{}",
        with_referrer.context()
    );

    // Another key: every signature fails, each on its own line.
    let (_, other_public) = keypair(&env, "stranger");
    let wrong = verify(&env, &target, &other_public);
    wrong.expect_error(&["not verified"]);
    let failed = failed_checks(&wrong);
    let (signatures, others): (Vec<&str>, Vec<&str>) = failed
        .iter()
        .partition(|l| l.contains("signature: does not verify"));
    assert_eq!(signatures.len(), 3, "{}", wrong.context());
    // The provenance still listed (the second platform's) is not signed by this key either.
    assert_eq!(others.len(), 1, "{}", wrong.context());
    assert!(
        others[0].contains(&platform_digests[1])
            && others[0].contains("attestation:")
            && others[0].contains("is not signed by key"),
        "{others:?}"
    );

    // Republishing sends nothing new: the signature manifests are byte-identical.
    let mark = reg.mark();
    let again = publish(&env, &project, &target, &key).success().json();
    assert!(
        again["signatures"]
            .as_array()
            .unwrap()
            .iter()
            .all(|s| s["pushed"] == false),
        "{again}"
    );
    assert_eq!(
        blob_puts(&reg.requests_since(mark)),
        0,
        "no blob uploaded again"
    );
    for (d, before) in subjects.iter().zip(&sig_manifests) {
        assert_eq!(&fetch_signature(&reg, repo, d).0, before, "{d}");
    }

    // The index's signature copied to the first platform manifest's tag: the digest check breaks.
    curl_put_manifest(
        &reg,
        repo,
        &sig_tag(&platform_digests[0]),
        &sig_manifests[0],
        &scratch,
    );
    let copied = verify(&env, &target, &public);
    copied.expect_error(&["not verified"]);
    let failed = failed_checks(&copied);
    assert_eq!(failed.len(), 1, "{}", copied.context());
    assert!(
        failed[0].contains(&platform_digests[0])
            && failed[0].contains("digest: the signature is for"),
        "{failed:?}"
    );

    // One payload byte changed and pushed back with the old signature: the signature breaks.
    let (manifest, payload, _) = fetch_signature(&reg, repo, &platform_digests[1]);
    let mut tampered = payload.clone();
    let at = tampered.len() - 30;
    tampered[at] = if tampered[at] == b'a' { b'b' } else { b'a' };
    let new_digest = curl_upload(&reg, repo, &tampered, &scratch);
    let mut m: Value = serde_json::from_slice(&manifest).unwrap();
    m["layers"][0]["digest"] = Value::String(new_digest);
    curl_put_manifest(
        &reg,
        repo,
        &sig_tag(&platform_digests[1]),
        &serde_json::to_vec(&m).unwrap(),
        &scratch,
    );
    let broken = verify(&env, &target, &public);
    broken.expect_error(&["not verified"]);
    let failed = failed_checks(&broken);
    assert!(
        failed
            .iter()
            .any(|l| l.contains(&platform_digests[1]) && l.contains("signature: does not verify")),
        "{}",
        broken.context()
    );

    // Publishing again repairs both signatures.
    publish(&env, &project, &target, &key).success();
    verify(&env, &target, &public).success();

    // The second platform's attachments listed for the first: their subject check breaks.
    let second = curl_get(
        &format!(
            "http://{}/v2/{repo}/manifests/{}",
            reg.host,
            platform_digests[1].replace(':', "-")
        ),
        OCI_INDEX,
    );
    curl_put(
        &reg,
        repo,
        &platform_digests[0].replace(':', "-"),
        OCI_INDEX,
        &second,
        &scratch,
    );
    let moved = verify(&env, &target, &public);
    moved.expect_error(&["not verified"]);
    let failed = failed_checks(&moved);
    assert!(!failed.is_empty(), "{}", moved.context());
    assert!(
        failed.iter().all(|l| l.contains(&platform_digests[0])
            && (l.contains("subject: artifact") || l.contains("does not name"))),
        "{failed:?}"
    );
}

#[test]
fn an_unusable_sign_key_fails_before_anything_is_built() {
    let env = TestEnv::new();
    let project = env.copy_example("go-hello", "go-hello");
    let out = env.path("out");
    let missing = env.path("missing-key.pem");
    let sec1 = env.path("sec1-key.pem");
    let body = "MHcCAQEEIBaseSixtyFourBodyOfAKeyThatMustNotBePrintedAnywhere";
    std::fs::write(
        &sec1,
        format!("-----BEGIN EC PRIVATE KEY-----\n{body}\n-----END EC PRIVATE KEY-----\n"),
    )
    .unwrap();
    for (how, file, words) in [
        (
            "flag",
            &missing,
            vec!["missing-key.pem", "reading signing key"],
        ),
        ("env", &missing, vec!["missing-key.pem"]),
        ("flag", &sec1, vec!["sec1-key.pem", "SEC1"]),
    ] {
        let mut lade = env
            .lade()
            .arg("publish")
            .arg("-C")
            .arg(&project)
            .args(["--to", &format!("oci:{}:v1", out.display())]);
        lade = match how {
            "flag" => lade.arg("--sign-key").arg(file),
            _ => lade.env("LADE_SIGN_KEY", file),
        };
        let run = lade.run();
        run.expect_error(&words);
        assert!(
            !run.stderr.contains("project '") && !out.exists(),
            "nothing is planned or built with a bad key:\n{}",
            run.context()
        );
        assert!(
            !run.stderr.contains(body),
            "key material printed:\n{}",
            run.context()
        );
    }
}
