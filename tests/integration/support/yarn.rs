//! Yarn berry for the tests. Corepack fetches berry from yarn's own site, which these machines
//! cannot reach, so berry's npm distribution (@yarnpkg/cli-dist) is installed into the test's
//! directory and its `yarn` put first on PATH.

use super::TestEnv;
use super::tools::{run, tool};

/// A PATH whose first directory holds yarn 4 (`yarn workspaces focus` is built in from 4 on).
pub fn berry_path(env: &TestEnv) -> String {
    let berry = env.dir("berry");
    let install = run(tool("npm")
        .args([
            "install",
            "--no-save",
            "--no-audit",
            "--no-fund",
            "--prefix",
        ])
        .arg(&berry)
        .arg("@yarnpkg/cli-dist@4"));
    assert!(
        install.status.success(),
        "cannot fetch yarn berry (@yarnpkg/cli-dist) from the npm registry, so yarn berry projects cannot be tested here: {}",
        String::from_utf8_lossy(&install.stderr)
    );
    let bin = env.dir("berry-bin");
    std::os::unix::fs::symlink(
        berry.join("node_modules/@yarnpkg/cli-dist/bin/yarn.js"),
        bin.join("yarn"),
    )
    .unwrap();
    format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    )
}
