use super::*;

fn pkg(json: &str) -> PackageJson {
    PackageJson::parse(json, Path::new("package.json")).unwrap()
}

#[test]
fn invalid_json_names_line_and_column() {
    let e = PackageJson::parse(
        "{\n  \"name\": \"x\",\n  oops\n}",
        Path::new("/p/package.json"),
    )
    .unwrap_err()
    .to_string();
    assert!(e.starts_with("/p/package.json: line 3, column 3:"), "{e}");
}

#[test]
fn manager_from_lockfiles() {
    let m = |locks: &[&str], pm: Option<&str>, head: &str, rc: bool| {
        let (m, lock, notes) = choose_manager(locks, pm, head, rc);
        (m, lock, notes.len())
    };
    assert_eq!(
        m(&["package-lock.json"], None, "", false),
        (
            Manager::Npm { locked: true },
            Some("package-lock.json".into()),
            0
        )
    );
    assert_eq!(
        m(&["npm-shrinkwrap.json"], None, "", false).0,
        Manager::Npm { locked: true }
    );
    assert_eq!(
        m(&["yarn.lock"], None, "# yarn lockfile v1\n", false).0,
        Manager::Yarn { berry: false }
    );
    assert_eq!(
        m(&["yarn.lock"], None, "__metadata:\n  version: 8\n", false).0,
        Manager::Yarn { berry: true }
    );
    assert_eq!(
        m(&["yarn.lock"], Some("yarn@4.5.0"), "", false).0,
        Manager::Yarn { berry: true }
    );
    assert_eq!(
        m(&["yarn.lock"], None, "", true).0,
        Manager::Yarn { berry: true }
    );
    assert_eq!(
        m(&["pnpm-lock.yaml"], Some("pnpm@10.20.0"), "", false),
        (Manager::Pnpm, Some("pnpm-lock.yaml".into()), 0)
    );
    // packageManager disagreeing with the lockfile is noted; the lockfile wins.
    assert_eq!(
        m(&["pnpm-lock.yaml"], Some("yarn@1.22.22"), "", false),
        (Manager::Pnpm, Some("pnpm-lock.yaml".into()), 1)
    );
    assert_eq!(
        m(&[], None, "", false),
        (Manager::Npm { locked: false }, None, 0)
    );
    assert_eq!(
        m(&[], Some("pnpm@9.0.0"), "", false),
        (Manager::Npm { locked: false }, None, 1)
    );
    assert_eq!(
        m(&["package-lock.json", "yarn.lock"], None, "", false).2,
        1,
        "two lockfiles are noted"
    );
}

#[test]
fn start_command_order() {
    let none = |_: &str| false;
    let p = pkg(r#"{"main": "lib/main.js", "scripts": {"start": "node ./server.js --port 1"}}"#);
    let (s, _) = choose_start(Some("web: node web.js\nworker: node w.js\n"), &p, &[], none);
    assert_eq!(
        s.unwrap(),
        Start {
            file: "web.js".into(),
            args: vec![],
            source: StartSource::Procfile
        }
    );
    let (s, _) = choose_start(None, &p, &[], none);
    assert_eq!(
        s.unwrap(),
        Start {
            file: "server.js".into(),
            args: vec!["--port".into(), "1".into()],
            source: StartSource::StartScript
        }
    );
    let p = pkg(r#"{"main": "./lib/main.js", "scripts": {"start": "NODE_OPTIONS=x node s.js"}}"#);
    let (s, notes) = choose_start(None, &p, &[], none);
    assert_eq!(s.unwrap().source, StartSource::Main);
    assert_eq!(notes.len(), 1, "the unusable start script is noted");
    let p = pkg(r#"{"scripts": {"start": "nodemon s.js"}}"#);
    let (s, _) = choose_start(None, &p, &["server.js", "index.js"], |f| f == "index.js");
    assert_eq!(
        s.unwrap().source,
        StartSource::DefaultFile("index.js".into())
    );
    let (s, _) = choose_start(None, &p, &["server.js"], none);
    assert!(s.is_none());
    for bad in [
        "node",
        "node --inspect s.js",
        "node s.js && x",
        "node $FILE",
        "ts-node s.ts",
    ] {
        assert_eq!(plain_node_command(bad), None, "{bad}");
    }
}

#[test]
fn files_filtering() {
    let files = vec!["dist".to_string(), "lib/*.js".into(), "./bin/".into()];
    let always = ["package.json", "server.js"];
    for (path, want) in [
        ("package.json", true),
        ("server.js", true),
        ("dist", true),
        ("dist/a/b.js", true),
        ("distx/a.js", false),
        ("lib", true),
        ("lib/a.js", true),
        ("lib/a.ts", false),
        ("lib/sub/a.js", false),
        ("bin/cli", true),
        ("src/index.ts", false),
    ] {
        assert_eq!(in_files(&files, path, &always), want, "{path}");
    }
    assert!(in_files(&["src/**/*.js".into()], "src/a/b/c.js", &[]));
    assert!(!in_files(&["src/**/*.js".into()], "src/a/b/c.ts", &[]));
}

#[test]
fn engines_against_base() {
    assert_eq!(
        base_node_major("gcr.io/distroless/nodejs22-debian12:nonroot"),
        Some(22)
    );
    assert_eq!(base_node_major("docker.io/library/node:20-slim"), Some(20));
    assert_eq!(base_node_major("oci:./base:latest"), None);
    for (range, major, want) in [
        (">=18", 22, true),
        ("^20.1.0", 22, false),
        ("20.x || 22.x", 22, true),
        (">=18 <21", 22, false),
        ("<22.0.0", 22, false),
        ("<22.3", 22, true),
        ("18 - 22", 22, true),
        ("~16", 22, false),
        ("*", 22, true),
        ("latest", 22, true),
    ] {
        assert_eq!(range_allows_major(range, major), want, "{range}");
    }
}
