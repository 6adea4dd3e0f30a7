use super::*;

fn toml(t: &str) -> toml::Table {
    t.parse().unwrap()
}

#[test]
fn names_normalize() {
    assert_eq!(normalize_name("Flask_SQLAlchemy"), "flask-sqlalchemy");
    assert_eq!(normalize_name("zope.interface"), "zope-interface");
    assert_eq!(normalize_name("a__-b"), "a-b");
}

#[test]
fn poetry_groups_keep_main_only() {
    let lock = toml(
        r#"
[[package]]
name = "Six"
version = "1.16.0"
groups = ["main"]
files = [
    {file = "six-1.16.0-py2.py3-none-any.whl", hash = "sha256:aa"},
    {file = "six-1.16.0.tar.gz", hash = "sha256:bb"},
]

[[package]]
name = "pytest"
version = "8.0.0"
groups = ["dev"]
files = [{file = "pytest.whl", hash = "sha256:cc"}]

[[package]]
name = "colorama"
version = "0.4.6"
groups = ["main"]
markers = "sys_platform == \"win32\""
files = [{file = "c.whl", hash = "sha256:dd"}]
"#,
    );
    let pins = poetry(&lock, &[]).unwrap().pins;
    assert_eq!(
        requirements_text(&pins),
        "colorama==0.4.6 ; sys_platform == \"win32\" \\\n    --hash=sha256:dd\n\
         six==1.16.0 \\\n    --hash=sha256:aa \\\n    --hash=sha256:bb\n"
    );
}

#[test]
fn poetry_without_groups_walks_from_the_project_dependencies() {
    let lock = toml(
        r#"
[[package]]
name = "flask"
version = "3.0.0"
files = [{file = "f.whl", hash = "sha256:01"}]
[package.dependencies]
Werkzeug = ">=3.0.0"

[[package]]
name = "werkzeug"
version = "3.0.1"
files = [{file = "w.whl", hash = "sha256:02"}]

[[package]]
name = "pytest"
version = "8.0.0"
files = [{file = "p.whl", hash = "sha256:03"}]
"#,
    );
    let pins = poetry(&lock, &["Flask".to_string()]).unwrap().pins;
    let names: Vec<&str> = pins.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(names, ["flask", "werkzeug"]);
    let e = poetry(&lock, &["missing".to_string()]).unwrap_err();
    assert!(e.contains("'missing' is not in the lock"), "{e}");
}

#[test]
fn pipfile_lock_default_section() {
    let lock: serde_json::Value = serde_json::from_str(
        r#"{"_meta": {}, "default": {"six": {"hashes": ["sha256:aa"], "version": "==1.16.0"},
            "pywin": {"hashes": ["sha256:bb"], "version": "==1", "markers": "os_name == 'nt'"}},
           "develop": {"pytest": {"hashes": ["sha256:cc"], "version": "==8"}}}"#,
    )
    .unwrap();
    let text = requirements_text(&pipfile(&lock).unwrap());
    assert_eq!(
        text,
        "pywin==1 ; os_name == 'nt' \\\n    --hash=sha256:bb\nsix==1.16.0 \\\n    --hash=sha256:aa\n"
    );
    let bad: serde_json::Value =
        serde_json::from_str(r#"{"default": {"x": {"path": ".", "editable": true}}}"#).unwrap();
    assert!(pipfile(&bad).unwrap_err().contains("'x'"));
    let unhashed: serde_json::Value =
        serde_json::from_str(r#"{"default": {"x": {"version": "==1"}}}"#).unwrap();
    assert!(pipfile(&unhashed).unwrap_err().contains("no hashes"));
}

#[test]
fn uv_lock_follows_runtime_edges_extras_and_markers() {
    let lock = toml(
        r#"
version = 1
requires-python = ">=3.11"

[[package]]
name = "app"
version = "0.1.0"
source = { virtual = "." }
dependencies = [
    { name = "click" },
    { name = "req", extra = ["socks"] },
]
[package.dev-dependencies]
dev = [{ name = "pytest" }]

[[package]]
name = "click"
version = "8.1.7"
source = { registry = "https://index.invalid/simple" }
dependencies = [{ name = "colorama", marker = "platform_system == 'Windows'" }]
sdist = { url = "https://index.invalid/click.tar.gz", hash = "sha256:c1" }
wheels = [{ url = "https://index.invalid/click.whl", hash = "sha256:c2" }]

[[package]]
name = "colorama"
version = "0.4.6"
source = { registry = "https://index.invalid/simple" }
wheels = [{ url = "https://index.invalid/colorama.whl", hash = "sha256:d1" }]

[[package]]
name = "req"
version = "2.0"
source = { registry = "https://index.invalid/simple" }
wheels = [{ url = "https://index.invalid/req.whl", hash = "sha256:e1" }]
[package.optional-dependencies]
socks = [{ name = "pysocks" }]

[[package]]
name = "pysocks"
version = "1.7.1"
source = { registry = "https://index.invalid/simple" }
wheels = [{ url = "https://index.invalid/pysocks.whl", hash = "sha256:f1" }]

[[package]]
name = "pytest"
version = "8.0.0"
source = { registry = "https://index.invalid/simple" }
wheels = [{ url = "https://index.invalid/pytest.whl", hash = "sha256:g1" }]
"#,
    );
    let pins = uv(&lock, ".").unwrap().pins;
    let got: Vec<(String, Option<String>)> = pins
        .iter()
        .map(|p| (p.name.clone(), p.marker.clone()))
        .collect();
    assert_eq!(
        got,
        vec![
            ("click".into(), None),
            (
                "colorama".into(),
                Some("platform_system == 'Windows'".into())
            ),
            ("pysocks".into(), None),
            ("req".into(), None),
        ]
    );
    assert_eq!(pins[0].hashes, ["sha256:c1", "sha256:c2"]);
    assert!(
        uv(&toml("version = 1"), ".")
            .unwrap_err()
            .contains("project itself")
    );
}

/// A uv workspace's lock (as uv 0.13 writes it, trimmed): each member reaches its own
/// workspace dependencies (local) and, through them, their index packages; nothing of another
/// member.
const UV_WORKSPACE: &str = r#"
version = 1
revision = 5
requires-python = ">=3.11"

[manifest]
members = ["api", "shared", "util", "web"]

[[package]]
name = "api"
version = "0.1.0"
source = { virtual = "apps/api" }
dependencies = [{ name = "shared" }, { name = "util" }]

[package.dev-dependencies]
dev = [{ name = "pytest" }]

[[package]]
name = "idna"
version = "3.6"
source = { registry = "https://index.invalid/simple" }
wheels = [{ url = "https://index.invalid/idna.whl", hash = "sha256:a1" }]

[[package]]
name = "pytest"
version = "9.2.0"
source = { registry = "https://index.invalid/simple" }
wheels = [{ url = "https://index.invalid/pytest.whl", hash = "sha256:b1" }]

[[package]]
name = "shared"
version = "0.1.0"
source = { editable = "packages/shared" }
dependencies = [{ name = "six" }]

[[package]]
name = "six"
version = "1.16.0"
source = { registry = "https://index.invalid/simple" }
wheels = [{ url = "https://index.invalid/six.whl", hash = "sha256:c1" }]

[[package]]
name = "util"
version = "0.1.0"
source = { editable = "packages/util" }
dependencies = [{ name = "idna" }]

[[package]]
name = "web"
version = "0.1.0"
source = { virtual = "apps/web" }
dependencies = [{ name = "shared" }]
"#;

#[test]
fn uv_workspace_members_get_their_own_closure() {
    let lock = toml(UV_WORKSPACE);
    let names = |l: &Locked| -> (Vec<String>, Vec<String>) {
        (
            l.pins.iter().map(|p| p.name.clone()).collect(),
            l.local
                .iter()
                .map(|p| format!("{}={}", p.name, p.path))
                .collect(),
        )
    };
    assert_eq!(
        names(&uv(&lock, "apps/web").unwrap()),
        (vec!["six".into()], vec!["shared=packages/shared".into()])
    );
    assert_eq!(
        names(&uv(&lock, "apps/api").unwrap()),
        (
            vec!["idna".into(), "six".into()],
            vec!["shared=packages/shared".into(), "util=packages/util".into()]
        )
    );
    // A library member published on its own: its dependencies, not itself.
    assert_eq!(
        names(&uv(&lock, "packages/util").unwrap()),
        (vec!["idna".into()], vec![])
    );
    let e = uv(&lock, ".").unwrap_err();
    assert!(
        e.contains("no project of its own")
            && e.contains("apps/api, apps/web, packages/shared, packages/util"),
        "{e}"
    );
    let e = uv(&lock, "apps/new").unwrap_err();
    assert!(e.contains("apps/new") && e.contains("uv lock"), "{e}");
}

#[test]
fn uv_virtual_dependency_member_is_refused() {
    let lock = toml(&UV_WORKSPACE.replace(
        "source = { editable = \"packages/util\" }",
        "source = { virtual = \"packages/util\" }",
    ));
    let e = uv(&lock, "apps/api").unwrap_err();
    assert!(e.contains("'util'") && e.contains("virtual"), "{e}");
}

#[test]
fn poetry_path_dependencies_are_local_and_their_dependencies_pinned() {
    // As poetry 2.5 writes it for `greeting = { path = "../lib", develop = true }`.
    let lock = toml(
        r#"
[[package]]
name = "greeting"
version = "0.1.0"
optional = false
python-versions = "^3.11"
groups = ["main"]
files = []
develop = true

[package.dependencies]
six = "1.16.0"

[package.source]
type = "directory"
url = "../lib"

[[package]]
name = "six"
version = "1.16.0"
groups = ["main"]
files = [{file = "six-1.16.0-py2.py3-none-any.whl", hash = "sha256:aa"}]
"#,
    );
    let l = poetry(&lock, &["greeting".into()]).unwrap();
    assert_eq!(
        l.local,
        [Local {
            name: "greeting".into(),
            path: "../lib".into()
        }]
    );
    assert_eq!(
        requirements_text(&l.pins),
        "six==1.16.0 \\\n    --hash=sha256:aa\n"
    );
    let git = toml(
        r#"
[[package]]
name = "x"
version = "1"
groups = ["main"]
files = []
[package.source]
type = "git"
url = "https://example.invalid/x.git"
"#,
    );
    assert!(poetry(&git, &[]).unwrap_err().contains("git source"));
}
