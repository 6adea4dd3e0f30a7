use super::*;
use crate::config::LadeConfig;
use crate::plan::{Check, EntryKind, Linkage};
use std::path::Path;

fn write(dir: &Path, files: &[(&str, &str)]) {
    for (name, text) in files {
        let p = dir.join(name);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
    }
}

fn host() -> Host {
    Host {
        cargo_home: Some("/home/dev/.cargo".into()),
        platform: Some(Platform::linux("amd64", None)),
        cc_vars: Vec::new(),
    }
}

fn detect_in(
    dir: &Path,
    config: &LadeConfig,
    main: Option<&str>,
    platforms: &[&str],
) -> Result<Option<Plan>, DetectError> {
    let platforms: Vec<Platform> = platforms.iter().map(|p| p.parse().unwrap()).collect();
    let out = dir.join("out");
    let filter = crate::ignore::Filter::default();
    let project = Project {
        dir,
        config,
        platforms: &platforms,
        main,
        out_dir: &out,
        filter: &filter,
    };
    detect_with(&project, &host())
}

fn config(toml: &str) -> LadeConfig {
    LadeConfig::parse(toml, Path::new("lade.toml")).unwrap()
}

const MAIN: &str = "fn main() {}\n";

#[test]
fn a_package_builds_static_per_platform() {
    let t = tempfile::tempdir().unwrap();
    let dir = t.path();
    write(
        dir,
        &[
            (
                "Cargo.toml",
                "[package]\nname = \"hello\"\nversion = \"0.1.0\"\nedition = \"2021\"\n",
            ),
            ("Cargo.lock", "version = 4\n"),
            ("src/main.rs", MAIN),
            ("assets/index.html", "<p>hi</p>"),
        ],
    );
    let plan = detect_in(
        dir,
        &LadeConfig::default(),
        None,
        &["linux/amd64", "linux/arm64"],
    )
    .unwrap()
    .unwrap();
    assert_eq!(plan.detector, "rust");
    assert_eq!(plan.name, "hello");
    assert_eq!(plan.base, STATIC_BASE);
    assert_eq!(plan.config.entrypoint, Some(vec!["/app/hello".to_string()]));
    assert_eq!(plan.config.workdir.as_deref(), Some("/app"));

    let arm = &plan.targets[1];
    let step = &arm.steps[0];
    assert_eq!(step.program, "cargo");
    assert_eq!(
        step.args,
        [
            "build",
            "--release",
            "--locked",
            "--target",
            "aarch64-unknown-linux-musl",
            "-p",
            "hello",
            "--bin",
            "hello"
        ]
    );
    let target_dir = dir.join("out/cargo-target");
    assert_eq!(
        step.env["CARGO_TARGET_DIR"],
        target_dir.to_string_lossy(),
        "one target directory for every platform, in lade's cache"
    );
    assert_eq!(
        step.env["CARGO_TARGET_AARCH64_UNKNOWN_LINUX_MUSL_LINKER"],
        "rust-lld"
    );
    let flags: Vec<&str> = step.env["CARGO_ENCODED_RUSTFLAGS"].split('\x1f').collect();
    assert_eq!(
        flags,
        [
            format!("--remap-path-prefix={}=/src", dir.display()),
            "--remap-path-prefix=/home/dev/.cargo=/cargo".to_string(),
            format!("--remap-path-prefix={}=/target", target_dir.display()),
        ]
    );
    let binary = target_dir.join("aarch64-unknown-linux-musl/release/hello");
    assert_eq!(
        arm.checks,
        [
            Check::RustTarget {
                triple: "aarch64-unknown-linux-musl".into()
            },
            Check::Linkage {
                binary: binary.clone(),
                target: "/app/hello".into(),
                expect: Linkage::Static,
            }
        ]
    );
    let names: Vec<&str> = arm.layers.iter().map(|l| l.name.as_str()).collect();
    assert_eq!(names, ["resources", "binary"], "resources below the binary");
    assert_eq!(arm.layers[0].entries[0].target, "/app/assets/index.html");
    assert_eq!(
        arm.layers[1].entries[0].kind,
        EntryKind::File { source: binary }
    );
}

#[test]
fn no_lockfile_no_locked_and_no_cargo_toml_no_plan() {
    let t = tempfile::tempdir().unwrap();
    assert!(
        detect_in(t.path(), &LadeConfig::default(), None, &["linux/amd64"])
            .unwrap()
            .is_none()
    );
    write(
        t.path(),
        &[
            (
                "Cargo.toml",
                "[package]\nname = \"x\"\nedition = \"2021\"\n",
            ),
            ("src/main.rs", MAIN),
        ],
    );
    let plan = detect_in(t.path(), &LadeConfig::default(), None, &["linux/amd64"])
        .unwrap()
        .unwrap();
    assert!(!plan.targets[0].steps[0].args.contains(&"--locked".into()));
    assert!(
        plan.reasons
            .iter()
            .any(|r| r.file == "Cargo.lock" && r.why.starts_with("absent")),
        "{:?}",
        plan.reasons
    );
}

fn workspace(dir: &Path) {
    write(
        dir,
        &[
            (
                "Cargo.toml",
                "[workspace]\nmembers = [\"crates/*\"]\nresolver = \"2\"\n",
            ),
            (
                "crates/api/Cargo.toml",
                "[package]\nname = \"api\"\nedition = \"2021\"\n",
            ),
            ("crates/api/src/main.rs", MAIN),
            (
                "crates/tools/Cargo.toml",
                "[package]\nname = \"tools\"\nedition = \"2021\"\n[features]\nextra = []\n[[bin]]\nname = \"secret\"\npath = \"src/secret.rs\"\nrequired-features = [\"extra\"]\n",
            ),
            ("crates/tools/src/bin/migrate.rs", MAIN),
            ("crates/tools/src/secret.rs", MAIN),
            ("crates/shared/Cargo.toml", "[package]\nname = \"shared\"\n"),
            ("crates/shared/src/lib.rs", ""),
        ],
    );
}

#[test]
fn a_workspace_puts_every_binary_in_and_asks_for_the_entrypoint() {
    let t = tempfile::tempdir().unwrap();
    let dir = t.path().join("ws");
    workspace(&dir);
    let none = LadeConfig::default();
    let err = detect_in(&dir, &none, None, &["linux/amd64"])
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("several binaries (api, migrate): pick the entrypoint with --main NAME"),
        "{err}"
    );

    let plan = detect_in(&dir, &none, Some("migrate"), &["linux/amd64"])
        .unwrap()
        .unwrap();
    assert_eq!(
        plan.name, "ws",
        "a virtual workspace is named after its directory"
    );
    assert_eq!(plan.config.entrypoint, Some(vec!["/app/migrate".into()]));
    let t0 = &plan.targets[0];
    let targets: Vec<&str> = t0.layers[0]
        .entries
        .iter()
        .map(|e| e.target.as_str())
        .collect();
    assert_eq!(targets, ["/app/api", "/app/migrate"]);
    let args = t0.steps[0].args.join(" ");
    assert!(
        args.ends_with("-p api -p tools --bin api --bin migrate"),
        "{args}"
    );
    assert!(
        plan.reasons
            .iter()
            .any(|r| r.why.contains("secret left out")),
        "{:?}",
        plan.reasons
    );

    let err = detect_in(&dir, &none, Some("nope"), &["linux/amd64"])
        .unwrap_err()
        .to_string();
    assert_eq!(
        err,
        "--main nope: no binary named nope (binaries: api, migrate)"
    );
    let err = detect_in(&dir, &none, Some("secret"), &["linux/amd64"])
        .unwrap_err()
        .to_string();
    assert!(err.contains("needs features extra"), "{err}");

    let c = config(
        "[rust]\nbin = \"secret\"\nfeatures = [\"tools/extra\"]\nbins = [\"secret\", \"api\"]\n",
    );
    let plan = detect_in(&dir, &c, None, &["linux/amd64"])
        .unwrap()
        .unwrap();
    assert_eq!(plan.config.entrypoint, Some(vec!["/app/secret".into()]));
    let args = plan.targets[0].steps[0].args.join(" ");
    assert!(
        args.ends_with("-p api -p tools --bin api --bin secret --features tools/extra"),
        "{args}"
    );
}

#[test]
fn default_run_picks_among_several() {
    let t = tempfile::tempdir().unwrap();
    write(
        t.path(),
        &[
            (
                "Cargo.toml",
                "[package]\nname = \"svc\"\nedition = \"2021\"\ndefault-run = \"svc\"\n",
            ),
            ("src/main.rs", MAIN),
            ("src/bin/admin.rs", MAIN),
        ],
    );
    let plan = detect_in(t.path(), &LadeConfig::default(), None, &["linux/amd64"])
        .unwrap()
        .unwrap();
    assert_eq!(plan.config.entrypoint, Some(vec!["/app/svc".into()]));
    assert_eq!(plan.targets[0].layers[0].entries.len(), 2);
}

#[test]
fn a_library_is_refused() {
    let t = tempfile::tempdir().unwrap();
    write(
        t.path(),
        &[
            (
                "Cargo.toml",
                "[package]\nname = \"just-a-lib\"\nedition = \"2021\"\n",
            ),
            ("src/lib.rs", ""),
        ],
    );
    let err = detect_in(t.path(), &LadeConfig::default(), None, &["linux/amd64"])
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("package just-a-lib has no binary target"),
        "{err}"
    );
}

#[test]
fn glibc_needs_a_cc_base_and_a_cross_linker() {
    let t = tempfile::tempdir().unwrap();
    write(
        t.path(),
        &[
            (
                "Cargo.toml",
                "[package]\nname = \"g\"\nedition = \"2021\"\n",
            ),
            ("src/main.rs", MAIN),
            (
                ".cargo/config.toml",
                "[build]\nrustflags = [\"--cfg\", \"from_config\"]\n",
            ),
        ],
    );
    let c = config("[rust]\nlibc = \"gnu\"\nrustflags = [\"-Ctarget-cpu=generic\"]\n");
    let plan = detect_in(t.path(), &c, None, &["linux/amd64", "linux/arm64"])
        .unwrap()
        .unwrap();
    assert_eq!(plan.base, CC_BASE);
    let amd = &plan.targets[0];
    assert!(
        amd.steps[0]
            .args
            .contains(&"x86_64-unknown-linux-gnu".to_string())
    );
    assert!(
        !amd.steps[0]
            .env
            .keys()
            .any(|k| k.starts_with("CARGO_TARGET_X86_64")),
        "the host's cc links native glibc binaries"
    );
    let flags: Vec<&str> = amd.steps[0].env["CARGO_ENCODED_RUSTFLAGS"]
        .split('\x1f')
        .collect();
    assert_eq!(
        &flags[..3],
        ["--cfg", "from_config", "-Ctarget-cpu=generic"],
        "the project's cargo config flags come first, then lade.toml's, then the remaps"
    );
    assert!(amd.checks.iter().any(|c| matches!(
        c,
        Check::Linkage {
            expect: Linkage::Glibc,
            ..
        }
    )));
    let arm = &plan.targets[1];
    assert_eq!(arm.steps[0].args[0], "zig-wrappers", "{:?}", arm.steps[0]);
    assert!(
        arm.steps[1].env["CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_LINKER"]
            .ends_with("/zig/aarch64-linux-gnu.2.36/cc"),
        "zig links the other architecture's glibc binaries"
    );
    assert!(arm.checks.iter().any(|c| matches!(
        c,
        Check::Zig { target, why, .. } if target == "aarch64-linux-gnu.2.36" && why.contains("aarch64-unknown-linux-gnu")
    )));

    // A per-platform triple override, and a platform key that is not one.
    let c = config("[rust.target]\n\"linux/arm64\" = \"aarch64-unknown-linux-gnu\"\n");
    let plan = detect_in(t.path(), &c, None, &["linux/amd64", "linux/arm64"])
        .unwrap()
        .unwrap();
    assert_eq!(plan.base, CC_BASE, "one glibc platform makes the base cc");
    let c = config("[rust.target]\n\"linux/sparc\" = \"sparc64-unknown-linux-gnu\"\n");
    let err = detect_in(t.path(), &c, None, &["linux/amd64"])
        .unwrap_err()
        .to_string();
    assert!(err.contains("[rust.target] linux/sparc"), "{err}");
}

#[test]
fn resources_are_checked() {
    let t = tempfile::tempdir().unwrap();
    write(
        t.path(),
        &[
            (
                "Cargo.toml",
                "[package]\nname = \"r\"\nedition = \"2021\"\n",
            ),
            ("src/main.rs", MAIN),
            ("config/prod/app.toml", "x = 1"),
        ],
    );
    let c = config("[rust]\nresources = [\"config/\"]\n");
    let plan = detect_in(t.path(), &c, None, &["linux/amd64"])
        .unwrap()
        .unwrap();
    let targets: Vec<&str> = plan.targets[0].layers[0]
        .entries
        .iter()
        .map(|e| e.target.as_str())
        .collect();
    assert_eq!(targets, ["/app/config/prod", "/app/config/prod/app.toml"]);
    for bad in ["../x", "/etc", "missing"] {
        let c = config(&format!("[rust]\nresources = [\"{bad}\"]\n"));
        let err = detect_in(t.path(), &c, None, &["linux/amd64"])
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("[rust] resources: "), "{bad}: {err}");
    }
}

#[test]
fn crates_that_compile_c_get_zig_as_their_c_compiler() {
    let t = tempfile::tempdir().unwrap();
    write(
        t.path(),
        &[
            (
                "Cargo.toml",
                "[package]\nname = \"c\"\nedition = \"2021\"\n",
            ),
            ("src/main.rs", MAIN),
            (
                "Cargo.lock",
                "version = 4\n[[package]]\nname = \"ring\"\nversion = \"0.17.0\"\ndependencies = [\"cc\"]\n",
            ),
        ],
    );
    let plan = detect_in(
        t.path(),
        &LadeConfig::default(),
        None,
        &["linux/amd64", "linux/arm64"],
    )
    .unwrap()
    .unwrap();
    // The host's own musl target (the test host is amd64) keeps musl-gcc; arm64 gets zig.
    let amd = &plan.targets[0];
    assert_eq!(amd.steps[0].env["CC_x86_64_unknown_linux_musl"], "musl-gcc");
    assert!(amd.checks.iter().any(
        |c| matches!(c, Check::Program { program, hint } if program == "musl-gcc" && hint.contains("(ring)"))
    ));
    assert!(
        amd.steps[0].env["CFLAGS_x86_64_unknown_linux_musl"]
            .starts_with(&format!("-ffile-prefix-map={}=/src ", t_path(&plan)))
    );
    {
        let (t, triple, zig) = (
            &plan.targets[1],
            "aarch64_unknown_linux_musl",
            "aarch64-linux-musl",
        );
        let wrappers = &t.steps[0];
        assert_eq!(wrappers.program, crate::plan::LADE_PROGRAM);
        assert_eq!(wrappers.args[..3], ["zig-wrappers", "--target", zig]);
        let cargo = &t.steps[1];
        for var in ["CC", "CXX", "AR", "RANLIB"] {
            let tool = match var {
                "CC" => "cc",
                "CXX" => "c++",
                "AR" => "ar",
                _ => "ranlib",
            };
            assert!(
                cargo.env[&format!("{var}_{triple}")].ends_with(&format!("/zig/{zig}/{tool}")),
                "{var}: {:?}",
                cargo.env
            );
        }
        assert!(
            cargo.env[&format!("CFLAGS_{triple}")]
                .starts_with(&format!("-ffile-prefix-map={}=/src ", t_path(&plan)))
        );
        assert!(t.checks.iter().any(
            |c| matches!(c, Check::Zig { target, why, .. } if target == zig && why.contains("(ring)"))
        ));
    }
}

fn t_path(plan: &crate::plan::Plan) -> String {
    plan.project_dir.display().to_string()
}

#[test]
fn facts_of_a_package_with_a_lock_that_compiles_c() {
    let t = tempfile::tempdir().unwrap();
    let dir = t.path();
    write(
        dir,
        &[
            (
                "Cargo.toml",
                "[package]\nname = \"app\"\nversion = \"0.1.0\"\nedition = \"2021\"\n",
            ),
            (
                "Cargo.lock",
                "version = 4\n[[package]]\nname = \"zstd-sys\"\nversion = \"1.0.0\"\ndependencies = [\"cc\"]\n[[package]]\nname = \"cc\"\nversion = \"1.0.0\"\n",
            ),
            ("src/main.rs", MAIN),
            (".cargo/config.toml", "[build]\nrustflags = [\"-Cx\"]\n"),
        ],
    );
    let rust = RustProject::read(dir, None).unwrap().unwrap();
    assert_eq!(rust.workspace.root_package.as_deref(), Some("app"));
    assert_eq!(rust.lockfile, Some(dir.join("Cargo.lock")));
    assert_eq!(rust.c_crates, ["zstd-sys"]);
    assert!(!rust.assets);
    assert!(
        rust.cargo_config
            .rustflags("x86_64-unknown-linux-musl")
            .contains(&"-Cx".to_string())
    );
    let none = tempfile::tempdir().unwrap();
    assert!(RustProject::read(none.path(), None).unwrap().is_none());
}
