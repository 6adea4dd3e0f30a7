//! Node: a package.json project (npm, yarn or pnpm, chosen by the lockfile), or a plain
//! `server.js`/`index.js`/`app.js` with no package.json.
//!
//! The image is the base's node plus two layers: `node_modules` (production dependencies,
//! installed per platform in a staging copy of the manifests under lade's build directory, with
//! npm's `--cpu/--os/--libc` or the yarn/pnpm equivalents so per-platform optional packages
//! match the image) below the application files at /app. A `build` script runs in a full
//! copy of the project with every dependency installed (the multi-stage pattern, without a
//! Dockerfile); the image then takes the built copy's files and the production-only
//! node_modules. node runs the app directly (not `npm start`), so signals reach it.
//!
//! `facts` reads the project (with `package`: package.json, the manager, the start command),
//! `planner` turns it into a plan with `app` (the application layer) and `steps`.

mod app;
mod facts;
pub mod npm_lock;
mod package;
mod planner;
mod steps;
mod workspace;
mod workspace_layers;

use super::{DetectError, Detector, Project};
use crate::plan::Plan;

pub use facts::NodeProject;

pub struct NodeDetector;

/// The base unless lade.toml or `--base` names another.
pub const DEFAULT_BASE: &str = "gcr.io/distroless/nodejs22-debian12:nonroot";

impl Detector for NodeDetector {
    fn name(&self) -> &'static str {
        "node"
    }

    fn looks_for(&self) -> &'static str {
        "package.json, or server.js/index.js/app.js (Node)"
    }

    fn detect(&self, project: &Project) -> Result<Option<Plan>, DetectError> {
        match NodeProject::read(project.dir)? {
            Some(node) => planner::plan(&node, project).map(Some),
            None => Ok(None),
        }
    }
}

#[cfg(test)]
mod tests;
