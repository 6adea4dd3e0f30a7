//! Go: `go.mod` modules (stdlib-only or vendored), or loose `*.go` files with no go.mod.
//! Builds every main package it finds (the root and `cmd/*`) with trimmed paths and no build
//! id, so the binary depends only on the source; the chosen main is the entrypoint. CGO is
//! off, unless a main package imports "C": then zig compiles and links the C parts for each
//! platform against the cc base's glibc (`[go] cgo` decides either way). A `kodata/` directory beside the entrypoint's package (or at the root) goes into
//! its own layer at /var/run/ko with KO_DATA_PATH pointing at it, as ko does, so programs
//! written for ko work unchanged.
//!
//! `facts` reads the project, `planner` turns it into a plan.

mod facts;
mod gomod;
mod outside;
mod planner;

use super::{DetectError, Detector, Project};
use crate::plan::Plan;

pub use facts::{GoPackage, GoProject};
pub use gomod::directives;

pub struct GoDetector;

pub const KODATA_PATH: &str = "/var/run/ko";

/// The base for Go images unless lade.toml or --base names another: static binaries need no
/// libc, and distroless static brings CA certificates, tzdata, /etc/passwd and a nonroot user.
pub const DEFAULT_BASE: &str = "gcr.io/distroless/static-debian12:nonroot";

impl Detector for GoDetector {
    fn name(&self) -> &'static str {
        "go"
    }

    fn looks_for(&self) -> &'static str {
        "go.mod or *.go (Go)"
    }

    fn detect(&self, project: &Project) -> Result<Option<Plan>, DetectError> {
        match GoProject::read(project.dir)? {
            Some(go) => planner::plan(&go, project).map(Some),
            None => Ok(None),
        }
    }
}

#[cfg(test)]
mod tests;
