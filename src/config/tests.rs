use super::*;

fn parse(t: &str) -> Result<LadeConfig, ConfigError> {
    LadeConfig::parse(t, Path::new("lade.toml"))
}

#[test]
fn values_no_runtime_accepts_are_refused_with_the_file() {
    for (text, words) in [
        ("entrypoint = []\n", &["entrypoint must name a program"][..]),
        (
            "entrypoint = [\"\"]\n",
            &["entrypoint must name a program"][..],
        ),
        ("[env]\n\"A=B\" = \"c\"\n", &["env key `A=B`"][..]),
        ("workdir = \"app\"\n", &["workdir `app`", "/app"][..]),
        (
            "user = \"root; rm -rf /\"\n",
            &["user `root; rm -rf /`"][..],
        ),
        ("user = \":65532\"\n", &["user `:65532`"][..]),
    ] {
        let err = parse(text).unwrap_err().to_string();
        assert!(err.contains("lade.toml"), "{text}: {err}");
        for w in words {
            assert!(err.contains(w), "{text}: {err}");
        }
    }
    for text in [
        "user = \"nonroot\"\n",
        "user = \"1000:1000\"\n",
        "user = 0\n",
    ] {
        parse(text).unwrap_or_else(|e| panic!("{text}: {e}"));
    }
}

#[test]
fn reads_every_key() {
    let c = parse(
        r#"
name = "svc"
entrypoint = ["/app/svc", "--flag"]
cmd = ["serve"]
env = { A = "1" }
workdir = "/app"
user = 1000
ports = [8080, "53/udp"]
labels = { team = "x" }
annotations = { "org.example/a" = "b" }
platforms = ["linux/amd64", "linux/arm64"]
base = "scratch"
main = "./cmd/svc"
[go]
ldflags = ["-s", "-w"]
"#,
    )
    .unwrap();
    assert_eq!(c.platforms().len(), 2);
    let mut plan = crate::plan::Plan {
        detector: "go".into(),
        reasons: vec![],
        name: "svc".into(),
        project_dir: "/p".into(),
        targets: vec![],
        config: Default::default(),
        base: "other".into(),
        excluded: vec![],
    };
    c.apply(&mut plan);
    assert_eq!(plan.config.user.as_deref(), Some("1000"));
    assert_eq!(plan.config.exposed_ports, vec!["8080/tcp", "53/udp"]);
    assert_eq!(plan.base, "scratch");
    assert_eq!(c.go.ldflags, vec!["-s", "-w"]);
}

#[test]
fn registry_settings() {
    let c = parse(
        "[registry]\nmirrors = [\"gcr.io=mirror.internal:5000\"]\ninsecure = [\"r.local:5000\"]\nca = [\"certs/ca.crt\"]\n",
    )
    .unwrap();
    assert_eq!(c.registry.mirrors.len(), 1);
    assert_eq!(c.registry.insecure, vec!["r.local:5000"]);
    assert_eq!(c.registry.ca, vec![PathBuf::from("certs/ca.crt")]);
    let e = parse("[registry]\nmirrors = [\"no-equals-sign\"]\n")
        .unwrap_err()
        .to_string();
    assert!(e.starts_with("lade.toml:2:12: registry mirror:"), "{e}");
}

#[test]
fn errors_name_line_and_column() {
    let e = parse("name = \"x\"\n\nentrypont = [\"a\"]\n")
        .unwrap_err()
        .to_string();
    assert!(
        e.starts_with("lade.toml:3:1: unknown field `entrypont`"),
        "{e}"
    );
    assert!(e.ends_with("did you mean `entrypoint`?"), "{e}");
    let e = parse("zzzzzzzzzz = 1\n").unwrap_err().to_string();
    assert!(!e.contains("did you mean"), "nothing close: {e}");
    let e = parse("platforms = [\"linux/amd64\", \"linux/sparc\"]\n")
        .unwrap_err()
        .to_string();
    assert!(
        e.starts_with("lade.toml:1:29: unknown platform 'linux/sparc'"),
        "{e}"
    );
    let e = parse("ports = [70000]").unwrap_err().to_string();
    assert!(e.contains("invalid port '70000'"), "{e}");
    let e = parse("env = [1, 2]").unwrap_err().to_string();
    assert!(e.starts_with("lade.toml:1:7: invalid type"), "{e}");
    let e = parse("name = ").unwrap_err().to_string();
    assert!(e.starts_with("lade.toml:1:"), "{e}");
}

#[test]
fn settings_in_cargo_toml() {
    let t = tempfile::tempdir().unwrap();
    let cargo = "[package]\nname = \"svc\"\n\n[package.metadata.lade]\nports = [8080]\n[package.metadata.lade.rust]\nbin = \"svc\"\nlibc = \"gnu\"\n";
    std::fs::write(t.path().join("Cargo.toml"), cargo).unwrap();
    let c = LadeConfig::load(t.path()).unwrap();
    assert_eq!(c.rust.bin.as_deref(), Some("svc"));
    assert_eq!(c.rust.libc, Some(RustLibc::Gnu));
    assert_eq!(c.path, Some(t.path().join("Cargo.toml")));

    // Errors point into Cargo.toml.
    let bad =
        "[package]\nname = \"svc\"\n\n[workspace.metadata.lade]\nplatforms = [\"linux/sparc\"]\n";
    std::fs::write(t.path().join("Cargo.toml"), bad).unwrap();
    let e = LadeConfig::load(t.path()).unwrap_err().to_string();
    assert!(
        e.contains("Cargo.toml:5:14: unknown platform 'linux/sparc'"),
        "{e}"
    );
    let bad = "[package.metadata.lade.rust]\nlibc = \"uclibc\"\n";
    std::fs::write(t.path().join("Cargo.toml"), bad).unwrap();
    let e = LadeConfig::load(t.path()).unwrap_err().to_string();
    assert!(
        e.contains("Cargo.toml:2:8: unknown variant `uclibc`"),
        "{e}"
    );

    // Two places are refused rather than merged.
    std::fs::write(t.path().join("Cargo.toml"), cargo).unwrap();
    std::fs::write(t.path().join("lade.toml"), "name = \"x\"\n").unwrap();
    let e = LadeConfig::load(t.path()).unwrap_err().to_string();
    assert_eq!(
        e,
        "lade settings in both lade.toml and [package.metadata.lade] in Cargo.toml: keep one"
    );

    // A Cargo.toml without a lade table leaves lade.toml alone.
    std::fs::write(t.path().join("Cargo.toml"), "[package]\nname = \"svc\"\n").unwrap();
    assert_eq!(
        LadeConfig::load(t.path()).unwrap().name.as_deref(),
        Some("x")
    );
}

/// Loads `dir`'s settings and returns them with the warnings said while loading.
fn load_with_warnings(dir: &Path) -> (Result<LadeConfig, ConfigError>, Vec<String>) {
    use tracing_subscriber::layer::SubscriberExt;
    let warnings = crate::warnings::Warnings::new();
    let subscriber = tracing_subscriber::registry().with(warnings.layer(|_| {}));
    let result = tracing::subscriber::with_default(subscriber, || LadeConfig::load(dir));
    (result, warnings.said())
}

#[test]
fn settings_in_pyproject_package_json_pom_and_gradle_properties() {
    let t = tempfile::tempdir().unwrap();
    let write = |f: &str, text: &str| std::fs::write(t.path().join(f), text).unwrap();
    let remove = |f: &str| std::fs::remove_file(t.path().join(f)).unwrap();

    write(
        "pyproject.toml",
        "[project]\nname = \"svc\"\n\n[tool.lade]\nbase = \"debian12/python3\"\nports = [8000]\ncolor = \"x\"\n",
    );
    let (c, w) = load_with_warnings(t.path());
    let c = c.unwrap();
    assert_eq!(c.base.unwrap().reference(), "debian12/python3");
    assert_eq!(c.place.as_deref(), Some("[tool.lade] in pyproject.toml"));
    assert_eq!(w.len(), 1, "{w:?}");
    assert!(
        w[0].contains("pyproject.toml:7:1: tool.lade.color: not a lade setting, ignored"),
        "{w:?}"
    );
    write("pyproject.toml", "[tool.lade]\nports = [0]\n");
    let e = LadeConfig::load(t.path()).unwrap_err().to_string();
    assert!(e.contains("pyproject.toml:2:10: invalid port '0'"), "{e}");
    remove("pyproject.toml");

    write(
        "package.json",
        r#"{"name": "svc", "lade": {"workdir": "/srv", "node": {"binary": "/usr/bin/node", "bianry": "x"}}}"#,
    );
    let (c, w) = load_with_warnings(t.path());
    let c = c.unwrap();
    assert_eq!(c.workdir.as_deref(), Some("/srv"));
    assert_eq!(c.node.binary.as_deref(), Some("/usr/bin/node"));
    assert!(
        w[0].ends_with(
            "package.json:1:81: lade.node.bianry: not a lade setting, ignored; did you mean `binary`?"
        ),
        "{w:?}"
    );
    write("package.json", r#"{"lade": {"workdir": "srv"}}"#);
    let e = LadeConfig::load(t.path()).unwrap_err().to_string();
    assert!(
        e.contains("package.json: workdir `srv` must be an absolute path"),
        "{e}"
    );
    write("package.json", "{\"lade\": {\n  \"user\": [1]}}");
    let e = LadeConfig::load(t.path()).unwrap_err().to_string();
    assert!(e.contains("package.json:2:3: lade.user: "), "{e}");
    remove("package.json");

    write(
        "pom.xml",
        "<project>\n  <properties>\n    <java.version>17</java.version>\n    <lade.java.main_class>com.example.App</lade.java.main_class>\n    <lade.platforms>[\"linux/amd64\", \"linux/arm64\"]</lade.platforms>\n    <lade.labels.org.opencontainers.image.title>Shop</lade.labels.org.opencontainers.image.title>\n    <lade.entrypiont>[\"x\"]</lade.entrypiont>\n  </properties>\n</project>\n",
    );
    let (c, w) = load_with_warnings(t.path());
    let c = c.unwrap();
    assert_eq!(c.java.main_class.as_deref(), Some("com.example.App"));
    assert_eq!(c.platforms().len(), 2);
    assert_eq!(c.labels["org.opencontainers.image.title"], "Shop");
    assert!(
        w[0].contains(
            "pom.xml:7:5: lade.entrypiont: not a lade setting, ignored; did you mean `entrypoint`?"
        ),
        "{w:?}"
    );
    write(
        "pom.xml",
        "<project>\n  <properties>\n    <lade.platforms>[\"linux/sparc\"]</lade.platforms>\n  </properties>\n</project>\n",
    );
    let e = LadeConfig::load(t.path()).unwrap_err().to_string();
    assert!(
        e.contains("pom.xml:3:5: lade.platforms: unknown platform 'linux/sparc'"),
        "{e}"
    );
    remove("pom.xml");

    write(
        "gradle.properties",
        "org.gradle.jvmargs=-Xmx2g\nlade.name=shop\nlade.user=nonroot\n",
    );
    let c = LadeConfig::load(t.path()).unwrap();
    assert_eq!(c.name.as_deref(), Some("shop"));
    assert!(matches!(c.user, Some(UserSetting::Name(ref n)) if n == "nonroot"));
    write(
        "gradle.properties",
        "lade.name=shop\nlade.ports=[8080, \"x\"]\n",
    );
    let e = LadeConfig::load(t.path()).unwrap_err().to_string();
    assert!(
        e.contains("gradle.properties:2:1: lade.ports: invalid port 'x'"),
        "{e}"
    );

    // Two places are refused rather than merged.
    write("gradle.properties", "lade.name=shop\n");
    write("package.json", r#"{"lade": {"name": "web"}}"#);
    let e = LadeConfig::load(t.path()).unwrap_err().to_string();
    assert_eq!(
        e,
        "lade settings in both \"lade\" in package.json and lade.* properties in gradle.properties: keep one"
    );
    // A manifest without lade settings is not lade's business, even when broken.
    write("package.json", "{ not json");
    assert_eq!(
        LadeConfig::load(t.path()).unwrap().name.as_deref(),
        Some("shop")
    );
}
