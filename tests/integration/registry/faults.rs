//! Registries that misbehave in ways retries alone do not fix: a request that is accepted and
//! never answered, a blob that never ends, a self-signed certificate that is its own CA.

use crate::support::TestEnv;
use crate::support::base_image::build_base;
use crate::support::lade::{LadeRun, root_digest};
use crate::support::layout::{Layout, sha256_digest};
use crate::support::registry::{FaultProxy, Registry, RegistryConfig, TestCa, skopeo_raw};
use crate::support::tools::{run_ok, tool};
use std::path::Path;
use std::time::Duration;

/// `lade: warning: …` lines of a run.
fn warnings(run: &LadeRun) -> Vec<&str> {
    run.stderr
        .lines()
        .filter_map(|l| l.strip_prefix("lade: warning: "))
        .collect()
}

/// Builds `project` once into a throwaway layout, so a later publish of it only pushes (its
/// build steps are reused) and its time is the registry's.
fn warm(env: &TestEnv, project: &Path) {
    env.lade()
        .args(["publish", "-q", "--platform", "linux/amd64", "-C"])
        .arg(project)
        .arg("--to")
        .arg(format!("oci:{}:warm", env.path("warm").display()))
        .run()
        .success();
}

#[test]
fn a_manifest_put_that_never_gets_an_answer_costs_seconds_and_the_publish_completes() {
    let env = TestEnv::new();
    let project = env.copy_example("go-hello", "go-hello");
    warm(&env, &project);
    let reg = Registry::start();
    let proxy = FaultProxy::start(&reg, &["--hang-manifest-put", "2"]);
    let run = env
        .lade()
        .args(["publish", "--json", "--platform", "linux/amd64", "-C"])
        .arg(&project)
        .args(["--to", &format!("{}/team/app:1", proxy.host)])
        .env("LADE_REGISTRY_TIMEOUT", "2")
        .run_for(Duration::from_secs(90));
    assert!(run.status.success(), "{}", run.context());
    assert!(
        run.elapsed < Duration::from_secs(30),
        "two silent PUTs with a 2 s timeout took {:.1?}:\n{}",
        run.elapsed,
        run.context()
    );
    assert_eq!(proxy.injected(), ["hang-manifest-put", "hang-manifest-put"]);
    // Each retry is said, naming the registry, the request and the timeout.
    let said: Vec<&str> = warnings(&run)
        .into_iter()
        .filter(|w| w.starts_with("the registry stopped answering; trying again"))
        .collect();
    assert_eq!(said.len(), 2, "{}", run.context());
    for w in &said {
        assert!(
            w.contains(&proxy.host) && w.contains("manifest") && w.contains("no answer for 2 s"),
            "{w}"
        );
    }
    // The tag is on the image lade reported, read from the registry itself.
    let raw = skopeo_raw(&format!("{}/team/app:1", reg.host), &["--tls-verify=false"]);
    assert_eq!(sha256_digest(&raw), root_digest(&run.json()));
}

/// The tags of `repository` as the registry lists them, sorted (none when it has none).
fn tags(reg: &Registry, repository: &str) -> Vec<String> {
    let out = std::process::Command::new(crate::support::registry::require_tool("curl"))
        .args(["-sS", "-w", "\n%{http_code}"])
        .arg(format!("http://{}/v2/{repository}/tags/list", reg.host))
        .output()
        .expect("running curl");
    let text = String::from_utf8(out.stdout).unwrap();
    let (body, status) = text.rsplit_once('\n').unwrap();
    if status == "404" {
        return Vec::new();
    }
    assert_eq!(status, "200", "tags/list: {body}");
    let list: serde_json::Value = serde_json::from_str(body).unwrap();
    let mut tags: Vec<String> = list["tags"]
        .as_array()
        .map(|a| a.iter().map(|t| t.as_str().unwrap().to_string()).collect())
        .unwrap_or_default();
    tags.sort();
    tags
}

/// A registry that refuses the tag (as one with immutable tags refuses a tag it holds) fails
/// the publish, and what anyone can list of the repository stays as it was: no tag at all,
/// not even the `sha256-<image>` tag listing the image's SBOMs and provenance, which waits for
/// the image it speaks of.
#[test]
fn a_refused_tag_fails_the_publish_and_leaves_no_tag_behind() {
    let env = TestEnv::new();
    let project = env.copy_example("go-hello", "go-hello");
    let reg = Registry::start();
    let proxy = FaultProxy::start(&reg, &["--deny-tag", "1"]);
    let publish = |tag: &str| {
        env.lade()
            .args(["publish", "--json", "--platform", "linux/amd64", "-C"])
            .arg(&project)
            .args(["--to", &format!("{}/team/app:{tag}", proxy.host)])
            .run()
    };
    let run = publish("1");
    run.expect_error(&[&proxy.host, "team/app", "denied"]);
    assert_eq!(proxy.injected(), ["deny-tag"], "{}", run.context());
    assert_eq!(tags(&reg, "team/app"), Vec::<String>::new());
    // The same image under a tag the registry takes gets both tags: the check above could
    // have found the fallback tag.
    let run = publish("2").success();
    let fallback = root_digest(&run.json()).replace(':', "-");
    assert_eq!(tags(&reg, "team/app"), ["2".to_string(), fallback]);
}

/// Every regular file under `dir` with its size.
fn files(dir: &Path) -> Vec<(std::path::PathBuf, u64)> {
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return out;
    };
    for e in entries.flatten() {
        let meta = e.metadata().unwrap();
        if meta.is_dir() {
            out.extend(files(&e.path()));
        } else if meta.is_file() {
            out.push((e.path(), meta.len()));
        }
    }
    out
}

#[test]
fn a_base_layer_that_never_ends_fails_at_once_and_leaves_nothing_in_the_cache() {
    let env = TestEnv::new();
    let project = env.copy_example("go-hello", "go-hello");
    let reg = Registry::start();
    let base = build_base(&env.path("base"), "v1", &["amd64"], None);
    run_ok(
        tool("skopeo")
            .args(["copy", "-q", "--dest-tls-verify=false"])
            .arg(format!("oci:{}:v1", base.dir.display()))
            .arg(format!("docker://{}/bases/static:v1", reg.host)),
    );
    let (layer, _) = &base.layers["amd64"];
    let proxy = FaultProxy::start(&reg, &["--endless-blob", layer]);
    let cache = env.dir("cache");
    let run = env
        .lade_with_cache(&cache)
        .args(["publish", "--platform", "linux/amd64", "-C"])
        .arg(&project)
        .args(["--base", &format!("{}/bases/static:v1", proxy.host)])
        .arg("--to")
        .arg(format!("oci:{}:v1", env.path("out").display()))
        .env("LADE_REGISTRY_TIMEOUT", "5")
        .run_for(Duration::from_secs(120));
    let line = run.expect_error(&[layer, &proxy.host, "bytes"]);
    assert!(
        run.elapsed < Duration::from_secs(60),
        "{:.1?}: {line}",
        run.elapsed
    );
    // The client stopped reading at once: what the proxy got rid of fits in socket buffers.
    let sent: Vec<u64> = proxy
        .injected()
        .iter()
        .filter_map(|l| l.strip_prefix("endless-blob sent "))
        .map(|n| n.parse().unwrap())
        .collect();
    assert!(
        !sent.is_empty(),
        "the blob was asked for: {}",
        run.context()
    );
    assert!(
        sent.iter().all(|&n| n < 64 << 20),
        "lade kept reading an endless blob: {sent:?} bytes"
    );
    let hex = layer.trim_start_matches("sha256:");
    for (path, len) in files(&cache) {
        let name = path.file_name().unwrap().to_string_lossy();
        assert!(
            !name.contains(hex) && !name.starts_with(".download-") && len < 64 << 20,
            "left in the cache: {} ({len} bytes)",
            path.display()
        );
    }
}

#[test]
fn a_damaged_base_layer_in_the_cache_is_fetched_again() {
    let env = TestEnv::new();
    let project = env.copy_example("go-hello", "go-hello");
    let reg = Registry::start();
    let base = build_base(&env.path("base"), "v1", &["amd64"], None);
    run_ok(
        tool("skopeo")
            .args(["copy", "-q", "--dest-tls-verify=false"])
            .arg(format!("oci:{}:v1", base.dir.display()))
            .arg(format!("docker://{}/bases/static:v1", reg.host)),
    );
    let (layer, _) = &base.layers["amd64"];
    let cache = env.dir("cache");
    let publish = |out: &str| {
        env.lade_with_cache(&cache)
            .args(["publish", "-q", "--platform", "linux/amd64", "-C"])
            .arg(&project)
            .args(["--base", &format!("{}/bases/static:v1", reg.host)])
            .arg("--to")
            .arg(format!("oci:{}:v1", env.path(out).display()))
            .run()
            .success()
    };
    publish("first");
    // The same size, other bytes.
    let stored = files(&cache)
        .into_iter()
        .map(|(p, _)| p)
        .find(|p| {
            p.ends_with(format!(
                "blobs/sha256/{}",
                layer.trim_start_matches("sha256:")
            ))
        })
        .expect("the base layer is in the blob store");
    let mut bytes = std::fs::read(&stored).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 0xff;
    std::fs::write(&stored, &bytes).unwrap();
    publish("second");
    Layout::open(&env.path("second")).verify_blobs();
    assert_eq!(sha256_digest(&std::fs::read(&stored).unwrap()), *layer);
}

#[test]
fn a_self_signed_ca_true_certificate_given_with_registry_ca_is_accepted_as_itself() {
    let env = TestEnv::new();
    let project = env.copy_example("go-hello", "go-hello");
    let cert = TestCa::self_signed();
    let text = String::from_utf8_lossy(
        &run_ok(
            tool("openssl")
                .args(["x509", "-noout", "-text", "-in"])
                .arg(&cert.server_cert),
        )
        .stdout,
    )
    .into_owned();
    assert!(
        text.contains("CA:TRUE"),
        "openssl's default self-signed certificate is a CA: {text}"
    );
    let reg = Registry::start_with(RegistryConfig {
        tls: Some(&cert),
        ..Default::default()
    });
    let to = format!("{}/team/app:1", reg.host);
    let publish = |ca: &Path| {
        env.lade()
            .args(["publish", "--json", "--platform", "linux/amd64", "-C"])
            .arg(&project)
            .args(["--to", &to])
            .arg("--registry-ca")
            .arg(ca)
            .run_for(Duration::from_secs(300))
    };
    // Another self-signed certificate for the same address proves nothing about this server.
    let other = TestCa::self_signed();
    let refused = publish(&other.server_cert);
    let line = refused.expect_error(&[&reg.host]);
    assert!(line.contains("certificate"), "{line}");

    let run = publish(&cert.server_cert);
    assert!(run.status.success(), "{}", run.context());
    let raw = skopeo_raw(&to, &["--cert-dir", cert.cert_dir.to_str().unwrap()]);
    assert_eq!(sha256_digest(&raw), root_digest(&run.json()));
}
