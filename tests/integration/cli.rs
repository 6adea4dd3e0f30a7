//! The command line itself: the project directory as an argument, `plan` as a dry run of the
//! same command line, the references publish prints (checked with skopeo), `--json`'s outputs
//! and sizes (checked against the registry and the layout), `--label`/`--annotation`/`--env`
//! (read back by skopeo), `--platform all`, and shell completions loaded by bash.

use crate::support::TestEnv;
use crate::support::base_image::build_base;
use crate::support::env::write_file;
use crate::support::layout::{Layout, sha256_digest};
use crate::support::registry::Registry;
use crate::support::tools::{run_ok, stdout_ok, tool};
use serde_json::{Value, json};
use std::io::Read;

fn skopeo_json(args: &[&str], image: &str) -> Value {
    let text = stdout_ok(tool("skopeo").arg("inspect").args(args).arg(image));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("skopeo inspect {image}: {e}\n{text}"))
}

fn skopeo_raw(args: &[&str], image: &str) -> Vec<u8> {
    run_ok(
        tool("skopeo")
            .args(["inspect", "--raw"])
            .args(args)
            .arg(image),
    )
    .stdout
}

/// The acceptance line: `lade publish DIR` writes the default output, and the line it prints
/// names it in a form skopeo reads, followed by its digest.
#[test]
fn publish_takes_the_directory_and_prints_a_reference_skopeo_reads() {
    let env = TestEnv::new();
    env.copy_example("go-hello", "work/go-hello");
    let run = env
        .lade()
        .args(["publish", "go-hello", "--platform", "linux/amd64"])
        .run()
        .success();
    let line = run.stdout.trim();
    let (reference, digest) = line
        .split_once(' ')
        .unwrap_or_else(|| panic!("expected 'REFERENCE DIGEST': {line:?}"));
    assert_eq!(reference, "oci:./lade-out:latest", "{}", run.context());
    let raw = run_ok(
        tool("skopeo")
            .current_dir(&env.work)
            .args(["inspect", "--raw", reference]),
    )
    .stdout;
    assert_eq!(
        digest,
        sha256_digest(&raw),
        "the digest printed is the manifest's"
    );
    let inspected: Value = serde_json::from_slice(
        &run_ok(
            tool("skopeo")
                .current_dir(&env.work)
                .args(["inspect", reference]),
        )
        .stdout,
    )
    .unwrap();
    assert_eq!(inspected["Architecture"], "amd64");

    // `build` is publish; DIR and -C naming the same directory are one directory.
    let again = env
        .lade()
        .args([
            "build",
            "go-hello",
            "-C",
            "./go-hello/",
            "--platform",
            "linux/amd64",
        ])
        .run()
        .success();
    assert_eq!(again.stdout.trim(), line, "same project, same image");

    // Two different directories are two projects: a --to without {name} cannot hold both, so
    // one error line names both, before anything is built.
    env.copy_example("rust-hello", "work/rust-hello");
    let twice = env
        .lade()
        .args([
            "publish",
            "go-hello",
            "-C",
            "rust-hello",
            "--to",
            "oci:./other",
        ])
        .run();
    twice.expect_error(&["go-hello", "rust-hello", "-C"]);
    assert!(!env.work.join("other").exists());
}

/// Archives are printed as their targets too, and skopeo reads each printed reference.
#[test]
fn archive_references_printed_are_read_by_skopeo() {
    let env = TestEnv::new();
    env.copy_example("go-hello", "work/go-hello");
    let run = env
        .lade()
        .args(["publish", "go-hello", "--platform", "linux/amd64"])
        .args(["--to", "oci-archive:app.tar:v1"])
        .args(["--to", "docker-archive:docker.tar:lade.test/app:v1"])
        .run()
        .success();
    let lines: Vec<(&str, &str)> = run
        .stdout
        .lines()
        .map(|l| l.split_once(' ').unwrap_or_else(|| panic!("{l:?}")))
        .collect();
    assert_eq!(
        lines.iter().map(|(r, _)| *r).collect::<Vec<_>>(),
        [
            "oci-archive:app.tar:v1",
            "docker-archive:docker.tar:lade.test/app:v1"
        ]
    );
    for (reference, digest) in &lines {
        let inspected: Value = serde_json::from_slice(
            &run_ok(
                tool("skopeo")
                    .current_dir(&env.work)
                    .args(["inspect", reference]),
            )
            .stdout,
        )
        .unwrap_or_else(|e| panic!("{reference}: {e}"));
        assert_eq!(inspected["Architecture"], "amd64", "{reference}");
        crate::support::lade::assert_digest(digest);
    }
    // The OCI archive holds the manifest whose digest was printed.
    let raw = run_ok(
        tool("skopeo")
            .current_dir(&env.work)
            .args(["inspect", "--raw", lines[0].0]),
    )
    .stdout;
    assert_eq!(lines[0].1, sha256_digest(&raw));
}

/// `lade plan` takes every publish flag: those that change the plan are applied, outputs and
/// tags are checked as publish checks them, and nothing is written or pushed.
#[test]
fn plan_is_a_dry_run_of_the_publish_command_line() {
    let env = TestEnv::new();
    let project = env.copy_example("go-hello", "go-hello");
    let reg = Registry::start();
    let sbom = env.path("sboms");
    let layout = env.path("out");
    let common = |lade: crate::support::lade::Lade| {
        lade.arg("-C")
            .arg(&project)
            .args(["--platform", "linux/arm64", "--to"])
            .arg(format!("{}/team/app:v1", reg.host))
            .arg("--to")
            .arg(format!("oci:{}:v1", layout.display()))
            .args(["--tag", "rc1", "--registry-mirror", "docker.io=127.0.0.1:9"])
            .args(["--registry-concurrency", "2", "--no-attach", "--sbom"])
            .arg(&sbom)
            .args(["--label", "team=payments", "--env", "LOG_LEVEL=debug"])
    };
    let plan = common(env.lade().args(["plan", "--json"]))
        .run()
        .success()
        .json();
    assert_eq!(plan["config"]["labels"]["team"], "payments");
    assert_eq!(plan["config"]["env"]["LOG_LEVEL"], "debug");
    let platforms: Vec<&Value> = plan["targets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| &t["platform"]["architecture"])
        .collect();
    assert_eq!(platforms, [&json!("arm64")]);
    assert_eq!(
        plan["outputs"],
        json!([
            {"target": format!("{}/team/app:v1", reg.host), "tags": ["rc1"]},
            {"target": format!("oci:{}:rc1", layout.display())},
            {"target": format!("oci:{}:v1", layout.display())},
        ])
    );
    // A dry run: nothing written, nothing pushed.
    assert!(!layout.exists() && !sbom.exists());
    assert!(
        reg.access_log()
            .iter()
            .all(|r| !r.path.starts_with("/v2/team")),
        "plan reached the registry: {:?}",
        reg.access_log()
    );

    // The text form lists the outputs too.
    let text = common(env.lade().arg("plan")).run().success();
    assert!(
        text.stdout.contains(&format!(
            "output    {}/team/app:v1 (also tagged rc1)",
            reg.host
        )),
        "{}",
        text.context()
    );

    // A tag publish would refuse, plan refuses the same way.
    let bad = common(env.lade().arg("plan")).arg("--tag=.bad").run();
    bad.expect_error(&["--tag", ".bad"]);
    let published = common(env.lade().arg("publish")).arg("--tag=.bad").run();
    assert_eq!(bad.error_lines(), published.error_lines());
}

/// `--json` says, per output, its tags, index and platform manifests, and per platform image
/// its sizes: all checked against what the registry and the layout hold. Labels, annotations
/// and variables given as flags override lade.toml's and land in config and manifests.
#[test]
fn publish_json_lists_tags_manifests_sizes_and_flags_reach_the_image() {
    let env = TestEnv::new();
    let project = env.copy_example("go-hello", "go-hello");
    // Kept: the example's own settings (its scratch base).
    let toml = std::fs::read_to_string(project.join("lade.toml")).unwrap();
    write_file(
        &project.join("lade.toml"),
        &format!(
            "{toml}labels = {{ team = \"from-toml\", tier = \"web\" }}\nannotations = {{ \"org.example.note\" = \"toml\" }}\n"
        ),
    );
    let reg = Registry::start();
    let layout = env.path("out");
    let run = env
        .lade()
        .args(["publish", "--json", "--platform", "linux/amd64,linux/arm64"])
        .arg(&project)
        .arg("--to")
        .arg(format!("{}/team/app:v1", reg.host))
        .arg("--to")
        .arg(format!("oci:{}:v1", layout.display()))
        .args(["--tag", "rc1", "--no-attach"])
        .args(["--label", "team=payments", "--label", "empty="])
        .args(["--annotation", "org.example.note=flag"])
        .args(["--env", "LOG_LEVEL=debug", "--env", "KO_DATA_PATH=/data"])
        .run()
        .success();
    let j = run.json();
    let outputs = j["outputs"].as_array().unwrap();
    assert_eq!(outputs.len(), 3, "{j}");
    let (registry_out, rc1_out, v1_out) = (&outputs[0], &outputs[1], &outputs[2]);
    assert_eq!(registry_out["tags"], json!(["v1", "rc1"]));
    assert_eq!(rc1_out["tags"], json!(["rc1"]));
    assert_eq!(v1_out["tags"], json!(["v1"]));
    assert_eq!(
        v1_out["reference"],
        json!(format!("oci:{}:v1", layout.display()))
    );

    // The registry's index is the one reported, and lists the reported manifests.
    let image = format!("docker://{}/team/app:rc1", reg.host);
    let raw = skopeo_raw(&["--tls-verify=false"], &image);
    let index: Value = serde_json::from_slice(&raw).unwrap();
    assert_eq!(registry_out["index"], json!(sha256_digest(&raw)));
    assert_eq!(registry_out["digest"], registry_out["index"]);
    assert_eq!(
        registry_out["reference"],
        json!(format!("{}/team/app@{}", reg.host, sha256_digest(&raw)))
    );
    assert_eq!(index["annotations"]["org.example.note"], "flag");
    let listed: Vec<(String, String)> = index["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            (
                format!("linux/{}", m["platform"]["architecture"].as_str().unwrap()),
                m["digest"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    for o in outputs {
        let reported: Vec<(String, String)> = o["manifests"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| {
                (
                    m["platform"].as_str().unwrap().to_string(),
                    m["digest"].as_str().unwrap().to_string(),
                )
            })
            .collect();
        assert_eq!(reported, listed, "{o}");
        assert_eq!(o["index"], registry_out["index"]);
    }

    // Sizes, per platform, from the layout's own blobs: compressed = layer blobs + config +
    // manifest; uncompressed = the layers' tars.
    let l = Layout::open(&layout);
    let images = j["images"].as_array().unwrap();
    assert_eq!(images.len(), 2);
    for (img, (platform, digest)) in images.iter().zip(&listed) {
        assert_eq!(img["platform"], json!(platform));
        assert_eq!(img["manifest"], json!(digest));
        let manifest_bytes = l.blob(digest);
        let manifest: Value = serde_json::from_slice(&manifest_bytes).unwrap();
        assert_eq!(manifest["annotations"]["org.example.note"], "flag");
        assert_eq!(img["config"], manifest["config"]["digest"]);
        let layers = manifest["layers"].as_array().unwrap();
        let compressed: u64 = layers
            .iter()
            .map(|d| d["size"].as_u64().unwrap())
            .sum::<u64>()
            + manifest["config"]["size"].as_u64().unwrap()
            + manifest_bytes.len() as u64;
        assert_eq!(img["compressed_size"], json!(compressed), "{img}");
        let mut tar_bytes = 0u64;
        for d in layers {
            let blob = l.blob(d["digest"].as_str().unwrap());
            let mut tar = Vec::new();
            flate2::read::GzDecoder::new(blob.as_slice())
                .read_to_end(&mut tar)
                .unwrap();
            tar_bytes += tar.len() as u64;
        }
        assert_eq!(img["uncompressed_size"], json!(tar_bytes), "{img}");
    }
    assert!(j["warnings"].is_array(), "{j}");
    assert!(j["base"]["name"] == "scratch", "{j}");

    // The config, as skopeo reads it from the registry: flags over lade.toml over detection.
    let config = skopeo_json(
        &["--config", "--tls-verify=false", "--override-arch", "arm64"],
        &image,
    );
    let labels = &config["config"]["Labels"];
    assert_eq!(labels["team"], "payments", "{config}");
    assert_eq!(labels["tier"], "web", "{config}");
    assert_eq!(labels["empty"], "", "{config}");
    let env_vars: Vec<&str> = config["config"]["Env"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert!(env_vars.contains(&"LOG_LEVEL=debug"), "{env_vars:?}");
    assert!(env_vars.contains(&"KO_DATA_PATH=/data"), "{env_vars:?}");
}

/// A malformed `KEY=VALUE` flag is one error line naming the flag, before anything is built.
#[test]
fn bad_key_value_flags_are_refused_before_building() {
    let env = TestEnv::new();
    let project = env.copy_example("go-hello", "go-hello");
    for (flag, value) in [
        ("--label", "team"),
        ("--annotation", "=x"),
        ("--env", "MY VAR=1"),
    ] {
        for command in ["plan", "publish"] {
            let run = env
                .lade()
                .arg(command)
                .arg(&project)
                .args([flag, value])
                .run();
            run.expect_error(&[flag, value, "=VALUE"]);
            assert!(!env.work.join("lade-out").exists());
            assert!(!run.stderr.contains("go build"), "{}", run.context());
        }
    }
}

/// `--platform all`: with scratch, every platform Go builds; with a base that has two, those
/// two — the plan shows the list.
#[test]
fn platform_all_is_what_the_base_has_and_the_toolchain_builds() {
    let env = TestEnv::new();
    let project = env.copy_example("go-hello", "go-hello");
    let platforms = |extra: &[&str]| -> Vec<String> {
        let plan = env
            .lade()
            .args(["plan", "--json", "--platform", "all"])
            .arg(&project)
            .args(extra)
            .run()
            .success()
            .json();
        plan["targets"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| {
                let p = &t["platform"];
                let mut s = format!("linux/{}", p["architecture"].as_str().unwrap());
                if let Some(v) = p["variant"].as_str() {
                    s += &format!("/{v}");
                }
                s
            })
            .collect()
    };
    assert_eq!(
        platforms(&[]),
        [
            "linux/amd64",
            "linux/arm64",
            "linux/arm/v7",
            "linux/arm/v6",
            "linux/386",
            "linux/ppc64le",
            "linux/s390x",
            "linux/riscv64"
        ]
    );
    let base = build_base(&env.path("base"), "b", &["amd64", "arm64"], Some("65532"));
    assert_eq!(
        platforms(&["--base", &base.reference()]),
        ["linux/amd64", "linux/arm64"]
    );
}

/// Completions load in bash and register `lade`; the other shells' scripts and the man page
/// come from the same definitions.
#[test]
fn completions_load_in_bash_and_the_man_page_renders() {
    let lade = env!("CARGO_BIN_EXE_lade");
    let lade_cmd = || std::process::Command::new(lade);
    let out = run_ok(tool("bash").args([
        "-c",
        &format!("source <('{lade}' completions bash) && complete -p lade"),
    ]));
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(said.trim_end().ends_with(" lade"), "{said}");
    for shell in ["zsh", "fish", "powershell"] {
        let script = stdout_ok(lade_cmd().args(["completions", shell]));
        assert!(
            script.contains("publish") && script.contains("platform"),
            "{shell}"
        );
    }
    let page = stdout_ok(lade_cmd().arg("man"));
    assert!(
        page.starts_with(".ie") || page.contains(".TH lade"),
        "{page}"
    );
    assert!(page.contains("publish"), "{page}");
    let help = stdout_ok(lade_cmd().args(["publish", "--help"]));
    assert!(help.contains("Examples:") && help.contains("lade publish examples/go-hello"));
}
