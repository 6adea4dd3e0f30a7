//! Java projects published on a Java 17 base that lade builds from Debian packages
//! (support/java_base.rs), then run under runc: the Maven example (five layers, a class
//! change that touches only the classes layer, reproducible builds), the Gradle example, a
//! Spring Boot fat jar and its exploded directory (support/boot_jar.rs), and the errors for a
//! compile error, an unknown main class and bytecode newer than the base's Java.
//!
//! Maven and Gradle build offline from Debian's /usr/share/maven-repo (the examples'
//! `.mvn/settings.xml` and `build.gradle` say so): each build costs seconds, so the tests
//! share builds between their checks.

use crate::support::TestEnv;
use crate::support::arm64::{Arm64, EM_AARCH64, arm64_support, elf_machine};
use crate::support::boot_jar::{self, LAUNCHER, RESOURCE_TEXT, ROOT_TEXT};
use crate::support::env::{copy_tree, repo_root, write_file};
use crate::support::http;
use crate::support::java_base::{JAVA_RELEASE, TAG, java_base};
use crate::support::lade::{LadeRun, root_digest};
use crate::support::layout::{self, Layout, PlatformImage, TarEntry};
use crate::support::registry::{Registry, skopeo_raw};
use crate::support::runc::Container;
use crate::support::tools::{run_ok, tool};
use serde_json::json;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

/// The layers of a classpath image (Maven, Gradle, a plain jar) without snapshot or module
/// dependencies, in order: the layers for those come out empty and are left out, as Jib does.
const CLASSPATH_LAYERS: &[&str] = &["dependencies", "resources", "classes"];
const MAVEN_ROOT_TEXT: &str = "Hello from maven commons-lang3\n";
const MAVEN_RESOURCE_TEXT: &str = "served from a classpath resource\n";

fn publish_with(env: &TestEnv, cache: Option<&Path>, project: &Path, out: &Path) -> LadeRun {
    let lade = match cache {
        Some(c) => env.lade_with_cache(c),
        None => env.lade(),
    };
    lade.arg("publish")
        .arg("-C")
        .arg(project)
        .args(["--platform", "linux/amd64", "--json", "--base"])
        .arg(java_base())
        .arg("--to")
        .arg(format!("oci:{}:v1", out.display()))
        .run()
}

fn publish(env: &TestEnv, project: &Path, out: &Path) -> LadeRun {
    publish_with(env, None, project, out)
}

/// The shared base's layer digests.
fn base_layers(arch: &str) -> Vec<String> {
    let reference = java_base();
    let (dir, tag) = reference
        .strip_prefix("oci:")
        .and_then(|r| r.rsplit_once(':'))
        .unwrap_or_else(|| panic!("unexpected base reference {reference}"));
    assert_eq!(tag, TAG);
    Layout::open(Path::new(dir))
        .image(tag, arch)
        .layer_digests()
}

/// The layers lade added on top of the base, as (name from the history comment
/// `lade layer 'NAME'`, digest), after checking the image starts with the base's layers.
fn app_layers(img: &PlatformImage) -> Vec<(String, String)> {
    let digests = img.layer_digests();
    let history: Vec<&serde_json::Value> = img.config["history"]
        .as_array()
        .expect("config has history")
        .iter()
        .filter(|h| h["empty_layer"] != true)
        .collect();
    assert_eq!(
        history.len(),
        digests.len(),
        "one history entry per layer: {history:?}"
    );
    let base = base_layers(img.architecture());
    assert_eq!(
        digests[..base.len()],
        base[..],
        "the image starts with the --base layers"
    );
    history[base.len()..]
        .iter()
        .zip(&digests[base.len()..])
        .map(|(h, d)| {
            let comment = h["comment"].as_str().unwrap_or("");
            let name = comment
                .strip_prefix("lade layer '")
                .and_then(|c| c.strip_suffix('\''))
                .unwrap_or_else(|| panic!("history comment {comment:?} names no lade layer"));
            (name.to_string(), d.clone())
        })
        .collect()
}

fn names(layers: &[(String, String)]) -> Vec<&str> {
    layers.iter().map(|(n, _)| n.as_str()).collect()
}

/// The entries of the layer named `name`.
fn layer(l: &Layout, layers: &[(String, String)], name: &str) -> Vec<TarEntry> {
    let (_, digest) = layers
        .iter()
        .find(|(n, _)| n == name)
        .unwrap_or_else(|| panic!("no layer {name:?} in {:?}", names(layers)));
    l.layer_entries(digest)
}

/// The regular files of a layer, sorted.
fn files(entries: &[TarEntry]) -> Vec<&str> {
    let mut f: Vec<&str> = entries
        .iter()
        .filter(|e| e.kind.is_file())
        .map(|e| e.path.as_str())
        .collect();
    f.sort_unstable();
    f
}

/// Validates and unpacks the amd64 image; returns the bundle.
fn unpack(env: &TestEnv, l: &Layout, img: &PlatformImage, label: &str) -> PathBuf {
    let single = l.extract(img, &env.path(&format!("single-{label}")), "amd64");
    layout::validate(&single.dir, "amd64");
    let bundle = env.path(&format!("bundle-{label}"));
    layout::unpack(&single.dir, "amd64", &bundle);
    bundle
}

/// Runs the bundle under runc and returns the bodies of `GET /` and `GET /resource`.
fn serve(bundle: &Path) -> (String, String) {
    let c = Container::start(bundle);
    let get = |path: &str| {
        let r = c.get(path);
        assert_eq!(r.status, 200, "GET {path}: {}\n{}", r.body, c.log());
        r.body
    };
    (get("/"), get("/resource"))
}

fn classpath_entrypoint(main_class: &str) -> serde_json::Value {
    json!([
        "java",
        "-XX:MaxRAMPercentage=75",
        "-cp",
        "@/app/classpath",
        main_class
    ])
}

#[test]
fn maven_example_runs_rebuilds_only_the_classes_layer_and_is_reproducible() {
    let env = TestEnv::new();
    let p = env.copy_example("java-maven", "java-maven");
    let out = env.path("out");
    let first = publish(&env, &p, &out).success();
    let l = Layout::open(&out);
    l.verify_blobs();
    let img = l.image("v1", "amd64");
    let layers = app_layers(&img);
    assert_eq!(names(&layers), CLASSPATH_LAYERS);
    assert_eq!(img.cfg("WorkingDir"), "/app");
    assert_eq!(img.cfg("User"), "65532");
    assert_eq!(
        img.cfg("Entrypoint"),
        &classpath_entrypoint("com.example.Server")
    );

    let deps = layer(&l, &layers, "dependencies");
    assert_eq!(
        files(&deps),
        ["app/classpath", "app/libs/commons-lang3-3.12.0.jar"],
        "release dependencies and the argfile"
    );
    let classpath = layout::find_entry(&deps, "app/classpath");
    assert_eq!(
        String::from_utf8_lossy(&classpath.data).trim_end_matches('\n'),
        "/app/resources:/app/classes:/app/libs/commons-lang3-3.12.0.jar"
    );
    let jar = layout::find_entry(&deps, "app/libs/commons-lang3-3.12.0.jar");
    assert_eq!(
        jar.data,
        fs::read(boot_jar::COMMONS_LANG3).unwrap(),
        "the jar Maven resolved"
    );
    let plan = env.lade().args(["plan", "-C"]).arg(&p).run().success();
    for empty in ["snapshot dependencies", "project dependencies"] {
        assert!(
            plan.stdout.contains(&format!("layer   {empty}")),
            "the plan has a layer for {empty}, left out of the image when empty:\n{}",
            plan.stdout
        );
    }
    let resources = layer(&l, &layers, "resources");
    assert_eq!(files(&resources), ["app/resources/greeting.txt"]);
    assert_eq!(
        layout::find_entry(&resources, "app/resources/greeting.txt").data,
        MAVEN_RESOURCE_TEXT.as_bytes()
    );
    let classes = layer(&l, &layers, "classes");
    assert_eq!(files(&classes), ["app/classes/com/example/Server.class"]);

    let bundle = unpack(&env, &l, &img, "first");
    assert_eq!(
        serve(&bundle),
        (MAVEN_ROOT_TEXT.to_string(), MAVEN_RESOURCE_TEXT.to_string())
    );
    assert!(!p.join("target").exists(), "lade builds in a copy");

    // Another copy at another path, with a fresh cache: Maven builds again, same image.
    let other = env.copy_example("java-maven", "elsewhere/java-maven");
    let again =
        publish_with(&env, Some(&env.path("cache-b")), &other, &env.path("out-b")).success();
    assert_eq!(
        root_digest(&again.json()),
        root_digest(&first.json()),
        "two paths, two caches, one digest"
    );

    // One string literal changed: only the classes layer changes.
    let src = p.join("src/main/java/com/example/Server.java");
    let text = fs::read_to_string(&src).unwrap();
    assert!(text.contains("\"hello from maven\""));
    write_file(
        &src,
        &text.replace("\"hello from maven\"", "\"hello again from maven\""),
    );
    let out_c = env.path("out-c");
    publish(&env, &p, &out_c).success();
    let lc = Layout::open(&out_c);
    let img_c = lc.image("v1", "amd64");
    let changed = app_layers(&img_c);
    assert_eq!(names(&changed), CLASSPATH_LAYERS);
    for ((name, before), (_, after)) in layers.iter().zip(&changed) {
        if name == "classes" {
            assert_ne!(before, after, "the classes layer changed");
        } else {
            assert_eq!(before, after, "the {name} layer is unchanged");
        }
    }
    let bundle = unpack(&env, &lc, &img_c, "changed");
    assert_eq!(serve(&bundle).0, "Hello again from maven commons-lang3\n");
}

#[test]
fn gradle_example_runs() {
    let env = TestEnv::new();
    let p = env.copy_example("java-gradle", "java-gradle");
    let out = env.path("out");
    publish(&env, &p, &out).success();
    let l = Layout::open(&out);
    let img = l.image("v1", "amd64");
    let layers = app_layers(&img);
    assert_eq!(names(&layers), CLASSPATH_LAYERS);
    assert_eq!(
        img.cfg("Entrypoint"),
        &classpath_entrypoint("com.example.App")
    );
    assert_eq!(
        files(&layer(&l, &layers, "classes")),
        ["app/classes/com/example/App.class"]
    );
    assert!(
        files(&layer(&l, &layers, "dependencies")).contains(&"app/libs/commons-lang3-3.12.0.jar")
    );
    let bundle = unpack(&env, &l, &img, "gradle");
    assert_eq!(
        serve(&bundle),
        (
            "Hello from gradle commons-lang3\n".to_string(),
            "served from a gradle resource\n".to_string()
        )
    );
    assert!(!p.join("build").exists(), "lade builds in a copy");
}

/// A multi-module Maven build (tests/fixtures/java/maven-multi, `[java] module = "app"`): the
/// sibling module's jar, from Maven's reactor, is the project-dependencies layer. Maven builds
/// it with fixed entry times, so a second build elsewhere gives the same image; a change in the
/// module changes that layer only.
#[test]
fn maven_modules_are_the_project_dependencies_layer() {
    let env = TestEnv::new();
    let p = env.path("multi");
    copy_tree(&repo_root().join("tests/fixtures/java/maven-multi"), &p);
    let out = env.path("out");
    let first = publish(&env, &p, &out).success();
    let l = Layout::open(&out);
    let img = l.image("v1", "amd64");
    let layers = app_layers(&img);
    assert_eq!(
        names(&layers),
        ["dependencies", "project dependencies", "classes"]
    );
    assert_eq!(
        img.cfg("Entrypoint"),
        &classpath_entrypoint("com.example.app.Main")
    );
    let deps = layer(&l, &layers, "dependencies");
    assert_eq!(
        String::from_utf8_lossy(&layout::find_entry(&deps, "app/classpath").data).trim_end(),
        "/app/resources:/app/classes:/app/libs/lib-1.0.0.jar:/app/libs/commons-lang3-3.12.0.jar",
        "the classpath in Maven's order"
    );
    assert_eq!(
        files(&layer(&l, &layers, "project dependencies")),
        ["app/libs/lib-1.0.0.jar"]
    );
    assert_eq!(
        files(&layer(&l, &layers, "classes")),
        ["app/classes/com/example/app/Main.class"]
    );
    let c = Container::start(&unpack(&env, &l, &img, "multi"));
    assert_eq!(c.get("/").body, "Greetings from the lib module\n");
    drop(c);

    let other = env.path("elsewhere/multi");
    copy_tree(&repo_root().join("tests/fixtures/java/maven-multi"), &other);
    let again =
        publish_with(&env, Some(&env.path("cache-2")), &other, &env.path("out-2")).success();
    assert_eq!(
        root_digest(&again.json()),
        root_digest(&first.json()),
        "the module jar Maven built again is byte-identical"
    );

    let lib = p.join("lib/src/main/java/com/example/lib/Greeting.java");
    let text = fs::read_to_string(&lib).unwrap();
    fs::write(
        &lib,
        text.replace("greetings from", "changed greetings from"),
    )
    .unwrap();
    let out_c = env.path("out-changed");
    publish(&env, &p, &out_c).success();
    let lc = Layout::open(&out_c);
    let img_c = lc.image("v1", "amd64");
    let changed = app_layers(&img_c);
    for ((name, before), (_, after)) in layers.iter().zip(&changed) {
        if name == "project dependencies" {
            assert_ne!(before, after, "the module's layer changed");
        } else {
            assert_eq!(before, after, "the {name} layer is unchanged");
        }
    }
    let c = Container::start(&unpack(&env, &lc, &img_c, "multi-changed"));
    assert_eq!(c.get("/").body, "Changed greetings from the lib module\n");
}

/// A Gradle multi-project build (tests/fixtures/java/gradle-multi, `[java] module = ":app"`):
/// the runtime classpath from lade's init script puts the sibling project's jar in the
/// project-dependencies layer; lade's init script makes Gradle's jars reproducible, so a second
/// build elsewhere gives the same image.
#[test]
fn gradle_projects_are_the_project_dependencies_layer() {
    let env = TestEnv::new();
    let fixture = repo_root().join("tests/fixtures/java/gradle-multi");
    let p = env.path("gradle-multi");
    copy_tree(&fixture, &p);
    let out = env.path("out");
    let first = publish(&env, &p, &out).success();
    let l = Layout::open(&out);
    let img = l.image("v1", "amd64");
    let layers = app_layers(&img);
    assert_eq!(
        names(&layers),
        ["dependencies", "project dependencies", "classes"]
    );
    assert_eq!(
        img.cfg("Entrypoint"),
        &classpath_entrypoint("com.example.app.Main")
    );
    assert_eq!(
        files(&layer(&l, &layers, "project dependencies")),
        ["app/libs/lib-1.0.0.jar"]
    );
    let deps = layer(&l, &layers, "dependencies");
    assert_eq!(
        String::from_utf8_lossy(&layout::find_entry(&deps, "app/classpath").data).trim_end(),
        "/app/resources:/app/classes:/app/libs/lib-1.0.0.jar:/app/libs/commons-lang3-3.12.0.jar"
    );
    let c = Container::start(&unpack(&env, &l, &img, "gradle-multi"));
    assert_eq!(c.get("/").body, "Greetings from the gradle lib project\n");
    drop(c);

    let other = env.path("elsewhere/gradle-multi");
    copy_tree(&fixture, &other);
    let again =
        publish_with(&env, Some(&env.path("cache-2")), &other, &env.path("out-2")).success();
    assert_eq!(
        root_digest(&again.json()),
        root_digest(&first.json()),
        "Gradle's project jar is byte-identical when built again"
    );
}

/// A plain prebuilt jar and no build file (`target/server.jar`, found by detection): its
/// classes and resources are exploded into their layers, the jars its manifest's Class-Path
/// names become the dependencies layer, and the image serves.
#[test]
fn plain_prebuilt_jar_with_class_path_dependencies_runs() {
    let env = TestEnv::new();
    let example = repo_root().join("examples/java-maven/src/main");
    let classes = env.path("classes");
    run_ok(
        tool("javac")
            .args(["--release", "17", "-d"])
            .arg(&classes)
            .arg("-cp")
            .arg(boot_jar::COMMONS_LANG3)
            .arg(example.join("java/com/example/Server.java")),
    );
    fs::copy(
        example.join("resources/greeting.txt"),
        classes.join("greeting.txt"),
    )
    .unwrap();
    let project = env.path("plain");
    let lib = project.join("target/lib");
    fs::create_dir_all(&lib).unwrap();
    fs::copy(
        boot_jar::COMMONS_LANG3,
        lib.join("commons-lang3-3.12.0.jar"),
    )
    .unwrap();
    let manifest = env.path("MANIFEST.MF");
    fs::write(
        &manifest,
        "Main-Class: com.example.Server\nClass-Path: lib/commons-lang3-3.12.0.jar\n",
    )
    .unwrap();
    run_ok(
        tool("jar")
            .arg("--create")
            .arg("--file")
            .arg(project.join("target/server.jar"))
            .arg("--manifest")
            .arg(&manifest)
            .arg("-C")
            .arg(&classes)
            .arg("."),
    );

    let out = env.path("out");
    publish(&env, &project, &out).success();
    let l = Layout::open(&out);
    let img = l.image("v1", "amd64");
    let layers = app_layers(&img);
    assert_eq!(names(&layers), CLASSPATH_LAYERS);
    assert_eq!(
        img.cfg("Entrypoint"),
        &classpath_entrypoint("com.example.Server")
    );
    assert_eq!(
        files(&layer(&l, &layers, "dependencies")),
        ["app/classpath", "app/libs/commons-lang3-3.12.0.jar"]
    );
    assert_eq!(
        files(&layer(&l, &layers, "resources")),
        ["app/resources/greeting.txt"],
        "the manifest is not a resource"
    );
    assert_eq!(
        files(&layer(&l, &layers, "classes")),
        ["app/classes/com/example/Server.class"]
    );
    let bundle = unpack(&env, &l, &img, "plain");
    assert_eq!(
        serve(&bundle),
        (MAVEN_ROOT_TEXT.to_string(), MAVEN_RESOURCE_TEXT.to_string())
    );
}

/// The hand-made Spring Boot jar itself works, so a failure of the tests below is lade's.
#[test]
fn boot_jar_fixture_runs_on_the_host_java() {
    let env = TestEnv::new();
    let dir = boot_jar::exploded(&env.path("boot"));
    let port = http::free_port();
    let mut child = tool("java")
        .arg("-cp")
        .arg(&dir)
        .arg(LAUNCHER)
        .env("PORT", port.to_string())
        .stdout(Stdio::null())
        .spawn()
        .expect("start java");
    let started = Instant::now();
    let root = loop {
        if let Ok(r) = http::get(port, "/") {
            break r;
        }
        if let Some(status) = child.try_wait().unwrap() {
            panic!("java exited ({status}) before serving");
        }
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "java not serving on {port}"
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    let resource = http::get(port, "/resource");
    let _ = child.kill();
    let _ = child.wait();
    assert_eq!(root.body, ROOT_TEXT);
    assert_eq!(resource.unwrap().body, RESOURCE_TEXT);
}

#[test]
fn spring_boot_fat_jar_and_exploded_dir_give_the_same_layers() {
    let env = TestEnv::new();
    let fat = env.path("fat");
    boot_jar::fat_jar(&fat);
    write_file(&fat.join("lade.toml"), "[java]\njar = \"app.jar\"\n");
    let exploded = env.path("exploded");
    boot_jar::exploded(&exploded);
    write_file(&exploded.join("lade.toml"), "[java]\njar = \"exploded\"\n");
    // No build file and no lade.toml: the lone target/*.jar is the application.
    let detected = env.path("detected");
    boot_jar::fat_jar(&detected.join("target"));

    let mut all = Vec::new();
    for (label, project) in [
        ("fat", &fat),
        ("exploded", &exploded),
        ("detected", &detected),
    ] {
        let out = env.path(&format!("out-{label}"));
        publish(&env, project, &out).success();
        let l = Layout::open(&out);
        let img = l.image("v1", "amd64");
        let layers = app_layers(&img);
        // snapshot-dependencies is empty in this jar: no layer for it.
        let expected: Vec<&str> = boot_jar::LAYERS
            .iter()
            .copied()
            .filter(|n| *n != "snapshot-dependencies")
            .collect();
        assert_eq!(names(&layers), expected, "{label}");
        assert_eq!(img.cfg("WorkingDir"), "/app", "{label}");
        assert_eq!(
            img.cfg("Entrypoint"),
            &json!(["java", "-XX:MaxRAMPercentage=75", "-cp", "/app", LAUNCHER]),
            "{label}"
        );
        assert_eq!(
            files(&layer(&l, &layers, "dependencies")),
            ["app/BOOT-INF/lib/commons-lang3-3.12.0.jar"],
            "{label}"
        );
        assert_eq!(
            files(&layer(&l, &layers, "spring-boot-loader")),
            ["app/org/springframework/boot/loader/launch/JarLauncher.class"],
            "{label}"
        );
        let app = layer(&l, &layers, "application");
        for f in [
            "app/BOOT-INF/classes/com/example/BootApp.class",
            "app/BOOT-INF/classes/greeting.txt",
            "app/BOOT-INF/layers.idx",
            "app/META-INF/MANIFEST.MF",
        ] {
            layout::find_entry(&app, f);
        }
        if label != "detected" {
            let bundle = unpack(&env, &l, &img, label);
            assert_eq!(
                serve(&bundle),
                (ROOT_TEXT.to_string(), RESOURCE_TEXT.to_string()),
                "{label}"
            );
        }
        all.push((label, layers));
    }
    // The same content, whether zipped or not, gives the same layers.
    for (label, layers) in &all[1..] {
        assert_eq!(layers, &all[0].1, "{label} vs {}", all[0].0);
    }
}

/// A jar whose one class has class-file major version 65 (Java 21) and is its Main-Class.
fn java21_jar(env: &TestEnv, dir: &Path) {
    let src = env.path("java21-src");
    write_file(
        &src.join("Hello.java"),
        "public class Hello { public static void main(String[] a) { System.out.println(1); } }\n",
    );
    let classes = env.path("java21-classes");
    run_ok(
        tool("javac")
            .args(["--release", "17", "-d"])
            .arg(&classes)
            .arg(src.join("Hello.java")),
    );
    let class = classes.join("Hello.class");
    let mut bytes = fs::read(&class).unwrap();
    assert_eq!(bytes[..4], [0xca, 0xfe, 0xba, 0xbe]);
    assert_eq!(
        u16::from_be_bytes([bytes[6], bytes[7]]),
        61,
        "javac --release 17"
    );
    bytes[6..8].copy_from_slice(&65u16.to_be_bytes());
    fs::write(&class, bytes).unwrap();
    fs::create_dir_all(dir).unwrap();
    run_ok(
        tool("jar")
            .args(["--create", "--main-class", "Hello", "--file"])
            .arg(dir.join("app.jar"))
            .arg("-C")
            .arg(&classes)
            .arg("Hello.class"),
    );
}

#[test]
fn bad_inputs_fail_with_one_clear_error() {
    let env = TestEnv::new();

    // A compile error: javac's message (with the file) first, then lade's one line.
    let p = env.copy_example("java-maven", "compile-error");
    let src = p.join("src/main/java/com/example/Server.java");
    let text = fs::read_to_string(&src).unwrap();
    write_file(&src, &text.replacen("server.start();", "server.start()", 1));
    let out = env.path("out-compile");
    let run = publish(&env, &p, &out);
    let line = run.expect_error(&[]);
    let javac = run
        .stderr
        .find("Server.java")
        .unwrap_or_else(|| panic!("javac's message names the file:\n{}", run.context()));
    assert!(
        run.stderr.contains("';' expected"),
        "javac's own message is shown:\n{}",
        run.context()
    );
    assert!(
        javac < run.stderr.find(&line).unwrap(),
        "the build output comes before lade's error:\n{}",
        run.context()
    );
    assert!(!out.exists(), "nothing written to {}", out.display());

    // Two classes with main and no main class configured anywhere.
    let p = env.copy_example("java-maven", "no-main");
    let pom = p.join("pom.xml");
    let text = fs::read_to_string(&pom).unwrap();
    let start = text
        .find("<configuration>")
        .expect("jar plugin configuration");
    let end = text.find("</configuration>").unwrap() + "</configuration>".len();
    write_file(&pom, &format!("{}{}", &text[..start], &text[end..]));
    write_file(
        &p.join("src/main/java/com/example/Other.java"),
        "package com.example;\n\npublic class Other {\n    public static void main(String[] args) {\n        System.out.println(\"other\");\n    }\n}\n",
    );
    let out = env.path("out-no-main");
    publish(&env, &p, &out).expect_error(&["main_class"]);
    assert!(!out.exists(), "nothing written to {}", out.display());

    // Bytecode for Java 21 on a Java 17 base.
    let p = env.path("java21");
    java21_jar(&env, &p);
    write_file(&p.join("lade.toml"), "[java]\njar = \"app.jar\"\n");
    let out = env.path("out-java21");
    publish(&env, &p, &out).expect_error(&["Java 21", &format!("Java {JAVA_RELEASE}")]);
    assert!(!out.exists(), "nothing written to {}", out.display());
}

/// The base build itself is covered by tests/bases.rs; this only checks the shared Java base
/// the tests above run on answers `java -version` as Java 17.
#[test]
fn shared_java_base_runs_java_17() {
    let env = TestEnv::new();
    let reference = java_base();
    let dir = reference
        .strip_prefix("oci:")
        .and_then(|r| r.rsplit_once(':'))
        .unwrap()
        .0;
    // The base is a two-platform index; umoci unpacks one image.
    let l = Layout::open(Path::new(dir));
    let single = l.extract(&l.image(TAG, "amd64"), &env.path("single"), "amd64");
    let bundle = env.path("bundle");
    layout::unpack(&single.dir, "amd64", &bundle);
    let config = bundle.join("config.json");
    let mut v: serde_json::Value = serde_json::from_slice(&fs::read(&config).unwrap()).unwrap();
    v["process"]["terminal"] = json!(false);
    v["process"]["args"] = json!(["/usr/bin/java", "-version"]);
    fs::write(&config, serde_json::to_vec(&v).unwrap()).unwrap();
    let id = format!("lade-it-java-{}", std::process::id());
    let out = run_ok(tool("runc").args(["run", "--bundle"]).arg(&bundle).arg(&id));
    let _ = tool("runc").args(["delete", "-f", &id]).output();
    let text = String::from_utf8_lossy(&out.stderr);
    assert!(
        text.contains(&format!("openjdk version \"{JAVA_RELEASE}.")),
        "{text}"
    );
}

/// Two platforms to a real registry: the bytecode is built once, so every application layer
/// is the same blob on amd64 and arm64 (uploaded once), above each platform's own JVM. The
/// arm64 image, pulled back with skopeo, has an aarch64 JVM and serves under qemu where
/// binfmt is set up.
#[test]
fn maven_two_platforms_to_a_registry_share_the_application_layers() {
    let env = TestEnv::new();
    let p = env.copy_example("java-maven", "java-maven");
    let registry = Registry::start();
    let target = format!("{}/team/java-maven:1.0", registry.host);
    let run = env
        .lade()
        .arg("publish")
        .arg("-C")
        .arg(&p)
        .args(["--platform", "linux/amd64,linux/arm64", "--json", "--base"])
        .arg(java_base())
        .args(["--to", &target])
        .run()
        .success();
    let root = root_digest(&run.json());
    let raw = skopeo_raw(&target, &["--tls-verify=false"]);
    assert_eq!(
        layout::sha256_digest(&raw),
        root,
        "the registry serves lade's index"
    );

    let dir = env.path("pulled");
    run_ok(
        tool("skopeo")
            .args(["copy", "--all", "-q", "--src-tls-verify=false"])
            .arg(format!("docker://{target}"))
            .arg(format!("oci:{}:pulled", dir.display())),
    );
    let l = Layout::open(&dir);
    let images = l.images("pulled");
    let archs: Vec<&str> = images.iter().map(|i| i.architecture()).collect();
    assert_eq!(archs, ["amd64", "arm64"]);
    let amd64 = app_layers(&images[0]);
    let arm64 = app_layers(&images[1]);
    assert_eq!(names(&amd64), CLASSPATH_LAYERS);
    assert_eq!(
        amd64, arm64,
        "the same application layers on both platforms"
    );
    let base_amd64 = &images[0].layer_digests()[..images[0].layer_digests().len() - amd64.len()];
    let base_arm64 = &images[1].layer_digests()[..images[1].layer_digests().len() - arm64.len()];
    assert_ne!(base_amd64, base_arm64, "each platform has its own JVM");

    let img = &images[1];
    let single = l.extract(img, &env.path("single-arm64"), "arm64");
    layout::validate(&single.dir, "arm64");
    let bundle = env.path("bundle-arm64");
    layout::unpack(&single.dir, "arm64", &bundle);
    let java = bundle.join("rootfs/usr/lib/jvm/java-17-openjdk-arm64/bin/java");
    let bytes = fs::read(&java).unwrap_or_else(|e| panic!("{}: {e}", java.display()));
    assert_eq!(elf_machine(&bytes), EM_AARCH64, "{}", java.display());
    match arm64_support() {
        Arm64::Unavailable(why) => {
            eprintln!("arm64 image checked by its JVM's ELF header only: {why}")
        }
        _ => {
            let c = Container::start_with_timeout(&bundle, Duration::from_secs(120));
            let r = c.get("/");
            assert_eq!(r.status, 200, "{}\n{}", r.body, c.log());
            assert_eq!(r.body, MAVEN_ROOT_TEXT);
            eprintln!("arm64 image served under qemu");
        }
    }
}
