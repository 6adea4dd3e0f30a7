use super::facts::{BuildTool, JarFound, JavaSource, MainClassFacts};
use super::*;
use crate::plan::Check;
use std::io::Write as _;
use std::path::Path;

fn write(dir: &Path, files: &[(&str, &str)]) {
    for (name, text) in files {
        let p = dir.join(name);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
    }
}

fn write_jar(path: &Path, entries: &[(&str, &str)]) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    let mut zip = zip::ZipWriter::new(std::fs::File::create(path).unwrap());
    for (name, text) in entries {
        zip.start_file(*name, zip::write::SimpleFileOptions::default())
            .unwrap();
        zip.write_all(text.as_bytes()).unwrap();
    }
    zip.finish().unwrap();
}

fn detect_in(dir: &Path, config: &str) -> Result<Option<Plan>, DetectError> {
    let config = crate::config::LadeConfig::parse(config, Path::new("lade.toml")).expect("config");
    let platforms = vec![
        "linux/amd64".parse().unwrap(),
        "linux/arm64".parse().unwrap(),
    ];
    let out = dir.join("out");
    let filter = crate::ignore::Filter::load(dir).unwrap();
    let project = Project {
        dir,
        config: &config,
        platforms: &platforms,
        main: None,
        out_dir: &out,
        filter: &filter,
    };
    JavaDetector.detect(&project)
}

fn unsupported(r: Result<Option<Plan>, DetectError>) -> String {
    match r {
        Err(e) => e.to_string(),
        Ok(p) => panic!("expected an error, got {p:?}"),
    }
}

const MAIN: &str = "package com.example;\npublic class Server {\n    public static void main(String[] args) {}\n}\n";

#[test]
fn maven_project_builds_in_a_staged_copy_with_jib_layers() {
    let t = tempfile::tempdir().unwrap();
    let dir = t.path().join("Web App");
    write(
        &dir,
        &[
            ("pom.xml", "<project><artifactId>web</artifactId></project>"),
            ("src/main/java/com/example/Server.java", MAIN),
            ("src/main/resources/app.properties", "a=b\n"),
            ("target/classes/stale.class", ""),
            (
                "src/main/java/com/example/target/Keep.java",
                "class Keep {}",
            ),
        ],
    );
    let plan = detect_in(&dir, "[java]\njvm_flags = [\"-Xss512k\"]\n")
        .unwrap()
        .unwrap();
    assert_eq!(plan.detector, "java");
    assert_eq!(plan.name, "web-app");
    assert_eq!(plan.base, DEFAULT_BASE);
    assert_eq!(
        plan.config.entrypoint.as_deref().unwrap(),
        [
            "java",
            MEMORY_FLAG,
            "-Xss512k",
            "-cp",
            "@/app/classpath",
            "com.example.Server"
        ]
    );
    assert_eq!(plan.config.workdir.as_deref(), Some("/app"));
    let names: Vec<&str> = plan.targets[0]
        .layers
        .iter()
        .map(|l| l.name.as_str())
        .collect();
    assert_eq!(
        names,
        [
            "dependencies",
            "snapshot dependencies",
            "project dependencies",
            "resources",
            "classes"
        ]
    );
    // Built once: the second platform takes the same layers without steps.
    assert_eq!(plan.targets[1].layers, plan.targets[0].layers);
    assert!(plan.targets[1].steps.is_empty());
    let steps = &plan.targets[0].steps;
    assert_eq!(steps.len(), 3, "{steps:#?}");
    let staged = &steps[0].args;
    assert!(staged.contains(&"pom.xml".to_string()), "{staged:?}");
    assert!(staged.contains(&"src/main/java/com/example/Server.java".to_string()));
    assert!(
        staged.contains(&"src/main/java/com/example/target/Keep.java".to_string()),
        "a package named target is source, not Maven output"
    );
    assert!(
        !staged.iter().any(|a| a.starts_with("target/")),
        "a local build's output is not staged: {staged:?}"
    );
    let build = format!("{} {}", steps[1].program, steps[1].args.join(" "));
    assert!(build.contains("mvn -B"), "{build}");
    assert!(
        build.contains("-DskipTests -Dproject.build.outputTimestamp=1980-01-01T00:00:02Z package"),
        "{build}"
    );
    assert!(build.contains(DEPENDENCY_PLUGIN), "{build}");
    assert_eq!(steps[2].program, crate::plan::LADE_PROGRAM);
    let layout = steps[2].args.join(" ");
    assert!(
        layout.contains("--main-class com.example.Server"),
        "{layout}"
    );
    assert!(layout.contains("java/src/target/classes"), "{layout}");
    assert!(plan.targets[0].checks.contains(&Check::Program {
        program: "mvn".into(),
        hint: "install Maven (Debian: apt-get install maven) or add the Maven wrapper (mvnw) to the project".into(),
    }));
    assert!(
        plan.targets[0]
            .checks
            .iter()
            .any(|c| matches!(c, Check::JavaRuntime { .. }))
    );
}

#[test]
fn maven_wrapper_modules_and_configured_build_args() {
    let t = tempfile::tempdir().unwrap();
    write(
        t.path(),
        &[
            (
                "pom.xml",
                "<project><modules><module>lib</module><module>app</module></modules></project>",
            ),
            ("mvnw", "#!/bin/sh\n"),
            ("lib/pom.xml", "<project/>"),
            (
                "app/pom.xml",
                "<project><properties><start-class>com.example.App</start-class></properties></project>",
            ),
        ],
    );
    let err = unsupported(detect_in(t.path(), ""));
    assert!(
        err.contains("multi-module") && err.contains("lib, app"),
        "{err}"
    );
    assert!(err.contains("[java] module"), "{err}");

    let plan = detect_in(
        t.path(),
        "[java]\nmodule = \"app\"\nbuild_args = [\"-o\", \"-Dmaven.test.skip=true\"]\n",
    )
    .unwrap()
    .unwrap();
    assert_eq!(
        plan.config.entrypoint.as_deref().unwrap().last().unwrap(),
        "com.example.App"
    );
    let step = &plan.targets[0].steps[1];
    let build = format!("{} {}", step.program, step.args.join(" "));
    assert!(
        build.contains("java/src/mvnw -B"),
        "the staged wrapper runs: {build}"
    );
    assert!(
        build.contains("-pl app -am -o -Dmaven.test.skip=true -Dproject.build.outputTimestamp="),
        "{build}"
    );
    assert!(!build.contains("-DskipTests"), "{build}");
    assert!(
        !plan.targets[0]
            .checks
            .iter()
            .any(|c| matches!(c, Check::Program { .. })),
        "the wrapper needs no mvn on PATH"
    );
    let layout = plan.targets[0].steps[2].args.join(" ");
    assert!(layout.contains("java/src/app/target/classes"), "{layout}");
}

#[test]
fn main_class_errors_say_how_to_set_it() {
    let t = tempfile::tempdir().unwrap();
    write(t.path(), &[("pom.xml", "<project/>")]);
    let err = unsupported(detect_in(t.path(), ""));
    assert!(err.contains("no main class found"), "{err}");
    assert!(err.contains("[java] main_class"), "{err}");

    write(
        t.path(),
        &[
            ("src/main/java/com/example/Server.java", MAIN),
            (
                "src/main/java/com/example/Tool.java",
                &MAIN.replace("Server", "Tool"),
            ),
        ],
    );
    let err = unsupported(detect_in(t.path(), ""));
    assert!(
        err.contains("2 classes") && err.contains("com.example.Server, com.example.Tool"),
        "{err}"
    );
    let plan = detect_in(t.path(), "[java]\nmain_class = \"com.example.Tool\"\n")
        .unwrap()
        .unwrap();
    assert_eq!(
        plan.config.entrypoint.as_deref().unwrap().last().unwrap(),
        "com.example.Tool"
    );

    std::fs::write(t.path().join("pom.xml"), "<project><build>").unwrap();
    let err = unsupported(detect_in(t.path(), ""));
    assert!(
        err.contains("pom.xml") && err.contains("not valid XML"),
        "{err}"
    );
}

#[test]
fn gradle_project_runs_the_init_script_task() {
    let t = tempfile::tempdir().unwrap();
    write(
        t.path(),
        &[
            ("settings.gradle", "include 'app'\n"),
            (
                "app/build.gradle",
                "apply plugin: 'application'\nmainClassName = 'com.example.App'\n",
            ),
            ("app/build/classes/java/main/Old.class", ""),
            ("app/src/main/java/com/example/App.java", MAIN),
        ],
    );
    let plan = detect_in(t.path(), "[java]\nmodule = \"app\"\n")
        .unwrap()
        .unwrap();
    assert_eq!(
        plan.config.entrypoint.as_deref().unwrap().last().unwrap(),
        "com.example.App"
    );
    let steps = &plan.targets[0].steps;
    assert!(!steps[0].args.iter().any(|a| a.contains("app/build/")));
    assert_eq!(steps[1].args[0], "gradle-init");
    let build = format!("{} {}", steps[2].program, steps[2].args.join(" "));
    assert!(build.contains("gradle --no-daemon"), "{build}");
    assert!(build.contains("-Dlade.project=:app"), "{build}");
    assert!(build.contains("-x test :app:ladeClasspath"), "{build}");
    let layout = steps[3].args.join(" ");
    assert!(
        !layout.contains("--classes"),
        "Gradle's classpath lists its outputs: {layout}"
    );
}

#[test]
fn prebuilt_jars_plain_and_spring_boot() {
    let t = tempfile::tempdir().unwrap();
    write_jar(
        &t.path().join("target/app-1.0.jar"),
        &[(
            "META-INF/MANIFEST.MF",
            "Manifest-Version: 1.0\r\nMain-Class: com.example.Main\r\n\r\n",
        )],
    );
    write_jar(&t.path().join("target/app-1.0-sources.jar"), &[]);
    let plan = detect_in(t.path(), "").unwrap().unwrap();
    assert_eq!(
        plan.config.entrypoint.as_deref().unwrap()[2..],
        ["-cp", "@/app/classpath", "com.example.Main"]
    );
    let layout = plan.targets[0].steps[0].args.join(" ");
    assert!(
        layout.contains("--jar") && layout.contains("target/app-1.0.jar"),
        "{layout}"
    );

    write_jar(&t.path().join("build/libs/other.jar"), &[]);
    let err = unsupported(detect_in(t.path(), ""));
    assert!(
        err.contains("several jars") && err.contains("[java] jar"),
        "{err}"
    );

    write_jar(
        &t.path().join("boot.jar"),
        &[
            (
                "META-INF/MANIFEST.MF",
                "Manifest-Version: 1.0\r\nMain-Class: org.springframework.boot.loader.launch.JarLauncher\r\nStart-Class: com.example.App\r\nSpring-Boot-Classes: BOOT-INF/classes/\r\nSpring-Boot-Lib: BOOT-INF/lib/\r\nSpring-Boot-Layers-Index: BOOT-INF/layers.idx\r\n\r\n",
            ),
            (
                "BOOT-INF/layers.idx",
                "- \"dependencies\":\n  - \"BOOT-INF/lib/\"\n- \"loader\":\n  - \"org/\"\n- \"application\":\n  - \"BOOT-INF/classes/\"\n",
            ),
        ],
    );
    let plan = detect_in(t.path(), "[java]\njar = \"boot.jar\"\n")
        .unwrap()
        .unwrap();
    let names: Vec<&str> = plan.targets[0]
        .layers
        .iter()
        .map(|l| l.name.as_str())
        .collect();
    assert_eq!(names, ["dependencies", "loader", "application"]);
    assert!(
        plan.targets[0]
            .layers
            .iter()
            .all(|l| l.entries[0].target == "/app"),
        "a Spring Boot jar is exploded at /app"
    );
    assert_eq!(
        plan.config.entrypoint.as_deref().unwrap()[2..],
        [
            "-cp",
            "/app",
            "org.springframework.boot.loader.launch.JarLauncher"
        ]
    );

    let err = unsupported(detect_in(t.path(), "[java]\njar = \"missing.jar\"\n"));
    assert!(
        err.contains("missing.jar") && err.contains("does not exist"),
        "{err}"
    );
}

#[test]
fn exploded_jar_without_main_class_says_how_to_set_it() {
    let t = tempfile::tempdir().unwrap();
    write(
        t.path(),
        &[("META-INF/MANIFEST.MF", "Manifest-Version: 1.0\n\n")],
    );
    let err = unsupported(detect_in(t.path(), ""));
    assert!(
        err.contains("no Main-Class") && err.contains("[java] main_class"),
        "{err}"
    );
    assert!(detect_in(&t.path().join("META-INF"), "").unwrap().is_none());
}

#[test]
fn default_base_follows_the_release_the_build_produces() {
    assert_eq!(default_base(None), DEFAULT_BASE);
    assert_eq!(default_base(Some(11)), DEFAULT_BASE);
    assert_eq!(default_base(Some(17)), DEFAULT_BASE);
    assert!(default_base(Some(21)).contains("java21"));
    assert!(
        default_base(Some(25)).contains("java21"),
        "the newest; the check will say"
    );
    assert_eq!(java_release_number("1.8"), Some(8));
    assert_eq!(java_release_number("21"), Some(21));
    assert_eq!(java_release_number("${java.version}"), None);

    let t = tempfile::tempdir().unwrap();
    write(
        t.path(),
        &[
            (
                "pom.xml",
                "<project><properties><maven.compiler.release>21</maven.compiler.release></properties></project>",
            ),
            ("src/main/java/com/example/Server.java", MAIN),
        ],
    );
    let plan = detect_in(t.path(), "").unwrap().unwrap();
    assert_eq!(plan.base, "gcr.io/distroless/java21-debian12:nonroot");
    assert!(
        plan.reasons.iter().any(|r| r
            .why
            .contains("Java 21 bytecode (property maven.compiler.release)")),
        "{:?}",
        plan.reasons
    );
    let plan = detect_in(t.path(), "base = \"debian12/java\"\n")
        .unwrap()
        .unwrap();
    assert_eq!(plan.base, "debian12/java", "lade.toml's base wins");

    // A prebuilt jar: its classes say.
    let t = tempfile::tempdir().unwrap();
    let mut class = vec![0xCA, 0xFE, 0xBA, 0xBE, 0, 0, 0, 65];
    class.extend([0u8; 16]);
    std::fs::create_dir_all(t.path().join("target")).unwrap();
    let mut zip =
        zip::ZipWriter::new(std::fs::File::create(t.path().join("target/app.jar")).unwrap());
    zip.start_file(
        "META-INF/MANIFEST.MF",
        zip::write::SimpleFileOptions::default(),
    )
    .unwrap();
    zip.write_all(b"Manifest-Version: 1.0\r\nMain-Class: a.B\r\n\r\n")
        .unwrap();
    zip.start_file("a/B.class", zip::write::SimpleFileOptions::default())
        .unwrap();
    zip.write_all(&class).unwrap();
    zip.finish().unwrap();
    let plan = detect_in(t.path(), "").unwrap().unwrap();
    assert_eq!(plan.base, "gcr.io/distroless/java21-debian12:nonroot");
}

#[test]
fn facts_of_a_gradle_module_and_a_lone_jar() {
    let t = tempfile::tempdir().unwrap();
    write(
        t.path(),
        &[
            ("settings.gradle", "include 'app'\n"),
            ("gradlew", ""),
            (
                "app/build.gradle.kts",
                "java { toolchain { languageVersion = JavaLanguageVersion.of(21) } }\n",
            ),
            ("app/src/main/java/com/example/Server.java", MAIN),
        ],
    );
    let java = JavaProject::read(t.path(), None, Some("app"))
        .unwrap()
        .unwrap();
    let JavaSource::Build(build) = &java.source else {
        panic!("{java:?}")
    };
    assert_eq!(
        build.tool,
        BuildTool::Gradle {
            build_file: "settings.gradle",
            project: ":app".into()
        }
    );
    assert!(build.wrapper);
    assert_eq!(build.module_dir, t.path().join("app"));
    assert_eq!(java.release.as_ref().map(|r| r.version), Some(21));
    assert_eq!(
        build.main_class(t.path()).unwrap(),
        MainClassFacts::InSources {
            build_file: "app/build.gradle".into(),
            classes: vec!["com.example.Server".into()]
        }
    );
    let err = JavaProject::read(t.path(), None, Some("nope")).unwrap_err();
    assert!(err.to_string().contains("is not a directory"), "{err}");

    let t = tempfile::tempdir().unwrap();
    write_jar(
        &t.path().join("build/libs/app.jar"),
        &[(
            "META-INF/MANIFEST.MF",
            "Manifest-Version: 1.0\r\nMain-Class: a.B\r\n\r\n",
        )],
    );
    write_jar(&t.path().join("build/libs/app-plain.jar"), &[]);
    let java = JavaProject::read(t.path(), None, None).unwrap().unwrap();
    let JavaSource::Jar(jar) = &java.source else {
        panic!("{java:?}")
    };
    assert_eq!(jar.found, JarFound::Lone);
    assert_eq!(jar.manifest.main_class.as_deref(), Some("a.B"));
    assert!(jar.boot_layers.is_none() && !jar.exploded);
    assert!(
        JavaProject::read(&t.path().join("build"), None, None)
            .unwrap()
            .is_none()
    );
}
