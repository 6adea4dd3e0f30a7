//! npm, pnpm and yarn workspaces end to end (tests/fixtures/node/npm-workspaces,
//! pnpm-workspaces and yarn-workspaces: apps web and api, packages shared and util, `ms` from
//! the npm registry; web → shared → util,
//! api → util): each app is published from its own directory,
//! runs under runc on a base made from the host's node, holds its workspace dependencies and
//! nothing of the other app, and a change in one shared package changes only the image that
//! uses it. `-C ROOT --project apps/web` names the same package from the root.

use crate::support::TestEnv;
use crate::support::arm64::host_arch;
use crate::support::env::{copy_tree, repo_root};
use crate::support::layout::{self, Layout};
use crate::support::node_base::build_node_base;
use crate::support::runc::Container;
use std::collections::BTreeSet;
use std::fs;
use std::path::Path;

/// As in node.rs: corepack fetches pnpm from the npm registry, without its signature check.
const COREPACK_ENV: &[(&str, &str)] = &[
    ("COREPACK_INTEGRITY_KEYS", "0"),
    ("COREPACK_NPM_REGISTRY", "https://registry.npmjs.org"),
];

/// lade with corepack's settings, and `path` as PATH when given (yarn 4 first).
fn lade(env: &TestEnv, path: Option<&str>) -> crate::support::lade::Lade {
    let mut lade = env.lade();
    for (k, v) in COREPACK_ENV {
        lade = lade.env(k, v);
    }
    match path {
        Some(p) => lade.env("PATH", p),
        None => lade,
    }
}

fn publish(env: &TestEnv, path: Option<&str>, dir: &Path, base: &str, out: &Path, tag: &str) {
    lade(env, path)
        .arg("publish")
        .arg(dir)
        .args(["--base", base, "--json", "--to"])
        .arg(format!("oci:{}:{tag}", out.display()))
        .run()
        .success();
}

/// Every path in the image's layers above the base.
fn own_paths(out: &Path, tag: &str) -> BTreeSet<String> {
    let l = Layout::open(out);
    let img = l.image(tag, host_arch());
    img.layer_digests()[1..]
        .iter()
        .flat_map(|d| l.layer_entries(d))
        .map(|e| e.path)
        .collect()
}

fn start(env: &TestEnv, out: &Path, tag: &str) -> Container {
    let l = Layout::open(out);
    let img = l.image(tag, host_arch());
    let single = env.path(&format!("single-{tag}"));
    l.extract(&img, &single, "img");
    layout::validate(&single, "img");
    let bundle = env.path(&format!("bundle-{tag}"));
    layout::unpack(&single, "img", &bundle);
    Container::start(&bundle)
}

fn manifest_digest(out: &Path, tag: &str) -> String {
    Layout::open(out).image(tag, host_arch()).manifest_digest
}

#[test]
fn npm_workspace_apps_hold_their_workspace_packages_only() {
    // npm links workspace packages from the root's node_modules: the image has them there.
    let env = TestEnv::new();
    workspace_apps(
        &env,
        None,
        "npm-workspaces",
        "node_modules/@demo/shared",
        "node_modules/@demo/util",
    );
}

#[test]
fn pnpm_workspace_apps_hold_their_workspace_packages_only() {
    // pnpm's relative links are kept: the packages sit at their workspace paths.
    let env = TestEnv::new();
    workspace_apps(
        &env,
        None,
        "pnpm-workspaces",
        "packages/shared",
        "packages/util",
    );
}

#[test]
fn yarn_workspace_apps_hold_their_workspace_packages_only() {
    // yarn 4 with the node_modules linker links workspace packages as npm does; each app is
    // installed by `yarn workspaces focus --production`.
    let env = TestEnv::new();
    let path = crate::support::yarn::berry_path(&env);
    let (repo, base) = workspace_apps(
        &env,
        Some(&path),
        "yarn-workspaces",
        "node_modules/@demo/shared",
        "node_modules/@demo/util",
    );
    assert!(
        !repo.join(".yarn").exists(),
        "yarn ran in lade's staging copy, not in the repository"
    );

    // Bit for bit from scratch: with an empty cache of its own lade rebuilds web-2 exactly.
    let out = env.path("out");
    env.lade_with_cache(&env.path("cache-fresh"))
        .env("PATH", &path)
        .arg("publish")
        .arg(repo.join("apps/web"))
        .args(["--base", &base, "--to"])
        .arg(format!("oci:{}:web-fresh", out.display()))
        .run()
        .success();
    assert_eq!(
        manifest_digest(&out, "web-2"),
        manifest_digest(&out, "web-fresh"),
        "a yarn workspace package's image is reproducible"
    );

    // The install stays locked: a range yarn.lock does not pin is refused, not resolved anew
    // (the install's own check, `lade node-finish`, is unit-tested in tasks::yarn_lock).
    let util = repo.join("packages/util/package.json");
    let text = fs::read_to_string(&util).unwrap();
    fs::write(
        &util,
        text.replace("\"ms\": \"2.1.3\"", "\"ms\": \"2.1.2\""),
    )
    .unwrap();
    let out = env.path("out-unlocked");
    lade(&env, Some(&path))
        .arg("publish")
        .arg(repo.join("apps/api"))
        .args(["--base", &base, "--to"])
        .arg(format!("oci:{}:api", out.display()))
        .run()
        .expect_error(&["yarn.lock: no entry for ms@npm:2.1.2", "yarn install"]);
}

/// Publishes both apps of the fixture and checks them; returns the repository's copy.
fn workspace_apps(
    env: &TestEnv,
    path: Option<&str>,
    fixture: &str,
    shared: &str,
    util: &str,
) -> (std::path::PathBuf, String) {
    let base = build_node_base(&env.path("node-base"), "node").reference();
    let repo = env.path("repo");
    copy_tree(
        &repo_root().join("tests/fixtures/node").join(fixture),
        &repo,
    );
    let out = env.path("out");
    publish(env, path, &repo.join("apps/web"), &base, &out, "web-1");
    publish(env, path, &repo.join("apps/api"), &base, &out, "api-1");

    let web = own_paths(&out, "web-1");
    let (shared_js, util_js) = (format!("{shared}/index.js"), format!("{util}/index.js"));
    for p in ["app/server.js", "app/package.json", &shared_js, &util_js] {
        assert!(web.contains(p), "web image lacks {p}: {web:?}");
    }
    let has_ms = |paths: &BTreeSet<String>| paths.iter().any(|p| p.ends_with("/ms/index.js"));
    assert!(has_ms(&web), "web lacks ms: {web:?}");
    let api = own_paths(&out, "api-1");
    for p in ["app/server.js", &util_js] {
        assert!(api.contains(p), "api image lacks {p}: {api:?}");
    }
    assert!(has_ms(&api), "api lacks ms: {api:?}");
    assert!(
        !api.iter().any(|p| p.contains("shared")),
        "api does not depend on shared: {api:?}"
    );
    for (name, paths) in [("web", &web), ("api", &api)] {
        assert!(
            !paths.iter().any(|p| p.starts_with("apps")),
            "{name}: no app at its workspace path: {paths:?}"
        );
        let members: BTreeSet<&str> = paths
            .iter()
            .filter(|p| p.contains("/@demo/") || p.starts_with("packages/"))
            .filter_map(|p| p.strip_suffix("/index.js"))
            .collect();
        let want: BTreeSet<&str> = match name {
            "web" => [shared, util].into(),
            _ => [util].into(),
        };
        assert_eq!(members, want, "{name}: exactly its workspace dependencies");
        let app: Vec<&String> = paths
            .iter()
            .filter(|p| p.starts_with("app/") && !p.starts_with("app/node_modules"))
            .collect();
        assert_eq!(
            app,
            ["app/package.json", "app/server.js"],
            "{name}: its own files only, no other app's"
        );
        assert!(
            !paths
                .iter()
                .any(|p| ["package-lock.json", "pnpm-lock.yaml", "yarn.lock"]
                    .iter()
                    .any(|l| p.ends_with(l))),
            "{name}: no lockfile in the image: {paths:?}"
        );
    }
    assert!(
        !repo.join("node_modules").exists(),
        "the repository is never written to"
    );

    // The same package named from the workspace root: the same image, bit for bit.
    lade(env, path)
        .arg("publish")
        .arg("-C")
        .arg(&repo)
        .args(["--project", "apps/web", "--base", &base, "--to"])
        .arg(format!("oci:{}:web-again", out.display()))
        .run()
        .success();
    assert_eq!(
        manifest_digest(&out, "web-1"),
        manifest_digest(&out, "web-again"),
        "-C ROOT --project apps/web is apps/web"
    );
    lade(env, path)
        .arg("plan")
        .arg("-C")
        .arg(repo.join("apps/web"))
        .args(["--project", "../api"])
        .run()
        .expect_error(&["--project ../api", "relative to the project directory"]);

    let c = start(env, &out, "web-1");
    assert_eq!(c.get("/").body, "web: shared v1 + util 1m\n");
    drop(c);
    let c = start(env, &out, "api-1");
    assert_eq!(c.get("/").body, "api: util 1m\n");
    drop(c);

    // A change in shared: web's image changes, api's (which does not use shared) is
    // bit-identical.
    fs::write(
        repo.join("packages/shared/index.js"),
        "const { util } = require(\"@demo/util\");\nexports.shared = () => \"shared v2 + \" + util();\n",
    )
    .unwrap();
    publish(env, path, &repo.join("apps/web"), &base, &out, "web-2");
    publish(env, path, &repo.join("apps/api"), &base, &out, "api-2");
    assert_ne!(
        manifest_digest(&out, "web-1"),
        manifest_digest(&out, "web-2"),
        "web uses shared"
    );
    assert_eq!(
        manifest_digest(&out, "api-1"),
        manifest_digest(&out, "api-2"),
        "api does not use shared"
    );
    let c = start(env, &out, "web-2");
    assert_eq!(c.get("/").body, "web: shared v2 + util 1m\n");
    drop(c);
    (repo, base)
}
