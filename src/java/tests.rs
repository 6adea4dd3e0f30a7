//! Unit tests for `lade::java`: fixtures are small jars written with the zip writer (or the
//! JDK's `jar` tool) and class files made of crafted bytes (or compiled by `javac`).

use super::classfile::{java_release, major_version, max_major};
use super::jar::{
    BootLayer, Manifest, assign_layer, boot_layers, is_spring_boot, parse_layers_index,
    parse_manifest, read_manifest,
};
use super::layout::{argfile_quote, percent_decode};
use super::{JavaError, LayoutInput, LayoutReport, LayoutRequest, write_layout};
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use zip::write::SimpleFileOptions;

/// A class file header for `major`, padded like a real (tiny) class.
fn class(major: u16) -> Vec<u8> {
    let mut bytes = vec![0xCA, 0xFE, 0xBA, 0xBE, 0, 0];
    bytes.extend_from_slice(&major.to_be_bytes());
    bytes.extend_from_slice(&[0; 24]);
    bytes
}

/// Writes a jar; names ending in `/` become directory entries.
fn write_jar(path: &Path, entries: &[(&str, &[u8])]) {
    if let Some(parent) = path.parent() {
        fs::create_dir_all(parent).unwrap();
    }
    let mut zip = zip::ZipWriter::new(fs::File::create(path).unwrap());
    let options = SimpleFileOptions::default();
    for (name, bytes) in entries {
        if name.ends_with('/') {
            zip.add_directory(*name, options).unwrap();
        } else {
            zip.start_file(*name, options).unwrap();
            zip.write_all(bytes).unwrap();
        }
    }
    zip.finish().unwrap();
}

fn write_file(path: &Path, bytes: &[u8]) {
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    fs::write(path, bytes).unwrap();
}

/// Every file under `dir`, relative and sorted (directories end in `/` when empty).
fn tree(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    for entry in walkdir::WalkDir::new(dir).min_depth(1).sort_by_file_name() {
        let entry = entry.unwrap();
        let rel = entry
            .path()
            .strip_prefix(dir)
            .unwrap()
            .to_str()
            .unwrap()
            .to_string();
        if entry.file_type().is_dir() {
            if fs::read_dir(entry.path()).unwrap().next().is_none() {
                out.push(format!("{rel}/"));
            }
        } else {
            out.push(rel);
        }
    }
    out
}

fn read(path: &Path) -> String {
    fs::read_to_string(path).unwrap()
}

fn sha8(path: &Path) -> String {
    let (digest, _) = crate::digest::digest_reader(fs::File::open(path).unwrap()).unwrap();
    digest.hex()[..8].to_string()
}

fn request(out: &Path, input: LayoutInput, main: Option<&str>) -> LayoutRequest {
    LayoutRequest {
        out: out.to_path_buf(),
        input,
        main_class: main.map(str::to_string),
    }
}

const MANIFEST: &str = "Manifest-Version: 1.0\r\n\
Main-Class: com.example.Main\r\n\
Class-Path: lib/a-1.0.jar lib/b-2.0-SNAPSHOT.jar lib/very-long-na\r\n \
me-3.0.jar\r\n\
\r\n\
Name: com/example/\r\n\
Main-Class: not.This\r\n";

#[test]
fn manifest_joins_continuation_lines_and_reads_only_the_main_section() {
    let manifest = parse_manifest(MANIFEST);
    assert_eq!(
        manifest,
        Manifest {
            main_class: Some("com.example.Main".into()),
            class_path: vec![
                "lib/a-1.0.jar".into(),
                "lib/b-2.0-SNAPSHOT.jar".into(),
                "lib/very-long-name-3.0.jar".into(),
            ],
            ..Manifest::default()
        }
    );
    let boot = parse_manifest(
        "main-class: org.springframework.boot.loader.launch.JarLauncher\n\
         Start-Class: com.example.App\n\
         Spring-Boot-Classes: BOOT-INF/classes/\n\
         Spring-Boot-Lib: BOOT-INF/lib/\n\
         Spring-Boot-Layers-Index: BOOT-INF/laye\n rs.idx\n",
    );
    assert_eq!(
        boot.main_class.as_deref(),
        Some("org.springframework.boot.loader.launch.JarLauncher")
    );
    assert_eq!(boot.start_class.as_deref(), Some("com.example.App"));
    assert_eq!(boot.boot_classes.as_deref(), Some("BOOT-INF/classes/"));
    assert_eq!(boot.boot_lib.as_deref(), Some("BOOT-INF/lib/"));
    assert_eq!(boot.layers_index.as_deref(), Some("BOOT-INF/layers.idx"));
}

#[test]
fn read_manifest_from_jar_and_directory() {
    let tmp = tempfile::tempdir().unwrap();
    let with = tmp.path().join("with.jar");
    write_jar(&with, &[("META-INF/MANIFEST.MF", MANIFEST.as_bytes())]);
    let without = tmp.path().join("without.jar");
    write_jar(&without, &[("a/B.class", &class(61))]);
    let dir = tmp.path().join("exploded");
    write_file(&dir.join("META-INF/MANIFEST.MF"), b"Main-Class: x.Y\n");

    let manifest = read_manifest(&with).unwrap().unwrap();
    assert_eq!(manifest.main_class.as_deref(), Some("com.example.Main"));
    assert_eq!(manifest.class_path.len(), 3);
    assert_eq!(read_manifest(&without).unwrap(), None);
    assert_eq!(
        read_manifest(&dir).unwrap().unwrap().main_class.as_deref(),
        Some("x.Y")
    );
    let err = read_manifest(&tmp.path().join("missing.jar")).unwrap_err();
    assert!(err.to_string().contains("missing.jar"), "{err}");
}

const INDEX: &str = r#"- "dependencies":
  - "BOOT-INF/lib/commons-lang3-3.12.0.jar"
- "spring-boot-loader":
  - "org/"
- "snapshot-dependencies":
- "application":
  - "BOOT-INF/classes/"
  - "BOOT-INF/classpath.idx"
  - "BOOT-INF/layers.idx"
  - "META-INF/"
"#;

#[test]
fn layers_index_parses_and_the_first_matching_layer_wins() {
    let layers = parse_layers_index(INDEX, "test.idx").unwrap();
    let names: Vec<&str> = layers.iter().map(|l| l.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "dependencies",
            "spring-boot-loader",
            "snapshot-dependencies",
            "application"
        ]
    );
    assert_eq!(layers[0].entries, ["BOOT-INF/lib/commons-lang3-3.12.0.jar"]);
    assert!(layers[2].entries.is_empty());
    assert_eq!(layers[3].entries.len(), 4);

    assert_eq!(
        assign_layer(&layers, "BOOT-INF/lib/commons-lang3-3.12.0.jar"),
        0
    );
    // An exact path does not act as a prefix.
    assert_eq!(
        assign_layer(&layers, "BOOT-INF/lib/commons-lang3-3.12.0.jar.sha1"),
        3
    );
    assert_eq!(
        assign_layer(&layers, "org/springframework/boot/loader/A.class"),
        1
    );
    assert_eq!(
        assign_layer(&layers, "BOOT-INF/classes/com/example/App.class"),
        3
    );
    // Matched by nobody: the last layer.
    assert_eq!(assign_layer(&layers, "BOOT-INF/lib/other-1.0.jar"), 3);

    // When two layers claim a path, the first listed wins.
    let overlapping = vec![
        BootLayer {
            name: "a".into(),
            entries: vec!["x/y.txt".into()],
        },
        BootLayer {
            name: "b".into(),
            entries: vec!["x/".into()],
        },
        BootLayer {
            name: "c".into(),
            entries: vec![],
        },
    ];
    assert_eq!(assign_layer(&overlapping, "x/y.txt"), 0);
    assert_eq!(assign_layer(&overlapping, "x/z.txt"), 1);
    assert_eq!(assign_layer(&overlapping, "x/"), 1);
    assert_eq!(assign_layer(&overlapping, "w.txt"), 2);
}

#[test]
fn layers_index_errors_name_the_index_and_line() {
    let err = parse_layers_index("  - \"a\"\n", "app.jar!/BOOT-INF/layers.idx").unwrap_err();
    assert_eq!(
        err.to_string(),
        "layers index app.jar!/BOOT-INF/layers.idx line 1: an entry comes before any layer"
    );
    let err = parse_layers_index("- \"a\":\nnonsense\n", "i").unwrap_err();
    assert!(
        matches!(err, JavaError::LayersIndex { line: 2, .. }),
        "{err}"
    );
    let err = parse_layers_index("- a:\n", "i").unwrap_err();
    assert!(
        matches!(err, JavaError::LayersIndex { line: 1, .. }),
        "{err}"
    );
    assert!(parse_layers_index("\n", "i").is_err());
}

fn boot_entries(with_index: bool) -> Vec<(&'static str, Vec<u8>)> {
    let mut entries: Vec<(&str, Vec<u8>)> = vec![
        (
            "META-INF/MANIFEST.MF",
            b"Manifest-Version: 1.0\n\
Main-Class: org.springframework.boot.loader.launch.JarLauncher\n\
Start-Class: com.example.App\n\
Spring-Boot-Classes: BOOT-INF/classes/\n\
Spring-Boot-Lib: BOOT-INF/lib/\n"
                .to_vec(),
        ),
        ("org/", vec![]),
        (
            "org/springframework/boot/loader/launch/JarLauncher.class",
            class(52),
        ),
        ("BOOT-INF/classes/com/example/App.class", class(61)),
        ("BOOT-INF/classes/application.properties", b"a=b\n".to_vec()),
        ("BOOT-INF/lib/commons-lang3-3.12.0.jar", b"jar1".to_vec()),
        ("BOOT-INF/lib/mine-1.0-SNAPSHOT.jar", b"jar2".to_vec()),
        ("BOOT-INF/classpath.idx", b"- \"x\"\n".to_vec()),
    ];
    if with_index {
        entries[0]
            .1
            .extend_from_slice(b"Spring-Boot-Layers-Index: BOOT-INF/layers.idx\n");
        entries.push(("BOOT-INF/layers.idx", INDEX.as_bytes().to_vec()));
    }
    entries
}

fn write_boot_jar(path: &Path, with_index: bool) {
    let entries = boot_entries(with_index);
    let refs: Vec<(&str, &[u8])> = entries.iter().map(|(n, b)| (*n, b.as_slice())).collect();
    write_jar(path, &refs);
}

#[test]
fn default_boot_layers_without_an_index() {
    let tmp = tempfile::tempdir().unwrap();
    let jar = tmp.path().join("app.jar");
    write_boot_jar(&jar, false);
    assert!(is_spring_boot(&jar).unwrap());
    let layers = boot_layers(&jar).unwrap().unwrap();
    assert_eq!(
        layers,
        vec![
            BootLayer {
                name: "dependencies".into(),
                entries: vec!["BOOT-INF/lib/commons-lang3-3.12.0.jar".into()],
            },
            BootLayer {
                name: "spring-boot-loader".into(),
                entries: vec!["org/springframework/boot/loader/".into()],
            },
            BootLayer {
                name: "snapshot-dependencies".into(),
                entries: vec!["BOOT-INF/lib/mine-1.0-SNAPSHOT.jar".into()],
            },
            BootLayer {
                name: "application".into(),
                entries: vec![],
            },
        ]
    );

    let plain = tmp.path().join("plain.jar");
    write_jar(&plain, &[("a/B.class", &class(61))]);
    assert!(!is_spring_boot(&plain).unwrap());
    assert_eq!(boot_layers(&plain).unwrap(), None);
}

#[test]
fn spring_boot_jar_with_index_is_split_into_its_layers() {
    let tmp = tempfile::tempdir().unwrap();
    let jar = tmp.path().join("app.jar");
    write_boot_jar(&jar, true);
    let out = tmp.path().join("out");
    // A stale file from an earlier run must not survive.
    write_file(&out.join("stale.txt"), b"old");
    let report = write_layout(&request(&out, LayoutInput::Jar(jar), None)).unwrap();
    assert_eq!(
        report,
        LayoutReport {
            kind: "spring-boot".into(),
            main_class: "org.springframework.boot.loader.launch.JarLauncher".into(),
            start_class: Some("com.example.App".into()),
            bytecode_major: Some(61),
            layers: vec![
                "dependencies".into(),
                "spring-boot-loader".into(),
                "snapshot-dependencies".into(),
                "application".into()
            ],
        }
    );
    assert_eq!(
        tree(&out),
        [
            "application/BOOT-INF/classes/application.properties",
            "application/BOOT-INF/classes/com/example/App.class",
            "application/BOOT-INF/classpath.idx",
            "application/BOOT-INF/layers.idx",
            // Not in the index: falls to the last layer.
            "application/BOOT-INF/lib/mine-1.0-SNAPSHOT.jar",
            "application/META-INF/MANIFEST.MF",
            "dependencies/BOOT-INF/lib/commons-lang3-3.12.0.jar",
            "java.json",
            "snapshot-dependencies/",
            "spring-boot-loader/org/springframework/boot/loader/launch/JarLauncher.class",
        ]
    );
    assert_eq!(
        read(&out.join("dependencies/BOOT-INF/lib/commons-lang3-3.12.0.jar")),
        "jar1"
    );
    let saved: LayoutReport =
        serde_json::from_slice(&fs::read(out.join("java.json")).unwrap()).unwrap();
    assert_eq!(saved, report);
}

#[test]
fn exploded_spring_boot_dir_uses_the_default_layers() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("exploded");
    for (name, bytes) in boot_entries(false) {
        if !name.ends_with('/') {
            write_file(&dir.join(name), &bytes);
        }
    }
    // The project directory itself may be the exploded jar: lade's files are not content.
    write_file(&dir.join("lade.toml"), b"[java]\n");
    write_file(&dir.join(".git/HEAD"), b"ref: refs/heads/main\n");
    let out = tmp.path().join("out");
    let report = write_layout(&request(
        &out,
        LayoutInput::Exploded(dir),
        Some("ignored.Main"),
    ))
    .unwrap();
    assert_eq!(report.kind, "spring-boot");
    assert_eq!(report.bytecode_major, Some(61));
    assert_eq!(
        tree(&out),
        [
            "application/BOOT-INF/classes/application.properties",
            "application/BOOT-INF/classes/com/example/App.class",
            "application/BOOT-INF/classpath.idx",
            // Directories go to the layer claiming them, as Spring's own extraction does;
            // these two match no layer's entries.
            "application/BOOT-INF/lib/",
            "application/META-INF/MANIFEST.MF",
            "application/org/springframework/boot/",
            "dependencies/BOOT-INF/lib/commons-lang3-3.12.0.jar",
            "java.json",
            "snapshot-dependencies/BOOT-INF/lib/mine-1.0-SNAPSHOT.jar",
            "spring-boot-loader/org/springframework/boot/loader/launch/JarLauncher.class",
        ]
    );
}

#[test]
fn spring_boot_layer_names_must_be_directory_names() {
    let tmp = tempfile::tempdir().unwrap();
    for bad in ["..", "a/b", "java.json"] {
        let dir = tmp.path().join("exploded");
        let _ = fs::remove_dir_all(&dir);
        write_file(
            &dir.join("META-INF/MANIFEST.MF"),
            b"Main-Class: org.springframework.boot.loader.launch.JarLauncher\n",
        );
        write_file(
            &dir.join("BOOT-INF/layers.idx"),
            format!("- \"{bad}\":\n").as_bytes(),
        );
        let err = write_layout(&request(
            &tmp.path().join("out"),
            LayoutInput::Exploded(dir),
            None,
        ))
        .unwrap_err();
        assert!(
            matches!(&err, JavaError::LayerName { name, index } if name == bad && index.ends_with("BOOT-INF/layers.idx")),
            "{err}"
        );
    }
}

#[test]
fn spring_boot_launcher_must_exist() {
    let tmp = tempfile::tempdir().unwrap();
    let jar = tmp.path().join("app.jar");
    write_jar(
        &jar,
        &[
            (
                "META-INF/MANIFEST.MF",
                b"Main-Class: org.example.Launcher\n",
            ),
            ("BOOT-INF/classes/A.class", &class(61)),
        ],
    );
    let err = write_layout(&request(
        &tmp.path().join("out"),
        LayoutInput::Jar(jar),
        None,
    ))
    .unwrap_err();
    assert!(
        matches!(&err, JavaError::MainClassNotFound { class } if class == "org.example.Launcher"),
        "{err}"
    );
}

/// A plain jar with Class-Path dependencies next to it, one of them a SNAPSHOT.
fn plain_jar_fixture(root: &Path) -> PathBuf {
    let jar = root.join("dist/app.jar");
    write_jar(
        &jar,
        &[
            ("META-INF/", b""),
            (
                "META-INF/MANIFEST.MF",
                b"Main-Class: com.example.Main\nClass-Path: lib/a-1.0.jar lib/b-2.0-SNAPSHOT.jar\n",
            ),
            ("META-INF/services/java.sql.Driver", b"com.example.Driver\n"),
            ("com/example/Main.class", &class(55)),
            ("com/example/app.properties", b"x=1\n"),
        ],
    );
    write_jar(
        &root.join("dist/lib/a-1.0.jar"),
        &[("org/a/A.class", &class(52))],
    );
    write_jar(
        &root.join("dist/lib/b-2.0-SNAPSHOT.jar"),
        &[("org/b/B.class", &class(52))],
    );
    jar
}

#[test]
fn plain_jar_with_class_path_dependencies() {
    let tmp = tempfile::tempdir().unwrap();
    let jar = plain_jar_fixture(tmp.path());
    let out = tmp.path().join("out");
    let report = write_layout(&request(&out, LayoutInput::Jar(jar), None)).unwrap();
    assert_eq!(
        report,
        LayoutReport {
            kind: "classpath".into(),
            main_class: "com.example.Main".into(),
            start_class: None,
            bytecode_major: Some(55),
            layers: [
                "libs",
                "snapshot-libs",
                "project-libs",
                "resources",
                "classes"
            ]
            .map(String::from)
            .to_vec(),
        }
    );
    assert_eq!(
        tree(&out),
        [
            "classes/com/example/Main.class",
            "classpath",
            "java.json",
            "libs/a-1.0.jar",
            "project-libs/",
            "resources/META-INF/services/java.sql.Driver",
            "resources/com/example/app.properties",
            "snapshot-libs/b-2.0-SNAPSHOT.jar",
        ]
    );
    assert_eq!(
        read(&out.join("classpath")),
        "/app/resources:/app/classes:/app/libs/a-1.0.jar:/app/libs/b-2.0-SNAPSHOT.jar\n"
    );
    assert_eq!(
        fs::read(out.join("libs/a-1.0.jar")).unwrap(),
        fs::read(tmp.path().join("dist/lib/a-1.0.jar")).unwrap()
    );
}

#[test]
fn plain_jar_missing_class_path_entry_names_jar_and_entry() {
    let tmp = tempfile::tempdir().unwrap();
    let jar = plain_jar_fixture(tmp.path());
    fs::remove_file(tmp.path().join("dist/lib/b-2.0-SNAPSHOT.jar")).unwrap();
    let err = write_layout(&request(
        &tmp.path().join("out"),
        LayoutInput::Jar(jar.clone()),
        None,
    ))
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "jar {}: Class-Path entry lib/b-2.0-SNAPSHOT.jar does not exist next to the jar: put the dependency there or remove it from the manifest",
            jar.display()
        )
    );
}

#[test]
fn main_class_found_in_classes_or_a_dependency_jar_and_errors_otherwise() {
    let tmp = tempfile::tempdir().unwrap();
    let jar = plain_jar_fixture(tmp.path());
    let out = tmp.path().join("out");
    // In a dependency jar.
    let report = write_layout(&request(
        &out,
        LayoutInput::Jar(jar.clone()),
        Some("org.b.B"),
    ))
    .unwrap();
    assert_eq!(report.main_class, "org.b.B");
    // Absent.
    let err = write_layout(&request(
        &out,
        LayoutInput::Jar(jar.clone()),
        Some("com.example.Nope"),
    ))
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        "main class com.example.Nope is not in the build's classes or its classpath: set [java] main_class = \"…\" in lade.toml"
    );
    // Not a class name: refused before it is joined to a path.
    let err = write_layout(&request(
        &out,
        LayoutInput::Jar(jar),
        Some("../../etc/passwd"),
    ))
    .unwrap_err();
    assert!(matches!(err, JavaError::InvalidMainClass { .. }), "{err}");
    // None at all.
    let bare = tmp.path().join("bare.jar");
    write_jar(&bare, &[("com/example/Main.class", &class(61))]);
    let err = write_layout(&request(&out, LayoutInput::Jar(bare), None)).unwrap_err();
    assert_eq!(
        err.to_string(),
        "no main class: set [java] main_class = \"com.example.Main\" in lade.toml, or Main-Class in the jar's manifest"
    );
}

/// A Maven-like project: target/classes, a module jar under the root, and a local repository
/// outside it.
struct BuildFixture {
    _tmp: tempfile::TempDir,
    root: PathBuf,
    repo: PathBuf,
}

fn build_fixture() -> BuildFixture {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("project");
    let repo = tmp.path().join("m2");
    write_file(
        &root.join("target/classes/com/example/Main.class"),
        &class(61),
    );
    write_file(
        &root.join("target/classes/app.properties"),
        b"from classes\n",
    );
    write_file(
        &root.join("build/resources/main/app.properties"),
        b"from resources\n",
    );
    write_file(
        &root.join("build/resources/main/static/index.html"),
        b"<html>\n",
    );
    write_jar(
        &repo.join("org/lang/lang-3.12.0.jar"),
        &[("org/lang/S.class", &class(52))],
    );
    write_jar(
        &repo.join("org/snap/snap-1.0-SNAPSHOT.jar"),
        &[("org/snap/S.class", &class(52))],
    );
    write_jar(
        &root.join("module/target/module-1.0.jar"),
        &[("org/mod/M.class", &class(61))],
    );
    BuildFixture {
        root,
        repo,
        _tmp: tmp,
    }
}

#[test]
fn build_with_a_maven_style_classpath() {
    let fx = build_fixture();
    let cp = fx.root.join("target/classpath.txt");
    write_file(
        &cp,
        format!(
            "{}:{}:{}\n",
            fx.repo.join("org/lang/lang-3.12.0.jar").display(),
            fx.root.join("module/target/module-1.0.jar").display(),
            fx.repo.join("org/snap/snap-1.0-SNAPSHOT.jar").display(),
        )
        .as_bytes(),
    );
    let out = fx.root.join("target/lade-java");
    let input = LayoutInput::Build {
        project_root: fx.root.clone(),
        classes: vec![fx.root.join("target/classes")],
        classpath_file: cp,
    };
    let report = write_layout(&request(&out, input, Some("com.example.Main"))).unwrap();
    assert_eq!(report.bytecode_major, Some(61));
    assert_eq!(report.main_class, "com.example.Main");
    assert_eq!(
        tree(&out),
        [
            "classes/com/example/Main.class",
            "classpath",
            "java.json",
            "libs/lang-3.12.0.jar",
            "project-libs/module-1.0.jar",
            "resources/app.properties",
            "snapshot-libs/snap-1.0-SNAPSHOT.jar",
        ]
    );
    assert_eq!(
        read(&out.join("classpath")),
        "/app/resources:/app/classes:/app/libs/lang-3.12.0.jar:/app/libs/module-1.0.jar:/app/libs/snap-1.0-SNAPSHOT.jar\n"
    );
}

#[test]
fn build_with_a_gradle_style_classpath_listing_the_class_dirs() {
    let fx = build_fixture();
    // A module's class directory on the classpath is merged like the project's classes.
    write_file(
        &fx.root.join("lib/build/classes/java/main/org/lib/L.class"),
        &class(61),
    );
    write_file(&fx.root.join("lib/build/resources/main/lib.txt"), b"lib\n");
    let cp = fx.root.join("build/lade-classpath.txt");
    write_file(
        &cp,
        format!(
            "target/classes\n{}\n\n{}\n{}\n  \n",
            fx.root.join("build/resources/main/").display(),
            fx.root.join("lib/build/classes/java/main").display(),
            fx.repo.join("org/lang/lang-3.12.0.jar").display(),
        )
        .as_bytes(),
    );
    let out = fx.root.join("build/lade-java");
    let input = LayoutInput::Build {
        project_root: fx.root.clone(),
        classes: vec![
            PathBuf::from("target/classes"),
            fx.root.join("build/resources/main"),
            // Gradle only creates it when there are such classes.
            fx.root.join("build/classes/kotlin/main"),
        ],
        classpath_file: cp,
    };
    write_layout(&request(&out, input, Some("org.lib.L"))).unwrap();
    assert_eq!(
        tree(&out),
        [
            "classes/com/example/Main.class",
            "classes/org/lib/L.class",
            "classpath",
            "java.json",
            "libs/lang-3.12.0.jar",
            "project-libs/",
            "resources/app.properties",
            "resources/static/index.html",
            "snapshot-libs/",
        ]
    );
    // The first class directory wins a shared path.
    assert_eq!(
        read(&out.join("resources/app.properties")),
        "from classes\n"
    );
    assert_eq!(
        read(&out.join("classpath")),
        "/app/resources:/app/classes:/app/libs/lang-3.12.0.jar\n"
    );
    // lib.txt lives in a directory that is not on the classpath.
    assert!(!out.join("resources/lib.txt").exists());
}

#[test]
fn duplicate_jar_names_get_a_hash_suffix() {
    let fx = build_fixture();
    let a = fx.repo.join("one/util-1.0.jar");
    let b = fx.repo.join("two/util-1.0.jar");
    write_jar(&a, &[("one/U.class", &class(52))]);
    write_jar(&b, &[("two/U.class", &class(52))]);
    let cp = fx.root.join("cp.txt");
    // The same jar twice is one entry; a second jar of that name gets a suffix.
    write_file(
        &cp,
        format!("{}:{}:{}", a.display(), a.display(), b.display()).as_bytes(),
    );
    let out = fx.root.join("out");
    let input = LayoutInput::Build {
        project_root: fx.root.clone(),
        classes: vec![fx.root.join("target/classes")],
        classpath_file: cp,
    };
    write_layout(&request(&out, input, Some("two.U"))).unwrap();
    let renamed = format!("util-1.0-{}.jar", sha8(&b));
    assert_eq!(tree(&out.join("libs")), {
        let mut names = vec!["util-1.0.jar".to_string(), renamed.clone()];
        names.sort();
        names
    });
    assert_eq!(
        fs::read(out.join("libs").join(&renamed)).unwrap(),
        fs::read(&b).unwrap()
    );
    assert_eq!(
        read(&out.join("classpath")),
        format!("/app/resources:/app/classes:/app/libs/util-1.0.jar:/app/libs/{renamed}\n")
    );
}

#[test]
fn missing_classpath_entry_names_the_entry_and_the_file() {
    let fx = build_fixture();
    let cp = fx.root.join("cp.txt");
    let gone = fx.repo.join("gone-1.0.jar");
    write_file(&cp, format!("{}\n", gone.display()).as_bytes());
    let input = LayoutInput::Build {
        project_root: fx.root.clone(),
        classes: vec![fx.root.join("target/classes")],
        classpath_file: cp.clone(),
    };
    let err = write_layout(&request(
        &fx.root.join("out"),
        input,
        Some("com.example.Main"),
    ))
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "classpath entry {} listed in {} does not exist: run the build (and its dependency resolution) before packaging",
            gone.display(),
            cp.display()
        )
    );
}

#[test]
fn zip_slip_entries_are_rejected() {
    let tmp = tempfile::tempdir().unwrap();
    for evil in [
        "../evil.txt",
        "a/../../evil.txt",
        "/etc/evil.txt",
        "a\\..\\..\\evil.txt",
    ] {
        let jar = tmp.path().join("evil.jar");
        write_jar(
            &jar,
            &[
                ("META-INF/MANIFEST.MF", b"Main-Class: A\n"),
                ("A.class", &class(61)),
                (evil, b"x"),
            ],
        );
        let out = tmp.path().join("out");
        let err = write_layout(&request(&out, LayoutInput::Jar(jar.clone()), None)).unwrap_err();
        assert!(
            matches!(&err, JavaError::UnsafeEntry { jar: j, entry } if j == &jar && entry == evil),
            "{evil}: {err}"
        );
        assert!(!tmp.path().join("evil.txt").exists());
        assert!(err.to_string().contains(evil), "{err}");
    }
}

#[test]
fn symlink_entries_are_rejected() {
    let tmp = tempfile::tempdir().unwrap();
    let jar = tmp.path().join("link.jar");
    let mut zip = zip::ZipWriter::new(fs::File::create(&jar).unwrap());
    zip.start_file("A.class", SimpleFileOptions::default())
        .unwrap();
    zip.write_all(&class(61)).unwrap();
    zip.add_symlink("passwd", "/etc/passwd", SimpleFileOptions::default())
        .unwrap();
    zip.finish().unwrap();
    let err = write_layout(&request(
        &tmp.path().join("out"),
        LayoutInput::Jar(jar),
        Some("A"),
    ))
    .unwrap_err();
    assert!(
        matches!(&err, JavaError::Symlink { entry, .. } if entry == "passwd"),
        "{err}"
    );
}

#[test]
fn class_file_versions() {
    assert_eq!(major_version(&class(61)), Some(61));
    assert_eq!(major_version(&class(61)[..7]), None);
    assert_eq!(major_version(b"PK\x03\x04\0\0\0\x3d"), None);
    // Mach-O universal binary: same magic, a small architecture count.
    assert_eq!(major_version(&[0xCA, 0xFE, 0xBA, 0xBE, 0, 0, 0, 2]), None);
    assert_eq!(java_release(52), 8);
    assert_eq!(java_release(61), 17);
    assert_eq!(java_release(65), 21);
}

#[test]
fn max_major_over_a_directory_and_a_jar() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("classes");
    write_file(&dir.join("a/A.class"), &class(52));
    write_file(&dir.join("b/c/C.class"), &class(65));
    write_file(&dir.join("b/readme.txt"), b"not a class");
    write_file(&dir.join("bogus.class"), b"not a class");
    assert_eq!(max_major(&dir).unwrap(), Some(65));

    let jar = tmp.path().join("lib.jar");
    write_jar(
        &jar,
        &[
            ("a/A.class", &class(55)),
            ("b/B.class", &class(61)),
            // Multi-release classes target newer releases on purpose.
            ("META-INF/versions/21/b/B.class", &class(65)),
        ],
    );
    assert_eq!(max_major(&jar).unwrap(), Some(61));

    let empty = tmp.path().join("empty");
    write_file(&empty.join("x.txt"), b"x");
    assert_eq!(max_major(&empty).unwrap(), None);
}

fn run(cmd: &mut Command) {
    let status = cmd
        .status()
        .unwrap_or_else(|e| panic!("running {cmd:?} (the JDK must be installed): {e}"));
    assert!(status.success(), "{cmd:?} failed");
}

/// Real tools: javac output and a jar written by the JDK's `jar`.
#[test]
fn jdk_built_jar_lays_out_and_reports_its_release() {
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("src/com/example/Main.java");
    write_file(
        &src,
        b"package com.example; public class Main { public static void main(String[] a) { System.out.println(\"hi\"); } }\n",
    );
    let classes = tmp.path().join("classes");
    run(Command::new("javac")
        .args(["--release", "17", "-d"])
        .arg(&classes)
        .arg(&src));
    write_file(
        &classes.join("com/example/messages.properties"),
        b"hello=hi\n",
    );
    assert_eq!(max_major(&classes).unwrap(), Some(61));
    let jar = tmp.path().join("app.jar");
    run(Command::new("jar")
        .args(["--create", "--file"])
        .arg(&jar)
        .args(["--main-class", "com.example.Main", "-C"])
        .arg(&classes)
        .arg("."));
    assert_eq!(
        read_manifest(&jar).unwrap().unwrap().main_class.as_deref(),
        Some("com.example.Main")
    );
    let out = tmp.path().join("out");
    let report = write_layout(&request(&out, LayoutInput::Jar(jar), None)).unwrap();
    assert_eq!(report.bytecode_major, Some(61));
    assert_eq!(
        tree(&out),
        [
            "classes/com/example/Main.class",
            "classpath",
            "java.json",
            "libs/",
            "project-libs/",
            "resources/com/example/messages.properties",
            "snapshot-libs/",
        ]
    );
    assert_eq!(
        read(&out.join("classpath")),
        "/app/resources:/app/classes\n"
    );
    // The laid-out classes run.
    let output = Command::new("java")
        .arg("-cp")
        .arg(format!(
            "{}:{}",
            out.join("resources").display(),
            out.join("classes").display()
        ))
        .arg("com.example.Main")
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&output.stdout), "hi\n");

    // The argument file's quoting, checked by the java launcher itself: a class path through a
    // directory with a space, given as `-cp @file` as the image's entrypoint does.
    let spaced = tmp.path().join("with space");
    fs::create_dir_all(&spaced).unwrap();
    fs::rename(out.join("classes"), spaced.join("classes")).unwrap();
    let line = argfile_quote(&format!(
        "{}:{}",
        out.join("resources").display(),
        spaced.join("classes").display()
    ));
    assert!(line.starts_with('"'), "{line}");
    let argfile = tmp.path().join("classpath");
    fs::write(&argfile, format!("{line}\n")).unwrap();
    let output = Command::new("java")
        .arg("-cp")
        .arg(format!("@{}", argfile.display()))
        .arg("com.example.Main")
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&output.stdout),
        "hi\n",
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

#[test]
fn argfile_quotes_only_when_needed_and_class_path_urls_decode() {
    assert_eq!(argfile_quote("/app/a:/app/b.jar"), "/app/a:/app/b.jar");
    assert_eq!(argfile_quote("/app/my lib.jar"), "\"/app/my lib.jar\"");
    assert_eq!(argfile_quote("/app/a\\b\"c"), "\"/app/a\\\\b\\\"c\"");
    assert_eq!(percent_decode("my%20lib.jar"), "my lib.jar");
    assert_eq!(percent_decode("100%.jar"), "100%.jar");
    assert_eq!(percent_decode("%é%4"), "%é%4");
}

#[test]
fn spring_boot_jar_without_launcher_says_how_to_build_it() {
    let tmp = tempfile::tempdir().unwrap();
    let jar = tmp.path().join("boot.jar");
    write_jar(&jar, &[("BOOT-INF/classes/A.class", &class(61))]);
    let err = write_layout(&request(
        &tmp.path().join("out"),
        LayoutInput::Jar(jar.clone()),
        Some("A"),
    ))
    .unwrap_err();
    assert!(
        matches!(&err, JavaError::NoBootLauncher { jar: j } if j == &jar),
        "{err}"
    );
}

#[test]
fn plain_exploded_dir_resolves_class_path_next_to_the_directory() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("dist/app");
    write_file(
        &dir.join("META-INF/MANIFEST.MF"),
        b"Main-Class: com.example.Main\nClass-Path: lib/my%20dep-1.0.jar\n",
    );
    write_file(&dir.join("com/example/Main.class"), &class(52));
    write_file(&dir.join("META-INF/services/x.Y"), b"x.Z\n");
    write_jar(
        &tmp.path().join("dist/lib/my dep-1.0.jar"),
        &[("d/D.class", &class(52))],
    );
    let out = tmp.path().join("out");
    let report = write_layout(&request(&out, LayoutInput::Exploded(dir), None)).unwrap();
    assert_eq!(report.kind, "classpath");
    assert_eq!(report.bytecode_major, Some(52));
    assert_eq!(
        tree(&out),
        [
            "classes/com/example/Main.class",
            "classpath",
            "java.json",
            "libs/my dep-1.0.jar",
            "project-libs/",
            "resources/META-INF/services/x.Y",
            "snapshot-libs/",
        ]
    );
    assert_eq!(
        read(&out.join("classpath")),
        "\"/app/resources:/app/classes:/app/libs/my dep-1.0.jar\"\n"
    );
}
