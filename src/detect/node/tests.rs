use super::planner::on_path;
use super::*;
use crate::detect::image_name;
use crate::plan::BuildStep;
use crate::plan::EntryKind;
use crate::platform::Platform;
use std::path::Path;

fn write(dir: &Path, files: &[(&str, &str)]) {
    for (name, text) in files {
        let p = dir.join(name);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
    }
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
    NodeDetector.detect(&project)
}

fn step_args(s: &BuildStep) -> String {
    format!("{} {}", s.program, s.args.join(" "))
}

#[test]
fn npm_project_with_lockfile() {
    let t = tempfile::tempdir().unwrap();
    write(
        t.path(),
        &[
            (
                "package.json",
                r#"{"name": "@acme/Web App", "scripts": {"start": "node server.js"},
                    "dependencies": {"express": "^4"}, "engines": {"node": "^20"}}"#,
            ),
            ("package-lock.json", "{}"),
            ("server.js", ""),
            ("lib/a.js", ""),
            ("node_modules/express/index.js", ""),
            (".npmrc", "//registry/:_authToken=secret\n"),
        ],
    );
    let plan = detect_in(t.path(), "").unwrap().unwrap();
    assert_eq!(plan.name, "web-app");
    assert_eq!(plan.base, DEFAULT_BASE);
    assert_eq!(
        plan.config.entrypoint,
        Some(vec!["node".into(), "/app/server.js".into()])
    );
    assert_eq!(plan.config.env["NODE_ENV"], "production");
    assert_eq!(plan.config.workdir.as_deref(), Some("/app"));
    assert!(
        plan.reasons
            .iter()
            .any(|r| r.why.contains("engines.node is `^20`") && r.why.contains("node 22")),
        "{:?}",
        plan.reasons
    );
    let arm = &plan.targets[1];
    let cmds: Vec<String> = arm.steps.iter().map(step_args).collect();
    assert!(
        cmds[0].contains("package.json .npmrc package-lock.json"),
        "{cmds:?}"
    );
    assert!(
        cmds[1]
            == "npm ci --omit=dev --cpu=arm64 --os=linux --libc=glibc --prefer-offline --ignore-scripts"
            || Platform::host().is_some_and(|h| h.architecture == "arm64"),
        "{cmds:?}"
    );
    assert_eq!(arm.steps[0].program, crate::plan::LADE_PROGRAM);
    assert_eq!(arm.steps[0].reuse, crate::plan::Reuse::WhenUnchanged);
    assert_eq!(arm.steps[1].reuse, crate::plan::Reuse::WhenUnchanged);
    assert_eq!(arm.steps[2].program, crate::plan::LADE_PROGRAM);
    assert_eq!(arm.steps[2].args[0], "node-finish");
    let names: Vec<&str> = arm.layers.iter().map(|l| l.name.as_str()).collect();
    assert_eq!(names, ["node_modules", "app"]);
    let app: Vec<&str> = arm.layers[1]
        .entries
        .iter()
        .map(|e| e.target.as_str())
        .collect();
    assert_eq!(
        app,
        [
            "/app/lib",
            "/app/lib/a.js",
            "/app/package-lock.json",
            "/app/package.json",
            "/app/server.js"
        ],
        "no node_modules, no .npmrc"
    );
}

#[test]
fn managers_build_scripts_and_files() {
    let t = tempfile::tempdir().unwrap();
    write(
        t.path(),
        &[
            (
                "package.json",
                r#"{"main": "dist/index.js", "files": ["dist"], "packageManager": "pnpm@10.20.0",
                    "scripts": {"build": "tsc"}, "dependencies": {"a": "1"}}"#,
            ),
            ("pnpm-lock.yaml", ""),
            ("src/index.ts", ""),
        ],
    );
    let plan = detect_in(
        t.path(),
        "base = \"node:22\"\n[node]\nbinary = \"/usr/bin/node\"\n",
    )
    .unwrap()
    .unwrap();
    assert_eq!(
        plan.config.entrypoint,
        Some(vec!["/usr/bin/node".into(), "/app/dist/index.js".into()])
    );
    let amd = &plan.targets[0];
    let cmds: Vec<String> = amd.steps.iter().map(step_args).collect();
    let pnpm = if on_path("pnpm") {
        "pnpm"
    } else {
        "corepack pnpm@10.20.0"
    };
    assert!(cmds[0].starts_with("lade stage"), "{cmds:?}");
    assert!(
        cmds[0].ends_with("package.json pnpm-lock.yaml src/index.ts"),
        "{cmds:?}"
    );
    assert_eq!(
        cmds[1],
        format!("{pnpm} install --frozen-lockfile --prefer-offline")
    );
    assert_eq!(cmds[2], format!("{pnpm} run build"));
    assert!(
        cmds[4].starts_with(&format!(
            "{pnpm} install --frozen-lockfile --prefer-offline --prod --cpu=x64"
        )),
        "{cmds:?}"
    );
    assert_eq!(
        plan.targets[1].steps.len(),
        3,
        "the build runs once, in the first platform's steps"
    );
    let app: Vec<(&str, &EntryKind)> = amd.layers[1]
        .entries
        .iter()
        .map(|e| (e.target.as_str(), &e.kind))
        .collect();
    let build = t.path().join("out/node-build");
    assert_eq!(
        app,
        [
            (
                "/app/dist",
                &EntryKind::Tree {
                    source: build.join("dist"),
                    exclude: vec![]
                }
            ),
            (
                "/app/package.json",
                &EntryKind::Tree {
                    source: build.join("package.json"),
                    exclude: vec![]
                }
            ),
        ]
    );

    // Without `files` the whole built copy goes in, minus node_modules.
    write(
        t.path(),
        &[
            (
                "package.json",
                r#"{"main": "dist/index.js", "scripts": {"build": "tsc"}}"#,
            ),
            ("yarn.lock", "# yarn lockfile v1\n"),
        ],
    );
    std::fs::remove_file(t.path().join("pnpm-lock.yaml")).unwrap();
    let plan = detect_in(t.path(), "").unwrap().unwrap();
    let amd = &plan.targets[0];
    assert_eq!(
        amd.layers.len(),
        1,
        "no dependencies: no node_modules layer"
    );
    assert_eq!(
        amd.layers[0].entries[0].kind,
        EntryKind::Tree {
            source: build,
            exclude: vec!["node_modules".into()]
        }
    );
    assert!(
        step_args(&amd.steps[1]).contains("yarn install --frozen-lockfile")
            || step_args(&amd.steps[1]).contains("yarn@1 install --frozen-lockfile"),
        "{:?}",
        amd.steps[1]
    );
}

#[test]
fn plain_scripts_and_missing_start() {
    let t = tempfile::tempdir().unwrap();
    assert!(detect_in(t.path(), "").unwrap().is_none());
    write(t.path(), &[("app.js", "")]);
    let plan = detect_in(t.path(), "").unwrap().unwrap();
    assert_eq!(
        plan.config.entrypoint,
        Some(vec!["node".into(), "/app/app.js".into()])
    );
    assert!(plan.targets[0].steps.is_empty());

    let t = tempfile::tempdir().unwrap();
    write(
        t.path(),
        &[("package.json", r#"{"scripts": {"start": "nodemon x.js"}}"#)],
    );
    let e = detect_in(t.path(), "").unwrap_err().to_string();
    for w in [
        "no start command",
        "scripts.start",
        "main",
        "Procfile",
        "entrypoint",
    ] {
        assert!(e.contains(w), "{w}: {e}");
    }
    let plan = detect_in(t.path(), "entrypoint = [\"node\", \"x.js\"]\n")
        .unwrap()
        .unwrap();
    assert_eq!(plan.config.entrypoint, None, "lade.toml's is applied later");
    assert!(
        plan.reasons
            .iter()
            .any(|r| r.why.contains("no dependencies")),
        "{:?}",
        plan.reasons
    );
}

#[test]
fn no_lockfile_warns_and_invalid_json_fails() {
    let t = tempfile::tempdir().unwrap();
    write(
        t.path(),
        &[(
            "package.json",
            r#"{"main": "index.js", "dependencies": {"a": "1"}}"#,
        )],
    );
    let plan = detect_in(t.path(), "").unwrap().unwrap();
    assert!(
        plan.reasons
            .iter()
            .any(|r| r.why.contains("WARNING: no lockfile")),
        "{:?}",
        plan.reasons
    );
    assert!(step_args(&plan.targets[0].steps[1]).starts_with("npm install --omit=dev"));
    write(
        t.path(),
        &[("package.json", "{\n  \"main\": \"index.js\",\n}\n")],
    );
    let e = detect_in(t.path(), "").unwrap_err().to_string();
    assert!(e.contains("package.json: line 3, column 1"), "{e}");
}

#[test]
fn image_names() {
    assert_eq!(image_name("@scope/My_App"), "my_app");
    assert_eq!(image_name("--"), "app");
}

#[test]
fn facts_of_a_pnpm_project_and_a_lone_script() {
    let t = tempfile::tempdir().unwrap();
    write(
        t.path(),
        &[
            (
                "package.json",
                r#"{"name": "web", "main": "lib/index.js", "dependencies": {"a": "1"}}"#,
            ),
            ("pnpm-lock.yaml", ""),
            ("package-lock.json", "{}"),
            (".npmrc", ""),
            ("lib/index.js", ""),
        ],
    );
    let node = NodeProject::read(t.path()).unwrap().unwrap();
    assert!(node.has_package_json && node.script.is_none());
    assert_eq!(node.package.name.as_deref(), Some("web"));
    assert_eq!(node.manager, package::Manager::Npm { locked: true });
    assert_eq!(node.lockfile.as_deref(), Some("package-lock.json"));
    assert_eq!(node.manager_notes.len(), 1, "{:?}", node.manager_notes);
    assert_eq!(
        node.start.as_ref().map(|s| s.file.as_str()),
        Some("lib/index.js")
    );
    assert_eq!(
        node.install_files,
        ["package.json", ".npmrc", "package-lock.json"]
    );

    let t = tempfile::tempdir().unwrap();
    write(t.path(), &[("app.js", "")]);
    let node = NodeProject::read(t.path()).unwrap().unwrap();
    assert_eq!(node.script.as_deref(), Some("app.js"));
    assert!(!node.has_package_json && node.install_files.is_empty());
    let empty = tempfile::tempdir().unwrap();
    assert!(NodeProject::read(empty.path()).unwrap().is_none());
}

/// A workspace root with apps/web → @demo/shared → @demo/util, and apps/api → @demo/util.
fn npm_workspace(root: &Path, lockfile: &str) {
    write(
        root,
        &[
            (
                "package.json",
                r#"{"private": true, "workspaces": ["apps/*", "./packages/*/"]}"#,
            ),
            (lockfile, "{}"),
            (
                "apps/web/package.json",
                r#"{"name": "web", "scripts": {"start": "node server.js"},
                    "dependencies": {"@demo/shared": "1.0.0", "express": "^4"}}"#,
            ),
            ("apps/web/server.js", ""),
            (
                "apps/api/package.json",
                r#"{"name": "api", "main": "server.js", "dependencies": {"@demo/util": "1.0.0"}}"#,
            ),
            ("apps/api/server.js", ""),
            (
                "packages/shared/package.json",
                r#"{"name": "@demo/shared", "dependencies": {"@demo/util": "1.0.0"}}"#,
            ),
            ("packages/shared/index.js", ""),
            ("packages/shared/node_modules/x/index.js", ""),
            (
                "packages/util/package.json",
                r#"{"name": "@demo/util", "devDependencies": {"@demo/shared": "1.0.0"}}"#,
            ),
            ("packages/util/index.js", ""),
            ("tools/package.json", r#"{"name": "@demo/tools"}"#),
        ],
    );
}

#[test]
fn workspace_patterns_match_like_npm() {
    use super::workspace::matches;
    assert!(matches("apps/*", "apps/web"));
    assert!(!matches("apps/*", "apps/web/x"));
    assert!(!matches("apps/*", "packages/web"));
    assert!(matches("packages/**", "packages/a/b"));
    assert!(matches("pkg-?", "pkg-a"));
    assert!(matches("apps/web", "apps/web"));
}

#[test]
fn npm_workspace_package_gets_its_workspace_dependencies_only() {
    let t = tempfile::tempdir().unwrap();
    npm_workspace(t.path(), "package-lock.json");
    let web = t.path().join("apps/web");
    let plan = detect_in(&web, "").unwrap().unwrap();
    assert_eq!(plan.name, "web");
    let target = &plan.targets[0];
    let cmds: Vec<String> = target.steps.iter().map(step_args).collect();
    assert!(
        cmds[0].contains(
            "-- package.json package-lock.json apps/web/package.json packages/shared/package.json packages/util/package.json"
        ),
        "the root's files and the needed manifests only: {cmds:?}"
    );
    assert!(
        cmds[0].contains(&format!("--from {}", t.path().display())),
        "{cmds:?}"
    );
    assert!(
        cmds[1].starts_with("npm ci --omit=dev") && cmds[1].ends_with("--workspace apps/web"),
        "{cmds:?}"
    );
    let names: Vec<&str> = target.layers.iter().map(|l| l.name.as_str()).collect();
    assert_eq!(names, ["node_modules", "workspace", "app"]);
    let modules: Vec<(&str, Vec<String>)> = target.layers[0]
        .entries
        .iter()
        .map(|e| match &e.kind {
            EntryKind::Tree { exclude, .. } => (e.target.as_str(), exclude.clone()),
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(
        modules[0],
        (
            "/node_modules",
            vec!["@demo/shared".into(), "@demo/util".into(), "web".into()]
        )
    );
    assert_eq!(modules[1].0, "/app/node_modules");
    let members: Vec<&str> = target.layers[1]
        .entries
        .iter()
        .map(|e| e.target.as_str())
        .collect();
    assert_eq!(
        members,
        [
            "/node_modules/@demo/shared/index.js",
            "/node_modules/@demo/shared/package.json",
            "/node_modules/@demo/util/index.js",
            "/node_modules/@demo/util/package.json",
        ],
        "no developer node_modules, nothing of api or tools"
    );

    // api needs util only; util's devDependencies do not count.
    let api = detect_in(&t.path().join("apps/api"), "").unwrap().unwrap();
    let members: Vec<&str> = api.targets[0].layers[1]
        .entries
        .iter()
        .map(|e| e.target.as_str())
        .collect();
    assert_eq!(
        members,
        [
            "/node_modules/@demo/util/index.js",
            "/node_modules/@demo/util/package.json"
        ]
    );
}

#[test]
fn yarn_classic_workspace_is_refused_clearly() {
    let t = tempfile::tempdir().unwrap();
    npm_workspace(t.path(), "yarn.lock");
    write(t.path(), &[("yarn.lock", "# yarn lockfile v1\n")]);
    let err = detect_in(&t.path().join("apps/web"), "")
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("apps/web is a package of a yarn classic (v1) workspace")
            && err.contains("nodeLinker: node-modules"),
        "{err}"
    );
}

/// What yarn 4 writes for `npm_workspace` (entries cut to their keys): yarn resolves a
/// workspace package's plain version to the workspace.
const BERRY_LOCK: &str = "__metadata:\n  version: 8\n\n\"@demo/shared@npm:1.0.0, @demo/shared@workspace:packages/shared\":\n  version: 0.0.0-use.local\n\n\"@demo/util@npm:1.0.0\":\n  version: 0.0.0-use.local\n\n\"express@npm:^4\":\n  version: 4.21.2\n";

#[test]
fn yarn_berry_plug_n_play_workspace_is_refused_clearly() {
    let t = tempfile::tempdir().unwrap();
    npm_workspace(t.path(), "yarn.lock");
    write(t.path(), &[("yarn.lock", BERRY_LOCK)]);
    for yarnrc in [None, Some("nodeLinker: pnp\n")] {
        if let Some(text) = yarnrc {
            write(t.path(), &[(".yarnrc.yml", text)]);
        }
        let err = detect_in(&t.path().join("apps/web"), "")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains(
                ".yarnrc.yml: apps/web is a package of a yarn workspace that uses Plug'n'Play"
            ) && err.contains("set `nodeLinker: node-modules`"),
            "{err}"
        );
    }
}

#[test]
fn yarn_3_workspace_needs_the_workspace_tools_plugin() {
    let t = tempfile::tempdir().unwrap();
    npm_workspace(t.path(), "yarn.lock");
    write(
        t.path(),
        &[
            ("yarn.lock", BERRY_LOCK),
            (".yarnrc.yml", "nodeLinker: node-modules\n"),
            (
                "package.json",
                r#"{"private": true, "workspaces": ["apps/*", "packages/*"], "packageManager": "yarn@3.8.7"}"#,
            ),
        ],
    );
    let err = detect_in(&t.path().join("apps/web"), "")
        .unwrap_err()
        .to_string();
    assert!(err.contains("yarn plugin import workspace-tools"), "{err}");
    write(
        t.path(),
        &[(
            ".yarnrc.yml",
            "nodeLinker: node-modules\nplugins:\n  - path: .yarn/plugins/@yarnpkg/plugin-workspace-tools.cjs\n",
        )],
    );
    assert!(detect_in(&t.path().join("apps/web"), "").is_ok());
}

#[test]
fn yarn_berry_workspace_package_is_focused_from_its_directory() {
    let t = tempfile::tempdir().unwrap();
    npm_workspace(t.path(), "yarn.lock");
    write(
        t.path(),
        &[
            ("yarn.lock", BERRY_LOCK),
            (".yarnrc.yml", "nodeLinker: \"node-modules\"  # for lade\n"),
        ],
    );
    let web = t.path().join("apps/web");
    let plan = detect_in(&web, "").unwrap().unwrap();
    let target = &plan.targets[0];
    let cmds: Vec<String> = target.steps.iter().map(step_args).collect();
    assert!(
        cmds[0].contains(
            "-- package.json .yarnrc.yml yarn.lock apps/web/package.json packages/shared/package.json packages/util/package.json"
        ),
        "the root's files and the needed manifests only: {cmds:?}"
    );
    let focus = target
        .steps
        .iter()
        .find(|s| step_args(s).contains("workspaces focus"))
        .expect("a focus step");
    assert!(
        step_args(focus).ends_with("workspaces focus --production"),
        "{cmds:?}"
    );
    assert!(focus.dir.ends_with("node-deps/apps/web"), "{:?}", focus.dir);

    // A range yarn.lock has no entry for is refused before any step.
    write(
        t.path(),
        &[(
            "packages/util/package.json",
            r#"{"name": "@demo/util", "dependencies": {"ms": "2.1.2", "x": "github:a/b"}}"#,
        )],
    );
    let err = detect_in(&web, "").unwrap_err().to_string();
    assert!(
        err.contains("yarn.lock: no entry for ms@npm:2.1.2,") && err.contains("run `yarn install`"),
        "{err}"
    );
    let names: Vec<&str> = target.layers.iter().map(|l| l.name.as_str()).collect();
    assert_eq!(names, ["node_modules", "workspace", "app"]);
    let members: Vec<&str> = target.layers[1]
        .entries
        .iter()
        .map(|e| e.target.as_str())
        .collect();
    assert_eq!(
        members,
        [
            "/node_modules/@demo/shared/index.js",
            "/node_modules/@demo/shared/package.json",
            "/node_modules/@demo/util/index.js",
            "/node_modules/@demo/util/package.json",
        ]
    );
}

#[test]
fn pnpm_workspace_yaml_packages_list() {
    use super::workspace::pnpm_patterns;
    let text = "# workspace\npackages:\n  - 'apps/*'\n  - \"./packages/*/\"  # shared code\n  - '!**/test/**'\ncatalog:\n  - notme\n";
    assert_eq!(pnpm_patterns(text), ["apps/*", "packages/*"]);
}

#[test]
fn pnpm_workspace_package_is_filtered_and_kept_at_its_path() {
    let t = tempfile::tempdir().unwrap();
    npm_workspace(t.path(), "pnpm-lock.yaml");
    write(
        t.path(),
        &[(
            "pnpm-workspace.yaml",
            "packages:\n  - apps/*\n  - packages/*\n",
        )],
    );
    let plan = detect_in(&t.path().join("apps/web"), "").unwrap().unwrap();
    let target = &plan.targets[0];
    let cmds: Vec<String> = target.steps.iter().map(step_args).collect();
    assert!(
        cmds.iter().any(
            |c| c.contains("install --frozen-lockfile --prefer-offline --prod")
                && c.ends_with("--filter {apps/web}...")
        ),
        "{cmds:?}"
    );
    let members: Vec<&str> = target.layers[1]
        .entries
        .iter()
        .map(|e| e.target.as_str())
        .collect();
    assert_eq!(
        members,
        [
            "/packages/shared/index.js",
            "/packages/shared/package.json",
            "/packages/util/index.js",
            "/packages/util/package.json",
        ]
    );
}

#[test]
fn workspace_package_without_dependencies_has_no_empty_layers() {
    let t = tempfile::tempdir().unwrap();
    npm_workspace(t.path(), "package-lock.json");
    write(
        t.path(),
        &[(
            "apps/web/package.json",
            r#"{"name": "web", "scripts": {"start": "node server.js"}}"#,
        )],
    );
    let plan = detect_in(&t.path().join("apps/web"), "").unwrap().unwrap();
    let names: Vec<&str> = plan.targets[0]
        .layers
        .iter()
        .map(|l| l.name.as_str())
        .collect();
    assert_eq!(names, ["app"]);
    assert!(plan.targets[0].steps.is_empty());
}

#[test]
fn pnpm_package_under_a_system_directory_is_refused() {
    let t = tempfile::tempdir().unwrap();
    write(
        t.path(),
        &[
            ("package.json", r#"{"private": true}"#),
            ("pnpm-lock.yaml", ""),
            ("pnpm-workspace.yaml", "packages:\n  - apps/*\n  - lib/*\n"),
            (
                "apps/web/package.json",
                r#"{"name": "web", "main": "server.js", "dependencies": {"@demo/x": "workspace:*"}}"#,
            ),
            ("apps/web/server.js", ""),
            ("lib/x/package.json", r#"{"name": "@demo/x"}"#),
        ],
    );
    let err = detect_in(&t.path().join("apps/web"), "")
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("pnpm-workspace.yaml") && err.contains("@demo/x is in `lib/`"),
        "{err}"
    );
}
