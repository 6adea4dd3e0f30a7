//! One publish talks to registries through one client: the base's registry, the registry
//! output and the download of base layers for a file output share connections and bearer
//! tokens, so the token server is asked once per scope and the registry is pinged once.

use crate::support::TestEnv;
use crate::support::base_image::build_base;
use crate::support::registry::{Registry, RegistryConfig, TokenServer};
use crate::support::tools::{run_ok, tool};
use serde_json::Value;
use std::collections::BTreeMap;

#[test]
fn one_publish_asks_for_each_token_scope_once() {
    let env = TestEnv::new();
    let project = env.copy_example("go-hello", "go-hello");
    let tokens = TokenServer::start(&[("bob", "token-pass-3")], &[], false);
    let reg = Registry::start_with(RegistryConfig {
        token: Some(&tokens),
        ..Default::default()
    });
    let base = build_base(&env.path("base"), "v1", &["amd64", "arm64"], None);
    run_ok(
        tool("skopeo")
            .args(["copy", "--all", "-q", "--dest-tls-verify=false"])
            .args(["--dest-creds", "bob:token-pass-3"])
            .arg(format!("oci:{}:v1", base.dir.display()))
            .arg(format!("docker://{}/bases/static:nonroot", reg.host)),
    );
    let key: String = reg
        .host
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_uppercase()
            } else {
                '_'
            }
        })
        .collect();

    let asked_before = tokens.requests().len();
    let mark = reg.mark();
    let out = env.path("layout-out");
    // The base in the token registry; one registry output there (mounting the base layers)
    // and one layout output, which needs the base layers' bytes.
    let report = env
        .lade()
        .arg("publish")
        .arg("-C")
        .arg(&project)
        .args(["--platform", "linux/amd64,linux/arm64", "--json"])
        .args(["--base", &format!("{}/bases/static:nonroot", reg.host)])
        .args(["--to", &format!("{}/team/app:1", reg.host)])
        .args(["--to", &format!("oci:{}:v1", out.display())])
        .env(&format!("LADE_REGISTRY_USERNAME_{key}"), "bob")
        .env(&format!("LADE_REGISTRY_PASSWORD_{key}"), "token-pass-3")
        .run()
        .success()
        .json();
    assert_eq!(report["outputs"].as_array().unwrap().len(), 2, "{report}");
    assert_eq!(
        report["outputs"][0]["stats"]["blobs_mounted"], 2,
        "{report}"
    );

    let asked: Vec<Value> = tokens.requests().split_off(asked_before);
    let mut per_scope: BTreeMap<String, usize> = BTreeMap::new();
    for r in &asked {
        *per_scope.entry(r["scopes"].to_string()).or_default() += 1;
    }
    let base_pull = r#"["repository:bases/static:pull"]"#;
    assert!(
        per_scope.contains_key(base_pull),
        "the base was read with a pull token: {per_scope:?}"
    );
    assert!(
        per_scope
            .keys()
            .any(|s| s.contains("repository:team/app:pull,push")),
        "the output was pushed with a push token: {per_scope:?}"
    );
    // Resolving the base and fetching its layers for the layout share the pull token.
    assert!(
        per_scope.values().all(|n| *n == 1),
        "a token scope was asked for more than once: {per_scope:?}"
    );
    let pings = reg
        .requests_since(mark)
        .iter()
        .filter(|a| a.method == "GET" && a.path == "/v2/")
        .count();
    assert_eq!(pings, 1, "one client, one endpoint check");
}
