//! npm and pnpm workspaces end to end (tests/fixtures/node/npm-workspaces and pnpm-workspaces:
//! apps web and api, packages shared and util, `ms` from the npm registry; web → shared → util,
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

fn lade(env: &TestEnv) -> crate::support::lade::Lade {
    let mut lade = env.lade();
    for (k, v) in COREPACK_ENV {
        lade = lade.env(k, v);
    }
    lade
}

fn publish(env: &TestEnv, dir: &Path, base: &str, out: &Path, tag: &str) {
    lade(env)
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
    workspace_apps(
        "npm-workspaces",
        "node_modules/@demo/shared",
        "node_modules/@demo/util",
    );
}

#[test]
fn pnpm_workspace_apps_hold_their_workspace_packages_only() {
    // pnpm's relative links are kept: the packages sit at their workspace paths.
    workspace_apps("pnpm-workspaces", "packages/shared", "packages/util");
}

fn workspace_apps(fixture: &str, shared: &str, util: &str) {
    let env = TestEnv::new();
    let base = build_node_base(&env.path("node-base"), "node").reference();
    let repo = env.path("repo");
    copy_tree(
        &repo_root().join("tests/fixtures/node").join(fixture),
        &repo,
    );
    let out = env.path("out");
    publish(&env, &repo.join("apps/web"), &base, &out, "web-1");
    publish(&env, &repo.join("apps/api"), &base, &out, "api-1");

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
            !paths.iter().any(|p| p.ends_with("package-lock.json")),
            "{name}: no lockfile in the image: {paths:?}"
        );
    }
    assert!(
        !repo.join("node_modules").exists(),
        "the repository is never written to"
    );

    // The same package named from the workspace root: the same image, bit for bit.
    lade(&env)
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
    env.lade()
        .arg("plan")
        .arg("-C")
        .arg(repo.join("apps/web"))
        .args(["--project", "../api"])
        .run()
        .expect_error(&["--project ../api", "relative to the project directory"]);

    let c = start(&env, &out, "web-1");
    assert_eq!(c.get("/").body, "web: shared v1 + util 1m\n");
    drop(c);
    let c = start(&env, &out, "api-1");
    assert_eq!(c.get("/").body, "api: util 1m\n");
    drop(c);

    // A change in shared: web's image changes, api's (which does not use shared) is
    // bit-identical.
    fs::write(
        repo.join("packages/shared/index.js"),
        "const { util } = require(\"@demo/util\");\nexports.shared = () => \"shared v2 + \" + util();\n",
    )
    .unwrap();
    publish(&env, &repo.join("apps/web"), &base, &out, "web-2");
    publish(&env, &repo.join("apps/api"), &base, &out, "api-2");
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
    let c = start(&env, &out, "web-2");
    assert_eq!(c.get("/").body, "web: shared v2 + util 1m\n");
}
