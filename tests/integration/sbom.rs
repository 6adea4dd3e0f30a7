//! `lade publish --sbom DIR`: the SPDX 2.3 documents of the Maven example on the shared Java
//! base (its jars and the base's Debian packages), of the Flask example (its installed
//! distributions) and of the Express example (its node_modules), byte-identical across
//! publishes and valid for `pyspdxtools`, the SPDX project's own validator (from the PyPI
//! package spdx-tools; scripts/install-deps.sh).

use crate::support::TestEnv;
use crate::support::arm64::host_arch;
use crate::support::java_base::java_base;
use crate::support::node_base::build_node_base;
use crate::support::python_base::python_base;
use crate::support::tools::{run_ok, tool};
use serde_json::Value;
use std::fs;
use std::path::{Path, PathBuf};

/// Publishes `project` on `base` for linux/amd64 with `--sbom sbom`; returns the files the
/// report lists.
fn publish(env: &TestEnv, project: &Path, base: &str, out: &Path, sbom: &Path) -> Vec<PathBuf> {
    publish_for(env, project, "linux/amd64", base, out, sbom)
}

fn publish_for(
    env: &TestEnv,
    project: &Path,
    platform: &str,
    base: &str,
    out: &Path,
    sbom: &Path,
) -> Vec<PathBuf> {
    let run = env
        .lade()
        .arg("publish")
        .arg("-C")
        .arg(project)
        .args(["--platform", platform, "--json", "--base", base])
        .arg("--to")
        .arg(format!("oci:{}:v1", out.display()))
        .arg("--sbom")
        .arg(sbom)
        .run()
        .success();
    let files: Vec<PathBuf> = run.json()["sboms"]
        .as_array()
        .unwrap_or_else(|| panic!("no sboms in the report\n{}", run.context()))
        .iter()
        .map(|p| PathBuf::from(p.as_str().expect("a path")))
        .collect();
    assert_eq!(files.len(), 1, "one SBOM per platform: {files:?}");
    assert!(
        run.stderr.contains("lade: wrote SBOM "),
        "a line per SBOM on stderr\n{}",
        run.stderr
    );
    files
}

/// Checks the file with the SPDX tools' validator and returns its JSON.
fn validated(path: &Path) -> Value {
    run_ok(tool("pyspdxtools").arg("-i").arg(path));
    serde_json::from_slice(&fs::read(path).unwrap()).unwrap()
}

/// (purl, versionInfo) of every package but the image.
fn packages(doc: &Value) -> Vec<(String, String)> {
    doc["packages"]
        .as_array()
        .unwrap()
        .iter()
        .skip(1)
        .map(|p| {
            (
                p["externalRefs"][0]["referenceLocator"]
                    .as_str()
                    .unwrap()
                    .to_string(),
                p["versionInfo"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect()
}

fn has_purl(pkgs: &[(String, String)], prefix: &str) -> bool {
    pkgs.iter().any(|(purl, _)| purl.starts_with(prefix))
}

#[test]
fn java_maven_sbom_lists_its_jars_and_the_bases_debian_packages_reproducibly() {
    let env = TestEnv::new();
    let p = env.copy_example("java-maven", "java-maven");
    let base = java_base();
    let files = publish(&env, &p, &base, &env.path("out1"), &env.path("sbom1"));
    assert_eq!(
        files[0],
        env.path("sbom1").join("java-maven-linux-amd64.spdx.json")
    );
    let doc = validated(&files[0]);
    assert_eq!(doc["spdxVersion"], "SPDX-2.3");
    let image = &doc["packages"][0];
    assert_eq!(image["SPDXID"], "SPDXRef-Image");
    assert_eq!(image["primaryPackagePurpose"], "CONTAINER");
    let hex = image["checksums"][0]["checksumValue"].as_str().unwrap();
    assert_eq!(
        doc["documentNamespace"],
        format!("https://lade.invalid/spdx/{hex}")
    );
    let pkgs = packages(&doc);
    eprintln!("java-maven SBOM: {} packages", pkgs.len());
    assert!(
        pkgs.contains(&(
            "pkg:maven/org.apache.commons/commons-lang3@3.12.0".into(),
            "3.12.0".into()
        )),
        "{pkgs:#?}"
    );
    assert!(
        has_purl(&pkgs, "pkg:deb/debian/openjdk-17-jre-headless@"),
        "{pkgs:#?}"
    );
    assert!(has_purl(&pkgs, "pkg:deb/debian/libc6@"), "{pkgs:#?}");
    let purls: Vec<&String> = pkgs.iter().map(|(p, _)| p).collect();
    let mut sorted = purls.clone();
    sorted.sort();
    assert_eq!(purls, sorted, "packages sorted by purl");

    // The same image again, from another output: the same bytes.
    let again = publish(&env, &p, &base, &env.path("out2"), &env.path("sbom2"));
    assert_eq!(
        fs::read(&files[0]).unwrap(),
        fs::read(&again[0]).unwrap(),
        "two publishes of the same image give the same SBOM"
    );
}

#[test]
fn python_flask_sbom_lists_its_distributions() {
    let env = TestEnv::new();
    let p = env.copy_example("python-flask", "python-flask");
    let files = publish(
        &env,
        &p,
        &python_base(),
        &env.path("out"),
        &env.path("sbom"),
    );
    let doc = validated(&files[0]);
    let pkgs = packages(&doc);
    for want in [
        ("pkg:pypi/flask@3.0.0", "3.0.0"),
        ("pkg:pypi/gunicorn@21.2.0", "21.2.0"),
    ] {
        assert!(
            pkgs.contains(&(want.0.into(), want.1.into())),
            "{want:?} in {pkgs:#?}"
        );
    }
    assert!(has_purl(&pkgs, "pkg:pypi/werkzeug@"), "{pkgs:#?}");
    // The test base is made of files, not Debian packages: nothing to list from it.
    assert!(!has_purl(&pkgs, "pkg:deb/"), "{pkgs:#?}");
}

#[test]
fn node_express_sbom_lists_its_node_modules() {
    let env = TestEnv::new();
    let base = build_node_base(&env.path("node-base"), "node");
    let p = env.copy_example("node-express", "node-express");
    let platform = format!("linux/{}", host_arch());
    let files = publish_for(
        &env,
        &p,
        &platform,
        &base.reference(),
        &env.path("out"),
        &env.path("sbom"),
    );
    assert_eq!(
        files[0],
        env.path("sbom")
            .join(format!("node-express-linux-{}.spdx.json", host_arch()))
    );
    let doc = validated(&files[0]);
    let pkgs = packages(&doc);
    assert!(has_purl(&pkgs, "pkg:npm/express@4."), "{pkgs:#?}");
    assert!(has_purl(&pkgs, "pkg:npm/body-parser@"), "{pkgs:#?}");
    assert!(
        !has_purl(&pkgs, "pkg:npm/node-express@"),
        "the project's own package.json is not a dependency: {pkgs:#?}"
    );
    let express = doc["packages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "express")
        .unwrap();
    assert_eq!(
        express["sourceInfo"],
        "/app/node_modules/express/package.json"
    );
    assert_eq!(express["licenseDeclared"], "MIT");
}
