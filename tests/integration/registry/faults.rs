//! Registries that misbehave in ways retries alone do not fix: a request that is accepted and
//! never answered, a blob that never ends, a self-signed certificate that is its own CA.

use crate::support::TestEnv;
use crate::support::lade::{LadeRun, root_digest};
use crate::support::layout::sha256_digest;
use crate::support::registry::{FaultProxy, Registry, skopeo_raw};
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
