use super::facts::{imports, imports_c, module_binary_name, module_path, package_clause};
use super::*;
use crate::plan::{Check, Linkage};
use std::path::Path;

#[test]
fn module_names() {
    assert_eq!(
        module_path("// c\nmodule example.com/a/svc // x\n\ngo 1.19\n").as_deref(),
        Some("example.com/a/svc")
    );
    assert_eq!(module_path("modulex foo"), None);
    assert_eq!(module_binary_name("example.com/a/svc/v2"), "svc");
    assert_eq!(module_binary_name("hello"), "hello");
}

#[test]
fn package_clauses() {
    assert_eq!(
        package_clause("// Copyright\n/* a\n package fake */\npackage main\n").as_deref(),
        Some("main")
    );
    assert_eq!(
        package_clause("package lib // comment\n").as_deref(),
        Some("lib")
    );
}

#[test]
fn cgo_imports() {
    assert!(imports_c(
        "package main\n// #include <stdio.h>\nimport \"C\"\n"
    ));
    assert!(imports_c("package main\nimport (\n\t\"fmt\"\n\t\"C\"\n)\n"));
    assert!(!imports_c(
        "package main\nimport (\n\t\"fmt\"\n)\n// \"C\"\n"
    ));
}

fn write(dir: &Path, files: &[(&str, &str)]) {
    for (name, text) in files {
        let p = dir.join(name);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
    }
}

#[test]
fn facts_of_a_module_with_commands() {
    let t = tempfile::tempdir().unwrap();
    write(
        t.path(),
        &[
            ("go.mod", "module example.com/svc/v2\n"),
            ("main.go", MAIN),
            ("main_test.go", "package main_test\n"),
            (
                "cmd/tool/main.go",
                "package main\nimport \"C\"\nfunc main() {}\n",
            ),
            ("cmd/tool/kodata/a.txt", "a"),
            ("cmd/lib/lib.go", "package lib\n"),
            ("vendor/modules.txt", ""),
        ],
    );
    let go = GoProject::read(t.path()).unwrap().unwrap();
    assert_eq!(go.module.as_deref(), Some("example.com/svc/v2"));
    assert_eq!(go.root_files, ["main.go"]);
    assert!(go.vendored && !go.root_kodata);
    let mains: Vec<(&str, bool, bool)> = go
        .mains
        .iter()
        .map(|m| (m.rel.as_str(), m.cgo.is_some(), m.kodata))
        .collect();
    assert_eq!(mains, [(".", false, false), ("cmd/tool", true, true)]);
    assert_eq!(GoPackage::main_at(t.path(), "cmd/lib").unwrap(), None);

    let bad = tempfile::tempdir().unwrap();
    write(bad.path(), &[("go.mod", "go 1.22\n")]);
    let err = GoProject::read(bad.path()).unwrap_err().to_string();
    assert!(err.contains("no `module` line"), "{err}");
    let empty = tempfile::tempdir().unwrap();
    assert_eq!(GoProject::read(empty.path()).unwrap(), None);
}

fn detect_in(dir: &Path, main: Option<&str>) -> Result<Option<Plan>, DetectError> {
    let config = crate::config::LadeConfig::default();
    let platforms = vec![
        "linux/amd64".parse().unwrap(),
        "linux/arm/v7".parse().unwrap(),
    ];
    let out = dir.join("out");
    let filter = crate::ignore::Filter::default();
    let project = Project {
        dir,
        config: &config,
        platforms: &platforms,
        main,
        out_dir: &out,
        filter: &filter,
    };
    GoDetector.detect(&project)
}

const MAIN: &str = "package main\nfunc main() {}\n";

#[test]
fn module_with_several_mains() {
    let t = tempfile::tempdir().unwrap();
    write(
        t.path(),
        &[
            ("go.mod", "module example.com/multi\n\ngo 1.19\n"),
            ("cmd/a/main.go", MAIN),
            ("cmd/b/main.go", MAIN),
            ("cmd/b/kodata/x.txt", "x"),
            ("lib/lib.go", "package lib\n"),
        ],
    );
    let err = detect_in(t.path(), None).unwrap_err().to_string();
    assert!(
        err.contains("several main packages (./cmd/a, ./cmd/b)"),
        "{err}"
    );
    let plan = detect_in(t.path(), Some("./cmd/b")).unwrap().unwrap();
    assert_eq!(plan.config.entrypoint, Some(vec!["/app/b".to_string()]));
    let arm = &plan.targets[1];
    assert_eq!(arm.steps.len(), 2, "every main is built");
    assert_eq!(arm.steps[0].env.get("GOARM").map(String::as_str), Some("7"));
    let names: Vec<&str> = arm.layers.iter().map(|l| l.name.as_str()).collect();
    assert_eq!(names, ["kodata", "binary"]);
    let targets: Vec<&str> = arm.layers[1]
        .entries
        .iter()
        .map(|e| e.target.as_str())
        .collect();
    assert_eq!(targets, ["/app/a", "/app/b"]);
    assert_eq!(arm.layers[0].entries[0].target, "/var/run/ko/x.txt");
    let err = detect_in(t.path(), Some("./lib")).unwrap_err().to_string();
    assert!(err.contains("is not a main package"), "{err}");
}

#[test]
fn module_without_main_vendor_and_loose_files() {
    let t = tempfile::tempdir().unwrap();
    write(
        t.path(),
        &[
            ("go.mod", "module example.com/lib\n"),
            ("lib.go", "package lib\n"),
        ],
    );
    let err = detect_in(t.path(), None).unwrap_err().to_string();
    assert!(err.contains("no main package"), "{err}");

    write(t.path(), &[("lib.go", MAIN), ("vendor/modules.txt", "")]);
    let plan = detect_in(t.path(), None).unwrap().unwrap();
    assert!(
        plan.targets[0].steps[0]
            .args
            .contains(&"-mod=vendor".to_string())
    );
    assert_eq!(plan.name, "lib");

    let loose = tempfile::tempdir().unwrap();
    write(
        loose.path(),
        &[
            ("b.go", MAIN),
            ("a.go", "package main\n"),
            ("a_test.go", "package main\n"),
        ],
    );
    let plan = detect_in(loose.path(), None).unwrap().unwrap();
    let args = &plan.targets[0].steps[0].args;
    assert_eq!(
        &args[args.len() - 2..],
        ["a.go", "b.go"],
        "builds the files, not the tree"
    );

    let empty = tempfile::tempdir().unwrap();
    assert!(detect_in(empty.path(), None).unwrap().is_none());
}

#[test]
fn cgo_builds_with_zig_on_the_cc_base() {
    let t = tempfile::tempdir().unwrap();
    write(
        t.path(),
        &[
            ("go.mod", "module m\n"),
            ("main.go", "package main\nimport \"C\"\nfunc main() {}\n"),
        ],
    );
    let plan = detect_in(t.path(), None).unwrap().unwrap();
    assert_eq!(plan.base, crate::detect::rust::CC_BASE);
    let target = &plan.targets[0];
    let arch = match target.platform.architecture.as_str() {
        "amd64" => "x86_64",
        "arm64" => "aarch64",
        other => other,
    };
    let zig = format!("{arch}-linux-gnu.2.36");
    assert_eq!(
        target.steps[0].args[..3],
        ["zig-wrappers", "--target", zig.as_str()]
    );
    let go = &target.steps[1];
    assert_eq!(go.env["CGO_ENABLED"], "1");
    assert!(
        go.env["CC"].ends_with(&format!("/zig/{zig}/cc")),
        "{:?}",
        go.env
    );
    assert!(go.args.contains(&"-trimpath".to_string()));
    assert!(go.args.contains(&"-ldflags=-buildid=".to_string()));
    assert!(target.checks.iter().any(|c| matches!(c, Check::Zig { .. })));
    assert!(target.checks.iter().any(|c| matches!(
        c,
        Check::Linkage {
            expect: Linkage::Glibc,
            ..
        }
    )));
    assert!(
        plan.reasons
            .iter()
            .any(|r| r.file == "main.go" && r.why.contains("cgo"))
    );
}

#[test]
fn import_declarations() {
    let src = "package main\n\nimport \"fmt\"\nimport x \"example.com/m/x\"\nimport (\n\t_ \"embed\"\n\t. \"example.com/m/dot\" // why\n\n\t\"example.com/m/y\"\n)\nimport ( \"a\"; \"b\" )\n\nfunc main() { s := \"import\" }\n";
    assert_eq!(
        imports(src),
        [
            "fmt",
            "example.com/m/x",
            "embed",
            "example.com/m/dot",
            "example.com/m/y",
            "a",
            "b"
        ]
    );
}

#[test]
fn the_build_reads_the_packages_the_mains_import_and_nothing_else() {
    let t = tempfile::tempdir().unwrap();
    let main = "package main\nimport (\n\t\"fmt\"\n\t\"example.com/m/internal/a\"\n)\nfunc main() { fmt.Println(a.A) }\n";
    write(
        t.path(),
        &[
            ("go.mod", "module example.com/m\n"),
            ("main.go", main),
            (
                "main_test.go",
                "package main\nimport \"example.com/m/testonly\"\n",
            ),
            ("README.md", "docs"),
            (
                "internal/a/a.go",
                "package a\nimport \"example.com/m/internal/b\"\nvar A = b.B\n",
            ),
            ("internal/a/a_amd64.s", ""),
            ("internal/a/notes.txt", ""),
            ("internal/b/b.go", "package b\nconst B = 1\n"),
            ("internal/unused/u.go", "package unused\n"),
            ("testonly/t.go", "package testonly\n"),
            // Go files that no main imports, with cgo and an embed: not read by the build.
            ("kodata/src/c/c.go", "package c\nimport \"C\"\n"),
            (
                "kodata/src/e/e.go",
                "package e\n//go:embed x\nvar x string\n",
            ),
            ("kodata/index.html", "<p>"),
        ],
    );
    let go = GoProject::read(t.path()).unwrap().unwrap();
    let files = go.build_files(t.path(), &["."]).unwrap().unwrap();
    assert_eq!(
        files,
        [
            "go.mod",
            "go.sum",
            "internal/a/a.go",
            "internal/a/a_amd64.s",
            "internal/b/b.go",
            "main.go",
            "main_test.go",
            "vendor/modules.txt",
        ]
    );

    // An imported package that embeds files brings everything below it.
    write(
        t.path(),
        &[
            (
                "internal/b/b.go",
                "package b\nimport _ \"embed\"\n//go:embed data/b.txt\nvar B string\n",
            ),
            ("internal/b/data/b.txt", "b"),
        ],
    );
    let files = go.build_files(t.path(), &["."]).unwrap().unwrap();
    assert!(
        files.contains(&"internal/b/data/b.txt".to_string()),
        "{files:?}"
    );
    assert!(!files.iter().any(|f| f.starts_with("kodata/")), "{files:?}");

    // cgo, SWIG, a go.work or a local replace: any file may be read.
    write(
        t.path(),
        &[("internal/b/b.go", "package b\nimport \"C\"\n")],
    );
    assert_eq!(go.build_files(t.path(), &["."]).unwrap(), None);
    write(
        t.path(),
        &[
            ("internal/b/b.go", "package b\nconst B = 1\n"),
            ("internal/b/b.swig", "%module b\n"),
        ],
    );
    assert_eq!(go.build_files(t.path(), &["."]).unwrap(), None);
    std::fs::remove_file(t.path().join("internal/b/b.swig")).unwrap();
    write(t.path(), &[("internal/b/b.go", "package b\nconst B = 1\n")]);
    assert!(go.build_files(t.path(), &["."]).unwrap().is_some());
    write(
        t.path(),
        &[(
            "go.mod",
            "module example.com/m\nreplace example.com/lib => ./lib\n",
        )],
    );
    assert_eq!(go.build_files(t.path(), &["."]).unwrap(), None);
}

#[test]
fn go_build_reads_the_imported_files_unless_a_flag_names_a_file() {
    let t = tempfile::tempdir().unwrap();
    write(
        t.path(),
        &[
            ("go.mod", "module m\n"),
            ("main.go", MAIN),
            ("kodata/a.txt", "a"),
        ],
    );
    let inputs = |flags: Vec<String>| {
        let mut config = crate::config::LadeConfig::default();
        config.go.flags = flags;
        let platforms = vec!["linux/amd64".parse().unwrap()];
        let out = t.path().join("out");
        let filter = crate::ignore::Filter::default();
        let project = Project {
            dir: t.path(),
            config: &config,
            platforms: &platforms,
            main: None,
            out_dir: &out,
            filter: &filter,
        };
        let plan = GoDetector.detect(&project).unwrap().unwrap();
        plan.targets[0].steps[0].inputs[0].clone()
    };
    assert_eq!(
        inputs(vec![]),
        crate::plan::StepInput::Files {
            root: t.path().into(),
            paths: ["go.mod", "go.sum", "main.go", "vendor/modules.txt"]
                .map(String::from)
                .to_vec(),
        }
    );
    assert!(matches!(
        inputs(vec!["-overlay=overlay.json".into()]),
        crate::plan::StepInput::Tree { .. }
    ));
}
