//! The registry client library against a real distribution registry: pushes, skips, mounts, auth
//! (Basic over HTTPS with a test CA, bearer tokens, credential helpers), faults and errors.

use crate::support::registry::{
    FaultProxy, Registry, RegistryConfig, TestCa, TokenServer, blob_gets, blob_puts,
    credential_helper, skopeo_raw,
};
use lade::digest::Digest;
use lade::image::assemble::{self, BuildMeta, NamedLayer};
use lade::oci::{self, BaseImage, BlobSource, ImageSet, Layer, Reference};
use lade::plan::ImageConfigPatch;
use lade::platform::Platform;
use lade::registry::{
    CredentialSources, RegistryClient, RegistryError, RegistryOptions, RegistrySession, Secret,
    push,
};
use std::io::Write;
use std::path::Path;
use std::time::Duration;

const GZIP_LAYER: &str = "application/vnd.oci.image.layer.v1.tar+gzip";

/// A gzip'd tar with one file, stored under `dir/blobs/sha256/`.
fn layer(dir: &Path, name: &str, content: &[u8]) -> Layer {
    let mut tar = tar::Builder::new(Vec::new());
    let mut h = tar::Header::new_gnu();
    h.set_size(content.len() as u64);
    h.set_mode(0o644);
    h.set_mtime(0);
    h.set_cksum();
    tar.append_data(&mut h, name, content).unwrap();
    let tar = tar.into_inner().unwrap();
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(&tar).unwrap();
    let gz = gz.finish().unwrap();
    let digest = Digest::of(&gz);
    let path = dir.join("blobs/sha256").join(digest.hex());
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(&path, &gz).unwrap();
    Layer {
        descriptor: oci::descriptor(GZIP_LAYER, gz.len() as u64, &digest),
        diff_id: Digest::of(&tar),
        source: BlobSource::File(path),
    }
}

/// `n` incompressible bytes (xorshift), so gzip'd layers stay about that large.
fn noise(n: usize) -> Vec<u8> {
    let mut x: u64 = 0x9E3779B97F4A7C15;
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

fn scratch(platform: &Platform) -> BaseImage {
    BaseImage {
        platform: platform.clone(),
        config: oci::base::scratch_config(),
        layers: Vec::new(),
    }
}

/// An image set for `platforms`, each with layers `name → content` (content gets the platform
/// appended so layers differ per platform), on the given bases.
fn image_set(dir: &Path, bases: &[BaseImage], layers: &[(&str, &[u8])]) -> ImageSet {
    let meta = BuildMeta::default();
    let images = bases
        .iter()
        .map(|base| {
            let named = layers
                .iter()
                .map(|(name, content)| {
                    let mut c = content.to_vec();
                    c.extend_from_slice(base.platform.to_string().as_bytes());
                    NamedLayer {
                        name: name.to_string(),
                        layer: layer(dir, name, &c),
                    }
                })
                .collect();
            assemble::image(base, named, &ImageConfigPatch::default(), &meta).unwrap()
        })
        .collect();
    assemble::image_set(images, &meta).unwrap()
}

fn platforms() -> Vec<Platform> {
    vec![
        "linux/amd64".parse().unwrap(),
        "linux/arm64".parse().unwrap(),
    ]
}

fn options() -> RegistryOptions {
    RegistryOptions {
        backoff: Duration::from_millis(50),
        ..Default::default()
    }
}

fn reference(reg: &str, rest: &str) -> Reference {
    Reference::parse(&format!("{reg}/{rest}")).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn push_multi_arch_then_nothing_then_one_layer() {
    let reg = Registry::start();
    let dir = tempfile::tempdir().unwrap();
    let bases: Vec<BaseImage> = platforms().iter().map(scratch).collect();
    let set = image_set(
        dir.path(),
        &bases,
        &[("deps", b"dependencies"), ("app", b"app v1")],
    );
    let client = RegistryClient::new(options()).unwrap();
    let target = reference(&reg.host, "team/app:1.4.0");

    let mark = reg.mark();
    let report = push(&client, &target, &["latest".into()], &set)
        .await
        .unwrap();
    let log = reg.requests_since(mark);
    assert_eq!(report.digest, set.root().digest());
    assert_eq!(report.tags, vec!["1.4.0", "latest"]);
    assert_eq!(report.stats.blobs_uploaded, 6, "{:?}", report.stats);
    assert_eq!(report.stats.manifests_pushed, 3);
    assert_eq!(blob_puts(&log), 6, "the registry saw six blob uploads");
    assert_eq!(
        report.reference.to_string(),
        format!("{}/team/app@{}", reg.host, report.digest)
    );
    for tag in ["1.4.0", "latest"] {
        let raw = skopeo_raw(
            &format!("{}/team/app:{tag}", reg.host),
            &["--tls-verify=false"],
        );
        assert_eq!(
            raw,
            set.root().bytes,
            "skopeo sees lade's exact index bytes"
        );
    }
    let got = client.get_manifest(&target).await.unwrap();
    assert_eq!(got.media_type, oci::OCI_INDEX);
    assert_eq!(got.digest, report.digest);

    // Unchanged: nothing uploaded, and the registry's log agrees.
    let mark = reg.mark();
    let again = push(&client, &target, &["latest".into()], &set)
        .await
        .unwrap();
    let log = reg.requests_since(mark);
    assert_eq!(again.digest, report.digest);
    assert_eq!(again.stats.blobs_uploaded, 0, "{:?}", again.stats);
    assert_eq!(again.stats.blobs_present, 6);
    assert_eq!(again.stats.manifests_present, 2);
    assert_eq!(blob_puts(&log), 0);
    assert!(
        !log.iter().any(|a| a.method == "POST"),
        "no upload was even started: {log:?}"
    );

    // One layer changed per platform: those two layers, two configs, two manifests, an index.
    let changed = image_set(
        dir.path(),
        &bases,
        &[("deps", b"dependencies"), ("app", b"app v2")],
    );
    let mark = reg.mark();
    let third = push(&client, &target, &[], &changed).await.unwrap();
    let log = reg.requests_since(mark);
    assert_eq!(third.stats.blobs_uploaded, 4, "{:?}", third.stats);
    assert_eq!(third.stats.blobs_present, 2);
    assert_eq!(third.stats.manifests_pushed, 3);
    assert_eq!(blob_puts(&log), 4);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn single_platform_pushes_the_manifest_and_blobs_round_trip() {
    let reg = Registry::start();
    let dir = tempfile::tempdir().unwrap();
    let set = image_set(dir.path(), &[scratch(&platforms()[0])], &[("app", b"x")]);
    assert!(set.index.is_none());
    let client = RegistryClient::new(options()).unwrap();
    let target = reference(&reg.host, "solo");
    let report = push(&client, &target, &[], &set).await.unwrap();
    assert_eq!(report.tags, vec!["latest"]);
    let got = client.get_manifest(&target).await.unwrap();
    assert_eq!(got.media_type, oci::OCI_MANIFEST);
    assert_eq!(got.bytes, set.images[0].manifest.bytes);

    // By digest, and blobs streamed to a file with their digest checked.
    let by_digest = client
        .get_manifest(&target.with_digest(&report.digest))
        .await
        .unwrap();
    assert_eq!(by_digest.bytes, got.bytes);
    let l = &set.images[0].layers[0];
    let out = tempfile::tempdir().unwrap();
    let dest = out.path().join("blob");
    let n = client
        .fetch_blob(&reg.host, "solo", &l.digest(), Some(l.size()), &dest)
        .await
        .unwrap();
    assert_eq!(n, l.size());
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(&dest).unwrap().permissions().mode() & 0o777,
        0o644
    );
    let BlobSource::File(src) = &l.source else {
        unreachable!()
    };
    assert_eq!(std::fs::read(&dest).unwrap(), std::fs::read(src).unwrap());

    // A missing blob: the error names registry, blob, status and the registry's code.
    let missing = Digest::of(b"nothing");
    let err = client
        .fetch_blob(&reg.host, "solo", &missing, None, &out.path().join("m"))
        .await
        .unwrap_err();
    assert!(err.is_not_found(), "{err}");
    let msg = err.to_string();
    for part in [
        reg.host.as_str(),
        missing.as_str(),
        "404",
        "BLOB_UNKNOWN",
        "solo",
    ] {
        assert!(msg.contains(part), "'{part}' missing from: {msg}");
    }
    assert!(!out.path().join("m").exists());

    let err = client
        .get_manifest(&reference(&reg.host, "solo:nope"))
        .await
        .unwrap_err();
    assert!(
        err.to_string().contains("MANIFEST_UNKNOWN") && err.to_string().contains("solo:nope"),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn base_layers_are_mounted_from_their_repository() {
    let reg = Registry::start();
    let dir = tempfile::tempdir().unwrap();
    let client = RegistryClient::new(options()).unwrap();
    let bases: Vec<BaseImage> = platforms().iter().map(scratch).collect();
    let base_set = image_set(
        dir.path(),
        &bases,
        &[("os", b"base os files"), ("libs", b"libraries")],
    );
    push(
        &client,
        &reference(&reg.host, "bases/runtime:1"),
        &[],
        &base_set,
    )
    .await
    .unwrap();

    // The base as lade sees one pulled by reference: its layers live only in the registry.
    let remote_bases: Vec<BaseImage> = base_set
        .images
        .iter()
        .map(|img| {
            let config: oci_spec::image::ImageConfiguration =
                serde_json::from_slice(&img.config.bytes).unwrap();
            BaseImage {
                platform: img.platform.clone(),
                config,
                layers: img
                    .layers
                    .iter()
                    .map(|l| Layer {
                        source: BlobSource::Remote {
                            registry: reg.host.clone(),
                            repository: "bases/runtime".into(),
                        },
                        ..l.clone()
                    })
                    .collect(),
            }
        })
        .collect();
    let set = image_set(dir.path(), &remote_bases, &[("app", b"the app")]);
    let mark = reg.mark();
    let report = push(&client, &reference(&reg.host, "team/app:1"), &[], &set)
        .await
        .unwrap();
    let log = reg.requests_since(mark);
    assert_eq!(report.stats.blobs_mounted, 4, "{:?}", report.stats);
    assert_eq!(
        report.stats.blobs_uploaded, 4,
        "two app layers, two configs"
    );
    assert_eq!(blob_gets(&log), 0, "nothing was downloaded: {log:?}");
    assert_eq!(blob_puts(&log), 4, "only lade's own blobs were uploaded");
    let mounts = log
        .iter()
        .filter(|a| a.method == "POST" && a.path.contains("mount=") && a.status == 201)
        .count();
    assert_eq!(mounts, 4, "{log:?}");
    let raw = skopeo_raw(&format!("{}/team/app:1", reg.host), &["--tls-verify=false"]);
    assert_eq!(raw, set.root().bytes);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn base_layers_from_another_registry_stream_across() {
    let source = Registry::start();
    let target = Registry::start();
    let dir = tempfile::tempdir().unwrap();
    let client = RegistryClient::new(options()).unwrap();
    let base_set = image_set(dir.path(), &[scratch(&platforms()[0])], &[("os", b"os")]);
    push(&client, &reference(&source.host, "base:1"), &[], &base_set)
        .await
        .unwrap();
    let img = &base_set.images[0];
    let remote = BaseImage {
        platform: img.platform.clone(),
        config: serde_json::from_slice(&img.config.bytes).unwrap(),
        layers: img
            .layers
            .iter()
            .map(|l| Layer {
                source: BlobSource::Remote {
                    registry: source.host.clone(),
                    repository: "base".into(),
                },
                ..l.clone()
            })
            .collect(),
    };
    let set = image_set(dir.path(), &[remote], &[("app", b"app")]);
    let report = push(&client, &reference(&target.host, "app:1"), &[], &set)
        .await
        .unwrap();
    assert_eq!(report.stats.blobs_uploaded, 3);
    assert_eq!(report.stats.blobs_mounted, 0);
    let raw = skopeo_raw(&format!("{}/app:1", target.host), &["--tls-verify=false"]);
    assert_eq!(raw, set.root().bytes);
}

fn env_creds(user: &str, pass: &str) -> CredentialSources {
    CredentialSources {
        env_username: Some(user.into()),
        env_password: Some(Secret::new(pass)),
        ..Default::default()
    }
}

fn assert_unauthorized(err: &RegistryError, host: &str, secret: &str) {
    let msg = err.to_string();
    assert!(matches!(err, RegistryError::Unauthorized { .. }), "{msg}");
    assert!(msg.contains(host), "{msg}");
    assert!(msg.contains("unauthorized"), "{msg}");
    assert!(!msg.contains(secret), "the password leaked: {msg}");
    assert!(
        !format!("{err:?}").contains(secret),
        "the password leaked into Debug"
    );
    assert_eq!(msg.lines().count(), 1, "{msg}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn basic_auth_over_https_with_a_test_ca() {
    let ca = TestCa::new();
    let reg = Registry::start_with(RegistryConfig {
        htpasswd: Some(("alice", "correct-horse")),
        tls: Some(&ca),
        ..Default::default()
    });
    let dir = tempfile::tempdir().unwrap();
    let set = image_set(dir.path(), &[scratch(&platforms()[0])], &[("app", b"a")]);
    let target = reference(&reg.host, "team/app:1");

    // Trusted through --registry-ca.
    let client = RegistryClient::new(RegistryOptions {
        cas: vec![ca.ca_cert.clone()],
        credentials: env_creds("alice", "correct-horse"),
        ..options()
    })
    .unwrap();
    push(&client, &target, &[], &set).await.unwrap();
    let raw = skopeo_raw(
        &target.to_string(),
        &[
            "--cert-dir",
            ca.cert_dir.to_str().unwrap(),
            "--creds",
            "alice:correct-horse",
        ],
    );
    assert_eq!(raw, set.root().bytes);

    // Trusted through a certs.d directory.
    let certs_d = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(certs_d.path().join(&reg.host)).unwrap();
    std::fs::copy(&ca.ca_cert, certs_d.path().join(&reg.host).join("ca.crt")).unwrap();
    // (A pull: the unscoped variables apply because the registry is a push target.)
    let client = RegistryClient::new(RegistryOptions {
        certs_dirs: vec![certs_d.path().to_path_buf()],
        credentials: env_creds("alice", "correct-horse"),
        push_registries: vec![reg.host.clone()],
        ..options()
    })
    .unwrap();
    client.get_manifest(&target).await.unwrap();

    // Not trusted: the certificate error, not a fall back to plain HTTP.
    let client = RegistryClient::new(RegistryOptions {
        credentials: env_creds("alice", "correct-horse"),
        ..options()
    })
    .unwrap();
    let err = push(&client, &target, &[], &set).await.unwrap_err();
    let msg = err.to_string();
    assert!(msg.contains(&reg.host), "{msg}");
    assert!(msg.to_lowercase().contains("certificate"), "{msg}");

    // --insecure-registry accepts the unverified certificate.
    let client = RegistryClient::new(RegistryOptions {
        insecure: vec![reg.host.clone()],
        credentials: env_creds("alice", "correct-horse"),
        ..options()
    })
    .unwrap();
    push(&client, &target, &[], &set).await.unwrap();

    // Wrong password: one line naming the registry and "unauthorized", never the password.
    let client = RegistryClient::new(RegistryOptions {
        cas: vec![ca.ca_cert.clone()],
        credentials: env_creds("alice", "Tr0ub4dor&3"),
        ..options()
    })
    .unwrap();
    let err = push(&client, &target, &[], &set).await.unwrap_err();
    assert_unauthorized(&err, &reg.host, "Tr0ub4dor&3");
    assert!(err.to_string().contains("LADE_REGISTRY_USERNAME"), "{err}");

    // No credentials at all.
    let client = RegistryClient::new(RegistryOptions {
        cas: vec![ca.ca_cert.clone()],
        ..options()
    })
    .unwrap();
    let err = push(&client, &target, &[], &set).await.unwrap_err();
    assert_unauthorized(&err, &reg.host, "correct-horse");
    assert!(err.to_string().contains("no credentials"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bearer_tokens_with_scopes_refresh_tokens_and_mounts() {
    let tokens = TokenServer::start(
        &[("bob", "hunter2hunter2")],
        &[("refresh-abc", "bob")],
        false,
    );
    let reg = Registry::start_with(RegistryConfig {
        token: Some(&tokens),
        ..Default::default()
    });
    let dir = tempfile::tempdir().unwrap();
    let bases: Vec<BaseImage> = platforms().iter().map(scratch).collect();
    let base_set = image_set(dir.path(), &bases, &[("os", b"os")]);
    let client = RegistryClient::new(RegistryOptions {
        credentials: env_creds("bob", "hunter2hunter2"),
        ..options()
    })
    .unwrap();
    push(&client, &reference(&reg.host, "bases/os:1"), &[], &base_set)
        .await
        .unwrap();
    let issued = tokens.requests();
    assert!(
        issued.len() <= 2,
        "tokens are cached per scope, not fetched per request: {issued:?}"
    );
    assert!(
        issued.iter().any(|r| r["scopes"]
            .as_array()
            .unwrap()
            .iter()
            .any(|s| s == "repository:bases/os:pull,push")),
        "{issued:?}"
    );

    // A refresh token ("identitytoken") from a Docker config; the mount source gets pull scope.
    let cfg_dir = tempfile::tempdir().unwrap();
    let cfg = cfg_dir.path().join("config.json");
    std::fs::write(
        &cfg,
        format!(
            r#"{{"auths":{{"{}":{{"identitytoken":"refresh-abc"}}}}}}"#,
            reg.host
        ),
    )
    .unwrap();
    let client = RegistryClient::new(RegistryOptions {
        credentials: CredentialSources {
            files: vec![cfg.clone()],
            ..Default::default()
        },
        ..options()
    })
    .unwrap();
    let remote: Vec<BaseImage> = base_set
        .images
        .iter()
        .map(|img| BaseImage {
            platform: img.platform.clone(),
            config: serde_json::from_slice(&img.config.bytes).unwrap(),
            layers: img
                .layers
                .iter()
                .map(|l| Layer {
                    source: BlobSource::Remote {
                        registry: reg.host.clone(),
                        repository: "bases/os".into(),
                    },
                    ..l.clone()
                })
                .collect(),
        })
        .collect();
    let set = image_set(dir.path(), &remote, &[("app", b"app")]);
    let before = tokens.requests().len();
    let report = push(&client, &reference(&reg.host, "team/app:1"), &[], &set)
        .await
        .unwrap();
    assert_eq!(report.stats.blobs_mounted, 2, "{:?}", report.stats);
    let issued: Vec<_> = tokens.requests().into_iter().skip(before).collect();
    assert!(
        issued.iter().all(|r| r["how"] == "refresh_token"),
        "{issued:?}"
    );
    assert!(
        issued.iter().any(|r| {
            let s = r["scopes"].as_array().unwrap();
            s.iter().any(|s| s == "repository:team/app:pull,push")
                && s.iter().any(|s| s == "repository:bases/os:pull")
        }),
        "{issued:?}"
    );

    // Wrong password at the token server.
    let client = RegistryClient::new(RegistryOptions {
        credentials: env_creds("bob", "wrong-wrong-wrong"),
        ..options()
    })
    .unwrap();
    let err = push(&client, &reference(&reg.host, "team/app:2"), &[], &set)
        .await
        .unwrap_err();
    assert_unauthorized(&err, &reg.host, "wrong-wrong-wrong");

    // Anonymous: the token grants nothing, so the registry refuses.
    let client = RegistryClient::new(options()).unwrap();
    let err = push(&client, &reference(&reg.host, "team/app:3"), &[], &set)
        .await
        .unwrap_err();
    assert_unauthorized(&err, &reg.host, "hunter2hunter2");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn credential_helper_named_in_docker_config() {
    let reg = Registry::start_with(RegistryConfig {
        htpasswd: Some(("carol", "helper-pass-123")),
        ..Default::default()
    });
    let bin = tempfile::tempdir().unwrap();
    credential_helper(
        bin.path(),
        "ladetest",
        &reg.host,
        "carol",
        "helper-pass-123",
    );
    let cfg_dir = tempfile::tempdir().unwrap();
    let cfg = cfg_dir.path().join("config.json");
    std::fs::write(
        &cfg,
        format!(r#"{{"credHelpers":{{"{}":"ladetest"}}}}"#, reg.host),
    )
    .unwrap();
    let path = format!("{}:/usr/bin:/bin", bin.path().display());
    let client = RegistryClient::new(RegistryOptions {
        credentials: CredentialSources {
            files: vec![cfg.clone()],
            helper_path: Some(path.clone().into()),
            ..Default::default()
        },
        ..options()
    })
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let set = image_set(dir.path(), &[scratch(&platforms()[0])], &[("app", b"a")]);
    push(&client, &reference(&reg.host, "app:1"), &[], &set)
        .await
        .unwrap();

    // A global credsStore works the same way.
    std::fs::write(&cfg, r#"{"credsStore":"ladetest"}"#).unwrap();
    let client = RegistryClient::new(RegistryOptions {
        credentials: CredentialSources {
            files: vec![cfg.clone()],
            helper_path: Some(path.into()),
            ..Default::default()
        },
        ..options()
    })
    .unwrap();
    client
        .get_manifest(&reference(&reg.host, "app:1"))
        .await
        .unwrap();

    // A helper named for this registry that is not installed is an error naming it.
    std::fs::write(
        &cfg,
        format!(r#"{{"credHelpers":{{"{}":"absent"}}}}"#, reg.host),
    )
    .unwrap();
    let client = RegistryClient::new(RegistryOptions {
        credentials: CredentialSources {
            files: vec![cfg],
            helper_path: Some("/nonexistent".into()),
            ..Default::default()
        },
        ..options()
    })
    .unwrap();
    let err = client
        .get_manifest(&reference(&reg.host, "app:1"))
        .await
        .unwrap_err();
    assert!(
        err.to_string().contains("docker-credential-absent"),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn push_survives_503_429_502_and_a_reset_mid_upload() {
    let reg = Registry::start();
    let proxy = FaultProxy::start(
        &reg,
        &[
            "--upload-503",
            "--head-429",
            "--manifest-502",
            "--reset-put",
            "1048576",
        ],
    );
    let dir = tempfile::tempdir().unwrap();
    // Incompressible, so the gzip'd layer is well over the 1 MiB where the proxy cuts.
    let big = noise(3 << 20);
    let bases: Vec<BaseImage> = platforms().iter().map(scratch).collect();
    let set = image_set(dir.path(), &bases, &[("big", &big), ("small", b"s")]);
    let client = RegistryClient::new(options()).unwrap();
    let report = push(&client, &reference(&proxy.host, "team/app:1"), &[], &set)
        .await
        .unwrap();
    let mut injected = proxy.injected();
    injected.sort();
    assert_eq!(
        injected,
        vec!["head-429", "manifest-502", "reset-put", "upload-503"]
    );
    assert!(report.stats.retries >= 4, "{:?}", report.stats);
    assert_eq!(report.stats.blobs_uploaded, 6);
    // The registry itself (not through the proxy) has exactly lade's bytes.
    let raw = skopeo_raw(&format!("{}/team/app:1", reg.host), &["--tls-verify=false"]);
    assert_eq!(raw, set.root().bytes);
    let client = RegistryClient::new(options()).unwrap();
    for img in &set.images {
        for l in &img.layers {
            assert_eq!(
                client
                    .blob_exists(
                        &reg.host,
                        "team/app",
                        &l.digest(),
                        &lade::registry::Access::pull("team/app")
                    )
                    .await
                    .unwrap(),
                Some(l.size())
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_download_cut_off_midway_starts_again() {
    let reg = Registry::start();
    let dir = tempfile::tempdir().unwrap();
    let content = noise(2_000_000);
    let set = image_set(dir.path(), &[scratch(&platforms()[0])], &[("a", &content)]);
    let client = RegistryClient::new(options()).unwrap();
    push(&client, &reference(&reg.host, "dl:1"), &[], &set)
        .await
        .unwrap();
    let proxy = FaultProxy::start(&reg, &["--reset-get", "300000"]);
    let layer = &set.images[0].layers[0];
    assert!(layer.size() > 300_000);
    let out = tempfile::tempdir().unwrap();
    let dest = out.path().join("blob");
    let client = RegistryClient::new(options()).unwrap();
    client
        .fetch_blob(
            &proxy.host,
            "dl",
            &layer.digest(),
            Some(layer.size()),
            &dest,
        )
        .await
        .unwrap();
    assert_eq!(proxy.injected(), ["reset-get"]);
    assert!(client.retries() >= 1);
    let (d, n) = lade::digest::digest_reader(std::fs::File::open(&dest).unwrap()).unwrap();
    assert_eq!((d, n), (layer.digest(), layer.size()));
    // No half-written file is left beside it.
    assert_eq!(std::fs::read_dir(out.path()).unwrap().count(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn patch_upload_when_the_registry_refuses_a_single_put() {
    let reg = Registry::start();
    let proxy = FaultProxy::start(&reg, &["--refuse-monolithic"]);
    let dir = tempfile::tempdir().unwrap();
    let content: Vec<u8> = (0..400_000u32).map(|i| (i * 7919 % 251) as u8).collect();
    let set = image_set(dir.path(), &[scratch(&platforms()[0])], &[("a", &content)]);
    let client = RegistryClient::new(RegistryOptions {
        chunk_size: 1000,
        ..options()
    })
    .unwrap();
    let mark = reg.mark();
    push(&client, &reference(&proxy.host, "chunked:1"), &[], &set)
        .await
        .unwrap();
    let log = reg.requests_since(mark);
    let patches = log.iter().filter(|a| a.method == "PATCH").count();
    let layer_size = set.images[0].layers[0].size();
    assert!(
        patches as u64 >= layer_size / 1000,
        "{patches} PATCHes for {layer_size} bytes"
    );
    let raw = skopeo_raw(&format!("{}/chunked:1", reg.host), &["--tls-verify=false"]);
    assert_eq!(raw, set.root().bytes);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unreachable_registry_error_names_it() {
    let port = crate::support::registry::free_port();
    let client = RegistryClient::new(RegistryOptions {
        attempts: 2,
        ..options()
    })
    .unwrap();
    let err = client
        .get_manifest(&Reference::parse(&format!("127.0.0.1:{port}/x:1")).unwrap())
        .await
        .unwrap_err();
    let msg = err.to_string();
    assert!(msg.contains(&format!("127.0.0.1:{port}")), "{msg}");
    assert!(msg.to_lowercase().contains("connect"), "{msg}");
}

/// Measures a 100 MiB blob upload against `curl -T` (POST, then one PUT of the file) on
/// loopback, each into a fresh registry so neither finds the blob already stored, alternating
/// which goes first. Run with
/// `cargo test --test integration upload_throughput -- --ignored --nocapture`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore]
async fn upload_throughput_100mib() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("blob");
    std::fs::write(&path, noise(100 << 20)).unwrap();
    let (digest, size) = lade::digest::digest_reader(std::fs::File::open(&path).unwrap()).unwrap();
    let curl = crate::support::registry::require_tool("curl");

    let lade_upload = |reg: &Registry| {
        let (host, path, digest) = (reg.host.clone(), path.clone(), digest.clone());
        async move {
            let client = RegistryClient::new(options()).unwrap();
            let start = std::time::Instant::now();
            client
                .upload_blob(
                    &host,
                    "bench",
                    &digest,
                    size,
                    &lade::registry::BlobBody::File(path),
                    None,
                    &lade::registry::Access::push("bench", &[]),
                )
                .await
                .unwrap();
            start.elapsed().as_secs_f64()
        }
    };
    let curl_upload = |reg: &Registry| {
        let out = std::process::Command::new(&curl)
            .args(["-s", "-i", "-X", "POST"])
            .arg(format!("http://{}/v2/bench/blobs/uploads/", reg.host))
            .output()
            .unwrap();
        let headers = String::from_utf8_lossy(&out.stdout).to_string();
        let location = headers
            .lines()
            .find_map(|l| l.strip_prefix("Location: "))
            .unwrap()
            .trim()
            .to_string();
        let start = std::time::Instant::now();
        let status = std::process::Command::new(&curl)
            .args(["-s", "-o", "/dev/null", "-w", "%{http_code}", "-T"])
            .arg(&path)
            .arg(format!("{location}&digest={digest}"))
            .output()
            .unwrap();
        let secs = start.elapsed().as_secs_f64();
        assert_eq!(String::from_utf8_lossy(&status.stdout), "201");
        secs
    };
    let (mut lade_times, mut curl_times) = (Vec::new(), Vec::new());
    for round in 0..3 {
        let (a, b) = (Registry::start(), Registry::start());
        if round % 2 == 0 {
            lade_times.push(lade_upload(&a).await);
            curl_times.push(curl_upload(&b));
        } else {
            curl_times.push(curl_upload(&b));
            lade_times.push(lade_upload(&a).await);
        }
    }
    let median = |v: &mut Vec<f64>| {
        v.sort_by(|a, b| a.partial_cmp(b).unwrap());
        v[v.len() / 2]
    };
    let (l, c) = (median(&mut lade_times), median(&mut curl_times));
    println!(
        "100 MiB upload on loopback, median of 3: lade {l:.2} s ({:.0} MiB/s), curl -T {c:.2} s ({:.0} MiB/s); lade {lade_times:.2?}, curl {curl_times:.2?}",
        100.0 / l,
        100.0 / c
    );

    let reg = Registry::start();
    lade_upload(&reg).await;
    let client = RegistryClient::new(options()).unwrap();
    let start = std::time::Instant::now();
    client
        .fetch_blob(
            &reg.host,
            "bench",
            &digest,
            Some(size),
            &dir.path().join("back"),
        )
        .await
        .unwrap();
    let get_secs = start.elapsed().as_secs_f64();
    let start = std::time::Instant::now();
    let status = std::process::Command::new(&curl)
        .args(["-s", "-o"])
        .arg(dir.path().join("curl-back"))
        .args(["-w", "%{http_code}"])
        .arg(format!("http://{}/v2/bench/blobs/{digest}", reg.host))
        .output()
        .unwrap();
    let curl_get = start.elapsed().as_secs_f64();
    assert_eq!(String::from_utf8_lossy(&status.stdout), "200");
    println!(
        "100 MiB download to a file: lade (digest checked) {get_secs:.2} s ({:.0} MiB/s), curl -o {curl_get:.2} s ({:.0} MiB/s)",
        100.0 / get_secs,
        100.0 / curl_get
    );
}

/// Pushes `set` to `reference` from synchronous code (the base resolver runs its own runtime,
/// so these tests are not `#[tokio::test]`s).
fn push_sync(reference: &Reference, set: &ImageSet) {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let client = RegistryClient::new(options()).unwrap();
    rt.block_on(push(&client, reference, &[], set)).unwrap();
}

#[test]
fn bases_resolve_from_registries_without_downloading_layers() {
    let reg = Registry::start();
    let dir = tempfile::tempdir().unwrap();
    let bases: Vec<BaseImage> = platforms().iter().map(scratch).collect();
    let base_set = image_set(
        dir.path(),
        &bases,
        &[("os", b"os files"), ("libs", b"libs")],
    );
    push_sync(&reference(&reg.host, "bases/static:nonroot"), &base_set);
    let name = format!("{}/bases/static:nonroot", reg.host);

    let mark = reg.mark();
    let base = lade::base::resolve_with(
        &name,
        &platforms(),
        dir.path(),
        &RegistrySession::new(options()),
        None,
    )
    .unwrap();
    let log = reg.requests_since(mark);
    assert_eq!(base.name, name);
    assert_eq!(base.digest.as_ref(), Some(&base_set.root().digest()));
    assert_eq!(base.images.len(), 2);
    for (got, want) in base.images.iter().zip(&base_set.images) {
        assert_eq!(got.platform, want.platform);
        assert_eq!(got.layers.len(), 2);
        for (l, w) in got.layers.iter().zip(&want.layers) {
            assert_eq!(l.digest(), w.digest());
            assert_eq!(l.diff_id, w.diff_id);
            assert_eq!(
                l.source,
                BlobSource::Remote {
                    registry: reg.host.clone(),
                    repository: "bases/static".into()
                }
            );
        }
    }
    // The index, two manifests and two configs: no layer was downloaded.
    let gets: Vec<_> = log.iter().filter(|a| a.method == "GET").collect();
    assert_eq!(blob_gets(&log), 2, "only the configs: {gets:?}");
    assert_eq!(
        gets.iter()
            .filter(|a| a.path.contains("/manifests/"))
            .count(),
        3
    );

    // Pinned (lade.lock): fetched by digest even after the tag moves.
    let moved = image_set(dir.path(), &bases, &[("os", b"os files v2")]);
    push_sync(&reference(&reg.host, "bases/static:nonroot"), &moved);
    let pin = base_set.root().digest();
    let pinned = lade::base::resolve_with(
        &name,
        &platforms(),
        dir.path(),
        &RegistrySession::new(options()),
        Some(&pin),
    )
    .unwrap();
    assert_eq!(pinned.digest, Some(pin));
    let fresh = lade::base::resolve_with(
        &name,
        &platforms(),
        dir.path(),
        &RegistrySession::new(options()),
        None,
    )
    .unwrap();
    assert_eq!(fresh.digest, Some(moved.root().digest()));

    // A platform the base lacks, named with what it has.
    let err = lade::base::resolve_with(
        &name,
        &["linux/s390x".parse().unwrap()],
        dir.path(),
        &RegistrySession::new(options()),
        None,
    )
    .unwrap_err();
    assert!(
        matches!(err, lade::base::BaseError::MissingPlatform { .. }),
        "{err}"
    );
    assert!(
        err.to_string().contains("linux/amd64, linux/arm64"),
        "{err}"
    );

    // A tag that does not exist: the registry's words.
    let err = lade::base::resolve_with(
        &format!("{}/bases/static:nope", reg.host),
        &platforms(),
        dir.path(),
        &RegistrySession::new(options()),
        None,
    )
    .unwrap_err();
    let msg = err.to_string();
    assert!(
        msg.contains("MANIFEST_UNKNOWN")
            && msg.contains(&reg.host)
            && msg.contains("bases/static:nope"),
        "{msg}"
    );
}

#[test]
fn mirrors_serve_pulls_and_remote_layers_are_fetched_into_the_store() {
    let mirror = Registry::start();
    let dir = tempfile::tempdir().unwrap();
    let base_set = image_set(dir.path(), &[scratch(&platforms()[0])], &[("os", b"os")]);
    // The mirror holds `registry.invalid/distroless/static` under `cache/distroless/static`.
    push_sync(
        &reference(&mirror.host, "cache/distroless/static:nonroot"),
        &base_set,
    );
    let opts = RegistryOptions {
        mirrors: [
            "registry.invalid=127.0.0.1:1/nothing-here".to_string(),
            format!("registry.invalid={}/cache", mirror.host),
        ]
        .iter()
        .map(|m| m.parse().unwrap())
        .collect(),
        attempts: 1,
        ..options()
    };
    // One session, as a publish has: the base and its layers go through the same client.
    let session = RegistrySession::new(opts);
    let base = lade::base::resolve_with(
        "registry.invalid/distroless/static:nonroot",
        &platforms()[..1],
        dir.path(),
        &session,
        None,
    )
    .unwrap();
    assert_eq!(base.digest, Some(base_set.root().digest()));
    let layer = &base.images[0].layers[0];
    assert_eq!(
        layer.source,
        BlobSource::Remote {
            registry: "registry.invalid".into(),
            repository: "distroless/static".into()
        }
    );

    // Outputs that need bytes get them from the mirror, into the blob store, once.
    let store = lade::layer::BlobStore::open(&dir.path().join("store")).unwrap();
    let blobs = lade::sink::registry::RegistryBlobs::new(&store, &session).unwrap();
    let mark = mirror.mark();
    use lade::sink::BlobProvider;
    let path = blobs.local_path(layer).unwrap();
    assert_eq!(path, store.path(&layer.digest()));
    let (d, n) = lade::digest::digest_reader(std::fs::File::open(&path).unwrap()).unwrap();
    assert_eq!((d, n), (layer.digest(), layer.size()));
    assert_eq!(blobs.local_path(layer).unwrap(), path);
    let set = image_set(dir.path(), &base.images, &[("app", b"app")]);
    blobs.prefetch(&set).unwrap();
    assert_eq!(
        blob_gets(&mirror.requests_since(mark)),
        1,
        "fetched once, then served from the store"
    );
}
