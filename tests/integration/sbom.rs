//! `lade publish --sbom DIR`: the SPDX 2.3 documents of the Maven example on the shared Java
//! base (its jars and the base's Debian packages), of the Flask example (its installed
//! distributions), of the Express example (its node_modules) and of a vendored Go module (its
//! binary's own build info, checked against `go version -m`), byte-identical across
//! publishes and valid for `pyspdxtools`, the SPDX project's own validator (from the PyPI
//! package spdx-tools; scripts/install-deps.sh).

use crate::support::TestEnv;
use crate::support::arm64::host_arch;
use crate::support::env::{copy_tree, repo_root};
use crate::support::java_base::java_base;
use crate::support::layout::Layout;
use crate::support::node_base::build_node_base;
use crate::support::python_base::python_base;
use crate::support::tools::{run_ok, stdout_ok, tool};
use serde_json::Value;
use std::fs;
use std::os::unix::fs::PermissionsExt;
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

/// `tests/fixtures/go/vendored`: example.com/app imports the vendored example.com/greet
/// v1.2.3; its go.mod also requires example.com/unused v0.4.0, which nothing imports.
#[test]
fn go_sbom_lists_what_the_binary_links_from_its_build_info() {
    let env = TestEnv::new();
    let p = env.path("go-vendored");
    copy_tree(&repo_root().join("tests/fixtures/go/vendored"), &p);
    let platform = format!("linux/{}", host_arch());
    let out = env.path("out1");
    let files = publish_for(&env, &p, &platform, "scratch", &out, &env.path("sbom1"));
    let doc = validated(&files[0]);
    let pkgs = packages(&doc);
    eprintln!("Go SBOM: {pkgs:#?}");
    assert!(
        pkgs.contains(&(
            "pkg:golang/example.com/greet@v1.2.3".into(),
            "v1.2.3".into()
        )),
        "{pkgs:#?}"
    );
    assert!(
        !pkgs
            .iter()
            .any(|(purl, _)| purl.contains("example.com/unused")),
        "a module go.mod requires but nothing imports is not linked: {pkgs:#?}"
    );
    assert!(
        pkgs.contains(&("pkg:golang/example.com/app".into(), String::new())),
        "{pkgs:#?}"
    );
    let greet = doc["packages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "example.com/greet")
        .unwrap();
    assert_eq!(greet["sourceInfo"], "/app/app (Go build info)");

    // The binary itself, out of the image, as the Go toolchain reads it.
    let layout = Layout::open(&out);
    let img = layout.image("v1", host_arch());
    let binary = img
        .layer_digests()
        .iter()
        .flat_map(|d| layout.layer_entries(d))
        .find(|e| e.path == "app/app")
        .expect("the binary in a layer");
    let bin_path = env.path("app");
    fs::write(&bin_path, &binary.data).unwrap();
    // `go version` passes over files that are not executable.
    fs::set_permissions(&bin_path, fs::Permissions::from_mode(0o755)).unwrap();
    let printed = stdout_ok(tool("go").args(["version", "-m"]).arg(&bin_path));
    let mut go_version = None;
    let mut deps = 0;
    for line in printed.lines() {
        let fields: Vec<&str> = line.trim().split('\t').collect();
        match fields.as_slice() {
            [first] if first.contains(": go") => {
                go_version = first.split(": ").nth(1).map(str::to_string);
            }
            ["dep", path, version, ..] => {
                deps += 1;
                let purl = format!("pkg:golang/{path}@{version}");
                assert!(
                    pkgs.contains(&(purl.clone(), version.to_string())),
                    "{purl} (from go version -m) in {pkgs:#?}"
                );
            }
            ["build", setting] => {
                let (key, value) = setting.split_once('=').unwrap();
                if !value.starts_with('"') {
                    let comment = format!("lade:go:build:{key}={value}");
                    assert!(
                        doc.to_string().contains(&comment),
                        "{comment} among the annotations"
                    );
                }
            }
            _ => {}
        }
    }
    assert_eq!(
        deps, 1,
        "go version -m lists only the linked module:\n{printed}"
    );
    let go_version = go_version.unwrap_or_else(|| panic!("no Go version in\n{printed}"));
    assert!(
        pkgs.contains(&(
            format!("pkg:golang/stdlib@{go_version}"),
            go_version.clone()
        )),
        "{go_version} in {pkgs:#?}"
    );

    let again = publish_for(
        &env,
        &p,
        &platform,
        "scratch",
        &env.path("out2"),
        &env.path("sbom2"),
    );
    assert_eq!(
        fs::read(&files[0]).unwrap(),
        fs::read(&again[0]).unwrap(),
        "two publishes of the same Go image give the same SBOM"
    );
}

/// A Rust image's SBOM lists the crates its binary links — cargo's normal dependencies for
/// the target, not Cargo.lock's whole graph (a dev-dependency and a build-dependency are in
/// the lock, not in the binary) — each with the features it was built with, exactly as
/// `cargo tree -e normal --target T` reports them.
#[test]
fn rust_sbom_lists_the_crates_linked_with_their_features() {
    let env = TestEnv::new();
    let p = env.copy_example("rust-hello", "rust-sbom");
    let manifest = fs::read_to_string(p.join("Cargo.toml")).unwrap();
    fs::write(
        p.join("Cargo.toml"),
        format!("{manifest}\n[dev-dependencies]\nhex = \"0.4\"\n\n[build-dependencies]\ncfg-if = \"1\"\n"),
    )
    .unwrap();
    fs::write(p.join("build.rs"), "fn main() {}\n").unwrap();
    run_ok(tool("cargo").arg("generate-lockfile").current_dir(&p));
    let lock = fs::read_to_string(p.join("Cargo.lock")).unwrap();
    assert!(
        lock.contains("name = \"hex\"") && lock.contains("name = \"cfg-if\""),
        "the lock has the dev- and build-dependency:\n{lock}"
    );

    let arch = host_arch();
    let triple = match arch {
        "amd64" => "x86_64-unknown-linux-musl",
        _ => "aarch64-unknown-linux-musl",
    };
    let files = publish_for(
        &env,
        &p,
        &format!("linux/{arch}"),
        "scratch",
        &env.path("out"),
        &env.path("sbom"),
    );
    let doc = validated(&files[0]);
    let pkgs = packages(&doc);
    let text = doc.to_string();

    let tree = stdout_ok(
        tool("cargo")
            .args([
                "tree", "-e", "normal", "--target", triple, "--prefix", "none",
            ])
            .args(["--format", "{p}|{f}", "--locked"])
            .current_dir(&p),
    );
    let mut expected = Vec::new();
    for line in tree.lines().map(|l| l.trim_end_matches(" (*)")) {
        let (pkg, features) = line.split_once('|').unwrap();
        let mut words = pkg.split_whitespace();
        let (name, version) = (words.next().unwrap(), words.next().unwrap());
        let version = version.trim_start_matches('v');
        if name == "rust-hello"
            || expected
                .iter()
                .any(|(n, _, _): &(String, String, String)| n == name)
        {
            continue;
        }
        let mut f: Vec<&str> = features.split(',').filter(|f| !f.is_empty()).collect();
        f.sort();
        expected.push((name.to_string(), version.to_string(), f.join(",")));
    }
    assert!(
        !expected.is_empty(),
        "cargo tree lists dependencies:\n{tree}"
    );
    let cargo_purls: Vec<&(String, String)> = pkgs
        .iter()
        .filter(|(purl, _)| purl.starts_with("pkg:cargo/"))
        .collect();
    assert_eq!(
        cargo_purls.len(),
        expected.len(),
        "the SBOM's crates are cargo tree's: {cargo_purls:#?}\n{tree}"
    );
    for (name, version, features) in &expected {
        assert!(
            pkgs.contains(&(format!("pkg:cargo/{name}@{version}"), version.clone())),
            "{name} {version} in {pkgs:#?}"
        );
        let prop = format!("lade:cargo:features={features}");
        assert!(
            text.contains(&prop),
            "{prop} among the annotations of {name}"
        );
    }
    assert!(
        !has_purl(&pkgs, "pkg:cargo/hex@"),
        "a dev-dependency is not linked: {pkgs:#?}"
    );
    assert!(
        !has_purl(&pkgs, "pkg:cargo/cfg-if@"),
        "a build-dependency is not linked: {pkgs:#?}"
    );

    let again = publish_for(
        &env,
        &p,
        &format!("linux/{arch}"),
        "scratch",
        &env.path("out2"),
        &env.path("sbom2"),
    );
    assert_eq!(
        fs::read(&files[0]).unwrap(),
        fs::read(&again[0]).unwrap(),
        "two publishes of the same Rust image give the same SBOM"
    );
}
